"""The work order's foundation: opened once per client key, its timeline, and the state
machine's compare-and-set moves (an illegal move changes nothing and names the state)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tests.conftest import NOW
from work_orders import states, timeline
from work_orders.models import WorkOrder, WorkOrderEvent, WorkOrderStatus

LATER = NOW + timedelta(minutes=5)


def opened(session: Session, key: str | None = "wrap-up:1") -> timeline.Opened:
    return timeline.open_work_order(
        session,
        client_key=key,
        category="product_quality",
        description="屏幕碎了",
        author_id=None,
        author="li.na",
        now=NOW,
        department="aftersales-a",
        priority=timeline.priority_for(None),
    )


def test_a_submission_opens_one_work_order_with_its_number_and_created_event(
    session: Session,
) -> None:
    first = opened(session)
    again = opened(session)

    assert first.created and not again.created
    assert again.work_order.id == first.work_order.id
    assert first.work_order.number == f"WO{NOW:%y%m%d}{first.work_order.id:06d}"
    assert session.scalar(select(func.count()).select_from(WorkOrder)) == 1
    kinds = [e.kind for e in timeline.timeline_of(session, first.work_order)]
    assert kinds == ["created"]


def test_without_a_client_key_each_submission_is_a_work_order(session: Session) -> None:
    assert opened(session, None).work_order.id != opened(session, None).work_order.id


def test_a_move_is_written_into_the_timeline_with_before_and_after(session: Session) -> None:
    wo = opened(session).work_order

    before = states.move(session, wo, "pass", author_id=None, author="li.na", now=LATER)

    assert before is WorkOrderStatus.OPEN and wo.status is WorkOrderStatus.WITH_DEPARTMENT
    assert wo.updated_at == LATER
    status = timeline.timeline_of(session, wo)[-1]
    assert (status.kind, status.data) == (
        "status",
        {"event": "pass", "before": "open", "after": "with_department"},
    )


def test_an_illegal_move_names_the_state_and_changes_nothing(session: Session) -> None:
    wo = opened(session).work_order
    events = len(timeline.timeline_of(session, wo))

    with pytest.raises(states.IllegalMove) as refused:
        states.move(session, wo, "claim", author_id=None, author="gao.yan", now=LATER)

    assert refused.value.details["status"] == "open"
    assert refused.value.details["allowed"] == ["pass", "close"]
    assert wo.status is WorkOrderStatus.OPEN
    assert len(timeline.timeline_of(session, wo)) == events


def test_a_move_over_a_stale_read_loses_to_the_one_committed_first(session: Session) -> None:
    wo = opened(session).work_order
    states.move(session, wo, "pass", author_id=None, author="li.na", now=NOW)
    # Another department user claims it meanwhile (another transaction: only the row changes).
    session.execute(
        update(WorkOrder)
        .where(WorkOrder.id == wo.id)
        .values(status=WorkOrderStatus.IN_PROGRESS)
        .execution_options(synchronize_session=False)
    )

    with pytest.raises(states.IllegalMove) as refused:
        states.move(session, wo, "claim", author_id=None, author="gao.yan", now=LATER)
    assert refused.value.details["status"] == "in_progress"


def test_closing_stamps_closed_at_and_reopening_clears_it(session: Session) -> None:
    wo = opened(session).work_order
    states.move(session, wo, "close", author_id=None, author="li.na", now=LATER)
    assert wo.closed_at == LATER

    states.move(session, wo, "reopen", author_id=None, author="li.na", now=LATER)
    assert wo.status is WorkOrderStatus.WITH_DEPARTMENT and wo.closed_at is None


def test_an_event_with_a_dedupe_key_is_written_once(session: Session) -> None:
    wo = opened(session).work_order
    for _ in range(2):
        timeline.add_event(
            session, wo, "reply", author_id=None, author="gao.yan", now=LATER,
            dedupe_key="api:reply-7", text="换新",
        )  # fmt: skip
    replies = session.scalars(select(WorkOrderEvent).where(WorkOrderEvent.kind == "reply"))
    assert len(list(replies)) == 1


def test_every_new_event_makes_the_work_order_due_for_the_sla_sweep(session: Session) -> None:
    """Whatever service adds an event (a customer's answer ending a pause, a reopen, a
    complaint's step), the sweep looks at the work order on its next run; a check due sooner
    stays sooner."""
    wo = opened(session).work_order
    far, soon = NOW + timedelta(days=3), NOW + timedelta(minutes=1)
    for planned, expected in ((far, LATER), (None, LATER), (soon, soon)):
        session.execute(
            update(WorkOrder)
            .where(WorkOrder.id == wo.id)
            .values(next_check_at=planned)
            .execution_options(synchronize_session=False)
        )
        timeline.add_event(session, wo, "note", author_id=None, author="li.na", now=LATER)
        session.refresh(wo)
        assert wo.next_check_at == expected, planned
