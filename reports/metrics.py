"""Call-centre KPIs as pure functions over plain records (definitions: docs/METRICS.md).

Nothing here reads the clock or the database: queue entries (`Entry`) and agent state
changes (`StateChange`) come in as values, with `now` and the interval bounds, and figures
come out as frozen dataclasses. `reports.queries` builds the records from `QueuedCall` and
`AgentEvent` rows.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: Callers who hang up after waiting less than this many seconds are short abandons (a wrong
#: number, a caller who changed their mind): counted apart and left out of service level and
#: abandon rate. DOMAIN.md gives no figure; 5 s is the common industry default.
SHORT_ABANDON_S = 5
#: Interval lengths the reports offer, in minutes; None is the whole day.
INTERVALS: Mapping[str, int | None] = {"15": 15, "30": 30, "60": 60, "day": None}

# Agent states and entry statuses as plain strings (the values of queues.models' enums), so
# this module needs neither SQLAlchemy nor the models.
OFFLINE, AVAILABLE, RESERVED, ON_CALL, WRAP_UP, BREAK = (
    "offline",
    "available",
    "reserved",
    "on_call",
    "wrap_up",
    "break",
)
BUSY = (RESERVED, ON_CALL, WRAP_UP)
STAFFED = (AVAILABLE, *BUSY)


@dataclass(frozen=True, slots=True)
class Entry:
    """One stay of a call in one queue (a `QueuedCall` row), as the reports need it."""

    id: int
    call_sid: str
    queue: str
    status: str  # a QueuedCallStatus value
    enqueued_at: datetime  # the caller's arrival (kept when the call overflows)
    answered_at: datetime | None = None
    left_at: datetime | None = None
    wait_s: int | None = None
    talk_ended_at: datetime | None = None
    wrapped_up_at: datetime | None = None
    agent_id: int | None = None
    callback: bool = False  # the caller left the line to be called back (callback_to set)


@dataclass(frozen=True, slots=True)
class StateChange:
    """One presence change of an agent (an `AgentEvent` row)."""

    id: int
    agent_id: int
    from_state: str | None
    to_state: str
    at: datetime
    reason: str | None = None
    call_sid: str | None = None


@dataclass(frozen=True, slots=True)
class AgentInfo:
    id: int
    login: str
    display_name: str
    team: str


@dataclass(frozen=True, slots=True)
class Interval:
    """[start, end) in UTC, labelled with its local start time in the centre's time zone."""

    start: datetime
    end: datetime
    label: str

    def __contains__(self, at: datetime) -> bool:
        return self.start <= at < self.end


class Outcome(enum.StrEnum):
    """How an entry counts (exactly one outcome each; see docs/METRICS.md)."""

    ANSWERED = "answered"  # an agent answered while the caller waited
    ABANDONED = "abandoned"  # the caller hung up after SHORT_ABANDON_S or more
    SHORT_ABANDON = "short_abandon"  # the caller hung up sooner
    CALLBACK = "callback"  # the caller asked to be called back
    VOICEMAIL = "voicemail"  # left without an agent (max wait reached, queue error)
    OVERFLOWED = "overflowed"  # moved on: counted in the queue it ended in, not here
    WAITING = "waiting"  # still open at `now` (waiting or an agent's leg ringing)


@dataclass(frozen=True, slots=True)
class Handle:
    """An answered entry's handle time in seconds; hold is 0 (there is no hold yet)."""

    talk_s: float
    hold_s: float
    wrap_s: float

    @property
    def total_s(self) -> float:
        return self.talk_s + self.hold_s + self.wrap_s


# --- intervals ---------------------------------------------------------------------------


def intervals(day: date, tz: ZoneInfo, minutes: int | None) -> list[Interval]:
    """The local `day`, whole (`minutes` None) or cut into `minutes`-long intervals.

    The day runs from local midnight to the next local midnight, so a day with a clock change
    has 23 or 25 hours; intervals are cut in elapsed time from midnight and labelled with
    their local start.
    """
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    start_utc, end_utc = _utc(start), _utc(end)
    if minutes is None:
        return [Interval(start_utc, end_utc, day.isoformat())]
    step = timedelta(minutes=minutes)
    cut, at = [], start_utc
    while at < end_utc:
        cut.append(Interval(at, min(at + step, end_utc), at.astimezone(tz).strftime("%H:%M")))
        at += step
    return cut


def _utc(at: datetime) -> datetime:
    return at.astimezone(ZoneInfo("UTC"))


# --- one entry -----------------------------------------------------------------------------


def wait_seconds(entry: Entry, now: datetime) -> float:
    """How long the caller waited: to the answer, to leaving, or (still waiting) to `now`."""
    end = entry.answered_at or entry.left_at
    if end is not None:
        return max(0.0, (end - entry.enqueued_at).total_seconds())
    if entry.wait_s is not None:
        return float(entry.wait_s)
    return max(0.0, (now - entry.enqueued_at).total_seconds())


def outcome(entry: Entry, *, now: datetime, short_abandon_s: int = SHORT_ABANDON_S) -> Outcome:
    """The one way `entry` counts (docs/METRICS.md, "Outcomes")."""
    if entry.status == "overflowed":
        return Outcome.OVERFLOWED
    if entry.callback:
        return Outcome.CALLBACK
    if entry.status == "connected":
        return Outcome.ANSWERED
    if entry.status == "abandoned":
        short = wait_seconds(entry, now) < short_abandon_s
        return Outcome.SHORT_ABANDON if short else Outcome.ABANDONED
    if entry.status == "voicemail":
        return Outcome.VOICEMAIL
    return Outcome.WAITING  # waiting, assigned (and a callback row without a number)


def handle_times(
    entries: Iterable[Entry], events: Iterable[StateChange], *, now: datetime
) -> dict[int, Handle]:
    """Handle time of every connected entry whose talk has ended, by entry id.

    Only conversations count: an entry whose caller left as the agent answered, or a
    callback the customer did not pick up, has none (the agent's time shows in occupancy).

    Talk: `answered_at` → `talk_ended_at`. Wrap-up: `talk_ended_at` → the agent's first
    state change after it that leaves wrap-up (still in wrap-up at `now`: to `now`). An agent
    whose first change after the talk is not in or out of wrap-up had none (0); without the
    agent's events, `wrapped_up_at` (the desk's save) ends it. Hold is 0.
    """
    by_agent: dict[int, list[StateChange]] = defaultdict(list)
    for ev in sorted(events, key=lambda e: (e.at, e.id)):
        by_agent[ev.agent_id].append(ev)
    handled = {}
    for entry in entries:
        if entry.status != "connected" or entry.answered_at is None:
            continue
        if entry.talk_ended_at is None:
            continue
        talk = max(0.0, (entry.talk_ended_at - entry.answered_at).total_seconds())
        wrap_end = _wrap_end(entry, by_agent.get(entry.agent_id or -1, []), now)
        wrap = max(0.0, (wrap_end - entry.talk_ended_at).total_seconds())
        handled[entry.id] = Handle(talk_s=talk, hold_s=0.0, wrap_s=wrap)
    return handled


def _wrap_end(entry: Entry, events: Sequence[StateChange], now: datetime) -> datetime:
    assert entry.talk_ended_at is not None
    in_wrap = False
    for ev in events:
        if ev.at < entry.talk_ended_at:
            continue
        if ev.to_state == WRAP_UP and ev.from_state != WRAP_UP:
            in_wrap = True  # the change into this call's wrap-up (same instant as the talk end)
            continue
        return ev.at if ev.from_state == WRAP_UP else entry.talk_ended_at
    if in_wrap:
        return max(now, entry.talk_ended_at)
    return entry.wrapped_up_at or entry.talk_ended_at


# --- queues --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """Figures of a set of entries (one queue or several, one interval); see docs/METRICS.md."""

    offered: int
    answered: int
    answered_within: int  # answered within the service-level threshold T
    abandoned: int  # after the short-abandon threshold
    abandoned_within: int  # of those, abandoned within T
    short_abandons: int
    callbacks: int  # asked to be called back
    callbacks_connected: int  # the customer was reached
    callbacks_failed: int  # the customer did not answer
    voicemail: int
    waiting: int  # still open at `now`
    waiting_past_threshold: int  # of those, already waiting longer than T
    overflowed_out: int  # moved on to another queue (counted there; information only)
    handled: int  # entries whose talk ended (answered calls and connected callbacks)
    service_level: float | None  # percent, the default formula
    service_level_of_answered: float | None  # percent, alternative 1
    service_level_abandons_met: float | None  # percent, alternative 2
    asa_s: float | None
    abandon_rate: float | None  # percent
    aht_s: float | None
    talk_s: float  # totals over `handled`
    hold_s: float
    wrap_s: float


def queue_figures(
    entries: Iterable[Entry],
    *,
    answer_within_s: Mapping[str, int],
    handles: Mapping[int, Handle],
    now: datetime,
    short_abandon_s: int = SHORT_ABANDON_S,
) -> QueueFigures:
    """Count `entries` (each with its own queue's threshold T from `answer_within_s`).

    Service level (default) = answered within T / (answered + abandoned + voicemail + still
    waiting past T): offered minus short abandons, callbacks, overflowed stays and callers
    still waiting under T. ASA = total wait of answered entries / answered. Abandon rate =
    abandoned / (offered − short abandons − overflowed − waiting). AHT = (talk + hold +
    wrap-up) / handled.
    """
    count: dict[Outcome, int] = defaultdict(int)
    within = abandoned_within = past = 0
    cb_connected = cb_failed = 0
    answered_wait = 0.0
    talk = hold = wrap = 0.0
    handled = 0
    for entry in entries:
        kind = outcome(entry, now=now, short_abandon_s=short_abandon_s)
        count[kind] += 1
        limit = answer_within_s.get(entry.queue, 0)
        wait = wait_seconds(entry, now)
        if kind is Outcome.ANSWERED:
            answered_wait += wait
            within += wait <= limit
        elif kind is Outcome.ABANDONED:
            abandoned_within += wait <= limit
        elif kind is Outcome.WAITING:
            past += wait > limit
        elif kind is Outcome.CALLBACK:
            cb_connected += entry.status == "connected"
            cb_failed += entry.status == "abandoned"
        handle = handles.get(entry.id)
        if handle is not None and kind is not Outcome.OVERFLOWED:
            handled += 1
            talk, hold, wrap = talk + handle.talk_s, hold + handle.hold_s, wrap + handle.wrap_s
    answered, abandoned = count[Outcome.ANSWERED], count[Outcome.ABANDONED]
    offered = sum(n for kind, n in count.items() if kind is not Outcome.OVERFLOWED)
    sl_base = answered + abandoned + count[Outcome.VOICEMAIL] + past
    ended = offered - count[Outcome.SHORT_ABANDON] - count[Outcome.WAITING]
    return QueueFigures(
        offered=offered,
        answered=answered,
        answered_within=within,
        abandoned=abandoned,
        abandoned_within=abandoned_within,
        short_abandons=count[Outcome.SHORT_ABANDON],
        callbacks=count[Outcome.CALLBACK],
        callbacks_connected=cb_connected,
        callbacks_failed=cb_failed,
        voicemail=count[Outcome.VOICEMAIL],
        waiting=count[Outcome.WAITING],
        waiting_past_threshold=past,
        overflowed_out=count[Outcome.OVERFLOWED],
        handled=handled,
        service_level=_percent(within, sl_base),
        service_level_of_answered=_percent(within, answered),
        service_level_abandons_met=_percent(within + abandoned_within, sl_base),
        asa_s=_ratio(answered_wait, answered),
        abandon_rate=_percent(abandoned, ended),
        aht_s=_ratio(talk + hold + wrap, handled),
        talk_s=round(talk, 1),
        hold_s=round(hold, 1),
        wrap_s=round(wrap, 1),
    )


def _percent(part: float, whole: float) -> float | None:
    return None if whole <= 0 else round(100.0 * part / whole, 1)


def _ratio(total: float, n: int) -> float | None:
    return None if n <= 0 else round(total / n, 1)


# --- agents --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateTimes:
    """Seconds an agent spent in each state within an interval (up to `now`)."""

    available_s: float = 0.0
    reserved_s: float = 0.0
    on_call_s: float = 0.0
    wrap_up_s: float = 0.0
    break_s: float = 0.0

    @property
    def busy_s(self) -> float:
        return self.reserved_s + self.on_call_s + self.wrap_up_s

    @property
    def staffed_s(self) -> float:
        """Logged in and not on break: available, reserved, on call or in wrap-up."""
        return self.available_s + self.busy_s

    def __add__(self, other: StateTimes) -> StateTimes:
        return StateTimes(
            self.available_s + other.available_s,
            self.reserved_s + other.reserved_s,
            self.on_call_s + other.on_call_s,
            self.wrap_up_s + other.wrap_up_s,
            self.break_s + other.break_s,
        )


def state_times(events: Iterable[StateChange], interval: Interval, *, now: datetime) -> StateTimes:
    """Time in each state within `interval` (cut at `now`), from one agent's changes.

    `events` must include the agent's last change before the interval (its state at the
    start); without one the agent counts as offline until its first change.
    """
    ordered = sorted(events, key=lambda e: (e.at, e.id))
    stop = min(interval.end, now)
    spent: dict[str, float] = defaultdict(float)
    for ev, nxt in zip(ordered, [*ordered[1:], None], strict=True):
        begin = max(ev.at, interval.start)
        end = min(nxt.at if nxt is not None else stop, stop)
        if end > begin:
            spent[ev.to_state] += (end - begin).total_seconds()
    return StateTimes(
        available_s=spent[AVAILABLE],
        reserved_s=spent[RESERVED],
        on_call_s=spent[ON_CALL],
        wrap_up_s=spent[WRAP_UP],
        break_s=spent[BREAK],
    )


def occupancy(times: StateTimes) -> float | None:
    """Percent of staffed time spent reserved, on call or in wrap-up (None if never staffed)."""
    return _percent(times.busy_s, times.staffed_s)


@dataclass(frozen=True, slots=True)
class AgentFigures:
    """An agent's (or a team's) figures over one interval."""

    answered: int  # inbound callers the agent answered
    callbacks_connected: int  # callbacks the agent made that reached the customer
    handled: int  # entries whose talk ended (both kinds)
    missed: int  # rings not answered (went to break "missed")
    aht_s: float | None
    talk_s: float
    hold_s: float
    wrap_s: float
    available_s: float
    busy_s: float  # reserved + on call + wrap-up
    break_s: float
    staffed_s: float  # available + busy
    occupancy: float | None  # percent: busy / staffed


def agent_figures(
    entries: Iterable[Entry],
    events: Iterable[StateChange],
    interval: Interval,
    *,
    handles: Mapping[int, Handle],
    now: datetime,
) -> AgentFigures:
    """Figures of one agent (or several: a team) from their entries and state changes.

    Calls count in the interval they were offered in, like the queue figures; state times
    and missed rings are cut by the clock.
    """
    answered = callbacks = handled = 0
    talk = hold = wrap = 0.0
    for entry in entries:
        if entry.status == "connected":
            callbacks += entry.callback
            answered += not entry.callback
        handle = handles.get(entry.id)
        if handle is not None:
            handled += 1
            talk, hold, wrap = talk + handle.talk_s, hold + handle.hold_s, wrap + handle.wrap_s
    by_agent: dict[int, list[StateChange]] = defaultdict(list)
    missed = 0
    for ev in events:
        by_agent[ev.agent_id].append(ev)
        missed += ev.to_state == BREAK and ev.reason == "missed" and ev.at in interval
    times = sum(
        (state_times(evs, interval, now=now) for evs in by_agent.values()), start=StateTimes()
    )
    return AgentFigures(
        answered=answered,
        callbacks_connected=callbacks,
        handled=handled,
        missed=missed,
        aht_s=_ratio(talk + hold + wrap, handled),
        talk_s=round(talk, 1),
        hold_s=round(hold, 1),
        wrap_s=round(wrap, 1),
        available_s=round(times.available_s, 1),
        busy_s=round(times.busy_s, 1),
        break_s=round(times.break_s, 1),
        staffed_s=round(times.staffed_s, 1),
        occupancy=occupancy(times),
    )


# --- reports: rows per queue, agent or team and interval ----------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a report: who (`key`), when (`interval`), and the figures."""

    key: str
    interval: Interval
    figures: QueueFigures | AgentFigures


def queue_report(
    entries: Sequence[Entry],
    events: Sequence[StateChange],
    cuts: Sequence[Interval],
    *,
    answer_within_s: Mapping[str, int],
    now: datetime,
    short_abandon_s: int = SHORT_ABANDON_S,
) -> list[Row]:
    """Figures per queue and interval; an interval where a queue was offered nothing is left
    out. Queues are in `answer_within_s` order, then any others found in the entries."""
    handles = handle_times(entries, events, now=now)
    names = [*answer_within_s, *sorted({e.queue for e in entries} - set(answer_within_s))]
    placed = _by_interval(entries, cuts, key=lambda e: e.queue)
    rows = []
    for i, cut in enumerate(cuts):
        for name in names:
            mine = placed.get((name, i))
            if mine:
                figures = queue_figures(
                    mine,
                    answer_within_s=answer_within_s,
                    handles=handles,
                    now=now,
                    short_abandon_s=short_abandon_s,
                )
                rows.append(Row(name, cut, figures))
    return rows


def agent_report(
    agents: Sequence[AgentInfo],
    entries: Sequence[Entry],
    events: Sequence[StateChange],
    cuts: Sequence[Interval],
    *,
    now: datetime,
    by_team: bool = False,
) -> list[Row]:
    """Figures per agent (by login) or per team, and interval; an interval where the agent
    or team was never logged in and handled nothing is left out."""
    handles = handle_times(entries, events, now=now)
    group_of = {
        agent.id: (agent.team or "(no team)") if by_team else agent.login for agent in agents
    }
    placed = _by_interval(
        [e for e in entries if e.agent_id in group_of and e.answered_at is not None],
        cuts,
        key=lambda e: group_of[e.agent_id or 0],
    )
    events_of: dict[str, list[StateChange]] = defaultdict(list)
    for ev in events:
        if ev.agent_id in group_of:
            events_of[group_of[ev.agent_id]].append(ev)
    rows = []
    for i, cut in enumerate(cuts):
        for key in sorted(set(group_of.values())):
            mine = placed.get((key, i), [])
            theirs = events_of.get(key, [])
            figures = agent_figures(mine, theirs, cut, handles=handles, now=now)
            if figures.staffed_s or figures.break_s or mine:
                rows.append(Row(key, cut, figures))
    return rows


def _by_interval(
    entries: Iterable[Entry], cuts: Sequence[Interval], *, key: Callable[[Entry], str]
) -> dict[tuple[str, int], list[Entry]]:
    """Entries by (key, index of the interval they were offered in); others are dropped."""
    starts = [cut.start for cut in cuts]
    placed: dict[tuple[str, int], list[Entry]] = defaultdict(list)
    for entry in entries:
        i = bisect_right(starts, entry.enqueued_at) - 1
        if i >= 0 and entry.enqueued_at in cuts[i]:
            placed[(key(entry), i)].append(entry)
    return placed
