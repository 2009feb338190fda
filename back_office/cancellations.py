"""Refund of an order that has not shipped, without review: the customer cancels it (from the
IVR, or through a front-desk agent's screen pop) and is refunded at once.

The order is cancelled with a compare-and-set on its status (pending_review or approved →
cancelled), and in the same transaction:

- one return RMA for the whole order is filed straight into `states.FILED_UNREVIEWED`
  (approved: no inspection, no review task), reason `unshipped_cancel`, its refund what was
  paid less earlier refunds, and handed to finance (`handoffs.hand_off`, once per RMA);
- the order system is told the order is cancelled (a signed `order.cancelled` webhook, once
  per order), so the warehouse does not ship it;
- both are audited with before and after.

One RMA per order, not one per line: the customer paid one amount for the order (shipping and
discounts included), so finance gets one refund of what was paid, never a sum of line prices
that would not add up to it. The RMA names the first line's SKU and the order's whole quantity;
`order_item_id` stays empty (the whole order). A cash-on-delivery order has been paid nothing
before it ships: it is cancelled and the order system told, and no RMA or refund is made.

The back office may not import the middle office (layers): a middle-office review still open
for the order is closed by the application layer in the same transaction
(`callcenter.back_office.cancellations`). Idempotent: the same cancellation again (a repeated
webhook, a double click, two at once) returns the first one's result with changed=False and
creates nothing. Services flush and never commit; send the deliveries after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from back_office import handoffs, states
from core import webhooks
from core.audit import AuditEvent, record
from core.db import rowcount
from core.errors import DomainError
from core.models import Order, OrderStatus, PaymentType, Rma, RmaKind, RmaReason, RmaStatus

#: An order that has not shipped: it may be cancelled and refunded without review.
CANCELLABLE = frozenset({OrderStatus.PENDING_REVIEW, OrderStatus.APPROVED})
#: An order that has left the warehouse: a return (an RMA) instead.
SHIPPED = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED})
SOURCES = ("ivr", "desk")
ACTION = "order.cancelled_unshipped"
#: Earlier returns whose refund counts against what may still be refunded.
REFUNDING = frozenset(
    {RmaStatus.APPROVED, RmaStatus.REFUND_PENDING, RmaStatus.REFUNDED, RmaStatus.CLOSED}
)


class CancellationError(DomainError):
    code = "cancellation-error"


class OrderNotFound(CancellationError):
    code = "order-not-found"


class OrderShipped(CancellationError):
    """The order has shipped (or been delivered): it cannot be cancelled; the customer may
    request a return (an RMA) instead (HTTP 409)."""

    code = "order-shipped"


class OrderCancelled(CancellationError):
    """The order was cancelled some other way (the middle office's review, the order system):
    there is no refund of ours to repeat (HTTP 409)."""

    code = "order-cancelled"


@dataclass(frozen=True, slots=True)
class Quote:
    """What cancelling an order would do now (pure facts, for the confirmation)."""

    order: str
    status: str  # the order's status now
    cancellable: bool
    refund_amount_fen: int  # what would be refunded (0: nothing was paid)


@dataclass(frozen=True, slots=True)
class CancelResult:
    order: str
    customer_id: int
    rma: str | None  # None: nothing was paid, so nothing is refunded (cash on delivery)
    refund_amount_fen: int
    deliveries: tuple[int, ...]  # the finance hand-off (if any), then the order system's
    cancelled_at: datetime
    changed: bool  # False: cancelled before; this is that cancellation's result


def rma_number(session: Session, order: Order) -> str:
    """The RMA number of an order's cancellation: digits, so a caller can key it in the IVR's
    return status, and one per order: a '7' then the order's id, and a digit more in the rare
    case the order system has used that number already. Read-only."""
    base = f"7{order.id:09d}"
    for number in (base, *(f"{base}{n}" for n in range(10))):
        if session.scalar(select(Rma.id).where(Rma.number == number)) is None:
            return number
    raise CancellationError(f"no free RMA number for order {order.number}", order=order.number)


def find_order(session: Session, order_number_or_id: str | int) -> Order:
    """The order by its number (a str) or id (an int); OrderNotFound otherwise. Read-only."""
    if isinstance(order_number_or_id, int):
        order = session.get(Order, order_number_or_id)
    else:
        order = session.scalar(select(Order).where(Order.number == order_number_or_id))
    if order is None:
        raise OrderNotFound(f"no order {order_number_or_id}", order=str(order_number_or_id))
    return order


def refundable_fen(session: Session, order: Order) -> int:
    """What may still be refunded on `order`: what was paid (nothing before delivery for cash
    on delivery) less the refunds of its earlier returns. Read-only."""
    if order.payment_type is PaymentType.COD:
        return 0
    earlier = session.scalar(
        select(func.coalesce(func.sum(Rma.refund_amount_fen), 0)).where(
            Rma.order_id == order.id,
            Rma.kind == RmaKind.RETURN,
            Rma.status.in_(REFUNDING),
        )
    )
    return max(0, order.amount_fen - int(earlier or 0))


def quote(session: Session, order: Order) -> Quote:
    """Whether `order` may be cancelled now, and what would be refunded. Read-only."""
    return Quote(
        order.number,
        order.status.value,
        order.status in CANCELLABLE,
        refundable_fen(session, order),
    )


def _shipped(order: Order) -> OrderShipped:
    return OrderShipped(
        f"order {order.number} has {order.status.value}: it cannot be cancelled; "
        "request a return (RMA) instead",
        order=order.number,
        status=order.status.value,
        shipped_at=order.shipped_at.isoformat() if order.shipped_at else None,
        offer="rma",
    )


def _earlier(session: Session, order: Order) -> CancelResult | None:
    """The result of this order's earlier cancellation without review, if there was one (its
    audit entry, written with it)."""
    event = session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.action == ACTION,
            AuditEvent.subject_type == "order",
            AuditEvent.subject_id == order.number,
        )
        .order_by(AuditEvent.id)
        .limit(1)
    )
    if event is None:
        return None
    data = event.data
    return CancelResult(
        order.number,
        order.customer_id,
        data.get("rma"),
        int(data.get("refund_amount_fen", 0)),
        tuple(data.get("deliveries", ())),
        event.at,
        changed=False,
    )


def _existing(session: Session, order: Order) -> CancelResult:
    if order.status in SHIPPED:
        raise _shipped(order)
    earlier = _earlier(session, order)
    if earlier is None:
        raise OrderCancelled(
            f"order {order.number} was cancelled without a refund of ours",
            order=order.number,
            status=order.status.value,
        )
    return earlier


def cancel_unshipped(
    session: Session,
    order_number_or_id: str | int,
    *,
    actor: str,
    actor_id: int | None,
    source: str,
    now: datetime,
) -> CancelResult:
    """Cancel an order that has not shipped and refund it, without review (the module's
    docstring). Raises OrderNotFound, OrderShipped (a shipped or delivered order: offer an RMA
    instead) or OrderCancelled (cancelled some other way). The same cancellation again returns
    the first result (changed=False). Flushes; send `deliveries` after the commit."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    order = find_order(session, order_number_or_id)
    before = order.status
    if before not in CANCELLABLE:
        return _existing(session, order)
    session.flush()
    moved = rowcount(
        session.execute(
            update(Order)
            .where(Order.id == order.id, Order.status == before)
            .values(status=OrderStatus.CANCELLED)
            .execution_options(synchronize_session=False)
        )
    )
    session.refresh(order)
    if moved != 1:  # another request moved it first: its result, or why not
        return _existing(session, order)
    refund = refundable_fen(session, order)
    rma = (
        _file(session, order, refund, actor_id=actor_id, source=source, now=now) if refund else None
    )
    deliveries = []
    if rma is not None:
        deliveries.append(handoffs.hand_off(session, rma, now=now).id)
    deliveries.append(_tell_order_system(session, order, rma, actor=actor, now=now).id)
    facts: dict[str, Any] = {
        "rma": rma.number if rma else None,
        "refund_amount_fen": refund,
        "deliveries": deliveries,
        "source": source,
    }
    record(
        session,
        actor_id=actor_id,
        actor=actor,
        action=ACTION,
        subject_type="order",
        subject_id=order.number,
        now=now,
        before=before.value,
        after=order.status.value,
        **facts,
    )
    if rma is not None:
        record(
            session,
            actor_id=actor_id,
            actor=actor,
            action="rma.filed_unreviewed",
            subject_type="rma",
            subject_id=rma.number,
            now=now,
            before=None,
            after=rma.status.value,
            order=order.number,
            refund_amount_fen=refund,
            source=source,
        )
    return CancelResult(
        order.number,
        order.customer_id,
        facts["rma"],
        refund,
        tuple(deliveries),
        now,
        changed=True,
    )


def _file(
    session: Session, order: Order, refund: int, *, actor_id: int | None, source: str, now: datetime
) -> Rma:
    """The cancellation's return, approved as filed: the whole order, refunded once."""
    items = list(order.items)
    rma = Rma(
        number=rma_number(session, order),
        order_id=order.id,
        customer_id=order.customer_id,
        kind=RmaKind.RETURN,
        status=states.FILED_UNREVIEWED,
        reason=RmaReason.UNSHIPPED_CANCEL.value,
        sku=items[0].sku if items else "",
        quantity=sum(i.quantity for i in items) or 1,
        order_item_id=None,  # the whole order
        refund_amount_fen=refund,
        source=source,
        decided_by=actor_id,
        decided_at=now,
        decision_reason=RmaReason.UNSHIPPED_CANCEL.value,
        created_at=now,
        updated_at=now,
    )
    session.add(rma)
    session.flush()
    return rma


def _tell_order_system(
    session: Session, order: Order, rma: Rma | None, *, actor: str, now: datetime
) -> webhooks.WebhookDelivery:
    """The order system hears the cancellation (once per order), as it hears the middle
    office's: the warehouse must not ship a cancelled order."""
    return webhooks.queue_delivery(
        session,
        key=f"order:{order.number}:cancelled",
        target="order_system",
        event="order.cancelled",
        payload={
            "order": order.number,
            "status": order.status.value,
            "reason": RmaReason.UNSHIPPED_CANCEL.value,
            "decided_at": now.isoformat(),
            "decided_by": actor,
            "rma": rma.number if rma else None,
            "refund_amount_fen": rma.refund_amount_fen if rma else 0,
        },
        now=now,
    )
