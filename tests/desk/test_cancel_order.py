"""The screen pop's "Cancel and refund" for a front-desk agent: offered on the caller's
unshipped orders, done once (POST with the CSRF token), refused for a shipped order with a
return offered instead, and only for the caller in hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.audit import AuditEvent
from core.models import Customer, Order, OrderStatus, PaymentType, Rma, RmaStatus
from core.webhooks import WebhookDelivery
from queues.models import Post
from tests.builders import add_agent
from tests.conftest import NOW
from tests.desk.conftest import PASSWORD, Desk, _password_hash, vip_call

UNSHIPPED = "2000000099"


@pytest.fixture
def in_call(desk: Desk) -> Desk:
    """李娜 (front desk) signed in and talking to 王芳, who has an order not yet shipped."""
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=True, ended=False)
    with desk.factory.begin() as s:
        customer = s.scalars(select(Customer).where(Customer.account_number == "60000001")).one()
        s.add(
            Order(
                number=UNSHIPPED,
                customer_id=customer.id,
                amount_fen=58_800,
                payment_type=PaymentType.PREPAID,
                status=OrderStatus.APPROVED,
                placed_at=NOW - timedelta(hours=1),
            )
        )
    return desk


def cancel(desk: Desk, number: str, *, csrf: str | None = None) -> tuple[int, dict]:
    return desk.post(f"/desk/api/orders/{number}/cancel", {}, csrf=csrf)


def test_the_pop_offers_cancel_and_refund_only_on_unshipped_orders(in_call: Desk) -> None:
    view = in_call.state()
    assert view["may_cancel_orders"] is True
    orders = {o["number"]: o for o in view["call"]["customer"]["orders"]}
    assert orders[UNSHIPPED]["cancellable"] is True
    assert orders[UNSHIPPED]["refund"] == "¥588.00"
    shipped = orders["2000000007"]
    assert (shipped["cancellable"], shipped["shipped"], shipped["refund"]) == (False, True, None)
    page = in_call.client.get("/desk/").get_data(as_text=True)
    assert 'id="cancel-result"' in page and "order-action" in page


def test_the_agent_cancels_an_unshipped_order_once(in_call: Desk) -> None:
    status, done = cancel(in_call, UNSHIPPED)
    assert status == 200, done
    assert done["order"] == UNSHIPPED and done["refund"] == "¥588.00" and done["changed"] is True
    status, again = cancel(in_call, UNSHIPPED)  # a double click
    assert status == 200 and again["changed"] is False and again["rma"] == done["rma"]

    with in_call.factory() as s:
        order = s.scalars(select(Order).where(Order.number == UNSHIPPED)).one()
        assert order.status is OrderStatus.CANCELLED
        rma = s.scalars(select(Rma).where(Rma.order_id == order.id)).one()
        assert (rma.number, rma.status, rma.source) == (done["rma"], RmaStatus.APPROVED, "desk")
        assert rma.decided_by == in_call.agent_id
        finance = s.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.target == "finance")
        )
        audit = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "order.cancelled_unshipped")
        ).one()
    assert finance == 1
    assert (audit.actor, audit.actor_id, audit.data["source"]) == (
        "li.na",
        in_call.agent_id,
        "desk",
    )
    orders = {o["number"]: o for o in in_call.state()["call"]["customer"]["orders"]}
    assert orders[UNSHIPPED]["cancellable"] is False  # the pop shows it cancelled now


def test_a_shipped_order_is_refused_with_a_return_offered(in_call: Desk) -> None:
    status, refused = cancel(in_call, "2000000007")
    assert status == 409
    assert refused["error"]["code"] == "order-shipped"
    assert refused["error"]["details"]["offer"] == "rma"
    with in_call.factory() as s:
        assert s.scalar(select(func.count()).select_from(Rma).where(Rma.source == "desk")) == 0


def test_only_an_order_of_the_caller_in_hand_may_be_cancelled(in_call: Desk) -> None:
    with in_call.factory.begin() as s:
        other = Customer(name="张伟", account_number="60000002")
        s.add(other)
        s.flush()
        s.add(
            Order(
                number="2000000100",
                customer_id=other.id,
                amount_fen=1_000,
                payment_type=PaymentType.PREPAID,
                status=OrderStatus.APPROVED,
                placed_at=NOW,
            )
        )
    status, refused = cancel(in_call, "2000000100")
    assert status == 404 and refused["error"]["code"] == "order-not-found"
    with in_call.factory() as s:
        order = s.scalars(select(Order).where(Order.number == "2000000100")).one()
        assert order.status is OrderStatus.APPROVED


def test_cancelling_needs_the_csrf_token(in_call: Desk) -> None:
    status, refused = cancel(in_call, UNSHIPPED, csrf="forged")
    assert status == 403 and refused["error"]["code"] == "csrf-failed"
    with in_call.factory() as s:
        order = s.scalars(select(Order).where(Order.number == UNSHIPPED)).one()
        assert order.status is OrderStatus.APPROVED


def test_a_middle_office_agent_is_not_offered_it(desk: Desk) -> None:
    with desk.factory.begin() as s:
        agent = add_agent(s, "huang.li", posts=[Post.MIDDLE_OFFICE])
        agent.password_hash = _password_hash()
    assert desk.sign_in("huang.li", PASSWORD) in (302, 303)
    assert desk.state()["may_cancel_orders"] is False
    status, refused = cancel(desk, UNSHIPPED)
    assert status == 403 and refused["error"]["code"] == "forbidden"
