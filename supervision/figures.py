"""The wallboard's figures, read from the queue entries and agents (read-only, no Flask).

Service level, ASA and abandon rate are computed by `reports.metrics.queue_figures`, the
published formulas of docs/METRICS.md, over the entries that joined the queue in the window
(today, in the centre's time zone, and the last 30 minutes): the wallboard and the reports
never disagree about what a figure means.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from outbound import kinds
from outbound.models import OPEN_ATTEMPT, OutboundAttempt
from queues.config import QueueSet
from queues.models import Agent, AgentState, QueuedCall, QueuedCallStatus
from reports import fcr
from reports.back_office import local_period
from reports.metrics import Entry, QueueFigures, queue_figures
from reports.queries import load_entries

S = QueuedCallStatus
RECENT = timedelta(minutes=30)
WAITING_LIST_LIMIT = 50  # callers listed for dispatch (the longest waits)
#: First-contact resolution on the wallboard: the last 7 local days, today included.
FCR_DAYS = 7


def day_start(now: datetime, timezone: str) -> datetime:
    """Midnight of the centre's current day, as an aware datetime."""
    local = now.astimezone(ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class WindowStats:
    """One queue's figures over one window, by the published formulas (docs/METRICS.md)."""

    figures: QueueFigures | None = None

    @property
    def answered(self) -> int:
        return self.figures.answered if self.figures else 0

    @property
    def abandoned(self) -> int:
        return self.figures.abandoned if self.figures else 0

    @property
    def ended(self) -> int:
        """Calls that count for service level (answered, abandoned, voicemail, overdue)."""
        f = self.figures
        return f.answered + f.abandoned + f.voicemail + f.waiting_past_threshold if f else 0

    def service_level(self) -> float | None:
        return self.figures.service_level if self.figures else None

    def asa_s(self) -> float | None:
        return self.figures.asa_s if self.figures else None

    def abandon_rate(self) -> float | None:
        return self.figures.abandon_rate if self.figures else None


@dataclass
class Waiting:
    count: int = 0
    oldest: datetime | None = None
    vip_oldest: datetime | None = None
    callbacks: int = 0  # booked, not yet being made (in line, or waiting for their time)


@dataclass
class QueueLive:
    waiting: Waiting = field(default_factory=Waiting)
    today: WindowStats = field(default_factory=WindowStats)
    recent: WindowStats = field(default_factory=WindowStats)


def waiting_by_queue(session: Session) -> dict[str, Waiting]:
    """Callers waiting per queue, with the oldest arrival and the oldest VIP arrival, and the
    callbacks booked and not yet being made."""
    found: dict[str, Waiting] = defaultdict(Waiting)
    rows = session.execute(
        select(QueuedCall.queue, QueuedCall.vip, func.count(), func.min(QueuedCall.enqueued_at))
        .where(QueuedCall.status == S.WAITING)
        .group_by(QueuedCall.queue, QueuedCall.vip)
    ).all()
    for queue, vip, count, oldest in rows:
        w = found[queue]
        w.count += count
        w.oldest = oldest if w.oldest is None else min(w.oldest, oldest)
        if vip:
            w.vip_oldest = oldest
    booked = session.execute(
        select(QueuedCall.queue, func.count())
        .where(QueuedCall.status.in_((S.CALLBACK, S.SCHEDULED)))
        .group_by(QueuedCall.queue)
    ).all()
    for queue, count in booked:
        found[queue].callbacks = count
    return found


def window_stats(
    session: Session, queues: QueueSet, since: datetime, recent_since: datetime, *, now: datetime
) -> tuple[dict[str, WindowStats], dict[str, WindowStats]]:
    """(since `since`, since `recent_since`) figures per queue, computed by
    `reports.metrics.queue_figures` so the wallboard and the reports agree."""
    entries = load_entries(session, min(since, recent_since), now + timedelta(seconds=1))
    limits = {name: queues[name].service_level.answer_within_s for name in queues}

    def per_queue(start: datetime) -> dict[str, WindowStats]:
        grouped: dict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            if entry.enqueued_at >= start:
                grouped[entry.queue].append(entry)
        return defaultdict(
            WindowStats,
            {
                queue: WindowStats(
                    queue_figures(items, answer_within_s=limits, handles={}, now=now)
                )
                for queue, items in grouped.items()
            },
        )

    return per_queue(since), per_queue(recent_since)


def queue_live(
    session: Session, queues: QueueSet, *, now: datetime, timezone: str
) -> dict[str, QueueLive]:
    """Waiting callers and today's / the last 30 minutes' figures of every queue."""
    waiting = waiting_by_queue(session)
    today, recent = window_stats(session, queues, day_start(now, timezone), now - RECENT, now=now)
    return {
        name: QueueLive(waiting.get(name, Waiting()), today[name], recent[name])
        for name in [*queues, *sorted(set(waiting) - set(queues))]
    }


def serves(
    levels: Mapping[str, int],
    spoken: frozenset[str],
    skills: Iterable[str],
    languages: Iterable[str],
) -> bool:
    """Whether an agent (skill levels, languages spoken) has every skill of a queue and speaks
    one of its languages."""
    return all(levels.get(s, 0) > 0 for s in skills) and bool(spoken.intersection(languages))


def _entry_call(entry: QueuedCall, now: datetime) -> dict[str, Any]:
    """A queue entry an agent rings for or talks on, as their row shows it."""
    return {
        "entry_id": entry.id,
        "queue": entry.queue,
        "tier": entry.tier,
        "connected": entry.status is S.CONNECTED,
        "since_s": _seconds(entry.answered_at or entry.assigned_at, now),
    }


def _outbound_call(attempt: OutboundAttempt, now: datetime) -> dict[str, Any]:
    """An outbound call (an order review, …) as an agent's row shows it (not monitorable)."""
    kind = kinds.kind_of(attempt.task.kind)
    return {
        "entry_id": None,
        "queue": f"outbound:{kind.name}",
        "outbound": kind.label,
        "tier": None,
        "connected": False,
        "since_s": _seconds(attempt.created_at, now),
    }


def _seconds(since: datetime | None, now: datetime) -> int | None:
    return None if since is None else max(0, round((now - since).total_seconds()))


def snapshot(
    session: Session,
    queues: QueueSet,
    *,
    now: datetime,
    timezone: str,
    fcr_window: timedelta = fcr.DEFAULT_WINDOW,
) -> dict[str, Any]:
    """Everything the wallboard shows, as plain JSON data (read-only)."""
    live = queue_live(session, queues, now=now, timezone=timezone)
    first_contact = fcr_figures(session, now=now, timezone=timezone, window=fcr_window)
    agents = list(
        session.scalars(
            select(Agent)
            .where(Agent.active.is_(True), Agent.state != AgentState.OFFLINE)
            .options(selectinload(Agent.skills), selectinload(Agent.language_rows))
            .order_by(Agent.display_name)
        )
    )
    handled = _handled_today(session, day_start(now, timezone))
    # The call each agent is on now: ringing, or connected and still talking, and the one the
    # agent's presence names (an old connected entry stays `connected` for good).
    open_entries = {
        e.agent_id: e
        for e in session.scalars(
            select(QueuedCall).where(
                QueuedCall.agent_id.is_not(None),
                (QueuedCall.status == S.ASSIGNED)
                | ((QueuedCall.status == S.CONNECTED) & QueuedCall.talk_ended_at.is_(None)),
            )
        )
    }
    abilities = [
        (a.state.value, a.skill_levels(), frozenset(lang.value for lang in a.languages))
        for a in agents
    ]
    rows = []
    for name, q in live.items():
        config = queues.queues.get(name)
        by_state: dict[str, int] = defaultdict(int)
        if config is not None:
            for state, levels, spoken in abilities:
                if serves(levels, spoken, config.skills, config.languages):
                    by_state[state] += 1
        rows.append(
            {
                "queue": name,
                "waiting": q.waiting.count,
                "longest_wait_s": _seconds(q.waiting.oldest, now),
                "vip_wait_s": _seconds(q.waiting.vip_oldest, now),
                "callbacks": q.waiting.callbacks,
                "sl_target": config.service_level.target_percent if config else None,
                "sl_within_s": config.service_level.answer_within_s if config else None,
                "sl_today": q.today.service_level(),
                "sl_30m": q.recent.service_level(),
                "asa_s": q.today.asa_s(),
                "abandon_rate": q.today.abandon_rate(),
                "answered": q.today.answered,
                "abandoned": q.today.abandoned,
                "agents": dict(by_state),
            }
        )
    outbound_calls = {
        attempt.agent_id: attempt
        for attempt in session.scalars(
            select(OutboundAttempt)
            .where(OutboundAttempt.status.in_(OPEN_ATTEMPT))
            .options(selectinload(OutboundAttempt.task))
            .order_by(OutboundAttempt.id)
        )
    }
    agent_rows = []
    for a in agents:
        count, aht = handled.get(a.id, (0, None))
        entry = open_entries.get(a.id)
        if entry is not None and entry.call_sid != a.call_sid:
            entry = None
        attempt = outbound_calls.get(a.id)
        if entry is not None:
            call: dict[str, Any] | None = _entry_call(entry, now)
        elif attempt is not None:
            call = _outbound_call(attempt, now)
        else:
            call = None
        agent_rows.append(
            {
                "id": a.id,
                "name": a.display_name,
                "login": a.login,
                "team": a.team,
                "state": a.state.value,
                "reason": a.state_reason,
                "in_state_s": _seconds(a.state_since, now),
                "call": call,
                "handled": count,
                "aht_s": aht,
                "fcr_7d": first_contact["agents"].get(a.login),
                "skills": a.skill_levels(),
            }
        )
    return {
        "at": now.isoformat(),
        "queues": rows,
        "agents": agent_rows,
        "waiting": waiting_callers(session, now=now),
        "totals": _totals(live) | {"fcr_7d": first_contact["centre"]},
    }


def fcr_figures(
    session: Session, *, now: datetime, timezone: str, window: timedelta
) -> dict[str, Any]:
    """First-contact resolution (`reports.fcr`, docs/METRICS.md) over the last `FCR_DAYS`
    local days, today included: the centre's percentage and each agent's (read-only)."""
    tz = ZoneInfo(timezone)
    last = now.astimezone(tz).date()
    period = local_period(last - timedelta(days=FCR_DAYS - 1), last, tz)
    contacts = fcr.load_contacts(session, period.start, min(period.end + window, now))
    centre = fcr.rows("centre", contacts, contacts, period=period, now=now, window=window)
    agents = fcr.rows("agents", contacts, contacts, period=period, now=now, window=window)
    return {
        "centre": centre[0]["fcr_percent"] if centre else None,
        "agents": {row["agent"]: row["fcr_percent"] for row in agents},
    }


def waiting_callers(session: Session, *, now: datetime) -> list[dict[str, Any]]:
    """The longest-waiting callers (for dispatch), oldest first."""
    entries = session.scalars(
        select(QueuedCall)
        .where(QueuedCall.status.in_((S.WAITING, S.CALLBACK)))
        .order_by(QueuedCall.enqueued_at, QueuedCall.id)
        .limit(WAITING_LIST_LIMIT)
    )
    return [
        {
            "entry_id": e.id,
            "queue": e.queue,
            "tier": e.tier,
            "vip": e.vip,
            "priority": e.route_priority,
            "callback": e.status is S.CALLBACK,
            "waited_s": _seconds(e.enqueued_at, now),
        }
        for e in entries
    ]


def _handled_today(session: Session, since: datetime) -> dict[int, tuple[int, float | None]]:
    """Per agent: calls answered since `since`, and their mean handle time (talk + wrap-up)."""
    rows = session.execute(
        select(
            QueuedCall.agent_id,
            QueuedCall.answered_at,
            QueuedCall.talk_ended_at,
            QueuedCall.wrapped_up_at,
        ).where(QueuedCall.answered_at >= since, QueuedCall.agent_id.is_not(None))
    ).all()
    counts: dict[int, int] = defaultdict(int)
    handle: dict[int, list[float]] = defaultdict(list)
    for agent_id, answered, ended, wrapped in rows:
        assert agent_id is not None and answered is not None  # the query's WHERE says so
        counts[agent_id] += 1
        if ended is not None:
            handle[agent_id].append(((wrapped or ended) - answered).total_seconds())
    return {
        a: (n, round(sum(handle[a]) / len(handle[a]), 1) if handle[a] else None)
        for a, n in counts.items()
    }


def _totals(live: Mapping[str, QueueLive]) -> dict[str, Any]:
    """The centre's waiting callers, and its service level over the last 30 minutes (the
    queues' answered-within counts over their service-level bases, each with its own T)."""
    within = sum(q.recent.figures.answered_within for q in live.values() if q.recent.figures)
    base = sum(q.recent.ended for q in live.values())
    return {
        "waiting": sum(q.waiting.count for q in live.values()),
        "sl_30m": round(100 * within / base, 1) if base else None,
    }
