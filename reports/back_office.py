"""The back office's figures: RMAs received, approved and rejected by reason, time to decision
(median, p90), refunds in CNY, and the RMA notice calls that reached the customer on the first
attempt, per local day and per agent.

Read-only queries turn rows into plain records; pure functions turn records into figures:

- **received**: RMAs filed in the period (`created_at`), by the customer's reason. Nobody
  decides an intake, so agent rows leave it empty.
- **approved / rejected**: RMAs decided in the period (`decided_at`) by a review, by their
  reason; the outcome follows from the state machine (an RMA closed after a refund carries
  finance's reference, after an exchange the tracking number; otherwise it was rejected).
  Refunds of unshipped orders are approved without review: counted apart, as
  `unshipped_refunds`, and not in approved nor in the decision times.
- **decision_median_s / decision_p90_s**: seconds from entering review (the audit entry that
  moved the RMA into `in_review`, else its filing) to the decision. The median of an even
  count is the mean of the two middle values; p90 is the nearest rank (the ⌈0.9·n⌉-th
  smallest), so both are exact values of known rows.
- **refunds_fen / refunds_cny**: the refunds approved in the period (reviews and unshipped
  refunds), integer fen, and the same in yuan as text ("458.00"): never a float.
- **notice_calls / notice_calls_reached_first**: outbound tasks of the kind `rma_notice`
  created in the period, and those whose first attempt's outcome is a reached one
  (`reached_resolved`; an answering machine's `reached_machine` is not). Day rows only: an
  automated notice has no agent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.audit import AuditEvent
from core.models import Rma, RmaReason, RmaStatus
from outbound.models import OutboundAttempt, OutboundTask
from queues.models import Agent

NOTICE_KIND = "rma_notice"
ALL = "all"
#: Where an RMA stands once a review approved it (whatever happened next, short of closing).
APPROVED_STATES = frozenset(
    {
        RmaStatus.APPROVED,
        RmaStatus.REFUND_PENDING,
        RmaStatus.REFUNDED,
        RmaStatus.REPLACEMENT_PENDING,
        RmaStatus.REPLACEMENT_SHIPPED,
    }
)


@dataclass(frozen=True, slots=True)
class RmaRecord:
    """What the figures need of one RMA."""

    number: str
    reason: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: int | None
    outcome: str | None  # approved, rejected, or None (not decided)
    unreviewed: bool  # a refund of an unshipped order (approved without review)
    refund_fen: int  # the refund approved (0 for an exchange or a rejection)
    review_from: datetime  # when it entered review (else when it was filed)


@dataclass(frozen=True, slots=True)
class NoticeRecord:
    created_at: datetime
    first_outcome: str | None  # the outcome of its first attempt, if one was made


@dataclass(frozen=True, slots=True)
class RmaFigures:
    received: int | None
    approved: int
    rejected: int
    unshipped_refunds: int
    decision_median_s: float | None
    decision_p90_s: float | None
    refunds_fen: int
    refunds_cny: str
    notice_calls: int | None
    notice_calls_reached_first: int | None


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime  # aware
    end: datetime

    def holds(self, at: datetime | None) -> bool:
        return at is not None and self.start <= _utc(at) < self.end


# --- pure ---------------------------------------------------------------------------------------


def outcome_of(
    status: RmaStatus, finance_reference: str | None, tracking: str | None
) -> str | None:
    """approved / rejected / None (undecided), from where the state machine has it (pure)."""
    if status in APPROVED_STATES:
        return "approved"
    if status is RmaStatus.REJECTED:
        return "rejected"
    if status is RmaStatus.CLOSED:
        return "approved" if finance_reference or tracking else "rejected"
    return None


def median(values: Sequence[float]) -> float | None:
    """The middle value; the mean of the two middle ones for an even count (pure)."""
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return None
    mid = n // 2
    return float(ordered[mid]) if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank q-quantile: the ⌈q·n⌉-th smallest value (pure)."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return float(ordered[rank - 1])


def yuan_text(fen: int) -> str:
    """Fen as yuan text, exactly: 45800 → "458.00" (pure)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


#: A notice call's outcomes that mean the customer heard it in person (an answering machine's
#: `reached_machine` took the short message: the call is over, but the customer was not reached).
REACHED = frozenset({"reached_resolved", "reached_missing_info"})


def is_reached(outcome: str | None) -> bool:
    return outcome in REACHED


def figures(
    rmas: Iterable[RmaRecord],
    period: Period,
    *,
    notices: Iterable[NoticeRecord] | None,
    count_received: bool = True,
) -> RmaFigures:
    """The figures of `rmas` (already limited to a reason or an agent) over `period` (pure).
    `notices` None: not reported in this row (agents, reasons)."""
    rmas = list(rmas)
    decided = [r for r in rmas if period.holds(r.decided_at) and r.outcome]
    reviewed = [r for r in decided if not r.unreviewed]
    waits = [
        (_utc(r.decided_at) - _utc(r.review_from)).total_seconds()
        for r in reviewed
        if r.decided_at is not None
    ]
    refunds = sum(r.refund_fen for r in decided if r.outcome == "approved")
    notice_list = list(notices) if notices is not None else None
    return RmaFigures(
        received=sum(1 for r in rmas if period.holds(r.created_at)) if count_received else None,
        approved=sum(1 for r in reviewed if r.outcome == "approved"),
        rejected=sum(1 for r in reviewed if r.outcome == "rejected"),
        unshipped_refunds=sum(1 for r in decided if r.unreviewed),
        decision_median_s=median(waits),
        decision_p90_s=percentile(waits, 0.9),
        refunds_fen=refunds,
        refunds_cny=yuan_text(refunds),
        notice_calls=None if notice_list is None else len(notice_list),
        notice_calls_reached_first=None
        if notice_list is None
        else sum(1 for n in notice_list if is_reached(n.first_outcome)),
    )


def _by_reason(rmas: Sequence[RmaRecord]) -> list[tuple[str, list[RmaRecord]]]:
    reasons = sorted({r.reason for r in rmas})
    return [(ALL, list(rmas))] + [(why, [r for r in rmas if r.reason == why]) for why in reasons]


def day_rows(
    rmas: Sequence[RmaRecord], notices: Sequence[NoticeRecord], days: Sequence[date], tz: ZoneInfo
) -> list[dict[str, Any]]:
    """One row per local day and reason ("all" first, then each reason seen that day) (pure)."""
    rows = []
    for day in days:
        period = local_period(day, day, tz)
        seen = [r for r in rmas if period.holds(r.created_at) or period.holds(r.decided_at)]
        todays = [n for n in notices if period.holds(n.created_at)]
        for reason, group in _by_reason(seen):
            fig = figures(group, period, notices=todays if reason == ALL else None)
            rows.append({"day": day.isoformat(), "reason": reason, **asdict(fig)})
    return rows


def agent_rows(
    rmas: Sequence[RmaRecord], agents: Mapping[int, tuple[str, str, str | None]], period: Period
) -> list[dict[str, Any]]:
    """One row per agent who decided RMAs in `period` and reason ("all" first); `agents` maps
    an id to (login, name, team) and limits the rows to them (pure)."""
    rows = []
    for agent_id, (login, name, team) in sorted(agents.items(), key=lambda a: a[1][0]):
        theirs = [r for r in rmas if r.decided_by == agent_id and period.holds(r.decided_at)]
        if not theirs:
            continue
        for reason, group in _by_reason(theirs):
            fig = figures(group, period, notices=None, count_received=False)
            rows.append(
                {"agent": login, "name": name, "team": team, "reason": reason, **asdict(fig)}
            )
    return rows


def local_period(first: date, last: date, tz: ZoneInfo) -> Period:
    """From local midnight of `first` to local midnight after `last` (pure)."""
    start = datetime.combine(first, time(), tzinfo=tz).astimezone(ZoneInfo("UTC"))
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz).astimezone(ZoneInfo("UTC"))
    return Period(start, end)


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo("UTC"))


# --- reads --------------------------------------------------------------------------------------


def load_rmas(session: Session, period: Period) -> list[RmaRecord]:
    """RMAs filed or decided in `period`, with when each entered review (the audit trail).
    Read-only."""
    rows = session.scalars(
        select(Rma).where(
            or_(
                Rma.created_at.between(period.start, period.end),
                Rma.decided_at.between(period.start, period.end),
            )
        )
    ).all()
    entered = review_starts(session, [r.number for r in rows])
    records = []
    for r in rows:
        outcome = outcome_of(r.status, r.finance_reference, r.tracking_number)
        records.append(
            RmaRecord(
                number=r.number,
                reason=r.reason or "",
                created_at=r.created_at,
                decided_at=r.decided_at,
                decided_by=r.decided_by,
                outcome=outcome,
                unreviewed=r.reason == RmaReason.UNSHIPPED_CANCEL.value,
                refund_fen=(r.refund_amount_fen or 0) if outcome == "approved" else 0,
                review_from=entered.get(r.number, r.created_at),
            )
        )
    return records


def review_starts(session: Session, numbers: Sequence[str]) -> dict[str, datetime]:
    """RMA number → when it entered review: the first audit entry whose `after` is in_review.
    Read-only."""
    found: dict[str, datetime] = {}
    for chunk in (numbers[i : i + 500] for i in range(0, len(numbers), 500)):
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_type == "rma", AuditEvent.subject_id.in_(chunk))
            .order_by(AuditEvent.id)
        )
        for event in events:
            if (event.data or {}).get("after") == RmaStatus.IN_REVIEW.value:
                found.setdefault(event.subject_id, event.at)
    return found


def load_notices(session: Session, period: Period, kind: str = NOTICE_KIND) -> list[NoticeRecord]:
    """Outbound tasks of `kind` created in `period`, each with its first attempt's outcome.
    Read-only."""
    tasks = session.execute(
        select(OutboundTask.id, OutboundTask.created_at).where(
            OutboundTask.kind == kind,
            OutboundTask.created_at >= period.start,
            OutboundTask.created_at < period.end,
        )
    ).all()
    first: dict[int, str | None] = {}
    ids = [t.id for t in tasks]
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        attempts = session.execute(
            select(OutboundAttempt.task_id, OutboundAttempt.outcome)
            .where(OutboundAttempt.task_id.in_(chunk))
            .order_by(OutboundAttempt.task_id, OutboundAttempt.id)
        )
        for task_id, outcome in attempts:
            first.setdefault(task_id, outcome)
    return [NoticeRecord(t.created_at, first.get(t.id)) for t in tasks]


def back_office_report(
    session: Session,
    kind: str,
    *,
    first: date,
    last: date,
    tz: ZoneInfo,
    team: str | None = None,
) -> list[dict[str, Any]]:
    """The back office's report `kind` ("days" or "agents") from local day `first` to `last`,
    as flat records (JSON objects, CSV lines). `team` limits the agent rows to that team (a
    team lead's view); the day rows are the centre's. Read-only."""
    period = local_period(first, last, tz)
    rmas = load_rmas(session, period)
    if kind == "days":
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        return day_rows(rmas, load_notices(session, period), days, tz)
    agents = {
        a.id: (a.login, a.display_name, a.team)
        for a in session.scalars(select(Agent))
        if team is None or a.team == team
    }
    return agent_rows(rmas, agents, period)


DAY_COLUMNS = ["day", "reason", *RmaFigures.__dataclass_fields__]
AGENT_COLUMNS = ["agent", "name", "team", "reason", *RmaFigures.__dataclass_fields__]
