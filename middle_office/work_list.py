"""The middle office's work list as the page shows it: open outbound tasks and open reviews."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Order
from middle_office.models import ReviewStatus, ReviewTask
from middle_office.review import missing
from middle_office.rules import CheckItem, checklist
from outbound import kinds
from outbound import tasks as outbound_tasks
from outbound.models import OutboundAttempt, OutboundTask


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One open outbound task, with its order review (if it is one) and its last attempt."""

    task: OutboundTask
    kind: str  # the kind's label
    routed: bool  # offered by the inbound router, not called from the list
    order: Order | None
    review: ReviewTask | None
    last: OutboundAttempt | None
    needs_outcome: bool  # the last attempt ended and waits for the agent's outcome


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """One open review, with its order, the reviewer's checklist and what is still missing."""

    review: ReviewTask
    order: Order
    checklist: list[CheckItem]
    missing: list[str]


def task_rows(session: Session, agent_id: int | None) -> list[TaskRow]:
    """The open tasks of an agent (or all, for None) in work order (`outbound_tasks.work_list`).
    Read-only."""
    return [_task_row(session, task) for task in outbound_tasks.work_list(session, agent_id)]


def _task_row(session: Session, task: OutboundTask) -> TaskRow:
    last = task.attempt_rows[-1] if task.attempt_rows else None
    review = session.get(ReviewTask, task.subject_id) if task.subject_type == "review" else None
    kind = kinds.kind_of(task.kind)
    return TaskRow(
        task=task,
        kind=kind.label,
        routed=kind.routed,
        order=session.get(Order, review.order_id) if review else None,
        review=review,
        last=last,
        needs_outcome=last is not None and last.outcome is None and last.status == "ended",
    )


def review_rows(session: Session) -> list[ReviewRow]:
    """The open reviews, oldest first. Read-only."""
    reviews = session.scalars(
        select(ReviewTask)
        .where(ReviewTask.status == ReviewStatus.OPEN)
        .order_by(ReviewTask.created_at)
    ).all()
    return [_review_row(session, review) for review in reviews]


def _review_row(session: Session, review: ReviewTask) -> ReviewRow:
    order = session.get(Order, review.order_id)
    assert order is not None  # a review is deleted with its order
    return ReviewRow(
        review=review,
        order=order,
        checklist=checklist(order.payment_type.value, review.reasons),
        missing=missing(session, order),
    )
