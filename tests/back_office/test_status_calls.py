"""The RMA status call is a task kind of the one outbound engine: planned once per RMA, worked by
back-office agents, and its closing (reached, attempts exhausted, do-not-call) closes a rejected
RMA; a cancelled call or an RMA still being settled stays as it is."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from back_office import review, status_calls
from core.audit import AuditEvent
from core.models import Rma, RmaStatus
from outbound import kinds
from outbound import tasks as outbound_tasks
from outbound.models import OutboundTask, Outcome, TaskStatus
from outbound.policy import Policy
from queues.models import Post
from tests.back_office.reviewing import back_office_agent, in_review, stock_catalogue
from tests.builders import add_agent
from tests.conftest import NOW


@pytest.fixture
def agent_id(session: Session) -> int:
    stock_catalogue(session)
    add_agent(session, "li.na", posts=[Post.FRONT_DESK], skills={"aftersales": 5})
    return back_office_agent(session, "wu.fang", "吴芳").id


def rejected(session: Session, agent_id: int) -> tuple[Rma, OutboundTask]:
    rma = in_review(session, passed=False)
    decision = review.reject(
        session,
        rma.id,
        reason="failed_inspection",
        notes="",
        agent_id=agent_id,
        actor="wu.fang",
        now=NOW,
        calling=Policy(),
    )
    assert decision.task is not None
    return rma, decision.task


def test_the_kind_is_the_back_offices_and_worked_from_its_list() -> None:
    kind = kinds.kind_of("rma_status")
    assert (kind.post, kind.routed, kind.subject_type) == (Post.BACK_OFFICE, False, "rma")
    assert isinstance(kind.subject, status_calls.RmaStatusSubject)


def test_a_status_call_goes_to_a_back_office_agent_once_per_rma(
    session: Session, agent_id: int
) -> None:
    rma, task = rejected(session, agent_id)
    assert task.agent_id == agent_id  # not the front-desk agent with the better skill
    again = status_calls.plan_status_call(session, rma, now=NOW, policy=Policy())
    assert again.id == task.id
    assert [t.id for t in outbound_tasks.work_list(session, agent_id)] == [task.id]
    assert task.to_number == rma.customer.phones[0].e164


@pytest.mark.parametrize("closed", [TaskStatus.DONE, TaskStatus.FAILED])
def test_closing_the_call_closes_the_rejected_rma(
    session: Session, agent_id: int, closed: TaskStatus
) -> None:
    rma, task = rejected(session, agent_id)
    outbound_tasks.close(session, task, closed, NOW)
    assert rma.status is RmaStatus.CLOSED
    audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "rma.closed")).one()
    assert (audit.data["before"], audit.data["after"], audit.data["task_status"]) == (
        "rejected",
        "closed",
        closed.value,
    )


def test_attempts_exhausted_close_the_call_and_the_rma(session: Session, agent_id: int) -> None:
    rma, task = rejected(session, agent_id)
    policy = Policy()
    task.status, task.attempts = TaskStatus.CALLING, task.max_attempts
    session.flush()
    outbound_tasks.reschedule(session, task, Outcome.NO_ANSWER, now=NOW, policy=policy)
    assert task.status is TaskStatus.FAILED
    assert rma.status is RmaStatus.CLOSED


def test_a_retry_keeps_the_rma_rejected(session: Session, agent_id: int) -> None:
    rma, task = rejected(session, agent_id)
    task.status, task.attempts = TaskStatus.CALLING, 1
    session.flush()
    outbound_tasks.reschedule(session, task, Outcome.BUSY, now=NOW, policy=Policy())
    assert task.status is TaskStatus.PENDING and task.next_attempt_at > NOW
    assert rma.status is RmaStatus.REJECTED


def test_a_number_on_the_do_not_call_list_is_never_called_and_the_rma_closes(
    session: Session, agent_id: int
) -> None:
    rma = in_review(session, passed=False)
    number = rma.customer.phones[0].e164
    outbound_tasks.add_do_not_call(session, number, reason="asked", actor="x", now=NOW)
    decision = review.reject(
        session,
        rma.id,
        reason="failed_inspection",
        agent_id=agent_id,
        actor="wu.fang",
        now=NOW,
        calling=Policy(),
    )
    assert decision.task is not None and decision.task.status is TaskStatus.BLOCKED
    assert rma.status is RmaStatus.CLOSED
    assert outbound_tasks.work_list(session, agent_id) == []


def test_a_cancelled_call_leaves_the_rma_rejected(session: Session, agent_id: int) -> None:
    rma, _ = rejected(session, agent_id)
    assert outbound_tasks.cancel_tasks_for(session, "rma", rma.id, now=NOW) == 1
    assert rma.status is RmaStatus.REJECTED


def test_a_call_about_an_rma_in_review_changes_nothing_when_it_closes(
    session: Session, agent_id: int
) -> None:
    rma = in_review(session)
    task = review.call_customer(
        session,
        rma.id,
        why="照片不清楚 photo unclear",
        agent_id=agent_id,
        actor="wu.fang",
        now=NOW,
        calling=Policy(),
    )
    outbound_tasks.close(session, task, TaskStatus.DONE, NOW)
    assert rma.status is RmaStatus.IN_REVIEW
    planned = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "rma.status_call_planned")
    ).one()
    assert (planned.actor_id, planned.data["why"]) == (agent_id, "照片不清楚 photo unclear")


def test_nobody_to_call_is_named(session: Session, agent_id: int) -> None:
    rma = in_review(session)
    rma.customer.phones.clear()
    session.flush()
    with pytest.raises(status_calls.NobodyToCall):
        status_calls.plan_status_call(session, rma, now=NOW, policy=Policy())
