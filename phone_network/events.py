"""What happened on a call leg: transcript events, webhook failures and the final result."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing heard, done or decided on a leg, e.g. kind "say", args ("Welcome", "en-US").

    Kinds and their args: say (text, language), play (url), pause (seconds), gather (input),
    pressed (keys), speech (text), no-input (), record (), recording (sid, seconds),
    enqueue (queue), queue-wait (queue, position), leave (queue), queue-result (result),
    dial (targets), ringing (address), dial-result (status), bridged (address),
    conference (name), conference-start (name), conference-end (name), left-conference (name),
    muted/unmuted/hold/unhold (name), redirect (url), fallback (url), webhook-error (url, code),
    hangup (by), reject (reason), error (message).
    """

    kind: str
    args: tuple[str, ...]
    at: datetime
    seq: int = 0
    detail: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    def as_tuple(self) -> tuple[str, ...]:
        return (self.kind, *self.args)

    def to_json(self) -> dict[str, object]:
        return {"seq": self.seq, "kind": self.kind, "args": list(self.args),
                "at": self.at.isoformat(), "detail": dict(self.detail)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Event:
        args = data.get("args", [])
        detail = data.get("detail", {})
        return cls(kind=str(data["kind"]),
                   args=tuple(str(a) for a in args) if isinstance(args, list) else (),
                   at=datetime.fromisoformat(str(data["at"])), seq=int(str(data.get("seq", 0))),
                   detail={str(k): str(v) for k, v in detail.items()}
                   if isinstance(detail, dict) else {})


@dataclass(frozen=True, slots=True)
class WebhookFailure:
    """A request to our app that failed, with Twilio's error code (11200, 11205, 12100...)."""

    url: str
    code: int
    reason: str
    fallback_used: bool = False

    def describe(self) -> str:
        what = f"error {self.code} from {self.url}: {self.reason}"
        return what + (" (the fallback URL took over)" if self.fallback_used else "")

    def to_json(self) -> dict[str, object]:
        return {"url": self.url, "code": self.code, "reason": self.reason,
                "fallback_used": self.fallback_used}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> WebhookFailure:
        return cls(url=str(data["url"]), code=int(str(data["code"])), reason=str(data["reason"]),
                   fallback_used=bool(data.get("fallback_used")))


@dataclass(frozen=True, slots=True)
class CallResult:
    """How a leg ended. `error` is None unless a webhook failed (fallback or application error).

    `hung_up_by` is who ended the leg: "party" (the person or endpoint on it), "hotline" (the
    app's TwiML: <Hangup>, <Reject> or running out of verbs), "api" (a REST update), "peer"
    (the other side of a bridge) or "network" (an application error, or shutdown).
    """

    sid: str
    status: str
    hung_up_by: str
    duration: int
    transcript: tuple[Event, ...]
    failures: tuple[WebhookFailure, ...] = ()
    application_error: bool = False

    @property
    def error(self) -> str | None:
        if not self.failures:
            return None
        text = "; ".join(f.describe() for f in self.failures)
        return ("application error: " + text) if self.application_error else text

    @property
    def ok(self) -> bool:
        return not self.failures

    def steps(self) -> list[tuple[str, ...]]:
        """The transcript as plain tuples, e.g. [("say", "Welcome", "en-US"), ("pressed", "1")]."""
        return [e.as_tuple() for e in self.transcript]

    def events(self, kind: str) -> list[Event]:
        return [e for e in self.transcript if e.kind == kind]

    def said(self) -> list[str]:
        """Every text the leg heard through <Say>, in order."""
        return [e.args[0] for e in self.transcript if e.kind == "say"]

    def to_json(self) -> dict[str, object]:
        return {"sid": self.sid, "status": self.status, "hung_up_by": self.hung_up_by,
                "duration": self.duration, "transcript": [e.to_json() for e in self.transcript],
                "failures": [f.to_json() for f in self.failures],
                "application_error": self.application_error, "error": self.error}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> CallResult:
        transcript = data.get("transcript", [])
        failures = data.get("failures", [])
        return cls(
            sid=str(data["sid"]), status=str(data["status"]), hung_up_by=str(data["hung_up_by"]),
            duration=int(str(data["duration"])),
            transcript=tuple(Event.from_json(e) for e in transcript)
            if isinstance(transcript, list) else (),
            failures=tuple(WebhookFailure.from_json(f) for f in failures)
            if isinstance(failures, list) else (),
            application_error=bool(data.get("application_error")))
