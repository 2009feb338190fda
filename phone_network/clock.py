"""The network's clocks: real time, and virtual time that jumps ahead while every call waits."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

Stop = Callable[[], bool]
"""A condition a waiting thread re-checks after every `Clock.notify()`; it must not take locks."""

DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Actor(Protocol):
    """A thread whose waiting lets virtual time advance (one per call leg)."""

    def sleep(self, seconds: float | None, stop: Stop) -> bool:
        """Wait `seconds` of clock time (None: forever); True if `stop()` ended the wait early."""
        ...

    def close(self) -> None:
        """The thread is done; the clock no longer waits for it."""
        ...


class Clock(Protocol):
    """Where every timestamp and every wait of the network comes from."""

    def now(self) -> datetime: ...

    def actor(self) -> Actor:
        """Register a busy actor now (before its thread starts), to be closed when it ends."""
        ...

    def wait(self, seconds: float | None, stop: Stop) -> bool:
        """Like `Actor.sleep`, for threads that are not actors (they never hold time back)."""
        ...

    def notify(self) -> None:
        """Something a waiting `stop()` may read has changed: make every waiter re-check."""
        ...

    def hold(self) -> AbstractContextManager[None]:
        """While inside, time does not advance by itself (a test arranging something)."""
        ...


class RealClock:
    """Wall-clock time; waits take real seconds."""

    def __init__(self) -> None:
        self._cond = threading.Condition()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def actor(self) -> Actor:
        return _RealActor(self)

    def wait(self, seconds: float | None, stop: Stop) -> bool:
        deadline = None if seconds is None else time.monotonic() + max(0.0, seconds)
        with self._cond:
            while not stop():
                if deadline is None:
                    self._cond.wait()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @contextmanager
    def hold(self) -> Iterator[None]:
        yield


@dataclass(slots=True)
class _RealActor:
    clock: RealClock

    def sleep(self, seconds: float | None, stop: Stop) -> bool:
        return self.clock.wait(seconds, stop)

    def close(self) -> None:
        return None


@dataclass(slots=True)
class _Sleeper:
    wake: float
    checked: int


class VirtualClock:
    """Discrete-event time: when every actor is asleep, time jumps to the earliest wake-up.

    Actors doing anything else (a webhook request in flight, a REST call being handled) hold
    time still, so a two-minute hold loop costs only its HTTP round trips. Threads that are
    not actors (a test, the app's workers) do not hold time back unless they use `hold()`;
    `settle` (real seconds) makes time wait that long after the last activity before jumping,
    which gives such outside actors a chance to act first.

    Time only jumps once every sleeper has re-checked its stop condition since the last
    `notify()` (the epoch), so a wake-up caused by another thread is never skipped over.
    """

    def __init__(self, start: datetime = DEFAULT_START, *, settle: float = 0.0) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock's start must be timezone-aware")
        self._start = start
        self._settle = settle
        self._cond = threading.Condition()
        self._elapsed = 0.0
        self._epoch = 0
        self._busy = 0
        self._sleepers: dict[int, _Sleeper] = {}
        self._unchecked = 0  # sleepers that have not re-checked since the epoch changed
        self._next_token = 0
        self._last_change = time.monotonic()

    def now(self) -> datetime:
        with self._cond:
            return self._start + timedelta(seconds=self._elapsed)

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the start."""
        with self._cond:
            return self._elapsed

    def actor(self) -> Actor:
        with self._cond:
            self._busy += 1
            self._last_change = time.monotonic()
        return _VirtualActor(self)

    def wait(self, seconds: float | None, stop: Stop) -> bool:
        return self._sleep(seconds, stop, is_actor=False)

    def notify(self) -> None:
        with self._cond:
            self._changed()

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._cond:
            self._busy += 1
            self._last_change = time.monotonic()
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        with self._cond:
            self._busy -= 1
            self._last_change = time.monotonic()
            self._cond.notify()  # one sleeper suffices to move time on for everyone

    def _changed(self) -> None:
        self._epoch += 1
        self._unchecked = len(self._sleepers)
        self._last_change = time.monotonic()
        self._cond.notify_all()

    def _sleep(self, seconds: float | None, stop: Stop, *, is_actor: bool) -> bool:
        with self._cond:
            wake = math.inf if seconds is None else self._elapsed + max(0.0, seconds)
            token = self._next_token
            self._next_token += 1
            me = _Sleeper(wake, -1)
            self._sleepers[token] = me
            self._unchecked += 1
            if is_actor:
                self._busy -= 1
            try:
                while True:
                    if stop():
                        return True
                    if self._elapsed >= me.wake:
                        return False
                    if me.checked != self._epoch:
                        me.checked = self._epoch
                        self._unchecked -= 1
                    pause = self._try_advance()
                    if pause == 0.0:
                        continue
                    self._cond.wait(pause)
            finally:
                del self._sleepers[token]
                if me.checked != self._epoch:
                    self._unchecked -= 1
                if is_actor:
                    self._busy += 1  # busy again: time cannot move, nobody to wake
                else:
                    self._cond.notify()  # it may have been the last one holding time back

    def _try_advance(self) -> float | None:
        """Jump to the next wake-up if all sleep: 0.0 if it did, else seconds to wait, or None."""
        if self._busy > 0 or self._unchecked > 0:
            return None
        target = min(s.wake for s in self._sleepers.values())
        if math.isinf(target):
            return None
        quiet = time.monotonic() - self._last_change
        if quiet < self._settle:
            return self._settle - quiet
        self._elapsed = max(self._elapsed, target)
        self._changed()
        return 0.0


@dataclass(slots=True)
class _VirtualActor:
    clock: VirtualClock
    closed: bool = False

    def sleep(self, seconds: float | None, stop: Stop) -> bool:
        return self.clock._sleep(seconds, stop, is_actor=True)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.clock._release()
