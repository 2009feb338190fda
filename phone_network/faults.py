"""Faults an operator can switch on to see how the app copes: Twilio's REST API failing.

Twilio's REST API is not always there: it answers 5xx during an incident, or not at all
before the client gives up. `RestFaults` holds the one fault in force (if any); the REST
blueprint consults it before each request (`rest_api._check_account`), and the control API
switches it (`PUT /control/faults/rest`). Times are real seconds (time.monotonic), whatever
the network's clock: a fault is something done to a running network from outside.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

REST_FAULT_MODES = ("error", "timeout")
MAX_FAULT_S = 3600.0


@dataclass(frozen=True, slots=True)
class RestFault:
    """`error`: every REST request answers 500 at once. `timeout`: every request is held for
    `delay` seconds (longer than a client waits: the SDK's default is 30 s), then 504."""

    mode: str
    until: float  # time.monotonic() at which the fault ends by itself
    delay: float = 35.0

    def __post_init__(self) -> None:
        if self.mode not in REST_FAULT_MODES:
            raise ValueError(f"unknown REST fault mode {self.mode!r} (use error or timeout)")
        if not 0 <= self.delay <= MAX_FAULT_S:
            raise ValueError(f"delay must be 0-{MAX_FAULT_S:g} s, not {self.delay!r}")

    def remaining(self, now: float) -> float:
        return max(0.0, self.until - now)


class RestFaults:
    """The REST fault in force, if any, and how many requests it failed (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fault: RestFault | None = None
        self.failed = 0

    def start(self, mode: str, seconds: float, *, delay: float = 35.0) -> RestFault:
        """Fail every REST request for the next `seconds` real seconds (replacing any fault)."""
        if not 0 < seconds <= MAX_FAULT_S:
            raise ValueError(f"seconds must be above 0 and at most {MAX_FAULT_S:g}, "
                             f"not {seconds!r}")
        fault = RestFault(mode, time.monotonic() + seconds, delay)
        with self._lock:
            self._fault = fault
        return fault

    def stop(self) -> bool:
        """End the fault now; False if none was in force."""
        with self._lock:
            had, self._fault = self._fault, None
        return had is not None and had.remaining(time.monotonic()) > 0

    def current(self) -> RestFault | None:
        """The fault in force now (one whose time is up is forgotten)."""
        with self._lock:
            if self._fault is not None and self._fault.remaining(time.monotonic()) <= 0:
                self._fault = None
            return self._fault

    def hit(self) -> RestFault | None:
        """The fault to apply to a request arriving now, counted as failed; None: serve it."""
        fault = self.current()
        if fault is not None:
            with self._lock:
                self.failed += 1
        return fault
