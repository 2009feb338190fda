"""Twilio at the HTTP edge: signature check, typed webhook forms, and the TwiML response."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote

from flask import Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from core.models import CallStatus
from recordings.services import StatusUpdate

log = logging.getLogger(__name__)

CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
RECORDING_SID = re.compile(r"^RE[0-9a-fA-F]{32}$")


class MalformedWebhook(ValueError):
    """A signed webhook whose parameters we cannot use (missing CallSid, junk values)."""


def public_url(base_url: str) -> str:
    """The URL Twilio requested, rebuilt from the configured public base URL (proxy-proof)."""
    path = quote(request.path, safe="/:@!$&'()*+,;=-._~")
    query = request.query_string.decode("latin-1")
    return base_url.rstrip("/") + path + (f"?{query}" if query else "")


def verify_signature(token: str, base_url: str) -> None:
    """Abort 403 unless X-Twilio-Signature is valid for this request. Fails closed."""
    signature = request.headers.get("X-Twilio-Signature", "")
    url = public_url(base_url)
    if (
        not signature
        or not token
        or not RequestValidator(token).validate(url, request.form, signature)
    ):
        log.warning(
            "rejected webhook with %s signature: %s %s",
            "a bad" if signature else "no",
            request.method,
            request.path,
        )
        abort(403)


def twiml(response: VoiceResponse | str) -> Response:
    return Response(str(response), status=200, content_type="text/xml; charset=utf-8")


def _text(form: Mapping[str, str], name: str, limit: int = 200) -> str:
    """A bounded value without NUL characters (PostgreSQL text cannot hold them)."""
    return (form.get(name) or "")[:limit].replace("\x00", "")


def _int(form: Mapping[str, str], name: str) -> int | None:
    value = form.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None


@dataclass(frozen=True, slots=True)
class VoiceForm:
    """The parameters Twilio sends on every voice request."""

    call_sid: str
    from_number: str
    to_number: str
    direction: str
    call_status: str

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> VoiceForm:
        return cls(**cls._common(form))

    @staticmethod
    def _common(form: Mapping[str, str]) -> dict[str, str]:
        sid = form.get("CallSid", "")
        if not CALL_SID.match(sid):
            raise MalformedWebhook(f"CallSid {sid[:40]!r} is missing or not a call SID")
        return {
            "call_sid": sid,
            "from_number": _text(form, "From", 64),
            "to_number": _text(form, "To", 64),
            "direction": _text(form, "Direction", 20),
            "call_status": _text(form, "CallStatus", 20),
        }


@dataclass(frozen=True, slots=True)
class QueueWaitForm(VoiceForm):
    """A waitUrl request: how long the caller has waited (QueueTime, seconds)."""

    queue_time: int

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> QueueWaitForm:
        return cls(**cls._common(form), queue_time=_int(form, "QueueTime") or 0)


@dataclass(frozen=True, slots=True)
class GatherForm(VoiceForm):
    digits: str | None
    speech_result: str | None

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> GatherForm:
        return cls(
            **cls._common(form),
            digits=_text(form, "Digits", 64) or None,
            speech_result=_text(form, "SpeechResult", 500) or None,
        )


@dataclass(frozen=True, slots=True)
class QueueExitForm(VoiceForm):
    queue_result: str
    queue_time: int | None

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> QueueExitForm:
        return cls(
            **cls._common(form),
            queue_result=_text(form, "QueueResult", 20),
            queue_time=_int(form, "QueueTime"),
        )


@dataclass(frozen=True, slots=True)
class CallStatusForm:
    call_sid: str
    call_status: CallStatus
    sequence_number: int | None
    call_duration: int | None
    timestamp: datetime | None

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> CallStatusForm:
        sid = form.get("CallSid", "")
        if not CALL_SID.match(sid):
            raise MalformedWebhook("CallSid is missing or not a call SID")
        try:
            status = CallStatus(form.get("CallStatus", ""))
        except ValueError:
            raise MalformedWebhook(
                f"unknown CallStatus {form.get('CallStatus', '')[:20]!r}"
            ) from None
        try:
            stamp = parsedate_to_datetime(form["Timestamp"]) if form.get("Timestamp") else None
        except (TypeError, ValueError):
            stamp = None
        if stamp is not None and stamp.tzinfo is None:
            stamp = None
        return cls(sid, status, _int(form, "SequenceNumber"), _int(form, "CallDuration"), stamp)


@dataclass(frozen=True, slots=True)
class RecordingForm(VoiceForm):
    recording_sid: str
    recording_url: str
    recording_status: str
    recording_duration: int | None
    error_code: str | None
    channels: int | None  # RecordingChannels: 1 or 2 (dual-channel call recordings)

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> RecordingForm:
        sid = form.get("RecordingSid", "")
        if not RECORDING_SID.match(sid):
            raise MalformedWebhook("RecordingSid is missing or not a recording SID")
        url = _text(form, "RecordingUrl", 500)
        if url and not url.startswith(("http://", "https://")):
            raise MalformedWebhook("RecordingUrl is not an http(s) URL")
        return cls(
            **cls._common(form),
            recording_sid=sid,
            recording_url=url,
            recording_status=_text(form, "RecordingStatus", 20) or "completed",
            recording_duration=_int(form, "RecordingDuration"),
            error_code=_text(form, "ErrorCode", 10) or None,
            channels={"1": 1, "2": 2}.get(form.get("RecordingChannels", "")),
        )

    def status_update(self) -> StatusUpdate:
        """The callback as the recording pipeline takes it (inbound and outbound calls)."""
        return StatusUpdate(
            recording_sid=self.recording_sid,
            status=self.recording_status,
            url=self.recording_url,
            duration_s=self.recording_duration,
            channels=self.channels,
            error_code=self.error_code,
            call_sid=self.call_sid,
        )
