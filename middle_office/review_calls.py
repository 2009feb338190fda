"""The order review as a kind of outbound call: registered with the engine, planned per review."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.models import Customer, Order
from middle_office.models import ReviewTask
from outbound.kinds import TaskKind, register
from outbound.models import OutboundTask
from outbound.policy import Policy
from outbound.tasks import create_task
from queues.models import Post

#: Worked from the middle office's work list by click-to-call; the call changes no subject.
ORDER_REVIEW = register(
    TaskKind("order_review", "review", Post.MIDDLE_OFFICE, False, "Order review")
)


def plan_review_call(
    session: Session, review: ReviewTask, *, now: datetime, policy: Policy
) -> OutboundTask | None:
    """The order-review call for `review` (once): the recipient's phone, else the account's."""
    order = session.get(Order, review.order_id)
    if order is None:
        return None
    customer = session.get(Customer, order.customer_id)
    number = order.recipient_phone or (
        customer.phones[0].e164 if customer and customer.phones else None
    )
    if number is None:
        return None  # nobody to call: the review is worked without a call
    return create_task(
        session,
        kind=ORDER_REVIEW.name,
        subject_id=review.id,
        to_number=number,
        language=customer.language.value if customer else "zh",
        skill="orders",
        customer_id=order.customer_id,
        now=now,
        policy=policy,
        queued_at=review.created_at,
    )
