"""A call leg's shared state: identity, status, pending REST interrupts, and what it heard."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from phone_network.clock import Clock
from phone_network.events import CallResult, Event, WebhookFailure
from phone_network.parties import Party
from phone_network.twiml import Conference, RecordingOptions, StatusCallback


@dataclass(frozen=True, slots=True)
class Update:
    """A REST redirect of a live call: fetch `url` with `method`, or run inline `twiml`."""

    url: str | None = None
    method: str = "POST"
    twiml: str | None = None


@dataclass(frozen=True, slots=True)
class HangupRequest:
    """A request to end the call: by "api" (REST Status=completed/canceled) or "party"."""

    by: str
    cancel_only: bool = False


Interrupt = Update | HangupRequest


@dataclass(frozen=True, slots=True)
class Fallback:
    url: str
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class NewCall:
    """What a REST `POST /Calls` asks for."""

    to: str
    from_: str
    url: str | None = None
    twiml: str | None = None
    method: str = "POST"
    fallback: Fallback | None = None
    status_callback: StatusCallback = StatusCallback()
    timeout: float = 60.0
    record: bool = False
    recording_channels: int = 1
    recording: RecordingOptions = RecordingOptions()
    machine_detection: str | None = None  # Enable or DetectMessageEnd (answering machines)


@dataclass(frozen=True, slots=True)
class NewParticipant:
    """What a REST `POST /Conferences/{Sid}/Participants` asks for."""

    from_: str
    to: str
    conference: Conference
    status_callback: StatusCallback = StatusCallback()
    timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class LegSetup:
    """How a leg talks to the app: its status callback and fallback URL."""

    status_callback: StatusCallback = StatusCallback(events=frozenset())
    fallback: Fallback | None = None
    parent_sid: str | None = None
    record: RecordingOptions | None = None
    record_channels: int = 1


class Call:
    """One call leg. Its own thread changes its state; other threads read it and send interrupts."""

    def __init__(self, *, sid: str, account_sid: str, from_: str, to: str, direction: str,
                 clock: Clock, party: Party, setup: LegSetup) -> None:
        self.sid = sid
        self.account_sid = account_sid
        self.from_ = from_
        self.to = to
        self.direction = direction
        self.party = party
        self.setup = setup
        self.created_at = clock.now()
        self.updated_at = self.created_at
        self.status = "queued"
        self.answered_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.where = ""
        self.sequence = 0
        self.thread: threading.Thread | None = None
        self._clock = clock
        self._cond = threading.Condition()
        self._events: list[Event] = []
        self._failures: list[WebhookFailure] = []
        self._interrupt: Interrupt | None = None
        self._result: CallResult | None = None

    @property
    def parent_sid(self) -> str | None:
        return self.setup.parent_sid

    @property
    def live(self) -> bool:
        return self._result is None

    @property
    def result(self) -> CallResult | None:
        return self._result

    @property
    def duration(self) -> int:
        if self.answered_at is None:
            return 0
        end = self.ended_at or self._clock.now()
        return max(0, round((end - self.answered_at).total_seconds()))

    @property
    def failures(self) -> tuple[WebhookFailure, ...]:
        with self._cond:
            return tuple(self._failures)

    def set_status(self, status: str) -> None:
        with self._cond:
            self.status = status
            self.updated_at = self._clock.now()
            self._cond.notify_all()

    def emit(self, kind: str, *args: str, **detail: str) -> Event:
        """Record an event on this leg and let its party hear it."""
        with self._cond:
            event = Event(kind, tuple(args), self._clock.now(), len(self._events) + 1, detail)
            self._events.append(event)
            self._cond.notify_all()
        self.party.heard(event)
        return event

    def add_failure(self, failure: WebhookFailure) -> None:
        with self._cond:
            self._failures.append(failure)

    def touch(self) -> None:
        """Wake threads watching this call (long polls)."""
        with self._cond:
            self._cond.notify_all()

    def transcript(self) -> tuple[Event, ...]:
        with self._cond:
            return tuple(self._events)

    def interrupt(self, request: Interrupt) -> bool:
        """Ask the leg to change course; False if it has already ended. A hangup wins."""
        with self._cond:
            if self._result is not None:
                return False
            if not isinstance(self._interrupt, HangupRequest):
                self._interrupt = request
        self._clock.notify()
        return True

    def pending(self) -> Interrupt | None:
        """The interrupt waiting to be acted on (read without locking: used in wait conditions)."""
        return self._interrupt

    def take_interrupt(self) -> Interrupt | None:
        with self._cond:
            request, self._interrupt = self._interrupt, None
            return request

    def finish(self, result: CallResult) -> None:
        with self._cond:
            self._result = result
            self._cond.notify_all()

    def wait(self, timeout: float | None = 30.0) -> CallResult:
        """Block (real seconds; None: as long as it takes) until the leg has ended."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._result is not None, timeout):
                raise TimeoutError(f"call {self.sid} still {self.status} after {timeout} s; "
                                   f"last events: {[e.as_tuple() for e in self._events[-5:]]}")
            assert self._result is not None
            return self._result

    def wait_for(self, kind: str, timeout: float = 10.0, *,
                 match: Callable[[Event], bool] | None = None) -> Event:
        """Block until an event of `kind` (and `match`) has happened on this leg; return it."""
        def found() -> Event | None:
            for event in self._events:
                if event.kind == kind and (match is None or match(event)):
                    return event
            return None

        with self._cond:
            if not self._cond.wait_for(lambda: found() is not None or self._result is not None,
                                       timeout):
                raise TimeoutError(f"no {kind!r} event on call {self.sid} after {timeout} s")
            event = found()
            if event is None:
                raise TimeoutError(f"call {self.sid} ended without a {kind!r} event")
            return event

    def events_after(self, seq: int, timeout: float,
                     also: Callable[[], bool] | None = None) -> list[Event]:
        """Events numbered above `seq`, waiting up to `timeout` real seconds for the first one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                fresh = self._events[seq:]
                if fresh or self._result is not None or (also is not None and also()):
                    return fresh
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)

