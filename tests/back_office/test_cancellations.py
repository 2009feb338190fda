"""Refund of an unshipped order without review (`back_office.cancellations`, and the
application layer's `callcenter.back_office.cancellations` that also closes the middle
office's review): refunded once, shipped refused, idempotent, audited, no review task."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from back_office import cancellations
from back_office.cancellations import OrderCancelled, OrderNotFound, OrderShipped
from back_office.models import Inspection
from callcenter.back_office import cancellations as app_cancellations
from callcenter.back_office.errors import STATUS
from callcenter.runtime import Runtime
from core.audit import AuditEvent
from core.db import UnitOfWork
from core.models import (
    Customer,
    Order,
    OrderItem,
    OrderStatus,
    PaymentType,
    Rma,
    RmaKind,
    RmaReason,
    RmaStatus,
)
from core.webhooks import WebhookDelivery
from middle_office.models import ReviewStatus, ReviewTask
from middle_office.review_calls import plan_review_call
from outbound.models import TaskStatus
from outbound.policy import Policy
from tests.conftest import NOW

LATER = NOW + timedelta(minutes=5)


def add_order(
    session: Session,
    customer: Customer,
    number: str,
    status: OrderStatus,
    *,
    amount_fen: int = 45_800,
    payment: PaymentType = PaymentType.PREPAID,
) -> Order:
    """An order of two lines (two scarves, one bag) whose total includes 1,000 fen shipping."""
    order = Order(
        number=number,
        customer_id=customer.id,
        amount_fen=amount_fen,
        payment_type=payment,
        status=status,
        placed_at=NOW - timedelta(hours=2),
        items=[
            OrderItem(sku="SCARF-RED", name="丝巾", quantity=2, unit_price_fen=9_900),
            OrderItem(sku="BAG-01", name="手袋", quantity=1, unit_price_fen=25_000),
        ],
    )
    session.add(order)
    session.flush()
    return order


@pytest.fixture
def customer(make_customer: Callable[..., Customer]) -> Customer:
    return make_customer(account="60001234")


def cancel(session: Session, ref: str | int, **kw: object) -> cancellations.CancelResult:
    args: dict[str, object] = {
        "actor": "li.na",
        "actor_id": None,
        "source": "desk",
        "now": NOW,
        **kw,
    }
    return cancellations.cancel_unshipped(session, ref, **args)  # type: ignore[arg-type]


def count(session: Session, model: type, *where: object) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.mark.parametrize("status", [OrderStatus.PENDING_REVIEW, OrderStatus.APPROVED])
def test_an_unshipped_order_is_cancelled_and_refunded_once_without_review(
    session: Session, customer: Customer, status: OrderStatus
) -> None:
    order = add_order(session, customer, "2611050001", status)

    result = cancel(session, "2611050001")

    assert result.changed is True
    assert order.status is OrderStatus.CANCELLED
    rma = session.scalars(select(Rma).where(Rma.order_id == order.id)).one()
    assert rma.number == result.rma == f"7{order.id:09d}"
    assert rma.number.isdigit()  # keyable in the IVR's return status
    assert rma.kind is RmaKind.RETURN
    assert rma.status is RmaStatus.APPROVED  # states.FILED_UNREVIEWED: no review, no inspection
    assert rma.reason == RmaReason.UNSHIPPED_CANCEL.value
    assert (rma.sku, rma.quantity, rma.order_item_id) == ("SCARF-RED", 3, None)  # whole order
    assert rma.refund_amount_fen == result.refund_amount_fen == 45_800  # what was paid
    assert (rma.source, rma.decided_at) == ("desk", NOW)
    assert count(session, Inspection, Inspection.rma_id == rma.id) == 0
    deliveries = session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.id.in_(result.deliveries))
    ).all()
    by_target = {d.target: d for d in deliveries}
    assert set(by_target) == {"finance", "order_system"}
    assert by_target["finance"].event == "rma.refund_requested"
    assert by_target["finance"].payload["refund_amount_fen"] == 45_800
    assert by_target["finance"].payload["order"] == "2611050001"
    assert by_target["order_system"].event == "order.cancelled"
    assert by_target["order_system"].payload["rma"] == rma.number


@pytest.mark.parametrize("status", [OrderStatus.SHIPPED, OrderStatus.DELIVERED])
def test_a_shipped_order_is_refused_with_an_rma_offered_and_nothing_changes(
    session: Session, customer: Customer, status: OrderStatus
) -> None:
    order = add_order(session, customer, "2611050002", status)

    with pytest.raises(OrderShipped) as refused:
        cancel(session, "2611050002")

    assert refused.value.code == "order-shipped"
    assert STATUS["order-shipped"] == 409
    assert refused.value.details["offer"] == "rma"
    assert refused.value.details["status"] == status.value
    assert order.status is status
    assert count(session, Rma, Rma.order_id == order.id) == 0
    assert count(session, WebhookDelivery) == 0
    assert count(session, AuditEvent, AuditEvent.action == cancellations.ACTION) == 0


def test_the_same_cancellation_twice_creates_one_rma_and_one_hand_off(
    session: Session, customer: Customer
) -> None:
    order = add_order(session, customer, "2611050003", OrderStatus.APPROVED)

    first = cancel(session, "2611050003")
    again = cancel(session, order.id, now=LATER, source="ivr")  # by id, a minute later

    assert again.changed is False
    assert (again.rma, again.refund_amount_fen, again.deliveries) == (
        first.rma,
        first.refund_amount_fen,
        first.deliveries,
    )
    assert again.cancelled_at == NOW  # the first one's
    assert count(session, Rma, Rma.order_id == order.id) == 1
    assert count(session, WebhookDelivery, WebhookDelivery.target == "finance") == 1
    assert count(session, WebhookDelivery, WebhookDelivery.target == "order_system") == 1
    assert count(session, AuditEvent, AuditEvent.action == cancellations.ACTION) == 1


def test_the_cancellation_is_audited_with_before_and_after(
    session: Session, customer: Customer
) -> None:
    add_order(session, customer, "2611050004", OrderStatus.PENDING_REVIEW)

    result = cancel(session, "2611050004", actor="zhao.min", source="ivr")

    order_event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == cancellations.ACTION)
    ).one()
    assert (order_event.actor, order_event.subject_type, order_event.subject_id) == (
        "zhao.min",
        "order",
        "2611050004",
    )
    assert order_event.data["before"] == "pending_review"
    assert order_event.data["after"] == "cancelled"
    assert order_event.data["rma"] == result.rma
    assert order_event.data["refund_amount_fen"] == 45_800
    assert order_event.data["source"] == "ivr"
    rma_event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "rma.filed_unreviewed")
    ).one()
    assert (rma_event.subject_type, rma_event.subject_id) == ("rma", result.rma)
    assert (rma_event.data["before"], rma_event.data["after"]) == (None, "approved")


def test_earlier_refunds_are_deducted_and_never_more_than_paid_is_refunded(
    session: Session, customer: Customer
) -> None:
    order = add_order(session, customer, "2611050005", OrderStatus.APPROVED)
    for number, status, refund in (
        ("81000001", RmaStatus.REFUNDED, 9_900),  # counts
        ("81000002", RmaStatus.REJECTED, 25_000),  # rejected: nothing refunded
    ):
        session.add(
            Rma(
                number=number,
                order_id=order.id,
                customer_id=customer.id,
                kind=RmaKind.RETURN,
                status=status,
                sku="SCARF-RED",
                refund_amount_fen=refund,
            )
        )
    session.flush()

    result = cancel(session, "2611050005")

    assert result.refund_amount_fen == 45_800 - 9_900


def test_a_cash_on_delivery_order_is_cancelled_with_nothing_to_refund(
    session: Session, customer: Customer
) -> None:
    order = add_order(
        session, customer, "2611050006", OrderStatus.APPROVED, payment=PaymentType.COD
    )
    assert cancellations.quote(session, order).refund_amount_fen == 0

    result = cancel(session, "2611050006")

    assert (result.rma, result.refund_amount_fen, result.changed) == (None, 0, True)
    assert order.status is OrderStatus.CANCELLED
    assert count(session, Rma, Rma.order_id == order.id) == 0
    targets = session.scalars(select(WebhookDelivery.target)).all()
    assert targets == ["order_system"]  # nothing for finance; the warehouse must not ship it
    assert cancel(session, "2611050006").changed is False


def test_an_order_cancelled_another_way_and_an_unknown_one_are_refused(
    session: Session, customer: Customer
) -> None:
    add_order(session, customer, "2611050007", OrderStatus.CANCELLED)

    with pytest.raises(OrderCancelled) as cancelled:
        cancel(session, "2611050007")
    with pytest.raises(OrderNotFound) as unknown:
        cancel(session, "2699999999")

    assert (STATUS[cancelled.value.code], STATUS[unknown.value.code]) == (409, 404)
    assert count(session, Rma) == 0


def test_a_quote_says_whether_an_order_may_be_cancelled_and_what_it_refunds(
    session: Session, customer: Customer
) -> None:
    open_order = add_order(session, customer, "2611050008", OrderStatus.PENDING_REVIEW)
    shipped = add_order(session, customer, "2611050009", OrderStatus.SHIPPED)

    assert cancellations.quote(session, open_order) == cancellations.Quote(
        "2611050008", "pending_review", True, 45_800
    )
    assert cancellations.quote(session, shipped).cancellable is False


def test_the_application_layer_closes_the_open_review_and_sends_the_hand_offs_after_commit(
    session_factory: sessionmaker[Session],
    make_runtime: Callable[..., Runtime],
    session: Session,
    customer: Customer,
) -> None:
    rt = make_runtime(session_factory)
    order = add_order(session, customer, "2611050010", OrderStatus.PENDING_REVIEW)
    review = ReviewTask(order_id=order.id, reasons=["missing_address"], created_at=NOW)
    session.add(review)
    session.flush()
    call = plan_review_call(session, review, now=NOW, policy=Policy())
    assert call is not None and call.status is TaskStatus.PENDING
    uow = UnitOfWork(session)

    result = app_cancellations.cancel_order(
        uow, rt, "2611050010", actor="li.na", actor_id=None, source="desk", now=NOW
    )

    assert review.status is ReviewStatus.CANCELLED
    assert review.decision_reason == app_cancellations.WITHDRAWN
    assert call.status is TaskStatus.CANCELLED
    assert count(session, ReviewTask, ReviewTask.status == ReviewStatus.OPEN) == 0
    assert count(session, Rma, Rma.status == RmaStatus.IN_REVIEW) == 0
    withdrawn = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "review.withdrawn")
    ).one()
    assert (withdrawn.data["before"], withdrawn.data["after"]) == ("open", "cancelled")
    hooks = [(fn.__name__, args) for fn, args, _ in uow._hooks]
    assert hooks == [
        ("enqueue", (app_cancellations.jobs.deliver_decision, d)) for d in result.deliveries
    ]

    app_cancellations.cancel_order(
        uow, rt, "2611050010", actor="li.na", actor_id=None, source="desk", now=LATER
    )
    assert len(uow._hooks) == len(result.deliveries)  # the repeat queues nothing new


def test_an_rma_number_the_order_system_used_already_is_not_reused(
    session: Session, customer: Customer
) -> None:
    order = add_order(session, customer, "2611050011", OrderStatus.APPROVED)
    other = add_order(session, customer, "2611050012", OrderStatus.DELIVERED)
    taken = f"7{order.id:09d}"
    session.add(
        Rma(
            number=taken,
            order_id=other.id,
            customer_id=customer.id,
            kind=RmaKind.RETURN,
            status=RmaStatus.AWAITING_INSPECTION,
            sku="BAG-01",
        )
    )
    session.flush()

    result = cancel(session, "2611050011")

    assert result.rma == taken + "0"


def test_of_two_cancellations_at_once_the_second_gets_the_firsts_result(
    live_session_factory: sessionmaker[Session],
) -> None:
    """The second request read the order before the first committed: its compare-and-set
    finds the order cancelled, and it answers with the first one's result."""
    with live_session_factory.begin() as s:
        buyer = Customer(name="王芳", account_number="60009999")
        s.add(buyer)
        s.flush()
        order_id = add_order(s, buyer, "2611050013", OrderStatus.APPROVED).id
    slow = live_session_factory()
    stale = slow.get(Order, order_id)
    assert stale is not None and stale.status is OrderStatus.APPROVED
    slow.commit()  # nothing held; the object stays as read (expire_on_commit=False)

    with live_session_factory.begin() as fast:
        first = cancel(fast, "2611050013")

    second = cancel(slow, "2611050013", now=LATER)
    slow.commit()
    slow.close()
    assert (second.changed, second.rma, second.deliveries) == (False, first.rma, first.deliveries)
    with live_session_factory() as s:
        assert count(s, Rma, Rma.order_id == order_id) == 1
        assert count(s, WebhookDelivery) == 2  # finance's and the order system's, once each


def test_a_review_decided_after_the_order_was_cancelled_meanwhile_changes_nothing(
    session: Session, customer: Customer
) -> None:
    """The middle office decides over a stale read: the order was cancelled by the caller
    (another transaction) between the agent opening the review and approving it. The
    approval's compare-and-set on the order's status refuses, so the cancellation stands."""
    from sqlalchemy import update

    from middle_office import review as middle_review

    order = add_order(session, customer, "2611050020", OrderStatus.PENDING_REVIEW)
    order.recipient_name, order.recipient_phone = "李娜", "+8613800138000"
    order.province, order.city, order.address = "浙江省", "杭州市", "文三路259号"
    review = ReviewTask(order_id=order.id, reasons=["over_amount"], created_at=NOW)
    session.add(review)
    session.flush()
    # The cancellation, as another transaction commits it: only the row changes, not the
    # session's loaded order.
    session.execute(
        update(Order)
        .where(Order.id == order.id)
        .values(status=OrderStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )

    with pytest.raises(middle_review.ReviewClosed, match="cancelled"):
        middle_review.decide(
            session, review.id, approve=True, reason="", agent_id=None, actor="huang.li", now=NOW
        )
    assert order.status is OrderStatus.CANCELLED
    assert count(session, WebhookDelivery, WebhookDelivery.event == "order.approved") == 0
