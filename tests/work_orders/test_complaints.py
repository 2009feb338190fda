"""The complaint flow: receive → classify → decide a remedy → carry it out → close → follow up;
each step once (a repeat changes nothing), each in the timeline; a refund or replacement filed
with the back office as an RMA linked to the work order; the follow-up call a set number of
days after closing, and a poor rating reopening the complaint."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from back_office.intake import InvalidRma
from callcenter.work_orders import complaints as app_complaints
from core.db import UnitOfWork
from core.models import CustomerPhone, Rma, RmaKind
from outbound import kinds
from outbound.models import OutboundTask, TaskStatus
from outbound.policy import Policy
from outbound.tasks import close as close_task
from queues.models import Post
from tests.back_office.test_intake import add_order
from tests.conftest import NOW
from work_orders import complaints, states, timeline
from work_orders.complaints import Author, Complaint, InvalidComplaint, Stage, StepRefused
from work_orders.models import WorkOrder, WorkOrderStatus

DESK = Author(None, "li.na")
LEAD = Author(None, "zhou.lead")
LATER = NOW + timedelta(minutes=10)


def complaint_order(session: Session, *, phone: str | None = "+8613900000001") -> WorkOrder:
    """A complaint work order about a delivered order (two SHO-1 and one TOP-1)."""
    order = add_order(session)
    if phone is not None:
        session.add(CustomerPhone(customer_id=order.customer_id, e164=phone))
        session.flush()
    return timeline.open_work_order(
        session,
        client_key=None,
        category="complaint",
        description="鞋底开胶，态度差",
        author_id=None,
        author="li.na",
        now=NOW,
        customer_id=order.customer_id,
        order_id=order.id,
    ).work_order


def kinds_of(session: Session, wo: WorkOrder) -> list[str]:
    return [e.kind for e in timeline.timeline_of(session, wo)]


def decided(session: Session, remedy: str = "coupon", **details: Any) -> Complaint:
    wo = complaint_order(session)
    c = complaints.receive(session, wo, by=DESK, now=NOW, severity="high")
    complaints.decide(session, c, remedy, details or {"amount_fen": 2000}, by=LEAD, now=LATER)
    return c


def test_a_complaint_is_received_once_and_classified_in_the_timeline(session: Session) -> None:
    """Receiving twice gives one complaint; the severity given at once classifies it."""
    wo = complaint_order(session)

    first = complaints.receive(session, wo, by=DESK, now=NOW, severity="medium")
    again = complaints.receive(session, wo, by=DESK, now=NOW, severity="medium")

    assert first.id == again.id
    assert (first.stage, first.severity) == (Stage.CLASSIFIED, "medium")
    assert session.scalar(select(func.count()).select_from(Complaint)) == 1
    assert kinds_of(session, wo) == ["created", "complaint_received", "complaint_classified"]


def test_only_a_complaint_work_order_with_a_known_severity_is_received(session: Session) -> None:
    """Another category and an unknown severity are named, and nothing is stored."""
    wo = complaint_order(session)
    wo.category = "usage_question"

    with pytest.raises(InvalidComplaint) as refused:
        complaints.receive(session, wo, by=DESK, now=NOW, severity="urgent")

    assert set(refused.value.details["fields"]) == {"category", "severity"}
    assert session.scalar(select(func.count()).select_from(Complaint)) == 0


def test_a_remedy_is_validated_naming_every_bad_field() -> None:
    """A replacement without SKUs and with a bad quantity names the three fields."""
    with pytest.raises(InvalidComplaint) as refused:
        complaints.validate_remedy("replacement", {"quantity": 0})
    assert set(refused.value.details["fields"]) == {"sku", "quantity", "replacement_sku"}
    with pytest.raises(InvalidComplaint) as unknown:
        complaints.validate_remedy("cash", {})
    assert set(unknown.value.details["fields"]) == {"remedy"}
    assert complaints.validate_remedy("coupon", {"amount_fen": "1500"}) == (
        "coupon",
        {"amount_fen": 1500},
    )


def test_a_remedy_cannot_be_decided_before_the_complaint_is_classified(session: Session) -> None:
    """The refusal names the stage and the steps allowed from it; nothing changes."""
    c = complaints.receive(session, complaint_order(session), by=DESK, now=NOW)

    with pytest.raises(StepRefused) as refused:
        complaints.decide(session, c, "apology", {}, by=LEAD, now=LATER)

    assert refused.value.details["stage"] == "received"
    assert refused.value.details["allowed"] == ["classify"]
    assert c.remedy is None


def test_deciding_the_same_remedy_again_writes_one_event(session: Session) -> None:
    c = decided(session)

    again = complaints.decide(session, c, "coupon", {"amount_fen": 2000}, by=LEAD, now=LATER)

    assert again is False
    assert kinds_of(session, c.work_order).count("complaint_remedy_decided") == 1
    assert c.remedy_details == {"amount_fen": 2000}


def test_a_coupon_carried_out_and_closed_plans_the_follow_up_days_later(session: Session) -> None:
    """Closing moves the work order `close` and plans one front-desk follow-up call 3 days on."""
    c = decided(session)
    complaints.carry_out(session, c, by=DESK, now=LATER, reference="CPN-88")

    task = complaints.close(session, c, by=DESK, now=LATER, follow_up_days=3, policy=Policy())
    again = complaints.close(session, c, by=DESK, now=LATER, follow_up_days=3, policy=Policy())

    assert task is not None and again is not None and again.id == task.id
    assert c.work_order.status is WorkOrderStatus.CLOSED
    assert (c.stage, c.rounds) == (Stage.CLOSED, 1)
    assert c.follow_up_due_at == LATER + timedelta(days=3)
    assert task.kind == "complaint_follow_up" and task.subject_id == c.id
    assert task.next_attempt_at == LATER + timedelta(days=3)  # Thursday 11:10 Shanghai: open
    assert task.to_number == "+8613900000001"
    assert kinds_of(session, c.work_order)[-2:] == ["complaint_remedy_carried_out", "status"]


def test_the_follow_up_call_is_on_the_front_desks_list_of_calls_about_work_orders(
    session: Session,
) -> None:
    """Front-desk agents work their calls about work orders at /work-orders/callbacks: the
    follow-up is listed there with its work order, beside the departments' callbacks."""
    from work_orders.callbacks import callback_rows

    c = decided(session)
    complaints.carry_out(session, c, by=DESK, now=LATER, reference="CPN-88")
    task = complaints.close(session, c, by=DESK, now=LATER, follow_up_days=3, policy=Policy())
    assert task is not None

    rows = callback_rows(session, None)
    assert [(t.id, wo.id) for t, wo, _ in rows] == [(task.id, c.work_order_id)]
    assert callback_rows(session, None, team="nobody's") == []


def test_the_follow_up_kind_is_worked_by_the_front_desk() -> None:
    kind = kinds.kind_of("complaint_follow_up")
    assert (kind.post, kind.routed, kind.subject_type) == (Post.FRONT_DESK, False, "complaint")


def test_a_follow_up_due_out_of_calling_hours_waits_for_the_next_opening(
    session: Session,
) -> None:
    """Closed at 22:30 in Shanghai: the call is due at 09:00 three days later, not 22:30."""
    c = decided(session)
    late = NOW + timedelta(hours=11, minutes=30)  # 22:30 Shanghai
    complaints.carry_out(session, c, by=DESK, now=late)

    task = complaints.close(session, c, by=DESK, now=late, follow_up_days=3, policy=Policy())

    assert task is not None
    assert task.next_attempt_at == NOW + timedelta(days=3, hours=22)  # Friday 09:00 Shanghai


def test_a_satisfied_follow_up_ends_the_flow(session: Session) -> None:
    c = decided(session)
    complaints.carry_out(session, c, by=DESK, now=LATER)
    complaints.close(session, c, by=DESK, now=LATER, follow_up_days=3, policy=Policy())
    then = LATER + timedelta(days=3)

    assert complaints.record_follow_up(session, c, 4, by=DESK, now=then, notes="满意")
    assert not complaints.record_follow_up(session, c, 4, by=DESK, now=then)

    assert (c.stage, c.follow_up_rating) == (Stage.FOLLOWED_UP, 4)
    assert c.work_order.status is WorkOrderStatus.CLOSED
    last = timeline.timeline_of(session, c.work_order)[-1]
    assert (last.kind, last.data["rating"], last.data["satisfied"]) == (
        "complaint_follow_up",
        4,
        True,
    )


def test_a_poor_rating_reopens_the_complaint_and_a_second_round_gets_its_own_call(
    session: Session,
) -> None:
    """Rated 2 of 5: the work order reopens (with_department); a new remedy, carried out and
    closed again, plans a second follow-up call."""
    c = decided(session)
    complaints.carry_out(session, c, by=DESK, now=LATER)
    first = complaints.close(session, c, by=DESK, now=LATER, follow_up_days=3, policy=Policy())
    then = LATER + timedelta(days=3)

    complaints.record_follow_up(session, c, 2, by=DESK, now=then, notes="还是不满意")

    assert c.stage is Stage.REOPENED
    assert c.work_order.status is WorkOrderStatus.WITH_DEPARTMENT
    status = timeline.timeline_of(session, c.work_order)[-1]
    assert (status.kind, status.data["event"]) == ("status", "reopen")
    complaints.decide(session, c, "apology", {"note": "经理致歉"}, by=LEAD, now=then)
    complaints.carry_out(session, c, by=DESK, now=then)
    states.move(session, c.work_order, "reply", author_id=None, author="gao.yan", now=then)
    second = complaints.close(session, c, by=DESK, now=then, follow_up_days=3, policy=Policy())
    assert first is not None and second is not None and first.id != second.id
    assert c.rounds == 2


def test_a_rating_outside_one_to_five_is_refused(session: Session) -> None:
    c = decided(session)
    complaints.carry_out(session, c, by=DESK, now=LATER)
    complaints.close(session, c, by=DESK, now=LATER, follow_up_days=3, policy=Policy())
    for bad in (0, 6, "x", True):
        with pytest.raises(InvalidComplaint):
            complaints.record_follow_up(session, c, bad, by=DESK, now=LATER)
    assert c.stage is Stage.CLOSED


def test_a_follow_up_that_never_reaches_the_customer_is_in_the_timeline(
    session: Session,
) -> None:
    c = decided(session)
    complaints.carry_out(session, c, by=DESK, now=LATER)
    task = complaints.close(session, c, by=DESK, now=LATER, follow_up_days=3, policy=Policy())
    assert task is not None

    close_task(session, task, TaskStatus.FAILED, LATER + timedelta(days=4))

    last = timeline.timeline_of(session, c.work_order)[-1]
    assert (last.kind, last.data["task_status"]) == ("complaint_follow_up_unreached", "failed")


def test_a_customer_with_no_number_gets_no_follow_up_call(session: Session) -> None:
    wo = complaint_order(session, phone=None)
    c = complaints.receive(session, wo, by=DESK, now=NOW, severity="low")
    complaints.decide(session, c, "apology", {}, by=LEAD, now=NOW)
    complaints.carry_out(session, c, by=DESK, now=NOW)
    assert complaints.close(session, c, by=DESK, now=NOW, follow_up_days=3, policy=Policy()) is None
    assert c.stage is Stage.CLOSED


def test_a_refund_is_filed_with_the_back_office_as_an_rma_linked_to_the_work_order(
    session: Session,
) -> None:
    """Through the application layer: the back office's intake files a return of the order
    line, numbered after the work order; carrying it out again files nothing more."""
    c = decided(session, "refund", sku="SHO-1", quantity=1)
    uow = UnitOfWork(session)

    app_complaints.carry_out(uow, c.work_order_id, {}, DESK, LATER)
    app_complaints.carry_out(uow, c.work_order_id, {}, DESK, LATER)

    rma = session.scalar(select(Rma).where(Rma.number == f"{c.work_order.number}-R"))
    assert rma is not None and rma.kind is RmaKind.RETURN and rma.source == "complaint"
    assert c.work_order.rma_id == rma.id
    assert session.scalar(select(func.count()).select_from(Rma)) == 1
    assert c.stage is Stage.CARRIED_OUT


def test_a_replacement_of_a_sku_not_on_the_order_is_refused_and_nothing_is_stored(
    session: Session,
) -> None:
    c = decided(session, "replacement", sku="XXX-9", quantity=1, replacement_sku="SHO-2")
    uow = UnitOfWork(session)

    with pytest.raises(InvalidRma) as refused, session.begin_nested():
        app_complaints.carry_out(uow, c.work_order_id, {}, DESK, LATER)

    assert "sku" in refused.value.details["fields"]
    assert session.scalar(select(func.count()).select_from(Rma)) == 0
    assert session.scalar(select(func.count()).select_from(OutboundTask)) == 0
