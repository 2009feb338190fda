"""The work-order callback is a task kind of the one outbound engine: planned once per
department reply, assigned to the owner or, when they are away, to their group (their team);
its reaches and misses go into the timeline; the agent's outcome closes the work order with a
resolution code or reopens it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from outbound import kinds, outcomes
from outbound import tasks as outbound_tasks
from outbound.models import AttemptStatus, OutboundAttempt, OutboundTask, TaskStatus
from outbound.policy import Policy
from outbound.scheduling import Candidate
from queues.models import Agent, AgentState, Post
from tests.conftest import NOW
from tests.work_orders.passing import actor_of, agent, customer, department_user, passed
from work_orders import callbacks, department, timeline
from work_orders.callbacks import Assignee, choose_callback_agent
from work_orders.models import WorkOrder, WorkOrderStatus

LATER = NOW + timedelta(minutes=30)
FRONT = frozenset({Post.FRONT_DESK.value})


def member(agent_id: int, state: str = "available", load: int = 0) -> Candidate:
    return Candidate(agent_id, FRONT, {"general": 3}, frozenset({"zh"}), state, load)


def replied(session: Session, wo: WorkOrder) -> OutboundTask:
    gao = actor_of(department_user(session))
    department.reply(
        session, wo, "已补发 a new screen is on its way", who=gao, now=LATER, calling=Policy()
    )
    return session.query(OutboundTask).one()


def test_the_kind_is_the_front_desks_and_worked_by_click_to_call() -> None:
    kind = kinds.kind_of("work_order_callback")
    assert (kind.post, kind.routed, kind.automated, kind.subject_type) == (
        Post.FRONT_DESK,
        False,
        False,
        "work_order",
    )


@pytest.mark.parametrize(
    ("owner_state", "group", "expected"),
    [
        ("available", [member(2)], Assignee(1, "owner")),
        ("wrap_up", [member(2)], Assignee(1, "owner")),
        ("offline", [member(2, load=3), member(3, load=1)], Assignee(3, "group")),
        ("break", [member(2, "offline"), member(3, "break", load=5)], Assignee(3, "group")),
        (
            "break",
            [member(2, "offline", load=1), member(3, "available", load=9)],
            Assignee(3, "group"),
        ),
        ("offline", [], Assignee(None, "nobody")),
    ],
)
def test_the_owner_gets_the_callback_unless_away_then_their_group(
    owner_state: str, group: list[Candidate], expected: Assignee
) -> None:
    assert choose_callback_agent(1, "zh", [member(1, owner_state), *group]) == expected


def test_a_reply_plans_the_owners_callback_with_the_customers_number(session: Session) -> None:
    owner = agent(session, "li.na", "front-a")
    agent(session, "wang.wei", "front-a")
    wo = passed(session, owner)

    task = replied(session, wo)

    assert (task.kind, task.subject_id, task.agent_id) == ("work_order_callback", wo.id, owner.id)
    assert task.to_number == "+8613800138000" and task.status is TaskStatus.PENDING
    planned = timeline.timeline_of(session, wo)[-1]
    assert (planned.kind, planned.data["task_id"], planned.data["to"]) == (
        "callback",
        task.id,
        "owner",
    )


def test_an_away_owners_callback_goes_to_their_team_not_another(session: Session) -> None:
    owner = agent(session, "li.na", "front-a", state=AgentState.BREAK)
    agent(session, "zhao.lei", "front-b")  # free, but another team
    mate = agent(session, "wang.wei", "front-a")

    task = replied(session, passed(session, owner))

    assert task.agent_id == mate.id
    assert (
        timeline.timeline_of(session, session.get(WorkOrder, task.subject_id))[-1].data["to"]
        == "group"
    )


def test_a_number_on_the_do_not_call_list_blocks_the_callback(session: Session) -> None:
    owner = agent(session, "li.na", "front-a")
    outbound_tasks.add_do_not_call(session, "+8613800138000", reason="asked", actor="x", now=NOW)
    task = replied(session, passed(session, owner))
    assert task.status is TaskStatus.BLOCKED
    missed = timeline.timeline_of(session, session.get(WorkOrder, task.subject_id))
    assert any(e.kind == "call" and e.data["reached"] is False for e in missed)


def test_no_number_no_task_and_the_timeline_says_why(session: Session) -> None:
    owner = agent(session, "li.na", "front-a")
    wo = passed(session, owner, who=customer(session, phone=None))
    gao = actor_of(department_user(session))
    department.reply(session, wo, "answer", who=gao, now=LATER, calling=Policy())
    assert session.query(OutboundTask).count() == 0
    assert timeline.timeline_of(session, wo)[-1].data["planned"] is False


def reach(session: Session, task: OutboundTask, agent_id: int) -> OutboundAttempt:
    """A talk that took place: the attempt reached the customer and the agent's leg ended."""
    task.status = TaskStatus.CALLING
    attempt = OutboundAttempt(
        task_id=task.id,
        agent_id=agent_id,
        status=AttemptStatus.ENDED,
        created_at=LATER,
        ended_at=LATER,
    )
    session.add(attempt)
    session.flush()
    kinds.subject_of(task).reached(session, task, attempt, LATER)
    return attempt


@pytest.mark.parametrize(
    ("satisfied", "status", "code"),
    [("yes", WorkOrderStatus.CLOSED, "answered"), ("no", WorkOrderStatus.WITH_DEPARTMENT, None)],
)
def test_the_outcome_closes_with_a_code_or_reopens(
    session: Session, satisfied: str, status: WorkOrderStatus, code: str | None
) -> None:
    owner = agent(session, "li.na", "front-a")
    wo = passed(session, owner)
    task = replied(session, wo)
    reach(session, task, owner.id)
    verdict = callbacks.parse_verdict({"outcome": "reached_resolved", "satisfied": satisfied})

    outcomes.record_outcome(
        session,
        task.id,
        agent_id=owner.id,
        actor="li.na",
        outcome=verdict.outcome,
        notes="",
        now=LATER,
        policy=Policy(),
    )
    callbacks.conclude(session, task, verdict, agent_id=owner.id, author="li.na", now=LATER)
    callbacks.conclude(session, task, verdict, agent_id=owner.id, author="li.na", now=LATER)

    assert task.status is TaskStatus.DONE
    assert (wo.status, wo.resolution_code) == (status, code)
    calls = [e.data["reached"] for e in timeline.timeline_of(session, wo) if e.kind == "call"]
    assert calls == [True]
    moves = [e.data["event"] for e in timeline.timeline_of(session, wo) if e.kind == "status"]
    assert moves == ["pass", "reply", "close" if satisfied == "yes" else "reopen"]


def test_the_departments_resolution_code_is_used_when_the_agent_gives_none(
    session: Session,
) -> None:
    owner = agent(session, "li.na", "front-a")
    wo = passed(session, owner)
    gao = actor_of(department_user(session))
    department.resolve(
        session, wo, "replaced", "replacement_sent", who=gao, now=LATER, calling=Policy()
    )
    task = session.query(OutboundTask).one()
    reach(session, task, owner.id)
    outcomes.record_outcome(
        session,
        task.id,
        agent_id=owner.id,
        actor="li.na",
        outcome="reached_resolved",
        notes="",
        now=LATER,
        policy=Policy(),
    )
    verdict = callbacks.parse_verdict({"outcome": "reached_resolved", "satisfied": "yes"})
    callbacks.conclude(session, task, verdict, agent_id=owner.id, author="li.na", now=LATER)
    assert (wo.status, wo.resolution_code) == (WorkOrderStatus.CLOSED, "replacement_sent")


def test_an_unanswered_attempt_is_recorded_not_reached_and_the_order_stays_answered(
    session: Session,
) -> None:
    owner = agent(session, "li.na", "front-a")
    wo = passed(session, owner)
    task = replied(session, wo)
    task.status = TaskStatus.CALLING
    session.flush()
    from outbound.models import Outcome

    outbound_tasks.reschedule(session, task, Outcome.NO_ANSWER, now=LATER, policy=Policy())

    assert task.status is TaskStatus.PENDING and wo.status is WorkOrderStatus.ANSWERED
    missed = [e for e in timeline.timeline_of(session, wo) if e.kind == "call"]
    assert [(e.data["reached"], e.data["outcome"]) for e in missed] == [(False, "no_answer")]


def test_the_verdict_names_each_bad_field() -> None:
    with pytest.raises(callbacks.CallbackInputInvalid) as refused:
        callbacks.parse_verdict({"outcome": "reached_resolved", "resolution_code": "x" * 41})
    assert set(refused.value.details["fields"]) == {"satisfied", "resolution_code"}
    assert callbacks.parse_verdict({"outcome": "no_answer"}).satisfied is None


def test_the_callback_list_shows_the_departments_answer(session: Session) -> None:
    owner = agent(session, "li.na", "front-a")
    wo = passed(session, owner)
    task = replied(session, wo)
    rows = callbacks.callback_rows(session, owner.id)
    assert [(t.id, w.id, a.data["text"] if a else None) for t, w, a in rows] == [
        (task.id, wo.id, "已补发 a new screen is on its way")
    ]
    assert callbacks.callback_rows(session, None, "front-b") == []


def test_a_reopened_work_order_answered_again_gets_a_second_callback(session: Session) -> None:
    owner = agent(session, "li.na", "front-a")
    wo = passed(session, owner)
    first = replied(session, wo)
    reach(session, first, owner.id)
    outcomes.record_outcome(
        session,
        first.id,
        agent_id=owner.id,
        actor="li.na",
        outcome="reached_resolved",
        notes="",
        now=LATER,
        policy=Policy(),
    )
    unhappy = callbacks.parse_verdict(
        {"outcome": "reached_resolved", "satisfied": "no", "notes": "还是不行 still broken"}
    )
    callbacks.conclude(session, first, unhappy, agent_id=owner.id, author="li.na", now=LATER)
    assert wo.status is WorkOrderStatus.WITH_DEPARTMENT
    gao = actor_of(session.scalars(select(Agent).where(Agent.login == "gao.yan")).one())

    department.reply(session, wo, "再换一台 another unit", who=gao, now=LATER, calling=Policy())

    tasks = session.scalars(select(OutboundTask).order_by(OutboundTask.id)).all()
    assert [(t.id == first.id, t.status) for t in tasks] == [
        (True, TaskStatus.DONE),
        (False, TaskStatus.PENDING),
    ]
    rows = callbacks.callback_rows(session, owner.id)
    assert [a.data["text"] for _, _, a in rows if a] == ["再换一台 another unit"]
    reopen = [e for e in timeline.timeline_of(session, wo) if e.kind == "status"][-2]
    assert (reopen.data["event"], reopen.data["note"]) == ("reopen", "还是不行 still broken")
