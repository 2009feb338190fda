"""Builders of RMAs on the review work list, through the real intake, catalogue and inspection
services (as the order system and the warehouse would file them)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from back_office import catalogue, inspections, intake
from back_office.policy import load_policy
from config.settings import DEFAULT_RETURN_POLICY
from core.models import CustomerPhone, Order, Rma
from queues.models import Agent, Post
from tests.back_office.test_intake import add_order
from tests.builders import add_agent
from tests.conftest import NOW

POLICY = load_policy(DEFAULT_RETURN_POLICY)
_numbers = itertools.count(1)
_phones = itertools.count(1)

#: The demo-like catalogue: shoes (fee 18 CNY kept on no-reason), underwear (not returnable
#: without a fault), a replacement in stock and one sold out.
CATALOGUE = (
    ("SHO-1", "shoes", 5),
    ("TOP-1", "apparel", 3),
    ("UND-1", "underwear", 9),
    ("SHO-2", "shoes", 2),
    ("SHO-9", "shoes", 0),
)


def stock_catalogue(session: Session, items: tuple[tuple[str, str, int], ...] = CATALOGUE) -> None:
    parsed = catalogue.parse_items(
        [{"sku": s, "name": s, "category": c, "stock": n} for s, c, n in items]
    )
    catalogue.upsert_items(session, parsed, now=NOW - timedelta(days=10))


def file_rma(
    session: Session,
    order: Order,
    *,
    number: str | None = None,
    requested_at: datetime | None = None,
    filed_at: datetime = NOW - timedelta(hours=3),
    **body: Any,
) -> Rma:
    """An RMA filed through the intake (a return of one SHO-1 for a quality problem unless told
    otherwise), awaiting inspection."""
    payload: dict[str, Any] = {
        "number": number or f"RMA-{next(_numbers):05d}",
        "order": order.number,
        "sku": "SHO-1",
        "quantity": 1,
        "kind": "return",
        "reason": "quality_problem",
        "opened": False,
        "requested_at": (requested_at or filed_at).isoformat(),
    }
    payload.update(body)
    result = intake.ingest(session, intake.parse_rma(payload), source="api", now=filed_at)
    found = session.get(Rma, result.rma_id)
    assert found is not None
    return found


def inspect(
    session: Session, rma: Rma, *, passed: bool = True, notes: str = "完好", at: datetime
) -> None:
    _, result = inspections.parse_inspection(
        {"passed": passed, "notes": notes, "inspector": "仓库-李"}
    )
    inspections.record_inspection(session, rma.number, result, source="api", now=at)


def customer_order(session: Session, **options: Any) -> Order:
    """A delivered order (`add_order`) whose customer has a mobile number."""
    order = add_order(session, **options)
    session.add(CustomerPhone(customer_id=order.customer_id, e164=f"+86139{next(_phones):08d}"))
    session.flush()
    return order


def in_review(
    session: Session,
    *,
    passed: bool = True,
    inspected_at: datetime = NOW - timedelta(hours=2),
    order: Order | None = None,
    **body: Any,
) -> Rma:
    """An RMA filed and inspected (passed unless told otherwise): on the review work list.
    A new order's customer has a mobile number of their own."""
    order = order or customer_order(session)
    rma = file_rma(session, order, **body)
    inspect(session, rma, passed=passed, at=inspected_at)
    return rma


def back_office_agent(session: Session, login: str, name: str) -> Agent:
    return add_agent(
        session, login, display_name=name, posts=[Post.BACK_OFFICE], skills={"aftersales": 4}
    )
