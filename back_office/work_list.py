"""The back office's work list as the console shows it: the RMAs waiting for review (oldest
first, each with its age against the review deadline, the policy checklist, the inspection, the
order line, the customer, the proposed refund or the replacement's stock, and the customer's
earlier RMAs), the approved RMAs whose hand-off is not acknowledged yet, and the status calls
still to make. Read-only.

There are no work orders yet (no `work_orders` package): a row lists the customer's earlier
RMAs only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from back_office import catalogue, handoffs, review, status_calls
from back_office.inspections import inspection_of
from back_office.models import Inspection
from back_office.policy import Check, ReturnPolicy, approvable
from core.audit import AuditEvent
from core.models import Customer, Order, OrderItem, Rma, RmaKind, RmaStatus
from core.webhooks import WebhookDelivery
from outbound import tasks as outbound_tasks
from outbound.models import OutboundTask

#: How many of a customer's earlier RMAs a row shows (newest first).
EARLIER_SHOWN = 10
#: The audit action of an RMA's first inspection: the moment it entered review.
ENTERED_REVIEW = "rma.inspection_created"


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """One RMA in review, with everything the reviewer decides on."""

    rma: Rma
    order: Order
    line: OrderItem | None
    customer: Customer
    entered_review_at: datetime
    age: timedelta
    due_at: datetime  # entered review + RMA_REVIEW_DEADLINE_S
    late: bool
    checklist: list[Check]  # the returned SKU's rule is unknown until the agent confirms it
    approvable: bool  # every rule met but the SKU's (the agent's confirmation)
    inspection: Inspection | None
    proposed_refund_fen: int | None  # a return's
    refundable_fen: int | None  # a return's: paid for the line less earlier refunds
    replacement_stock: int | None  # an exchange's
    earlier: list[Rma]  # the customer's earlier RMAs, newest first
    status_call: OutboundTask | None  # the RMA's status call, if one was planned


@dataclass(frozen=True, slots=True)
class HandoffRow:
    """An approved RMA whose hand-off finance or logistics has not acknowledged yet."""

    rma: Rma
    target: str
    delivery: WebhookDelivery | None


@dataclass(frozen=True, slots=True)
class CallRow:
    """An open status call of the back office, with its RMA."""

    task: OutboundTask
    rma: Rma | None
    needs_outcome: bool  # its last attempt ended and waits for the agent's outcome


def entered_review(session: Session, rmas: list[Rma]) -> dict[int, datetime]:
    """When each RMA entered review: its first inspection's audit entry (a replaced inspection
    does not restart the clock), else its inspection's time, else its last change. One query."""
    firsts = dict(
        session.execute(
            select(AuditEvent.subject_id, func.min(AuditEvent.at))
            .where(
                AuditEvent.subject_type == "rma",
                AuditEvent.action == ENTERED_REVIEW,
                AuditEvent.subject_id.in_([r.number for r in rmas]),
            )
            .group_by(AuditEvent.subject_id)
        ).all()
    )
    found: dict[int, datetime] = {}
    for rma in rmas:
        at = firsts.get(rma.number)
        if at is None:
            inspection = inspection_of(session, rma)
            at = inspection.recorded_at if inspection is not None else rma.updated_at
        found[rma.id] = at
    return found


def review_rows(
    session: Session, *, now: datetime, deadline_s: int, policy: ReturnPolicy
) -> list[ReviewRow]:
    """The RMAs in review, oldest first (by when they entered review, then number)."""
    rmas = list(session.scalars(select(Rma).where(Rma.status == RmaStatus.IN_REVIEW)))
    since = entered_review(session, rmas)
    rmas.sort(key=lambda r: (since[r.id], r.number))
    deadline = timedelta(seconds=deadline_s)
    return [_row(session, r, since[r.id], deadline, now, policy) for r in rmas]


def row_of(
    session: Session, rma: Rma, *, now: datetime, deadline_s: int, policy: ReturnPolicy
) -> ReviewRow:
    """One RMA's row, whatever its state (its review page)."""
    since = entered_review(session, [rma])[rma.id]
    return _row(session, rma, since, timedelta(seconds=deadline_s), now, policy)


def _row(
    session: Session,
    rma: Rma,
    since: datetime,
    deadline: timedelta,
    now: datetime,
    policy: ReturnPolicy,
) -> ReviewRow:
    # An approval confirmed the returned SKU; until then it is the agent's to confirm.
    approved = rma.decided_at is not None and rma.decision_reason not in review.REJECT_REASONS
    checks = review.checklist_of(
        session, rma, policy=policy, now=now, sku_confirmed=True if approved else None
    )
    line = review.line_of(session, rma)
    is_return = rma.kind is RmaKind.RETURN
    return ReviewRow(
        rma=rma,
        order=rma.order,
        line=line,
        customer=rma.customer,
        entered_review_at=since,
        age=now - since,
        due_at=since + deadline,
        late=now - since > deadline,
        checklist=checks,
        approvable=approvable([c for c in checks if c.rule != "sku_matches"]),
        inspection=inspection_of(session, rma),
        proposed_refund_fen=review.proposed_refund_fen(session, rma, policy=policy),
        refundable_fen=(
            max(0, review.line_paid_fen(line) - review.refunded_before_fen(session, rma))
            if is_return and line is not None
            else None
        ),
        replacement_stock=(
            catalogue.stock_of(session, rma.replacement_sku)
            if rma.kind is RmaKind.EXCHANGE and rma.replacement_sku
            else None
        ),
        earlier=earlier_rmas(session, rma),
        status_call=session.scalar(
            select(OutboundTask).where(
                OutboundTask.dedupe_key == f"{status_calls.RMA_STATUS_CALL.name}:{rma.id}"
            )
        ),
    )


def earlier_rmas(session: Session, rma: Rma) -> list[Rma]:
    """The customer's other RMAs filed before this one (the same time: filed first), newest
    first (at most EARLIER_SHOWN)."""
    return list(
        session.scalars(
            select(Rma)
            .where(
                Rma.customer_id == rma.customer_id,
                or_(
                    Rma.created_at < rma.created_at,
                    and_(Rma.created_at == rma.created_at, Rma.id < rma.id),
                ),
            )
            .order_by(Rma.created_at.desc(), Rma.id.desc())
            .limit(EARLIER_SHOWN)
        )
    )


def pending_handoffs(session: Session) -> list[HandoffRow]:
    """Approved RMAs not yet acknowledged by finance or logistics ("pending hand-off"), oldest
    decision first, each with its delivery (attempts, last error, next try)."""
    rmas = session.scalars(
        select(Rma)
        .where(Rma.status == RmaStatus.APPROVED)
        .order_by(Rma.decided_at, Rma.updated_at, Rma.id)
    ).all()
    return [
        HandoffRow(rma, handoffs.TARGET[rma.kind], handoffs.delivery_of(session, rma))
        for rma in rmas
    ]


def call_rows(session: Session, agent_id: int | None) -> list[CallRow]:
    """The back office's open status calls (an agent's, or all for None) in the engine's work
    order (`outbound.tasks.work_list`)."""
    kind = status_calls.RMA_STATUS_CALL.name
    return [
        _call_row(session, task)
        for task in outbound_tasks.work_list(session, agent_id)
        if task.kind == kind
    ]


def _call_row(session: Session, task: OutboundTask) -> CallRow:
    last = task.attempt_rows[-1] if task.attempt_rows else None
    return CallRow(
        task=task,
        rma=session.get(Rma, task.subject_id),
        needs_outcome=last is not None and last.outcome is None and last.status == "ended",
    )
