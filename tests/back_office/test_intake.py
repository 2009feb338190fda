"""RMA intake: validation naming every bad field, the database's checks, idempotency, updates."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from back_office import intake, states
from back_office.models import RmaIntake
from core.audit import AuditEvent
from core.models import (
    Customer,
    Order,
    OrderItem,
    OrderStatus,
    PaymentType,
    Rma,
    RmaKind,
    RmaStatus,
)
from tests.conftest import NOW

_numbers = itertools.count(1)


def add_order(
    session: Session,
    number: str | None = None,
    *,
    status: OrderStatus = OrderStatus.DELIVERED,
    lines: tuple[tuple[str, int, int], ...] = (("SHO-1", 2, 39_900), ("TOP-1", 1, 19_900)),
) -> Order:
    """A customer's order with its lines (sku, quantity, unit price in fen), delivered a day
    before NOW unless told otherwise. Flushes."""
    n = next(_numbers)
    customer = Customer(name="王芳", account_number=f"BO{n:06d}")
    session.add(customer)
    session.flush()
    order = Order(
        number=number or f"BO-{n:05d}",
        customer_id=customer.id,
        amount_fen=sum(q * p for _, q, p in lines),
        payment_type=PaymentType.PREPAID,
        status=status,
        placed_at=NOW - timedelta(days=5),
        delivered_at=NOW - timedelta(days=1) if status is OrderStatus.DELIVERED else None,
        items=[OrderItem(sku=sku, name=sku, quantity=q, unit_price_fen=p) for sku, q, p in lines],
    )
    session.add(order)
    session.flush()
    return order


def rma(number: str, order: str, **changes: Any) -> dict[str, Any]:
    """A complete, valid return request as the order system sends it."""
    body: dict[str, Any] = {
        "number": number,
        "order": order,
        "sku": "SHO-1",
        "quantity": 1,
        "kind": "return",
        "reason": "quality_problem",
        "opened": True,
        "description": "鞋底开胶",
        "requested_at": (NOW - timedelta(hours=2)).isoformat(),
    }
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def ingest(session: Session, body: dict[str, Any], *, source: str = "api") -> intake.IngestResult:
    return intake.ingest(session, intake.parse_rma(body), source=source, now=NOW)


@pytest.fixture
def order(session: Session) -> Order:
    return add_order(session)


def count(session: Session, model: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


# --- parse_rma: pure ------------------------------------------------------------------------


def test_a_valid_request_parses_into_its_fields() -> None:
    data = intake.parse_rma(rma("R-0001", "O-1", kind="exchange", replacement_sku="SHO-2"))
    assert (data.kind, data.replacement_sku, data.opened) == (RmaKind.EXCHANGE, "SHO-2", True)
    assert data.requested_at == NOW - timedelta(hours=2)


def test_every_bad_field_is_named_at_once() -> None:
    body = {
        "number": "x!",
        "sku": 5,
        "quantity": 0,
        "kind": "swap",
        "reason": "unshipped_cancel",
        "opened": "maybe",
        "requested_at": "yesterday",
        "colour": "red",
    }
    with pytest.raises(intake.InvalidRma) as caught:
        intake.parse_rma(body)
    assert caught.value.code == "invalid-rma"
    assert set(caught.value.details["fields"]) == {
        "number",
        "order",
        "sku",
        "quantity",
        "kind",
        "reason",
        "opened",
        "requested_at",
        "colour",
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "exchange"}, "replacement_sku"),
        ({"kind": "return", "replacement_sku": "SHO-2"}, "replacement_sku"),
        ({"requested_at": "2026-11-23T10:00:00"}, "requested_at"),
        ({"quantity": "two"}, "quantity"),
        ({"description": "x" * 2001}, "description"),
    ],
)
def test_exchange_replacement_and_times_are_checked(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(intake.InvalidRma) as caught:
        intake.parse_rma(rma("R-0001", "O-1", **changes))
    assert list(caught.value.details["fields"]) == [field]


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(intake.InvalidRma):
        intake.parse_rma(["R-0001"])


# --- ingest: against the database --------------------------------------------------------------


def test_a_new_rma_is_filed_awaiting_inspection_on_its_order_line(
    session: Session, order: Order
) -> None:
    result = ingest(session, rma("R-0001", order.number))
    assert (result.outcome, result.status) == ("created", states.FILED.value)
    found = session.get(Rma, result.rma_id)
    assert found is not None
    assert found.order_item_id == order.items[0].id
    assert (found.customer_id, found.quantity, found.reason) == (
        order.customer_id,
        1,
        "quality_problem",
    )
    assert found.description == "鞋底开胶"
    assert found.created_at == NOW - timedelta(hours=2)
    audit = session.scalars(select(AuditEvent).where(AuditEvent.subject_id == "R-0001")).one()
    assert audit.action == "rma.created"
    assert audit.data["before"] is None
    assert audit.data["after"]["status"] == "awaiting_inspection"


def test_the_same_request_twice_changes_nothing(session: Session, order: Order) -> None:
    first = ingest(session, rma("R-0001", order.number))
    again = ingest(session, rma("R-0001", order.number), source="csv")
    assert again.outcome == "unchanged"
    assert again.rma_id == first.rma_id
    assert count(session, Rma) == 1
    assert session.scalars(select(RmaIntake)).one().revisions == 1
    assert count(session, AuditEvent) == 1


def test_a_changed_request_updates_the_undecided_rma_with_before_and_after(
    session: Session, order: Order
) -> None:
    ingest(session, rma("R-0001", order.number))
    changed = ingest(session, rma("R-0001", order.number, quantity=2, reason="wrong_size"))
    assert changed.outcome == "updated"
    found = session.scalars(select(Rma)).one()
    assert (found.quantity, found.reason) == (2, "wrong_size")
    audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "rma.updated")).one()
    assert (audit.data["before"]["quantity"], audit.data["after"]["quantity"]) == (1, 2)
    assert session.scalars(select(RmaIntake)).one().revisions == 2


def test_a_change_to_a_decided_rma_is_refused_but_a_repeat_is_not(
    session: Session, order: Order
) -> None:
    ingest(session, rma("R-0001", order.number))
    found = session.scalars(select(Rma)).one()
    states.move(session, found, "inspected", now=NOW)
    states.move(session, found, "reject", now=NOW)
    assert ingest(session, rma("R-0001", order.number)).outcome == "unchanged"
    with pytest.raises(states.IllegalMove) as caught:
        ingest(session, rma("R-0001", order.number, quantity=2))
    assert caught.value.details["status"] == "rejected"
    assert session.scalars(select(Rma)).one().quantity == 1


def test_every_field_the_database_refuses_is_named_and_nothing_is_stored(
    session: Session,
) -> None:
    shipped = add_order(session, status=OrderStatus.SHIPPED)
    body = rma(
        "R-0001",
        shipped.number,
        sku="BAG-9",
        requested_at=(NOW + timedelta(hours=1)).isoformat(),
    )
    with pytest.raises(intake.InvalidRma) as caught:
        ingest(session, body)
    assert set(caught.value.details["fields"]) == {"order", "sku", "requested_at"}
    assert "not delivered" in caught.value.details["fields"]["order"]
    assert (count(session, Rma), count(session, RmaIntake), count(session, AuditEvent)) == (0, 0, 0)


def test_an_unknown_order_is_named(session: Session) -> None:
    with pytest.raises(intake.InvalidRma) as caught:
        ingest(session, rma("R-0001", "NO-SUCH"))
    assert caught.value.details["fields"] == {"order": "no order NO-SUCH"}
    assert count(session, Rma) == 0


def test_quantity_is_capped_by_what_other_rmas_of_the_line_hold(
    session: Session, order: Order
) -> None:
    with pytest.raises(intake.InvalidRma) as caught:
        ingest(session, rma("R-0001", order.number, quantity=3))
    assert list(caught.value.details["fields"]) == ["quantity"]
    ingest(session, rma("R-0001", order.number, quantity=1))
    with pytest.raises(intake.InvalidRma) as caught:
        ingest(session, rma("R-0002", order.number, quantity=2))
    assert "1 already under other RMAs" in caught.value.details["fields"]["quantity"]
    # the RMA's own quantity does not count against its update
    assert ingest(session, rma("R-0001", order.number, quantity=2)).outcome == "updated"


def test_a_rejected_rma_gives_its_quantity_back(session: Session, order: Order) -> None:
    ingest(session, rma("R-0001", order.number, quantity=2))
    first = session.scalars(select(Rma)).one()
    states.move(session, first, "inspected", now=NOW)
    states.move(session, first, "reject", now=NOW)
    assert ingest(session, rma("R-0002", order.number, quantity=2)).outcome == "created"
    states.move(session, first, "close", now=NOW)
    assert intake.holds_quantity(first) is False


def test_an_exchange_keeps_its_replacement(session: Session, order: Order) -> None:
    body = rma("X-0001", order.number, kind="exchange", replacement_sku="SHO-2", sku="TOP-1")
    result = ingest(session, body)
    found = session.get(Rma, result.rma_id)
    assert found is not None
    assert (found.kind, found.replacement_sku) == (RmaKind.EXCHANGE, "SHO-2")
    assert found.order_item_id == order.items[1].id
    assert found.status is RmaStatus.AWAITING_INSPECTION


def test_an_update_racing_a_decision_loses(session: Session, order: Order) -> None:
    """The update is a compare-and-set: a decision committed meanwhile wins."""
    ingest(session, rma("R-0001", order.number))
    found = session.scalars(select(Rma)).one()
    states.move(session, found, "inspected", now=NOW)
    session.flush()
    # Another writer decides it behind this session's back (same connection, so visible).
    session.execute(
        Rma.__table__.update().where(Rma.id == found.id).values(status=RmaStatus.APPROVED)
    )
    with pytest.raises(states.IllegalMove) as caught:
        ingest(session, rma("R-0001", order.number, quantity=2))
    assert caught.value.details["status"] == "approved"
    assert (found.status, found.quantity) == (RmaStatus.APPROVED, 1)


def test_two_requests_filing_one_new_rma_at_once_both_succeed(
    live_session_factory: sessionmaker[Session], engine: Engine
) -> None:
    """The second to commit meets the first's RMA at its insert and answers unchanged."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): the race cannot happen")
    with live_session_factory.begin() as s:
        number = add_order(s).number
    fired: list[intake.IngestResult] = []
    with live_session_factory() as first, live_session_factory() as second:

        @event.listens_for(second, "before_flush")
        def _first_commits_meanwhile(*_: object) -> None:
            if not fired:
                fired.append(ingest(first, rma("R-0001", number)))
                first.commit()

        result = ingest(second, rma("R-0001", number))
        second.commit()
    assert [r.outcome for r in fired] == ["created"]
    assert (result.outcome, result.rma_id) == ("unchanged", fired[0].rma_id)
    with live_session_factory() as s:
        assert (count(s, Rma), count(s, RmaIntake), count(s, AuditEvent)) == (1, 1, 1)
