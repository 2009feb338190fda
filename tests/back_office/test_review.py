"""Reviewing an RMA: approvals need the checklist and the inspection, a return's SKU and refund
are checked, an exchange takes its replacement from stock once, a rejection plans the status
call, and of two agents deciding at once one wins and the other is told who."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from back_office import review, states
from back_office.models import CatalogueItem
from core.audit import AuditEvent
from core.models import Rma, RmaKind, RmaStatus
from core.webhooks import WebhookDelivery
from outbound.models import OutboundTask, TaskStatus
from outbound.policy import Policy
from tests.back_office.reviewing import (
    POLICY,
    back_office_agent,
    customer_order,
    in_review,
    stock_catalogue,
)
from tests.conftest import NOW


@pytest.fixture
def agent_id(session: Session) -> int:
    stock_catalogue(session)
    return back_office_agent(session, "wu.fang", "吴芳").id


def approve(session: Session, rma: Rma, agent: int, **changes: Any) -> review.Decision:
    values: dict[str, Any] = {
        "sku": "SHO-1",
        "refund_amount_fen": 30_000,
        "reason": "",
        "notes": "客户同意 agreed",
        "agent_id": agent,
        "actor": "wu.fang",
        "now": NOW,
        "policy": POLICY,
    }
    values.update(changes)
    return review.approve_return(session, rma.id, **values)


def audits(session: Session, rma: Rma) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_id == rma.number, AuditEvent.action.like("rma.%"))
            .order_by(AuditEvent.id)
        )
    )


def test_a_return_approved_with_an_edited_refund_goes_to_finance_once(
    session: Session, agent_id: int
) -> None:
    rma = in_review(session)
    decision = approve(session, rma, agent_id, refund_amount_fen=30_000)
    assert (decision.before, decision.status) == ("in_review", "approved")
    assert (rma.status, rma.refund_amount_fen, rma.decided_by) == (
        RmaStatus.APPROVED,
        30_000,
        agent_id,
    )
    assert (rma.decided_at, rma.decision_notes) == (NOW, "客户同意 agreed")
    [delivery] = session.scalars(select(WebhookDelivery)).all()
    assert decision.delivery is delivery
    assert (delivery.target, delivery.event) == ("finance", "rma.refund_requested")
    assert delivery.payload["refund_amount_fen"] == 30_000
    approved = audits(session, rma)[-1]
    assert (approved.action, approved.actor, approved.actor_id) == (
        "rma.approved",
        "wu.fang",
        agent_id,
    )
    assert (approved.data["before"], approved.data["after"]) == ("in_review", "approved")
    assert approved.data["refund_amount_fen"] == 30_000


def test_the_refund_is_never_more_than_paid_for_the_line_less_earlier_refunds(
    session: Session, agent_id: int
) -> None:
    order = customer_order(session)  # SHO-1: 2 × 399.00
    first = in_review(session, order=order)
    approve(session, first, agent_id, refund_amount_fen=39_900)
    second = in_review(session, order=order)
    with pytest.raises(review.InvalidDecision) as caught:
        approve(session, second, agent_id, refund_amount_fen=39_901)
    assert list(caught.value.details["fields"]) == ["refund_amount_fen"]
    assert "39900 fen left" in caught.value.details["fields"]["refund_amount_fen"]
    assert second.status is RmaStatus.IN_REVIEW and second.refund_amount_fen is None
    assert approve(session, second, agent_id, refund_amount_fen=39_900).status == "approved"


@pytest.mark.parametrize("amount", [12.5, "300", 0, -1, True, None])
def test_a_refund_that_is_not_a_positive_whole_number_of_fen_is_named(
    session: Session, agent_id: int, amount: Any
) -> None:
    rma = in_review(session)
    with pytest.raises(review.InvalidDecision) as caught:
        approve(session, rma, agent_id, refund_amount_fen=amount)
    assert list(caught.value.details["fields"]) == ["refund_amount_fen"]
    assert session.scalars(select(WebhookDelivery)).all() == []


def test_the_agent_must_confirm_the_returned_sku_against_the_order_line(
    session: Session, agent_id: int
) -> None:
    rma = in_review(session)
    with pytest.raises(review.InvalidDecision) as caught:
        approve(session, rma, agent_id, sku="TOP-1", refund_amount_fen=10**9)
    assert set(caught.value.details["fields"]) == {"sku", "refund_amount_fen"}
    assert "SHO-1" in caught.value.details["fields"]["sku"]
    assert rma.status is RmaStatus.IN_REVIEW


def test_a_failed_inspection_refuses_approval_naming_the_rule(
    session: Session, agent_id: int
) -> None:
    rma = in_review(session, passed=False)
    with pytest.raises(review.NotApprovable) as caught:
        approve(session, rma, agent_id)
    assert [f["rule"] for f in caught.value.details["failing"]] == ["inspection_passed"]
    assert rma.status is RmaStatus.IN_REVIEW


def test_every_failing_rule_is_named_at_once(session: Session, agent_id: int) -> None:
    """Underwear opened, no reason, asked 20 days after delivery, failed inspection."""
    order = customer_order(session, lines=(("UND-1", 1, 9_900),))
    rma = in_review(
        session,
        order=order,
        passed=False,
        sku="UND-1",
        reason="no_longer_wanted",
        opened=True,
    )
    session.execute(
        Rma.__table__.update()
        .where(Rma.id == rma.id)
        .values(created_at=NOW + timedelta(days=19))  # asked 20 days after delivery
    )
    session.expire_all()
    with pytest.raises(review.NotApprovable) as caught:
        approve(session, rma, agent_id, sku="UND-1", refund_amount_fen=8_000)
    assert [f["rule"] for f in caught.value.details["failing"]] == [
        "within_window",
        "category_returnable",
        "opened_allowed",
        "inspection_passed",
    ]


def test_a_decided_rma_refuses_a_second_decision_naming_who_decided(
    session: Session, agent_id: int
) -> None:
    rma = in_review(session)
    approve(session, rma, agent_id)
    other = back_office_agent(session, "xu.tao", "徐涛").id
    with pytest.raises(states.IllegalMove) as caught:
        approve(session, rma, other, refund_amount_fen=1)
    details = caught.value.details
    assert (details["status"], details["decided_by"], details["decided_by_name"]) == (
        "approved",
        agent_id,
        "吴芳",
    )
    assert "approved by 吴芳" in caught.value.message
    with pytest.raises(states.IllegalMove):
        review.reject(
            session,
            rma.id,
            reason="other",
            notes="x",
            agent_id=other,
            actor="xu.tao",
            now=NOW,
            calling=Policy(),
        )
    assert len(session.scalars(select(WebhookDelivery)).all()) == 1


def test_two_agents_approving_at_once_one_wins_and_the_other_is_told_who(
    live_session_factory: sessionmaker[Session],
) -> None:
    with live_session_factory.begin() as s:
        stock_catalogue(s)
        ids = {
            "wu.fang": back_office_agent(s, "wu.fang", "吴芳").id,
            "xu.tao": back_office_agent(s, "xu.tao", "徐涛").id,
        }
        rma_id = in_review(s).id
    start = threading.Barrier(2)
    results: dict[str, Any] = {}

    def decide(login: str) -> None:
        start.wait()
        try:
            with live_session_factory.begin() as s:
                rma = s.get(Rma, rma_id)
                assert rma is not None
                results[login] = approve(s, rma, ids[login], actor=login).status
        except states.IllegalMove as exc:
            results[login] = exc

    threads = [threading.Thread(target=decide, args=(login,)) for login in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    won = [login for login, r in results.items() if r == "approved"]
    lost = [r for r in results.values() if isinstance(r, states.IllegalMove)]
    assert len(won) == 1 and len(lost) == 1
    winner = "吴芳" if won[0] == "wu.fang" else "徐涛"
    assert lost[0].details["decided_by_name"] == winner
    assert lost[0].details["status"] == "approved"
    with live_session_factory() as s:
        assert len(s.scalars(select(WebhookDelivery)).all()) == 1
        assert s.scalar(select(Rma.decided_by).where(Rma.id == rma_id)) == ids[won[0]]


def exchange(session: Session, replacement: str = "SHO-2", **changes: Any) -> Rma:
    return in_review(
        session,
        kind="exchange",
        reason="wrong_size",
        replacement_sku=replacement,
        **changes,
    )


def approve_exchange(session: Session, rma: Rma, agent: int, **changes: Any) -> review.Decision:
    values: dict[str, Any] = {
        "sku": "SHO-1",
        "replacement_sku": rma.replacement_sku,
        "agent_id": agent,
        "actor": "wu.fang",
        "now": NOW,
        "policy": POLICY,
    }
    values.update(changes)
    return review.approve_exchange(session, rma.id, **values)


def stock(session: Session, sku: str) -> int:
    return int(session.scalar(select(CatalogueItem.stock).where(CatalogueItem.sku == sku)) or 0)


def test_an_exchange_takes_its_replacement_from_stock_once_and_goes_to_logistics(
    session: Session, agent_id: int
) -> None:
    rma = exchange(session)
    decision = approve_exchange(session, rma, agent_id)
    assert decision.status == "approved"
    assert stock(session, "SHO-2") == 1
    assert decision.delivery is not None and decision.delivery.target == "logistics"
    assert decision.delivery.payload["replacement_sku"] == "SHO-2"
    with pytest.raises(states.IllegalMove):
        approve_exchange(session, rma, agent_id)
    assert stock(session, "SHO-2") == 1


def test_the_replacement_must_be_the_one_requested(session: Session, agent_id: int) -> None:
    rma = exchange(session)
    with pytest.raises(review.InvalidDecision) as caught:
        approve_exchange(session, rma, agent_id, replacement_sku="SHO-9", sku="X")
    assert set(caught.value.details["fields"]) == {"sku", "replacement_sku"}
    assert stock(session, "SHO-2") == 2


def test_an_exchange_out_of_stock_is_refused_offering_a_return_then_converted(
    session: Session, agent_id: int
) -> None:
    rma = exchange(session, replacement="SHO-9")
    with pytest.raises(review.OutOfStock) as caught:
        approve_exchange(session, rma, agent_id)
    assert caught.value.details["offer"] == "convert_to_return"
    assert (caught.value.details["stock"], rma.status) == (0, RmaStatus.IN_REVIEW)
    converted = review.convert_to_return(
        session, rma.id, notes="客户接受退款", agent_id=agent_id, actor="wu.fang", now=NOW
    )
    assert (converted.status, rma.kind, rma.replacement_sku) == (
        "in_review",
        RmaKind.RETURN,
        None,
    )
    audit = audits(session, rma)[-1]
    assert audit.action == "rma.converted_to_return"
    assert audit.data["before"] == {"kind": "exchange", "replacement_sku": "SHO-9"}
    assert audit.data["after"] == {"kind": "return", "replacement_sku": None}
    # the size exchange becomes a no-reason return: the shoes' 18.00 CNY fee is kept
    assert review.proposed_refund_fen(session, rma, policy=POLICY) == 39_900 - 1_800
    assert approve(session, rma, agent_id, refund_amount_fen=38_100).status == "approved"
    with pytest.raises(states.IllegalMove):  # decided: no longer converted
        review.convert_to_return(session, rma.id, agent_id=agent_id, actor="wu.fang", now=NOW)
    with pytest.raises(review.WrongKind):  # a return is not an exchange
        review.convert_to_return(
            session, in_review(session).id, agent_id=agent_id, actor="wu.fang", now=NOW
        )


def test_a_rejection_needs_a_reason_from_the_list(session: Session, agent_id: int) -> None:
    rma = in_review(session, passed=False)
    for reason, notes, field in (("because", "", "reason"), ("other", " ", "notes")):
        with pytest.raises(review.InvalidDecision) as caught:
            review.reject(
                session,
                rma.id,
                reason=reason,
                notes=notes,
                agent_id=agent_id,
                actor="wu.fang",
                now=NOW,
                calling=Policy(),
            )
        assert list(caught.value.details["fields"]) == [field]
    assert rma.status is RmaStatus.IN_REVIEW
    assert session.scalars(select(OutboundTask)).all() == []


def test_a_rejection_plans_the_status_call_on_the_back_office_work_list(
    session: Session, agent_id: int
) -> None:
    rma = in_review(session, passed=False)
    decision = review.reject(
        session,
        rma.id,
        reason="failed_inspection",
        notes="鞋面划痕",
        agent_id=agent_id,
        actor="wu.fang",
        now=NOW,
        calling=Policy(),
    )
    assert (decision.status, rma.decision_reason, rma.decision_notes) == (
        "rejected",
        "failed_inspection",
        "鞋面划痕",
    )
    task = decision.task
    assert task is not None
    assert (task.kind, task.subject_type, task.subject_id) == ("rma_status", "rma", rma.id)
    assert (task.status, task.agent_id) == (TaskStatus.PENDING, agent_id)
    actions = [a.action for a in audits(session, rma)]
    assert actions[-2:] == ["rma.rejected", "rma.status_call_planned"]
    rejected = audits(session, rma)[-2]
    assert (rejected.data["before"], rejected.data["after"]) == ("in_review", "rejected")


def test_an_unknown_rma_is_named(session: Session, agent_id: int) -> None:
    with pytest.raises(states.UnknownRma):
        review.convert_to_return(session, 999_999, agent_id=agent_id, actor="x", now=NOW)
