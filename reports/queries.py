"""Database reads of the reports: QueuedCall and AgentEvent rows → `reports.metrics` records.

Read-only: every function selects and never flushes, so a report can run on any session
(a replica, a read-only transaction) and any number of times.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from queues.models import Agent, AgentEvent, QueuedCall
from reports import metrics
from reports.metrics import AgentInfo, Entry, Row, StateChange

#: How far past the reported day state changes are read: the wrap-up of a call offered just
#: before midnight ends after it.
WRAP_UP_LOOKAHEAD = timedelta(days=1)


class Kind(enum.StrEnum):
    """The three reports, and the name of the column that says whose figures a row holds."""

    QUEUES = "queues"
    AGENTS = "agents"
    TEAMS = "teams"

    @property
    def column(self) -> str:
        return {"queues": "queue", "agents": "agent", "teams": "team"}[self.value]


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """What to report: which report, the centre's local day, and how to cut it."""

    kind: Kind
    day: date
    minutes: int | None  # 15, 30 or 60; None: the whole day
    short_abandon_s: int = metrics.SHORT_ABANDON_S


def load_entries(session: Session, start: datetime, end: datetime) -> list[Entry]:
    """Queue entries offered in [start, end) (by `enqueued_at`). Read-only.

    Plain columns, not ORM objects: the wallboard reads a day's entries on every refresh,
    and building thousands of tracked instances was most of its cost."""
    q = QueuedCall
    rows = session.execute(
        select(
            q.id,
            q.call_sid,
            q.queue,
            q.status,
            q.enqueued_at,
            q.answered_at,
            q.left_at,
            q.wait_s,
            q.talk_ended_at,
            q.wrapped_up_at,
            q.agent_id,
            q.callback_to.is_not(None),
        )
        .where(q.enqueued_at >= start, q.enqueued_at < end)
        .order_by(q.enqueued_at, q.id)
    )
    return [
        Entry(
            id=row[0],
            call_sid=row[1],
            queue=row[2],
            status=row[3].value,
            enqueued_at=row[4],
            answered_at=row[5],
            left_at=row[6],
            wait_s=row[7],
            talk_ended_at=row[8],
            wrapped_up_at=row[9],
            agent_id=row[10],
            callback=bool(row[11]),
        )
        for row in rows
    ]


def load_events(session: Session, start: datetime, end: datetime) -> list[StateChange]:
    """Agents' state changes from `start` to `end` plus the lookahead, and each agent's last
    change before `start` (the state they were in when it began). Read-only."""
    before = (
        select(func.max(AgentEvent.id))
        .where(AgentEvent.at < start)
        .group_by(AgentEvent.agent_id)
        .scalar_subquery()
    )
    rows = session.scalars(
        select(AgentEvent)
        .where(
            (AgentEvent.id.in_(before))
            | ((AgentEvent.at >= start) & (AgentEvent.at < end + WRAP_UP_LOOKAHEAD))
        )
        .order_by(AgentEvent.at, AgentEvent.id)
    )
    return [
        StateChange(
            id=ev.id,
            agent_id=ev.agent_id,
            from_state=ev.from_state.value if ev.from_state is not None else None,
            to_state=ev.to_state.value,
            at=ev.at,
            reason=ev.reason,
            call_sid=ev.call_sid,
        )
        for ev in rows
    ]


def load_agents(session: Session) -> list[AgentInfo]:
    """Every agent account (a disabled one may have worked on the reported day). Read-only."""
    rows = session.scalars(select(Agent).order_by(Agent.login))
    return [AgentInfo(a.id, a.login, a.display_name, a.team) for a in rows]


def report(
    session: Session,
    request: ReportRequest,
    *,
    tz: ZoneInfo,
    answer_within_s: Mapping[str, int],
    now: datetime,
    team: str | None = None,
) -> list[dict[str, Any]]:
    """The rows of one report as flat records (JSON objects, CSV lines). Read-only.

    `answer_within_s` is each queue's service-level threshold T (`QueueSet`). `team` limits
    the agents and teams reports to that team's agents (a team lead's view); the queues
    report is the centre's, whoever asks.
    """
    cuts = metrics.intervals(request.day, tz, request.minutes)
    start, end = cuts[0].start, cuts[-1].end
    entries = load_entries(session, start, end)
    events = load_events(session, start, end)
    if request.kind is Kind.QUEUES:
        rows = metrics.queue_report(
            entries,
            events,
            cuts,
            answer_within_s=answer_within_s,
            now=now,
            short_abandon_s=request.short_abandon_s,
        )
    else:
        agents = [a for a in load_agents(session) if team is None or a.team == team]
        rows = metrics.agent_report(
            agents,
            entries,
            events,
            cuts,
            now=now,
            by_team=request.kind is Kind.TEAMS,
        )
    return [record(row, request.kind, tz) for row in rows]


def record(row: Row, kind: Kind, tz: ZoneInfo) -> dict[str, Any]:
    """One row as a flat record: who, the interval (local times), then the figures."""
    return {
        kind.column: row.key,
        "interval_start": row.interval.start.astimezone(tz).isoformat(),
        "interval_end": row.interval.end.astimezone(tz).isoformat(),
        **asdict(row.figures),
    }
