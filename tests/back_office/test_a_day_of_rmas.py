"""A day of RMAs of every kind, filed through the intake and inspected by the warehouse, gives
exactly the expected review rows (in order), checklists and outcomes: in and out of the window,
inspection passed and failed, a category not returnable without a fault, an exchange with and
without stock, one not inspected yet, and one for an order not delivered (refused at intake)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from back_office import intake, review, work_list
from back_office.models import CatalogueItem
from core.models import Order, OrderStatus, RmaStatus
from core.webhooks import WebhookDelivery
from outbound.models import OutboundTask
from outbound.policy import Policy
from tests.back_office.reviewing import (
    POLICY,
    back_office_agent,
    customer_order,
    file_rma,
    inspect,
    stock_catalogue,
)
from tests.conftest import NOW

DAY_START = NOW - timedelta(hours=10)
DEADLINE_S = int(3.5 * 3600)


def hour(n: float) -> timedelta:
    return timedelta(hours=n)


def test_a_day_of_rmas(session: Session) -> None:
    stock_catalogue(session)
    agent = back_office_agent(session, "wu.fang", "吴芳").id

    def order(delivered_days_ago: float = 1, **options: Any) -> Order:
        o = customer_order(session, **options)
        o.delivered_at = NOW - timedelta(days=delivered_days_ago)
        return o

    shoes_late = order(delivered_days_ago=10)
    underwear = order(lines=(("UND-1", 1, 5_900),))
    filed = {
        "quality": file_rma(session, order(), filed_at=DAY_START),
        "too_late": file_rma(
            session, shoes_late, filed_at=DAY_START + hour(1), reason="no_longer_wanted"
        ),
        "failed": file_rma(session, order(), filed_at=DAY_START + hour(2)),
        "underwear": file_rma(
            session,
            underwear,
            filed_at=DAY_START + hour(3),
            sku="UND-1",
            reason="no_longer_wanted",
            opened=True,
        ),
        "exchange": file_rma(
            session,
            order(),
            filed_at=DAY_START + hour(4),
            kind="exchange",
            reason="wrong_size",
            replacement_sku="SHO-2",
        ),
        "sold_out": file_rma(
            session,
            order(),
            filed_at=DAY_START + hour(5),
            kind="exchange",
            reason="wrong_size",
            replacement_sku="SHO-9",
        ),
        "waiting": file_rma(session, order(), filed_at=DAY_START + hour(6)),
    }
    with pytest.raises(intake.InvalidRma) as refused:  # not delivered: refused, nothing stored
        file_rma(session, customer_order(session, status=OrderStatus.SHIPPED))
    assert "order" in refused.value.details["fields"]

    # the warehouse inspects in its own order; the list follows when each entered review
    for key, passed, at in (
        ("failed", False, 1),
        ("quality", True, 2),
        ("too_late", True, 3),
        ("underwear", True, 4),
        ("sold_out", True, 5),
        ("exchange", True, 6),
    ):
        inspect(session, filed[key], passed=passed, at=DAY_START + hour(6 + at / 4))

    rows = work_list.review_rows(session, now=NOW, deadline_s=DEADLINE_S, policy=POLICY)
    by_key = {r.number: k for k, r in filed.items()}
    assert [by_key[r.rma.number] for r in rows] == [
        "failed",
        "quality",
        "too_late",
        "underwear",
        "sold_out",
        "exchange",
    ]
    failing = {
        by_key[r.rma.number]: [c.rule.value for c in r.checklist if c.met is False] for r in rows
    }
    assert failing == {
        "failed": ["inspection_passed"],
        "quality": [],
        "too_late": ["within_window"],
        "underwear": ["category_returnable", "opened_allowed"],
        "sold_out": [],
        "exchange": [],
    }
    assert {by_key[r.rma.number]: r.approvable for r in rows} == {
        "failed": False,
        "quality": True,
        "too_late": False,
        "underwear": False,
        "sold_out": True,
        "exchange": True,
    }
    # in review 3 h 45 min against a deadline of 3 h 30 min: only the first is late
    assert [by_key[r.rma.number] for r in rows if r.late] == ["failed"]
    proposed = {by_key[r.rma.number]: r.proposed_refund_fen for r in rows}
    assert proposed == {
        "failed": 39_900,
        "quality": 39_900,
        "too_late": 39_900 - 1_800,  # no reason: the shoes' fee is kept
        "underwear": 5_900 - 1_200,
        "sold_out": None,
        "exchange": None,
    }
    assert {
        by_key[r.rma.number]: r.replacement_stock for r in rows if r.replacement_stock is not None
    } == {
        "sold_out": 0,
        "exchange": 2,
    }

    # the agent works the list
    common = {"agent_id": agent, "actor": "wu.fang", "now": NOW}
    review.approve_return(
        session, filed["quality"].id, sku="SHO-1", refund_amount_fen=39_900, policy=POLICY, **common
    )
    for key, reason in (
        ("too_late", "outside_window"),
        ("failed", "failed_inspection"),
        ("underwear", "not_returnable"),
    ):
        rule = {"too_late": "within_window", "failed": "inspection_passed"}.get(key)
        if rule:
            with pytest.raises(review.NotApprovable) as caught:
                review.approve_return(
                    session,
                    filed[key].id,
                    sku=filed[key].sku,
                    refund_amount_fen=100,
                    policy=POLICY,
                    **common,
                )
            assert [f["rule"] for f in caught.value.details["failing"]] == [rule]
        review.reject(session, filed[key].id, reason=reason, calling=Policy(), **common)
    review.approve_exchange(
        session, filed["exchange"].id, sku="SHO-1", replacement_sku="SHO-2", policy=POLICY, **common
    )
    with pytest.raises(review.OutOfStock):
        review.approve_exchange(
            session,
            filed["sold_out"].id,
            sku="SHO-1",
            replacement_sku="SHO-9",
            policy=POLICY,
            **common,
        )
    review.convert_to_return(session, filed["sold_out"].id, **common)
    review.approve_return(
        session,
        filed["sold_out"].id,
        sku="SHO-1",
        refund_amount_fen=38_100,
        policy=POLICY,
        **common,
    )

    statuses = {k: r.status for k, r in filed.items()}
    assert statuses == {
        "quality": RmaStatus.APPROVED,
        "too_late": RmaStatus.REJECTED,
        "failed": RmaStatus.REJECTED,
        "underwear": RmaStatus.REJECTED,
        "exchange": RmaStatus.APPROVED,
        "sold_out": RmaStatus.APPROVED,
        "waiting": RmaStatus.AWAITING_INSPECTION,
    }
    assert work_list.review_rows(session, now=NOW, deadline_s=DEADLINE_S, policy=POLICY) == []
    handed = {
        d.payload["rma"]: (d.target, d.payload.get("refund_amount_fen"))
        for d in session.scalars(select(WebhookDelivery))
    }
    assert handed == {
        filed["quality"].number: ("finance", 39_900),
        filed["exchange"].number: ("logistics", None),
        filed["sold_out"].number: ("finance", 38_100),
    }
    assert [h.rma.number for h in work_list.pending_handoffs(session)] == [
        filed["quality"].number,
        filed["exchange"].number,
        filed["sold_out"].number,
    ]
    calls = session.scalars(select(OutboundTask).order_by(OutboundTask.id)).all()
    assert [(t.kind, t.subject_id, t.agent_id) for t in calls] == [
        ("rma_status", filed[k].id, agent) for k in ("too_late", "failed", "underwear")
    ]
    stock = dict(session.execute(select(CatalogueItem.sku, CatalogueItem.stock)).all())
    assert (stock["SHO-2"], stock["SHO-9"]) == (1, 0)
