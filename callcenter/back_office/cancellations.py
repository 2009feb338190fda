"""Cancelling an unshipped order, past the request: the back office cancels and refunds it
(`back_office.cancellations`), the middle office closes a review still open for it, and after
the commit the hand-offs are sent. No Flask here.

The back office may not import the middle office (layers), so the application layer, which may
import both, closes the review in the same unit of work: the cancellation and the review's end
commit together or not at all. The IVR reaches this through `PhoneCancellation`, the hook its
services take (`ivr_menus.services.OrderCancellation`); the desk through `cancel_order`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from back_office import cancellations
from back_office.cancellations import (
    CancelResult,
    OrderCancelled,
    OrderNotFound,
    OrderShipped,
)
from callcenter.desk.screen import current_entry, yuan
from callcenter.jobs import outbound as jobs
from callcenter.runtime import Runtime
from core.db import UnitOfWork
from core.models import Call, Order
from ivr_menus.engine import CancelOutcome, OrderInView
from middle_office import review
from queues.models import Agent

#: Why a review closes when its order is cancelled this way.
WITHDRAWN = "cancelled by the customer before shipping (refunded without review)"


def cancel_order(
    uow: UnitOfWork,
    rt: Runtime,
    order_number_or_id: str | int,
    *,
    actor: str,
    actor_id: int | None,
    source: str,
    now: datetime,
) -> CancelResult:
    """Cancel and refund an unshipped order (`cancellations.cancel_unshipped`), close its open
    middle-office review (`review.withdraw`), and after the commit send the hand-off to
    finance and the order system's notice. The same cancellation again queues nothing new.
    Raises the back office's OrderNotFound, OrderShipped, OrderCancelled."""
    result = cancellations.cancel_unshipped(
        uow.session, order_number_or_id, actor=actor, actor_id=actor_id, source=source, now=now
    )
    if result.changed:
        order = cancellations.find_order(uow.session, result.order)
        review.withdraw(
            uow.session, order.id, reason=WITHDRAWN, agent_id=actor_id, actor=actor, now=now
        )
        for delivery_id in result.deliveries:
            uow.after_commit(rt.enqueue, jobs.deliver_decision, delivery_id, queue="low")
    return result


def cancel_at_desk(
    uow: UnitOfWork, rt: Runtime, agent: Agent, number: str, *, now: datetime
) -> CancelResult:
    """A front-desk agent cancels, from the screen pop, an unshipped order of the caller in
    hand (ringing, talking or wrapping up): `cancel_order`, audited under the agent. An order
    that is not that caller's is OrderNotFound, as an unknown one is."""
    entry = current_entry(uow.session, agent)
    call = uow.session.get(Call, entry.call_id) if entry is not None else None
    order = uow.session.scalar(select(Order).where(Order.number == number))
    if order is None or call is None or order.customer_id != call.customer_id:
        raise OrderNotFound(f"no order {number} of the caller in hand", order=number)
    return cancel_order(
        uow, rt, order.id, actor=agent.login, actor_id=agent.id, source="desk", now=now
    )


def result_view(result: CancelResult) -> dict[str, object]:
    """What the desk shows of a cancellation (JSON)."""
    return {
        "order": result.order,
        "rma": result.rma,
        "refund_fen": result.refund_amount_fen,
        "refund": yuan(result.refund_amount_fen),
        "changed": result.changed,
        "cancelled_at": result.cancelled_at.isoformat(),
    }


@dataclass(frozen=True, slots=True)
class PhoneCancellation:
    """The IVR's hook (`ivr_menus.services.OrderCancellation`): the caller cancels the order
    they just heard, in the webhook's unit of work."""

    uow: UnitOfWork
    rt: Runtime

    def quote(self, session: Session, order: Order) -> OrderInView:
        q = cancellations.quote(session, order)
        return OrderInView(q.order, q.status, q.cancellable, q.refund_amount_fen)

    def cancel(self, session: Session, order: Order, call: Call, *, now: datetime) -> CancelOutcome:
        who = f"customer:{order.customer.account_number}"
        try:
            done = cancel_order(
                self.uow, self.rt, order.id, actor=who, actor_id=None, source="ivr", now=now
            )
        except OrderShipped:
            return CancelOutcome("shipped", order.number)
        except OrderCancelled:
            return CancelOutcome("already_cancelled", order.number)
        return CancelOutcome("cancelled", done.order, done.refund_amount_fen, done.rma)
