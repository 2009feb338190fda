"""A leg's runtime in its thread: waits, interrupts, signed webhooks with fallback, callbacks."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from urllib.parse import urljoin, urlsplit

from phone_network.calls import Call, HangupRequest, Update
from phone_network.clock import Actor, Clock, Stop
from phone_network.events import WebhookFailure
from phone_network.parties import (
    GatherPrompt,
    HangUp,
    HoldPrompt,
    NoInput,
    Prompt,
    RecordPrompt,
    Response,
    Stay,
)
from phone_network.twiml import Document, Play, Say, TwimlError, parse_document
from phone_network.webhooks import Reply, Unreachable, WebhookClient

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."


class LegEnded(Exception):  # noqa: N818 - a signal, not an error
    """The leg is over: `by` ended it; `status` overrides the final status (busy, no-answer...)."""

    def __init__(self, by: str, status: str | None = None) -> None:
        super().__init__(by)
        self.by = by
        self.status = status


class Redirected(Exception):  # noqa: N818 - a signal, not an error
    """A REST update moved the leg to new TwiML."""

    def __init__(self, update: Update) -> None:
        super().__init__(update.url or "inline TwiML")
        self.update = update


class DeadlineReached(Exception):  # noqa: N818 - a signal, not an error
    """A wait reached the deadline set with `Leg.deadline()`."""


class ApplicationError(LegEnded):
    """TwiML could not be fetched or run, and the fallback did not help either."""

    def __init__(self) -> None:
        super().__init__("network")


@dataclass(frozen=True, slots=True)
class Source:
    """Where the next TwiML comes from: a URL to request, or inline TwiML."""

    url: str | None = None
    method: str = "POST"
    twiml: str | None = None

    @classmethod
    def of(cls, update: Update) -> Source:
        return cls(update.url, update.method, update.twiml)


@dataclass(frozen=True, slots=True)
class Next:
    """The TwiML request that continues the call, with its verb-specific parameters."""

    source: Source
    extra: Mapping[str, str] = field(default_factory=dict)


def resolve(document_url: str | None, url: str | None) -> str | None:
    """An absolute URL: `url` relative to the document (Twilio's rule); None if it cannot be."""
    if url is None:
        return None
    if urlsplit(url).scheme in ("http", "https"):
        return url
    return urljoin(document_url, url) if document_url else None


def rfc2822(moment: datetime) -> str:
    return format_datetime(moment)


def voice_params(call: Call, **extra: str) -> dict[str, str]:
    """Twilio's standard voice request parameters for `call`, plus `extra`."""
    params = {
        "CallSid": call.sid, "AccountSid": call.account_sid, "From": call.from_, "To": call.to,
        "Caller": call.from_, "Called": call.to, "CallStatus": call.status,
        "Direction": call.direction, "ApiVersion": API_VERSION,
    }
    if call.parent_sid:
        params["ParentCallSid"] = call.parent_sid
    params.update(extra)
    return params


def post_quietly(hooks: WebhookClient, call: Call | None, url: str, method: str,
                 params: Mapping[str, str], *, code: int = 15003) -> None:
    """Send a request whose answer does not matter (callbacks, actions after a hangup).

    A failure is recorded on `call` with Twilio's error `code` (15003: a callback failed).
    """
    try:
        reply = hooks.send(url, method, params, idempotency=code == 15003)
    except Unreachable as exc:
        failure = WebhookFailure(url, code, str(exc))
    else:
        if reply.ok:
            return
        failure = WebhookFailure(url, code, f"HTTP {reply.status}")
    log.warning("%s", failure.describe())
    if call is not None:
        call.add_failure(failure)


def send_progress(call: Call, hooks: WebhookClient, event: str, now: datetime) -> None:
    """The call-progress status callback for `event`, if the leg subscribed to it."""
    callback = call.setup.status_callback
    if callback.url is None or event not in callback.events:
        return
    status = {"initiated": "initiated", "ringing": "ringing",
              "answered": "in-progress"}.get(event, call.status)
    extra = {"CallStatus": status, "SequenceNumber": str(call.sequence),
             "Timestamp": rfc2822(now), "CallbackSource": "call-progress-events"}
    call.sequence += 1
    if event == "completed":
        extra["CallDuration"] = str(call.duration)
        extra["Duration"] = str((call.duration + 59) // 60)
    post_quietly(hooks, call, callback.url, callback.method, voice_params(call, **extra))


class Leg:
    """Everything a leg's thread does besides interpreting TwiML; implements parties' Waiter.

    It knows nothing of the network: its clock, its webhook client and how many TwiML
    requests may follow each other without any time passing are handed in.
    """

    def __init__(self, call: Call, actor: Actor, *, clock: Clock, hooks: WebhookClient,
                 max_instant_fetches: int) -> None:
        self.call = call
        self.actor = actor
        self.clock = clock
        self.hooks = hooks
        self.max_instant_fetches = max_instant_fetches
        self._same_moment_fetches = 0
        self._last_fetch: datetime | None = None
        self.application_error = False
        self._deadline: datetime | None = None
        self.idle_until: datetime | None = None

    # -- time ---------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def sleep(self, seconds: float | None, until: Stop | None = None) -> bool:
        """Wait clock time; True if `until()` came true. Raises on interrupts and deadlines."""
        capped = False
        if self._deadline is not None:
            remaining = (self._deadline - self.now()).total_seconds()
            if remaining <= 0:
                raise DeadlineReached
            if seconds is None or seconds > remaining:
                seconds, capped = remaining, True

        def stop() -> bool:
            return self.call.pending() is not None or (until is not None and until())

        self.actor.sleep(seconds, stop)
        self.check()
        if until is not None and until():
            return True
        if capped:
            raise DeadlineReached
        return False

    @contextmanager
    def deadline(self, at: datetime | None) -> Iterator[None]:
        """Waits inside raise DeadlineReached at `at` (None: no deadline)."""
        outer = self._deadline
        if at is not None:
            self._deadline = at if outer is None else min(at, outer)
        try:
            yield
        finally:
            self._deadline = outer

    def check(self) -> None:
        """Act on a pending REST interrupt: raise Redirected or LegEnded."""
        if self.call.pending() is None:
            return
        request = self.call.take_interrupt()
        if isinstance(request, HangupRequest):
            raise LegEnded(request.by, "canceled" if request.cancel_only else None)
        if isinstance(request, Update):
            raise Redirected(request)

    # -- the party ------------------------------------------------------------------------

    def ask(self, prompt: Prompt) -> Response:
        """What the party does now; while it said it stays idle, gathers get no input."""
        if (isinstance(prompt, GatherPrompt | RecordPrompt) and self.idle_until is not None
                and self.now() < self.idle_until):
            return NoInput()
        response = self.call.party.respond(prompt, self)
        self.check()
        return response

    def until(self, condition: Stop) -> bool:
        self.actor.sleep(None, lambda: condition() or self.call.pending() is not None)
        return condition()

    def notify(self) -> None:
        self.clock.notify()

    def emit(self, kind: str, *args: str, **detail: str) -> None:
        self.call.emit(kind, *args, **detail)

    # -- call state -------------------------------------------------------------------------

    def params(self, **extra: str) -> dict[str, str]:
        """Twilio's standard voice request parameters, plus verb-specific ones."""
        return voice_params(self.call, **extra)

    def answer(self) -> None:
        """Pick up (once): the call is in progress from now on."""
        if self.call.answered_at is not None:
            return
        self.call.answered_at = self.now()
        self.call.set_status("in-progress")
        self.progress("answered")

    def progress(self, event: str) -> None:
        """Send the call-progress status callback for `event`, if the leg asked for it."""
        send_progress(self.call, self.hooks, event, self.now())

    # -- webhooks ----------------------------------------------------------------------------

    def callback(self, url: str, method: str, params: Mapping[str, str], *,
                 code: int = 15003) -> None:
        """A request whose answer does not matter; a failure is recorded, never fatal."""
        post_quietly(self.hooks, self.call, url, method, params, code=code)

    def report(self, step: Next) -> None:
        """Request an action URL whose TwiML will not run (the call is over)."""
        if step.source.url is not None:
            self.callback(step.source.url, step.source.method, self.params(**step.extra),
                          code=11200)

    def fetch(self, source: Source, extra: Mapping[str, str] | None = None, *,
              fallback: bool = True) -> Document | None:
        """TwiML from `source`; on failure the fallback URL's, else an application error.

        With `fallback=False` (wait and hold documents) a failure is recorded and None returned.
        """
        if source.twiml is not None:
            try:
                return parse_document(source.twiml)
            except TwimlError as exc:
                return self._failed(WebhookFailure("(inline TwiML)", 12100, str(exc)),
                                    extra, fallback)
        assert source.url is not None
        now = self.now()
        self._same_moment_fetches = self._same_moment_fetches + 1 if now == self._last_fetch else 0
        self._last_fetch = now
        if self._same_moment_fetches > self.max_instant_fetches:
            failure = WebhookFailure(source.url, 11200,
                                     "TwiML keeps redirecting without anything taking time")
            return self._failed(failure, extra, fallback=False, fatal=True)
        params = self.params(**(extra or {}))
        try:
            return self._document(self.hooks.send(source.url, source.method, params))
        except Unreachable as exc:
            failure = WebhookFailure(source.url, 11205, str(exc))
        except _BadReply as exc:
            failure = WebhookFailure(source.url, exc.code, exc.reason)
        return self._failed(failure, extra, fallback)

    def _document(self, reply: Reply) -> Document:
        if not reply.ok:
            raise _BadReply(11200, f"HTTP {reply.status}")
        kind = reply.content_type
        if kind.startswith("audio/"):
            raise _BadReply(12300, "audio responses are not supported by the local phone network")
        if kind == "text/plain":
            return Document((Say(reply.text.strip()),))
        if kind not in ("", "text/xml", "application/xml", "text/html"):
            raise _BadReply(12300, f"invalid Content-Type {kind}")
        try:
            return parse_document(reply.body)
        except TwimlError as exc:
            raise _BadReply(12100, str(exc)) from None

    def _failed(self, failure: WebhookFailure, extra: Mapping[str, str] | None, fallback: bool,
                fatal: bool = False) -> Document | None:
        log.warning("call %s: webhook %s", self.call.sid, failure.describe())
        self.emit("webhook-error", failure.url, str(failure.code), reason=failure.reason)
        target = self.call.setup.fallback
        if fallback and target is not None and target.url != failure.url:
            self.emit("fallback", target.url)
            more = {**(extra or {}), "ErrorCode": str(failure.code), "ErrorUrl": failure.url}
            try:
                document = self._document(
                    self.hooks.send(target.url, target.method, self.params(**more)))
            except (Unreachable, _BadReply) as exc:
                self.call.add_failure(failure)
                self.call.add_failure(WebhookFailure(target.url, getattr(exc, "code", 11205),
                                                     getattr(exc, "reason", str(exc))))
            else:
                self.call.add_failure(WebhookFailure(failure.url, failure.code, failure.reason,
                                                     fallback_used=True))
                return document
        else:
            self.call.add_failure(failure)
        if not fallback and not fatal:
            return None
        self.application_error = True
        self.answer()
        self.emit("error", "application error")
        self.emit("say", APPLICATION_ERROR, "en-US", voice="man")
        raise ApplicationError

    def close(self) -> None:
        self.hooks.close()


class _BadReply(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def default_hold_music() -> Play:
    """What Twilio plays to a waiting caller when no waitUrl is given."""
    return Play("http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3")


def seconds_between(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def later(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)


class Patience:
    """How long a party keeps holding (queue, unstarted conference), asked again when it runs out.

    A party that stays "until something happens" gives up after its `max_hold`, counted
    from the first question.
    """

    def __init__(self, leg: Leg, prompt: HoldPrompt) -> None:
        self._leg = leg
        self._prompt = prompt
        self._since = leg.now()
        self._final = False
        self.deadline: datetime | None = None
        self.decide()

    def decide(self) -> None:
        """Ask the party (again); raise LegEnded("party") if it hangs up or has held long enough."""
        leg = self._leg
        if self._final:
            raise LegEnded("party")
        response = leg.ask(self._prompt)
        if isinstance(response, HangUp):
            raise LegEnded("party")
        seconds = response.seconds if isinstance(response, Stay) else None
        if seconds is not None:
            self.deadline = leg.idle_until = later(leg.now(), seconds)
            return
        leg.idle_until = None
        self._final = True
        self.deadline = later(self._since, leg.call.party.max_hold)
        if self.deadline <= leg.now():
            raise LegEnded("party")

    def close(self) -> None:
        self._leg.idle_until = None
