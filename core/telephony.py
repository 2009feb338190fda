"""The telephony gateway: every Twilio REST call goes through here, on the official SDK.

Against real Twilio when credentials are set, otherwise against the local phone network's
copy of the same REST API (the SDK's HTTP client is pointed at it). Errors are translated
once, here: `TelephonyUnavailable` for what may work on a retry (Twilio 5xx or 429, timeouts,
lost connections: jobs raise it so RQ retries), `TelephonyRejected` for what never will
(4xx: an invalid number, a call that has ended). Never call this inside a webhook: register an
after-commit hook or enqueue a job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from config.settings import Settings
from core.errors import DomainError

log = logging.getLogger(__name__)
T = TypeVar("T")


class TelephonyError(DomainError):
    """A REST call to Twilio failed; `twilio_code` is Twilio's own error code, if any."""

    code = "telephony-error"

    def __init__(
        self, message: str, *, twilio_code: int | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, twilio_code=twilio_code, status=status)
        self.twilio_code = twilio_code
        self.status = status


class TelephonyUnavailable(TelephonyError):
    """Transient: Twilio (or the network to it) failed; the same request may work later."""

    code = "telephony-unavailable"


class TelephonyRejected(TelephonyError):
    """Permanent: Twilio refused the request (bad number, ended call, unknown resource)."""

    code = "telephony-rejected"


@dataclass(frozen=True, slots=True)
class PlacedCall:
    sid: str
    status: str
    queue_time_ms: int | None  # Twilio's estimate of the wait behind the account's CPS limit


@dataclass(frozen=True, slots=True)
class CallState:
    """A call as Twilio's REST API reports it (REST `GET /Calls/CA…`)."""

    sid: str
    status: str  # Twilio's CallStatus: queued, ringing, in-progress, completed, busy, …
    duration_s: int | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class RemoteRecording:
    """A recording Twilio holds (REST `GET /Recordings?CallSid=…`), as its callback tells it."""

    sid: str
    call_sid: str
    status: str  # in-progress, paused, stopped, processing, completed, absent, failed
    url: str  # the media URL, as the status callback's RecordingUrl
    duration_s: int | None
    channels: int | None
    error_code: str | None


class Telephony(Protocol):
    """What the domain needs from Twilio's REST API (tests inject a recording fake)."""

    def place_call(
        self,
        *,
        to: str,
        from_: str,
        url: str | None = None,
        twiml: str | None = None,
        status_callback: str | None = None,
        status_events: Iterable[str] = ("completed",),
        timeout_s: int | None = None,
        record: bool = False,
        recording_status_callback: str | None = None,
        machine_detection: str | None = None,
    ) -> PlacedCall: ...

    def redirect_call(self, call_sid: str, url: str) -> None: ...

    def hang_up(self, call_sid: str) -> None: ...

    def add_participant(
        self,
        conference: str,
        *,
        from_: str,
        to: str,
        muted: bool = False,
        call_sid_to_coach: str | None = None,
        beep: bool = False,
        status_callback: str | None = None,
    ) -> str: ...

    def update_participant(
        self,
        conference_sid: str,
        call_sid: str,
        *,
        muted: bool | None = None,
        coaching: bool | None = None,
        call_sid_to_coach: str | None = None,
    ) -> None: ...

    def end_conference(self, conference_sid: str) -> None: ...

    def find_conference(self, friendly_name: str) -> str | None: ...

    def delete_recording(self, recording_sid: str) -> None: ...

    def fetch_call(self, call_sid: str) -> CallState: ...

    def list_recordings(self, call_sid: str) -> list[RemoteRecording]: ...


def _translated(action: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except TwilioRestException as exc:
        status = int(exc.status or 0)
        kind = TelephonyUnavailable if status >= 500 or status == 429 else TelephonyRejected
        raise kind(f"{action}: {exc.msg}", twilio_code=exc.code, status=status) from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TelephonyUnavailable(f"{action}: {exc.__class__.__name__}") from exc
    except TwilioException as exc:
        raise TelephonyUnavailable(f"{action}: {exc}") from exc


class TwilioGateway:
    """`Telephony` on the official SDK."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def place_call(
        self,
        *,
        to: str,
        from_: str,
        url: str | None = None,
        twiml: str | None = None,
        status_callback: str | None = None,
        status_events: Iterable[str] = ("completed",),
        timeout_s: int | None = None,
        record: bool = False,
        recording_status_callback: str | None = None,
        machine_detection: str | None = None,
    ) -> PlacedCall:
        """Create an outbound call (REST `POST /Calls`). Not idempotent: callers claim first.

        With `record`, the call is recorded dual-channel from its answer (channel 1: this
        leg, channel 2: what it hears), and the recording's status is posted to
        `recording_status_callback`. With `machine_detection` (`Enable`, or
        `DetectMessageEnd` to leave a message after the beep), Twilio tells who answered in
        the `url` request's `AnsweredBy`: `human`, `machine_start` (Enable),
        `machine_end_beep`, `machine_end_silence`, `machine_end_other` (DetectMessageEnd),
        `fax` or `unknown`.
        """
        options: dict[str, Any] = {"to": to, "from_": from_}
        if url:
            options["url"] = url
        if twiml:
            options["twiml"] = twiml
        if status_callback:
            options.update(
                status_callback=status_callback,
                status_callback_event=list(status_events),
                status_callback_method="POST",
            )
        if timeout_s:
            options["timeout"] = timeout_s
        if machine_detection:
            options["machine_detection"] = machine_detection
        if record:
            options.update(record=True, recording_channels="dual")
            if recording_status_callback:
                options.update(
                    recording_status_callback=recording_status_callback,
                    recording_status_callback_method="POST",
                    recording_status_callback_event=["completed", "absent"],
                )
        call = _translated("place call", lambda: self.client.calls.create(**options))
        queue_time = getattr(call, "queue_time", None)
        return PlacedCall(
            call.sid, str(call.status), int(queue_time) if queue_time not in (None, "") else None
        )

    def redirect_call(self, call_sid: str, url: str) -> None:
        """Make a live call fetch new TwiML (it leaves a queue or hold loop at once)."""
        _translated(
            "redirect call", lambda: self.client.calls(call_sid).update(url=url, method="POST")
        )

    def hang_up(self, call_sid: str) -> None:
        _translated("hang up", lambda: self.client.calls(call_sid).update(status="completed"))

    def add_participant(
        self,
        conference: str,
        *,
        from_: str,
        to: str,
        muted: bool = False,
        call_sid_to_coach: str | None = None,
        beep: bool = False,
        status_callback: str | None = None,
    ) -> str:
        """Dial `to` into a conference (muted to monitor, coaching to whisper); its CallSid."""
        options: dict[str, Any] = {
            "from_": from_,
            "to": to,
            "muted": muted,
            "beep": "true" if beep else "false",
        }
        if call_sid_to_coach:
            options.update(coaching=True, call_sid_to_coach=call_sid_to_coach)
        if status_callback:
            options.update(
                status_callback=status_callback,
                status_callback_event=["initiated", "ringing", "answered", "completed"],
            )
        participant = _translated(
            "add participant",
            lambda: self.client.conferences(conference).participants.create(**options),
        )
        return str(participant.call_sid)

    def update_participant(
        self,
        conference_sid: str,
        call_sid: str,
        *,
        muted: bool | None = None,
        coaching: bool | None = None,
        call_sid_to_coach: str | None = None,
    ) -> None:
        """Change a participant: monitor (muted), whisper (coaching) or barge (neither)."""
        options: dict[str, Any] = {}
        if muted is not None:
            options["muted"] = muted
        if coaching is not None:
            options["coaching"] = coaching
        if call_sid_to_coach:
            options["call_sid_to_coach"] = call_sid_to_coach
        _translated(
            "update participant",
            lambda: (
                self.client.conferences(conference_sid).participants(call_sid).update(**options)
            ),
        )

    def end_conference(self, conference_sid: str) -> None:
        _translated(
            "end conference",
            lambda: self.client.conferences(conference_sid).update(status="completed"),
        )

    def find_conference(self, friendly_name: str) -> str | None:
        """The SID of the in-progress conference named `friendly_name`, or None.

        Participants are added by the conference's name, but updated by its SID
        (REST `GET /Conferences?FriendlyName=…&Status=in-progress`).
        """
        found = _translated(
            "find conference",
            lambda: self.client.conferences.list(
                friendly_name=friendly_name, status="in-progress", limit=1
            ),
        )
        return str(found[0].sid) if found else None

    def delete_recording(self, recording_sid: str) -> None:
        """Delete a recording from Twilio (REST `DELETE /Recordings/RE…`); one already gone
        (404) counts as deleted, so a repeated delete is harmless."""
        try:
            _translated("delete recording", lambda: self.client.recordings(recording_sid).delete())
        except TelephonyRejected as exc:
            if exc.status != 404:
                raise

    def fetch_call(self, call_sid: str) -> CallState:
        """The call's real status (REST `GET /Calls/CA…`), for the reconciliation of lost
        status callbacks. An unknown call is `TelephonyRejected` (404)."""
        call = _translated("fetch call", lambda: self.client.calls(call_sid).fetch())
        duration = getattr(call, "duration", None)
        return CallState(
            str(call.sid),
            str(call.status),
            int(duration) if duration not in (None, "") else None,
            getattr(call, "end_time", None),
        )

    def list_recordings(self, call_sid: str) -> list[RemoteRecording]:
        """The recordings of one call leg (REST `GET /Recordings?CallSid=…`), for the
        reconciliation of lost recording callbacks."""
        found = _translated(
            "list recordings", lambda: self.client.recordings.list(call_sid=call_sid, limit=50)
        )
        return [_remote_recording(self.client, r) for r in found]


def _remote_recording(client: Client, rec: Any) -> RemoteRecording:
    url = getattr(rec, "media_url", None)
    if not url:  # Twilio's RecordingUrl is the resource's URI without ".json"
        uri = str(rec.uri or "").removesuffix(".json")
        url = f"https://api.twilio.com{uri}"
    duration = getattr(rec, "duration", None)
    error_code = getattr(rec, "error_code", None)
    return RemoteRecording(
        sid=str(rec.sid),
        call_sid=str(rec.call_sid),
        status=str(rec.status),
        url=str(url),
        duration_s=int(duration) if duration not in (None, "", -1) else None,
        channels=int(rec.channels) if getattr(rec, "channels", None) else None,
        error_code=str(error_code) if error_code not in (None, "") else None,
    )


def gateway_for(settings: Settings, http_client: TwilioHttpClient | None = None) -> TwilioGateway:
    """Real Twilio (API key if set, else the auth token), or, with `http_client`, whatever that
    client reaches in Twilio's place (the composition root passes the local network's)."""
    if http_client is not None:
        return TwilioGateway(
            Client(
                settings.account_sid,
                settings.signing_token,
                settings.account_sid,
                http_client=http_client,
            )
        )
    if settings.twilio_api_key:
        return TwilioGateway(
            Client(settings.twilio_api_key, settings.twilio_api_secret, settings.twilio_account_sid)
        )
    return TwilioGateway(Client(settings.twilio_account_sid, settings.twilio_auth_token))
