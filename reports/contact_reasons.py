"""Contact reasons and dispositions: why customers call, and how often their calls escalate or
are complaints, per day, week or month (`docs/METRICS.md`).

A **contact** is a handled call: a queue entry an agent answered (`QueuedCall.answered_at`) in
the period. Its reasons are the wrap-up's **disposition** (`QueuedCall.disposition`; none
saved: "unrecorded") and the **category** of the work order opened on it (linked to its call
with the role "opened"; none: "no_work_order").

- **top reasons**: contacts per category (or per disposition), largest first, the first
  `TOP` named and the rest summed as "other", each with its share of all contacts. Shares are
  in tenths of a percent and add up to exactly 100.0: each share is rounded down, and the tenths
  left over go to the largest remainders (the largest remainder method; ties to the larger
  count, then the name), so rounding never makes 99.9 or 100.1.
- **escalation_rate_percent** = 100 × work orders escalated (an "escalated" event in their
  timeline, the SLA's escalation) / work orders opened on those contacts.
- **complaint_rate_percent** = 100 × contacts whose work order is a complaint / contacts.

Rates per agent (who answered), team (the agent's team) and queue; one decimal, None when the
denominator is 0. Periods: `day` (the local day), `week` (Monday to Sunday around it), `month`
(the calendar month). Read-only queries turn rows into plain records; the rest is pure.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.models import Agent, QueuedCall
from reports.back_office import local_period
from work_orders.models import WorkOrder, WorkOrderCall, WorkOrderEvent

PERIODS = ("day", "week", "month")
REASON_KINDS = ("categories", "dispositions")
RATE_KINDS = ("agents", "teams", "queues")
KINDS = REASON_KINDS + RATE_KINDS
#: How many reasons are named before the rest is summed as "other".
TOP = 10
UNRECORDED = "unrecorded"
NO_WORK_ORDER = "no_work_order"
OTHER = "other"
COMPLAINT = "complaint"
ESCALATED = "escalated"


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """What the figures need of one handled call."""

    entry_id: int
    agent: str
    team: str
    queue: str
    disposition: str  # UNRECORDED when none was saved
    category: str  # NO_WORK_ORDER when none was opened on the call
    has_work_order: bool
    escalated: bool


# --- pure ---------------------------------------------------------------------------------------


def period_days(day: date, period: str) -> tuple[date, date]:
    """The first and last local day of the `period` ("day", "week", "month") holding `day`."""
    if period == "day":
        return day, day
    if period == "week":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=6)
    if period == "month":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return first, following - timedelta(days=1)
    raise ValueError(f"period must be one of {', '.join(PERIODS)}")


def shares(counts: Mapping[str, int]) -> dict[str, float]:
    """Each count's share of the total in percent with one decimal, adding up to exactly 100.0
    (largest remainder method in tenths of a percent; ties to the larger count, then the
    name). Empty for no counts (pure)."""
    total = sum(counts.values())
    if total == 0:
        return {}
    exact = {name: n * 1000 / total for name, n in counts.items()}
    tenths = {name: int(value) for name, value in exact.items()}
    left = 1000 - sum(tenths.values())
    order = sorted(counts, key=lambda n: (-(exact[n] - tenths[n]), -counts[n], n))
    for name in order[:left]:
        tenths[name] += 1
    return {name: t / 10 for name, t in tenths.items()}


def top_reasons(
    records: Sequence[ContactRecord], kind: str, *, top: int = TOP
) -> list[dict[str, Any]]:
    """The reasons ("categories" or "dispositions") with their contacts and shares, largest
    first; past the first `top`, the rest summed as "other" (pure)."""
    key = "category" if kind == "categories" else "disposition"
    counts = Counter(getattr(r, key) for r in records)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ranked[:top])
    rest = sum(n for _, n in ranked[top:])
    if rest:
        kept[OTHER] = kept.get(OTHER, 0) + rest
    share = shares(kept)
    return [
        {"rank": i, "reason": name, "contacts": n, "share_percent": share[name]}
        for i, (name, n) in enumerate(kept.items(), start=1)
    ]


def percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 1)


GROUPS: dict[str, tuple[str, Callable[[ContactRecord], str]]] = {
    "agents": ("agent", lambda r: r.agent),
    "teams": ("team", lambda r: r.team),
    "queues": ("queue", lambda r: r.queue),
}


def rate_rows(records: Sequence[ContactRecord], kind: str) -> list[dict[str, Any]]:
    """Per agent, team or queue: contacts, work orders, escalated, complaints and the two
    rates (pure)."""
    column, key = GROUPS[kind]
    groups: dict[str, list[ContactRecord]] = defaultdict(list)
    for r in records:
        groups[key(r)].append(r)
    out = []
    for name, group in sorted(groups.items()):
        opened = sum(1 for r in group if r.has_work_order)
        escalated = sum(1 for r in group if r.has_work_order and r.escalated)
        complaints = sum(1 for r in group if r.category == COMPLAINT)
        out.append(
            {
                column: name,
                "contacts": len(group),
                "work_orders": opened,
                "escalated": escalated,
                "escalation_rate_percent": percent(escalated, opened),
                "complaints": complaints,
                "complaint_rate_percent": percent(complaints, len(group)),
            }
        )
    return out


# --- reads --------------------------------------------------------------------------------------


def load_records(
    session: Session, start: datetime, end: datetime, *, team: str | None = None
) -> list[ContactRecord]:
    """The handled calls answered from `start` to `end` (a team's only, if given). Read-only."""
    query = (
        select(
            QueuedCall.id,
            QueuedCall.queue,
            QueuedCall.disposition,
            Agent.login,
            Agent.team,
            WorkOrder.id,
            WorkOrder.category,
        )
        .join(Agent, Agent.id == QueuedCall.agent_id)
        .outerjoin(
            WorkOrderCall,
            (WorkOrderCall.call_id == QueuedCall.call_id) & (WorkOrderCall.role == "opened"),
        )
        .outerjoin(WorkOrder, WorkOrder.id == WorkOrderCall.work_order_id)
        .where(QueuedCall.answered_at >= start, QueuedCall.answered_at < end)
        .order_by(QueuedCall.id)
    )
    if team is not None:
        query = query.where(Agent.team == team)
    found = session.execute(query).all()
    ids = {wo_id for *_, wo_id, _ in found if wo_id is not None}
    escalated = set(
        session.scalars(
            select(WorkOrderEvent.work_order_id).where(
                WorkOrderEvent.kind == ESCALATED, WorkOrderEvent.work_order_id.in_(ids)
            )
        )
    )
    seen: set[int] = set()
    records = []
    for entry_id, queue, disposition, login, agent_team, wo_id, category in found:
        if entry_id in seen:
            continue  # a call with two work orders opened on it counts once (the first)
        seen.add(entry_id)
        records.append(
            ContactRecord(
                entry_id=entry_id,
                agent=login,
                team=agent_team or "",
                queue=queue,
                disposition=disposition or UNRECORDED,
                category=category or NO_WORK_ORDER,
                has_work_order=wo_id is not None,
                escalated=wo_id in escalated,
            )
        )
    return records


def contact_reasons_report(
    session: Session,
    kind: str,
    *,
    day: date,
    period: str,
    tz: ZoneInfo,
    team: str | None = None,
) -> list[dict[str, Any]]:
    """The report `kind` (categories, dispositions: top reasons; agents, teams, queues: rates)
    for the `period` holding local `day`; `team` limits it to that team's agents. Read-only."""
    first, last = period_days(day, period)
    span = local_period(first, last, tz)
    records = load_records(session, span.start, span.end, team=team)
    if kind in REASON_KINDS:
        return top_reasons(records, kind)
    return rate_rows(records, kind)


REASON_COLUMNS = ["rank", "reason", "contacts", "share_percent"]
RATE_COLUMNS = [
    "contacts",
    "work_orders",
    "escalated",
    "escalation_rate_percent",
    "complaints",
    "complaint_rate_percent",
]
COLUMNS: Mapping[str, list[str]] = {
    "categories": REASON_COLUMNS,
    "dispositions": REASON_COLUMNS,
    **{kind: [GROUPS[kind][0], *RATE_COLUMNS] for kind in RATE_KINDS},
}
