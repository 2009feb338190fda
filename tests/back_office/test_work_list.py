"""The back office's work list: RMAs in review oldest first by when they entered review, their
age against the deadline, the checklist, inspection, order line, proposed refund or stock and
the customer's earlier RMAs; approved RMAs pending hand-off until acknowledged; status calls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from back_office import review, work_list
from core import webhooks
from core.webhooks import Sent
from outbound.policy import Policy
from tests.back_office.reviewing import (
    POLICY,
    back_office_agent,
    customer_order,
    file_rma,
    in_review,
    inspect,
    stock_catalogue,
)
from tests.conftest import NOW

DEADLINE_S = 4 * 3600  # four hours to decide


@pytest.fixture
def agent_id(session: Session) -> int:
    stock_catalogue(session)
    return back_office_agent(session, "wu.fang", "吴芳").id


def rows(session: Session) -> list[work_list.ReviewRow]:
    return work_list.review_rows(session, now=NOW, deadline_s=DEADLINE_S, policy=POLICY)


def test_oldest_in_review_first_with_age_against_the_deadline(
    session: Session, agent_id: int
) -> None:
    order = customer_order(session)
    filed_first = file_rma(session, order, filed_at=NOW - timedelta(days=1))
    filed_later = file_rma(session, order, filed_at=NOW - timedelta(hours=6))
    inspect(session, filed_later, at=NOW - timedelta(hours=5))  # in review 5 h: late
    inspect(session, filed_first, at=NOW - timedelta(hours=1))  # in review 1 h
    # a replaced inspection does not restart the clock
    inspect(session, filed_later, passed=False, notes="鞋底开胶", at=NOW - timedelta(minutes=5))
    listed = rows(session)
    assert [r.rma.number for r in listed] == [filed_later.number, filed_first.number]
    late, fresh = listed
    assert (late.age, late.late, late.due_at) == (
        timedelta(hours=5),
        True,
        NOW - timedelta(hours=1),
    )
    assert (fresh.age, fresh.late) == (timedelta(hours=1), False)
    assert (late.inspection is not None, late.inspection and late.inspection.notes) == (
        True,
        "鞋底开胶",
    )


def test_a_row_holds_the_checklist_order_line_and_the_proposed_refund(
    session: Session, agent_id: int
) -> None:
    rma = in_review(session, reason="no_longer_wanted")  # shoes: 18.00 CNY kept
    [row] = rows(session)
    assert [(c.rule, c.met) for c in row.checklist] == [
        ("delivered", True),
        ("within_window", True),
        ("category_returnable", True),
        ("opened_allowed", True),
        ("inspection_passed", True),
        ("sku_matches", None),  # the agent confirms it on the form
        ("quantity_on_order", True),
    ]
    assert row.approvable
    assert row.line is not None and (row.line.sku, row.line.quantity) == ("SHO-1", 2)
    assert (row.proposed_refund_fen, row.refundable_fen) == (39_900 - 1_800, 2 * 39_900)
    assert (row.replacement_stock, row.order.id, row.customer.id) == (
        None,
        rma.order_id,
        rma.customer_id,
    )


def test_a_failed_inspection_shows_in_the_checklist_and_is_not_approvable(
    session: Session, agent_id: int
) -> None:
    in_review(session, passed=False)
    [row] = rows(session)
    failing = [(c.rule, c.why) for c in row.checklist if c.met is False]
    assert failing == [("inspection_passed", "failed inspection")]
    assert not row.approvable


def test_an_exchange_shows_its_replacements_stock(session: Session, agent_id: int) -> None:
    in_review(session, kind="exchange", reason="wrong_size", replacement_sku="SHO-2")
    [row] = rows(session)
    assert (row.replacement_stock, row.proposed_refund_fen, row.refundable_fen) == (2, None, None)


def test_the_customers_earlier_rmas_are_listed_newest_first(
    session: Session, agent_id: int
) -> None:
    order = customer_order(session)
    older = file_rma(session, order, filed_at=NOW - timedelta(days=3), sku="TOP-1")
    old = in_review(session, order=order)
    current = in_review(session, order=order)
    other_customer = in_review(session)
    by_number = {r.rma.number: r for r in rows(session)}
    assert [e.number for e in by_number[current.number].earlier] == [old.number, older.number]
    assert [e.number for e in by_number[old.number].earlier] == [older.number]
    assert by_number[other_customer.number].earlier == []


def test_an_approved_rma_is_pending_hand_off_until_acknowledged(
    session: Session, agent_id: int
) -> None:
    rma = in_review(session)
    decision = review.approve_return(
        session,
        rma.id,
        sku="SHO-1",
        refund_amount_fen=39_900,
        agent_id=agent_id,
        actor="wu.fang",
        now=NOW,
        policy=POLICY,
    )
    assert rows(session) == []
    decided = work_list.row_of(session, rma, now=NOW, deadline_s=DEADLINE_S, policy=POLICY)
    assert [c.met for c in decided.checklist if c.rule == "sku_matches"] == [True]  # confirmed
    [pending] = work_list.pending_handoffs(session)
    assert (pending.rma.number, pending.target, pending.delivery) == (
        rma.number,
        "finance",
        decision.delivery,
    )
    assert decision.delivery is not None
    down = webhooks.deliver(
        session,
        decision.delivery.id,
        url="http://127.0.0.1:9/finance",
        secret="s",
        post=lambda *_: Sent(None, "connection refused"),
        now=NOW,
    )
    assert down is False
    [still] = work_list.pending_handoffs(session)
    assert (still.delivery and still.delivery.attempts, still.delivery.last_error) == (  # type: ignore[union-attr]
        1,
        "connection refused",
    )
    webhooks.deliver(
        session,
        decision.delivery.id,
        url="http://127.0.0.1:9/finance",
        secret="s",
        post=lambda *_: Sent(200, None),
        now=NOW + timedelta(minutes=1),
    )
    webhooks.acknowledged(session, decision.delivery.id, now=NOW + timedelta(minutes=1))
    assert work_list.pending_handoffs(session) == []
    assert rma.status.value == "refund_pending"


def test_the_status_calls_are_the_back_offices_open_tasks(session: Session, agent_id: int) -> None:
    rma = in_review(session, passed=False)
    review.reject(
        session,
        rma.id,
        reason="failed_inspection",
        agent_id=agent_id,
        actor="wu.fang",
        now=NOW,
        calling=Policy(),
    )
    [call] = work_list.call_rows(session, agent_id)
    assert (call.rma, call.task.kind, call.needs_outcome) == (rma, "rma_status", False)
    assert work_list.call_rows(session, None) == [call]
    other = back_office_agent(session, "xu.tao", "徐涛").id
    assert work_list.call_rows(session, other) == []
