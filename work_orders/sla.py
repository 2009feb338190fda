"""The SLA clocks of a work order: pure functions of its event timeline, its policy and `now`.

Two clocks run from the work order's "created" event:

- **first feedback** is met by the department's first sign of life that the customer or the
  front desk can see: a claim, a reply (the "reply" move, or a "reply" event), a question to
  the customer ("ask_customer"), or the close. A note is internal and does not count.
- **resolution** is met by the close. A reopen continues the clock where it stopped (the time
  it stood closed does not count).

While the work order waits on the customer (`states.PAUSED`) neither clock runs. The callback
that brings the department's answer writes "call" events (role "callback", `reached` true or
false); under a policy whose `unreached_callback` is "pauses", one that did not reach the
customer pauses the resolution clock until the work order's next event. A policy with
`business_hours` counts only the centre's opening hours outside holidays
(`config.hours.BusinessHours`), otherwise every hour.

Order: the events are read in the order they were recorded (their ids). An event dated before
one recorded ahead of it counts from that event's time instead: a late event never changes time
already counted before the events recorded ahead of it, and a warning or breach once recorded
in the timeline ("sla_warning"/"sla_breach", written by the sweep) is never withdrawn.

Each clock has a due time, the time elapsed and remaining, and a state: running, paused,
warning, breached or met.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from config.hours import BusinessHours
from work_orders.models import WorkOrderStatus
from work_orders.sla_policy import SlaPolicy
from work_orders.states import FINAL, PAUSED

#: Status moves that give the customer feedback (they meet the first-feedback clock).
FEEDBACK_MOVES = frozenset({"claim", "reply", "ask_customer", "close"})
#: Timeline event kinds that give feedback by themselves (a department's reply).
FEEDBACK_KINDS = frozenset({"reply"})
#: How far ahead a due time is looked for in business hours (none found: no due time).
HORIZON = timedelta(days=400)

FEEDBACK = "feedback"
RESOLUTION = "resolution"
CLOCKS = (FEEDBACK, RESOLUTION)


class ClockState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    WARNING = "warning"
    BREACHED = "breached"
    MET = "met"


#: Worst first: a work order's SLA state is the worst of its two clocks'.
SEVERITY = (ClockState.BREACHED, ClockState.WARNING, ClockState.RUNNING, ClockState.PAUSED)


class EventLike(Protocol):
    """What the clocks read of a timeline event (a `WorkOrderEvent`, or a test's `Event`)."""

    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Event:
    """A plain timeline event (for tests and callers without rows)."""

    kind: str
    at: datetime
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Clock:
    name: str  # feedback or resolution
    state: ClockState
    target: timedelta
    elapsed: timedelta  # counted time so far (business time under a business-hours policy)
    remaining: timedelta  # target - elapsed, negative once breached
    due_at: datetime | None  # when elapsed reaches the target; None while paused or met in time
    warn_at: datetime | None  # when elapsed reaches the warning share; None likewise
    met_at: datetime | None
    breached: bool  # reached its target before it was met (a met clock may be breached)
    warned: bool
    breach_recorded: bool  # the timeline holds this clock's "sla_breach" (the sweep wrote it)
    warning_recorded: bool


@dataclass(frozen=True, slots=True)
class Clocks:
    feedback: Clock
    resolution: Clock

    def __iter__(self) -> Iterator[Clock]:
        return iter((self.feedback, self.resolution))

    @property
    def state(self) -> ClockState:
        """The worst state of the two (met only when both are met)."""
        states = {self.feedback.state, self.resolution.state}
        for state in SEVERITY:
            if state in states:
                return state
        return ClockState.MET


Span = tuple[datetime, datetime | None]  # [start, end); None: still running


def clocks(
    events: Sequence[EventLike],
    policy: SlaPolicy,
    hours: BusinessHours,
    *,
    now: datetime,
) -> Clocks:
    """Both clocks of a work order at `now` from its `events` in the order they were recorded
    (pure). The first "created" event starts them; without one, nothing has started and both
    clocks are paused at zero."""
    status: WorkOrderStatus | None = None
    started = False
    last = None  # the latest effective time so far
    running: dict[str, list[Span]] = {FEEDBACK: [], RESOLUTION: []}
    met: dict[str, datetime | None] = {FEEDBACK: None, RESOLUTION: None}
    recorded: dict[str, set[str]] = {FEEDBACK: set(), RESOLUTION: set()}

    def set_running(name: str, on: bool, at: datetime) -> None:
        spans = running[name]
        if on and (not spans or spans[-1][1] is not None):
            spans.append((at, None))
        elif not on and spans and spans[-1][1] is None:
            spans[-1] = (spans[-1][0], at)

    unreached = False  # the last event was a callback that did not reach the customer

    def settle(at: datetime) -> None:
        assert status is not None
        counting = status not in PAUSED and status not in FINAL
        set_running(FEEDBACK, counting and met[FEEDBACK] is None, at)
        set_running(RESOLUTION, counting and not (unreached and policy.unreached_pauses), at)

    for event in events:
        at = event.at if last is None or event.at >= last else last
        if at > now:
            break  # not happened yet at `now` (effective times only grow)
        last = at
        data = event.data
        if event.kind == "created" and not started:
            started = True
            status = WorkOrderStatus(data.get("status", WorkOrderStatus.OPEN.value))
            if status in FINAL:
                met[FEEDBACK] = met[RESOLUTION] = at
            settle(at)
            continue
        if not started:
            continue
        if event.kind in ("sla_warning", "sla_breach") and data.get("clock") in CLOCKS:
            recorded[str(data["clock"])].add(event.kind)
            continue
        unreached = (
            event.kind == "call" and data.get("role") == "callback" and data.get("reached") is False
        )
        feedback = event.kind in FEEDBACK_KINDS
        if event.kind == "status":
            after = str(data.get("after"))
            if after in WorkOrderStatus._value2member_map_:
                status = WorkOrderStatus(after)
            feedback = feedback or data.get("event") in FEEDBACK_MOVES
            if status in FINAL:
                met[RESOLUTION] = at
            elif data.get("event") == "reopen":
                met[RESOLUTION] = None
        if feedback and met[FEEDBACK] is None:
            met[FEEDBACK] = at
        if status is not None:
            settle(at)
    targets = {FEEDBACK: policy.first_feedback, RESOLUTION: policy.resolution}
    made = {
        name: _clock(
            name,
            running[name],
            targets[name],
            met[name],
            recorded[name],
            policy,
            hours,
            now=now,
        )
        for name in CLOCKS
    }
    return Clocks(made[FEEDBACK], made[RESOLUTION])


def _clock(
    name: str,
    spans: list[Span],
    target: timedelta,
    met_at: datetime | None,
    recorded: set[str],
    policy: SlaPolicy,
    hours: BusinessHours,
    *,
    now: datetime,
) -> Clock:
    counting = bool(spans) and spans[-1][1] is None
    warning_target = target * policy.warning_share
    elapsed = timedelta(0)
    due_at: datetime | None = None
    warn_at: datetime | None = None
    for start, end in spans:
        if start >= now:
            break
        stop = now if end is None or end > now else end
        for a, b in _counted(start, stop, policy, hours):
            piece = b - a
            if warn_at is None and elapsed + piece >= warning_target:
                warn_at = a + (warning_target - elapsed)
            if due_at is None and elapsed + piece >= target:
                due_at = a + (target - elapsed)
            elapsed += piece
    if counting and (due_at is None or warn_at is None):
        # Still running: when will the time still to count be reached?
        ahead = elapsed
        for a, b in _counted(max(now, spans[-1][0]), now + HORIZON, policy, hours):
            piece = b - a
            if warn_at is None and ahead + piece >= warning_target:
                warn_at = a + (warning_target - ahead)
            if ahead + piece >= target:
                due_at = a + (target - ahead)
                break
            ahead += piece
    breached = elapsed >= target or "sla_breach" in recorded
    warned = breached or elapsed >= warning_target or "sla_warning" in recorded
    if met_at is not None and not counting:
        state = ClockState.MET
    elif breached:
        state = ClockState.BREACHED
    elif not counting:
        state = ClockState.PAUSED
    elif warned:
        state = ClockState.WARNING
    else:
        state = ClockState.RUNNING
    # Not counting, nothing is extrapolated: a due or warning time is one already reached.
    return Clock(
        name=name,
        state=state,
        target=target,
        elapsed=elapsed,
        remaining=target - elapsed,
        due_at=due_at,
        warn_at=warn_at,
        met_at=met_at if state is ClockState.MET else None,
        breached=breached,
        warned=warned,
        breach_recorded="sla_breach" in recorded,
        warning_recorded="sla_warning" in recorded,
    )


def _counted(
    start: datetime, end: datetime, policy: SlaPolicy, hours: BusinessHours
) -> Iterator[tuple[datetime, datetime]]:
    """The parts of [start, end) that count under `policy`, in order."""
    if end <= start:
        return
    if not policy.business_hours:
        yield start, end
        return
    yield from open_spans(hours, start, end)


def open_spans(
    hours: BusinessHours, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """The parts of [start, end) when the centre is open (pure; aware datetimes, in order):
    the opening spans of each local day, holidays closed all day (an overnight span belongs to
    the day it opens, as `BusinessHours.is_open` reads it)."""
    tz = hours.tz
    day = start.astimezone(tz).date() - timedelta(days=1)
    last_day = end.astimezone(tz).date()
    while day <= last_day:
        if day not in hours.holidays:
            for a, b in sorted(_day_spans(hours, day)):
                lo, hi = max(a, start), min(b, end)
                if lo < hi:
                    yield lo, hi
        day += timedelta(days=1)


def _day_spans(hours: BusinessHours, day: date) -> Iterator[tuple[datetime, datetime]]:
    tz = hours.tz
    for span in hours.spans:
        if span.weekday != day.weekday():
            continue
        opens = datetime.combine(day, span.opens, tzinfo=tz)
        if span.closes == time.max:
            closes = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
        elif span.closes <= span.opens:
            closes = datetime.combine(day + timedelta(days=1), span.closes, tzinfo=tz)
        else:
            closes = datetime.combine(day, span.closes, tzinfo=tz)
        yield opens.astimezone(UTC), closes.astimezone(UTC)


def next_check(clocks_: Clocks) -> datetime | None:
    """When the sweep must look at the work order next (pure): the earliest warning or breach
    reached or to be reached by a clock that is not met and whose timeline does not record it
    yet; None when nothing can happen without a new event (met, or paused in time)."""
    due: list[datetime] = []
    for clock in clocks_:
        if clock.state is ClockState.MET or clock.breach_recorded:
            continue
        if clock.due_at is not None:
            due.append(clock.due_at)
        if clock.warn_at is not None and not clock.warning_recorded:
            due.append(clock.warn_at)
    return min(due) if due else None
