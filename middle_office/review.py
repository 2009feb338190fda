"""Finishing a review: complete the missing fields (validated), then approve or cancel.

Every step is audited in the same transaction; a decision queues a signed webhook to the
order system (`webhooks.queue_delivery`) and closes the review's open calls. Services flush.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import webhooks
from core.audit import record
from core.db import rowcount
from core.errors import DomainError
from core.models import Order, OrderStatus
from core.phones import to_e164
from core.webhooks import WebhookDelivery
from middle_office.intake import facts_of
from middle_office.models import OrderIntake, ReviewStatus, ReviewTask
from middle_office.rules import missing_info
from outbound import tasks

EDITABLE = {
    "recipient_name": 120,
    "recipient_phone": 20,
    "province": 40,
    "city": 40,
    "address": 255,
    "postal_code": 12,
    "invoice_title": 120,
}


#: The order's statuses a review may decide from (not cancelled, shipped or delivered).
UNDECIDED = (OrderStatus.PENDING_REVIEW, OrderStatus.APPROVED)


class ReviewError(DomainError):
    code = "review-error"


class ReviewNotFound(ReviewError):
    code = "review-not-found"


class ReviewClosed(ReviewError):
    code = "review-closed"


class InvalidFields(ReviewError):
    code = "invalid-fields"


class StillIncomplete(ReviewError):
    code = "still-incomplete"


class ReasonRequired(ReviewError):
    code = "reason-required"


def _open(session: Session, review_id: int) -> tuple[ReviewTask, Order]:
    review = session.get(ReviewTask, review_id)
    if review is None:
        raise ReviewNotFound(f"no review {review_id}", review_id=review_id)
    if review.status is not ReviewStatus.OPEN:
        raise ReviewClosed(f"review {review_id} is {review.status.value}", review_id=review_id)
    order = session.get(Order, review.order_id)
    assert order is not None
    return review, order


def complete_fields(
    session: Session,
    review_id: int,
    values: dict[str, Any],
    *,
    agent_id: int,
    actor: str,
    now: datetime,
    country_code: str = "86",
) -> dict[str, str]:
    """Fill in missing or wrong fields of the order under review; the fields changed.

    Validates every field first (InvalidFields names each bad one; nothing changes); blank
    values are ignored. Audited with old and new values. Flushes.
    """
    review, order = _open(session, review_id)
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    for name, raw in values.items():
        if name not in EDITABLE:
            errors[name] = "not an editable field"
            continue
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        if not isinstance(raw, str) or len(raw.strip()) > EDITABLE[name]:
            errors[name] = f"text of at most {EDITABLE[name]} characters"
            continue
        value = raw.strip()
        if name == "recipient_phone":
            phone = to_e164(value, country_code)
            if phone is None:
                errors[name] = "not a phone number"
                continue
            value = phone
        clean[name] = value
    if errors:
        raise InvalidFields(f"{len(errors)} bad field(s)", fields=errors)
    changed = {n: v for n, v in clean.items() if getattr(order, n) != v}
    before = {n: getattr(order, n) for n in changed}
    for name, value in changed.items():
        setattr(order, name, value)
    session.flush()
    if changed:
        record(
            session,
            actor_id=agent_id,
            actor=actor,
            action="review.fields_completed",
            subject_type="order",
            subject_id=order.number,
            now=now,
            review_id=review.id,
            before=before,
            after=changed,
        )
    return changed


def missing(session: Session, order: Order) -> list[str]:
    """The missing-information reasons the order still has (address, phone, invoice title)."""
    intake = session.scalar(select(OrderIntake).where(OrderIntake.order_id == order.id))
    facts = facts_of(order, invoice_requested=bool(intake and intake.invoice_requested))
    return [finding.reason.value for finding in missing_info(facts)]


def decide(
    session: Session,
    review_id: int,
    *,
    approve: bool,
    reason: str,
    agent_id: int,
    actor: str,
    now: datetime,
) -> WebhookDelivery:
    """Approve (only once no information is missing) or cancel (a reason is required).

    The order's status changes, the review closes, its pending calls are cancelled, the
    decision is audited, and a webhook delivery is queued: all in this transaction; send the
    delivery after the commit. Flushes.
    """
    review, order = _open(session, review_id)
    reason = (reason or "").strip()[:200]
    if not approve and not reason:
        raise ReasonRequired("a cancellation needs a reason", review_id=review_id)
    if approve:
        gaps = missing(session, order)
        if gaps:
            raise StillIncomplete("complete the missing fields first", missing=gaps)
    review.status = ReviewStatus.APPROVED if approve else ReviewStatus.CANCELLED
    review.decided_at = now
    review.decided_by = agent_id
    review.decision_reason = reason or None
    # Compare-and-set: an order cancelled meanwhile (the caller cancelled it unshipped, from
    # the IVR or the front desk) is not approved over the cancellation.
    new_status = OrderStatus.APPROVED if approve else OrderStatus.CANCELLED
    changed = rowcount(
        session.execute(
            update(Order)
            .where(Order.id == order.id, Order.status.in_(UNDECIDED))
            .values(status=new_status)
            .execution_options(synchronize_session=False)
        )
    )
    session.refresh(order)
    if changed != 1:
        raise ReviewClosed(f"order {order.number} is {order.status.value} now", review_id=review_id)
    tasks.cancel_tasks_for(session, "review", review.id, now=now)
    event = "order.approved" if approve else "order.cancelled"
    payload = {
        "order": order.number,
        "status": order.status.value,
        "reason": reason or None,
        "review_reasons": list(review.reasons),
        "decided_at": now.isoformat(),
        "decided_by": actor,
        "recipient_name": order.recipient_name,
        "recipient_phone": order.recipient_phone,
        "province": order.province,
        "city": order.city,
        "address": order.address,
        "postal_code": order.postal_code,
        "invoice_title": order.invoice_title,
    }
    delivery = webhooks.queue_delivery(
        session,
        key=f"review:{review.id}:{review.status.value}",
        event=event,
        payload=payload,
        now=now,
    )
    record(
        session,
        actor_id=agent_id,
        actor=actor,
        action=f"review.{review.status.value}",
        subject_type="order",
        subject_id=order.number,
        now=now,
        review_id=review.id,
        reason=reason,
        delivery_id=delivery.id,
    )
    return delivery


def withdraw(
    session: Session,
    order_id: int,
    *,
    reason: str,
    agent_id: int | None,
    actor: str,
    now: datetime,
) -> ReviewTask | None:
    """The order was cancelled outside the review (the customer cancelled it before it
    shipped): its open review closes as cancelled with `reason`, its pending calls are
    cancelled, and that is audited. No webhook: whoever cancelled the order tells the order
    system. None when no review was open (idempotent). Flushes."""
    review = session.scalar(
        select(ReviewTask).where(
            ReviewTask.order_id == order_id, ReviewTask.status == ReviewStatus.OPEN
        )
    )
    if review is None:
        return None
    review.status = ReviewStatus.CANCELLED
    review.decided_at = now
    review.decided_by = agent_id
    review.decision_reason = reason[:200]
    tasks.cancel_tasks_for(session, "review", review.id, now=now)
    order = session.get(Order, order_id)
    record(
        session,
        actor_id=agent_id,
        actor=actor,
        action="review.withdrawn",
        subject_type="order",
        subject_id=order.number if order else order_id,
        now=now,
        review_id=review.id,
        reason=reason,
        before=ReviewStatus.OPEN.value,
        after=review.status.value,
    )
    session.flush()
    return review
