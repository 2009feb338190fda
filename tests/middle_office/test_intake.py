"""Order intake: a day of orders of every kind, bad input, duplicates, changes, CSV import."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import AuditEvent
from core.models import Order, OrderStatus
from middle_office import intake
from middle_office.models import OrderIntake, ReviewTask
from middle_office.policy import ReviewPolicy
from outbound.models import OutboundTask
from outbound.policy import Policy
from tests.conftest import NOW
from tests.middle_office.conftest import API_TOKEN, minutes, order

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def day_of_orders() -> list[dict[str, Any]]:
    """One day's orders, in arrival order: ordinary ones and every special kind."""
    return [
        order("N001", "A001", at=NOW - minutes(300)),
        order("N002", "B001", amount_fen=250_000),
        order("N003", "C001", address=None, invoice_requested=True),
        order("N004", "D001", recipient_phone=None),
        order("N005", "E001", at=NOW - minutes(60), sku="BAG-9"),
        order("N006", "E001", at=NOW - minutes(58.4), sku="BAG-9"),
        *(
            order(f"N{7 + i:03d}", "F001", at=NOW - minutes(50 - 10 * i), sku=f"S{i}")
            for i in range(4)
        ),
        order("N011", "G001", at=NOW - minutes(240)),
        order("N012", "G001", province="北京", city="北京", address="东城区长安街 1 号"),
        order("N013", "H001", amount_fen=300_000, payment_type="cod", recipient_phone=None),
        order("N014", "I001", amount_fen=200_000),
    ]


EXPECTED = {
    "N002": ["amount_over_limit"],
    "N003": ["missing_address", "missing_invoice_title"],
    "N004": ["missing_phone"],
    "N006": ["duplicate_order"],
    "N010": ["many_orders"],
    "N012": ["unusual_address"],
    "N013": ["amount_over_limit", "missing_phone"],
}


def ingest(session: Session, body: dict[str, Any], policy: Policy) -> intake.IntakeResult:
    return intake.ingest(
        session,
        intake.parse_order(body),
        source="api",
        now=NOW,
        policy=ReviewPolicy(calling=policy),
    )


def test_a_day_of_orders_gives_exactly_the_expected_reviews(
    session: Session, policy: Policy
) -> None:
    for body in day_of_orders():
        ingest(session, body, policy)
    reviews = session.scalars(select(ReviewTask).order_by(ReviewTask.id)).all()
    got = {session.get(Order, r.order_id).number: r.reasons for r in reviews}  # type: ignore[union-attr]
    assert got == EXPECTED
    statuses = dict(session.execute(select(Order.number, Order.status)).all())
    for number, status in statuses.items():
        if number.startswith("N0"):
            want = OrderStatus.PENDING_REVIEW if number in EXPECTED else OrderStatus.APPROVED
            assert status is want, number
    assert reviews[3].details["duplicate_order"] == {"of": "N005"}
    # Missing information needs a call; the one with a phone to call has its task.
    calls = session.scalars(select(OutboundTask)).all()
    assert [(t.kind, t.subject_id, t.to_number) for t in calls] == [
        ("order_review", reviews[1].id, "+8613800138000")
    ]


def test_the_same_order_twice_changes_nothing(session: Session, policy: Policy) -> None:
    first = ingest(session, order("N100", amount_fen=250_000), policy)
    events = session.scalar(select(func.count()).select_from(AuditEvent))
    again = ingest(session, order("N100", amount_fen=250_000), policy)
    assert (first.outcome, again.outcome) == ("created", "unchanged")
    assert again.review_id == first.review_id and again.reasons == ("amount_over_limit",)
    assert session.scalar(select(func.count()).select_from(ReviewTask)) == 1
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == events
    assert session.scalar(select(OrderIntake.revisions)) == 1


def test_a_changed_order_is_judged_again(session: Session, policy: Policy) -> None:
    ingest(session, order("N200", amount_fen=250_000), policy)
    changed = ingest(session, order("N200", amount_fen=150_000), policy)
    assert (changed.outcome, changed.status, changed.review_id) == ("updated", "approved", None)
    review = session.scalar(select(ReviewTask))
    assert review is not None and review.status.value == "approved"


def test_a_change_to_a_shipped_order_is_refused(session: Session, policy: Policy) -> None:
    ingest(session, order("N300"), policy)
    session.scalar(select(Order).where(Order.number == "N300")).status = OrderStatus.SHIPPED  # type: ignore[union-attr]
    with pytest.raises(intake.OrderClosed):
        ingest(session, order("N300", amount_fen=1_000), policy)


def test_the_api_names_every_bad_field_and_stores_nothing(api_app: Flask, session: Session) -> None:
    body = order("N400", amount_fen=-5, payment_type="cash", placed_at="yesterday", colour="red")
    body["items"] = [{"sku": "S", "quantity": 0}]
    response = api_app.test_client().post("/api/orders", json=body, headers=AUTH)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid-order"
    assert error["details"]["fields"] == {
        "amount_fen": "must be at least 0",
        "payment_type": "prepaid or cod",
        "placed_at": "not an ISO 8601 date and time",
        "items[0].name": "required",
        "items[0].quantity": "must be at least 1",
        "items[0].unit_price_fen": "required, a whole number",
        "colour": "unknown field",
    }
    assert (
        session.scalar(select(func.count()).select_from(Order).where(Order.number == "N400")) == 0
    )


def test_a_partial_order_names_its_missing_fields(api_app: Flask) -> None:
    response = api_app.test_client().post("/api/orders", json={"number": "N401"}, headers=AUTH)
    assert response.status_code == 422
    fields = response.get_json()["error"]["details"]["fields"]
    assert set(fields) == {"account", "amount_fen", "payment_type", "placed_at", "items"}


def test_the_api_creates_then_reports_unchanged(api_app: Flask) -> None:
    client = api_app.test_client()
    first = client.post("/api/orders", json=order("N402", amount_fen=250_000), headers=AUTH)
    again = client.post("/api/orders", json=order("N402", amount_fen=250_000), headers=AUTH)
    assert first.status_code == 201 and first.get_json()["reasons"] == ["amount_over_limit"]
    assert again.status_code == 200 and again.get_json()["outcome"] == "unchanged"


def test_the_api_refuses_a_missing_or_wrong_token(api_app: Flask) -> None:
    client = api_app.test_client()
    assert client.post("/api/orders", json=order("N403")).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post("/api/orders", json=order("N403"), headers=wrong).status_code == 401


def test_csv_import_is_idempotent_and_reports_bad_lines(
    api_app: Flask, session: Session, tmp_path: Path
) -> None:
    from callcenter.commands.middle_office import CSV_COLUMNS, middle_office_group

    path = tmp_path / "orders.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for body in [*day_of_orders(), order("BAD1", amount_fen=5, placed_at="x")]:
            row = {k: body.get(k, "") for k in CSV_COLUMNS}
            row["items"] = json.dumps(body["items"], ensure_ascii=False)
            writer.writerow(row)
    runner = api_app.test_cli_runner()
    first = runner.invoke(middle_office_group, ["import", str(path)])
    assert first.exit_code == 1, first.output
    assert "line 16" in first.output and "placed_at" in first.output
    assert "approved: 7, invalid: 1, review: 7" in first.output
    second = runner.invoke(middle_office_group, ["import", str(path)])
    assert "invalid: 1, unchanged: 14" in second.output
    assert session.scalar(select(func.count()).select_from(ReviewTask)) == 7
