"""Twilio REST 2010-04-01 JSON shapes: calls, conferences, participants, recordings, queues."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from phone_network.calls import Call
from phone_network.leg import API_VERSION, rfc2822
from phone_network.rooms import CallQueue, ConferenceRoom, Participant, QueueEntry, Recording

Json = dict[str, Any]


def account_path(account_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}"


def _date(moment: datetime | None) -> str | None:
    return rfc2822(moment) if moment is not None else None


def call_json(call: Call, phone_number_sid: str | None = None) -> Json:
    base = f"{account_path(call.account_sid)}/Calls/{call.sid}"
    return {
        "sid": call.sid, "date_created": _date(call.created_at),
        "date_updated": _date(call.updated_at), "parent_call_sid": call.parent_sid,
        "account_sid": call.account_sid, "to": call.to, "to_formatted": call.to,
        "from": call.from_, "from_formatted": call.from_, "phone_number_sid": phone_number_sid,
        "status": call.status, "start_time": _date(call.answered_at or call.created_at),
        "end_time": _date(call.ended_at),
        "duration": str(call.duration) if call.ended_at is not None else None,
        "price": None, "price_unit": "USD", "direction": call.direction, "answered_by": None,
        "api_version": API_VERSION, "forwarded_from": None, "group_sid": None,
        "caller_name": None, "queue_time": "0", "trunk_sid": None, "uri": base + ".json",
        "subresource_uris": {
            name: f"{base}/{path}.json" for name, path in (
                ("notifications", "Notifications"), ("recordings", "Recordings"),
                ("payments", "Payments"), ("events", "Events"), ("siprec", "Siprec"),
                ("streams", "Streams"), ("transcriptions", "Transcriptions"),
                ("user_defined_message_subscriptions", "UserDefinedMessageSubscriptions"),
                ("user_defined_messages", "UserDefinedMessages"))},
    }


def conference_json(room: ConferenceRoom, account_sid: str) -> Json:
    base = f"{account_path(account_sid)}/Conferences/{room.sid}"
    return {
        "account_sid": account_sid, "date_created": _date(room.created_at),
        "date_updated": _date(room.updated_at), "api_version": API_VERSION,
        "friendly_name": room.friendly_name, "region": "us1", "sid": room.sid,
        "status": room.status, "uri": base + ".json",
        "subresource_uris": {"participants": base + "/Participants.json",
                             "recordings": base + "/Recordings.json"},
        "reason_conference_ended": room.reason_ended,
        "call_sid_ending_conference": room.call_sid_ending,
    }


def participant_json(room: ConferenceRoom, p: Participant, account_sid: str) -> Json:
    return {
        "account_sid": account_sid, "call_sid": p.call.sid, "label": p.label,
        "call_sid_to_coach": p.call_sid_to_coach, "coaching": p.coaching,
        "conference_sid": room.sid, "date_created": _date(p.created_at),
        "date_updated": _date(p.updated_at or p.created_at),
        "end_conference_on_exit": p.end_conference_on_exit, "muted": p.muted, "hold": p.hold,
        "start_conference_on_enter": p.start_conference_on_enter, "status": p.status,
        "queue_time": None,
        "uri": f"{account_path(account_sid)}/Conferences/{room.sid}/Participants/{p.call.sid}"
               ".json",
    }


def recording_json(rec: Recording, media_url: str) -> Json:
    base = f"{account_path(rec.account_sid)}/Recordings/{rec.sid}"
    return {
        "account_sid": rec.account_sid, "api_version": API_VERSION, "call_sid": rec.call_sid,
        "conference_sid": rec.conference_sid, "date_created": _date(rec.created_at),
        "date_updated": _date(rec.created_at), "start_time": _date(rec.start_time),
        "duration": str(rec.duration), "sid": rec.sid, "price": None, "price_unit": "USD",
        "status": rec.status, "channels": rec.channels, "source": rec.source,
        "error_code": None, "uri": base + ".json", "encryption_details": None,
        "subresource_uris": {"add_on_results": base + "/AddOnResults.json",
                             "transcriptions": base + "/Transcriptions.json"},
        "media_url": media_url,
    }


def queue_json(queue: CallQueue, account_sid: str) -> Json:
    base = f"{account_path(account_sid)}/Queues/{queue.sid}"
    return {
        "date_updated": _date(queue.created_at), "current_size": queue.size,
        "friendly_name": queue.name, "uri": base + ".json", "account_sid": account_sid,
        "average_wait_time": queue.average_wait(), "sid": queue.sid,
        "date_created": _date(queue.created_at), "max_size": queue.max_size,
        "subresource_uris": {"members": base + "/Members.json"},
    }


def member_json(queue: CallQueue, entry: QueueEntry, account_sid: str, now: datetime) -> Json:
    return {
        "call_sid": entry.call.sid, "date_enqueued": _date(entry.enqueued_at),
        "position": queue.position(entry),
        "uri": f"{account_path(account_sid)}/Queues/{queue.sid}/Members/{entry.call.sid}.json",
        "wait_time": round((now - entry.enqueued_at).total_seconds()), "queue_sid": queue.sid,
    }


def page_json(key: str, items: Sequence[Json], uri: str, page: int, page_size: int,
              filters: Mapping[str, str]) -> Json:
    """One page of a list resource, with Twilio's paging fields (filters kept in the links)."""
    start = page * page_size
    chunk = list(items[start:start + page_size])

    def page_uri(number: int) -> str:
        return f"{uri}?" + urlencode({**filters, "PageSize": page_size, "Page": number})

    return {
        key: chunk, "start": start, "end": start + max(0, len(chunk) - 1), "page": page,
        "page_size": page_size, "uri": page_uri(page), "first_page_uri": page_uri(0),
        "next_page_uri": page_uri(page + 1) if start + page_size < len(items) else None,
        "previous_page_uri": page_uri(page - 1) if page > 0 else None,
    }


def error_json(status: int, code: int, message: str) -> Json:
    return {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
