"""The outbound engine on the test database: claims, never dialling twice, do-not-call,
calling hours, outcomes and retries, queue callbacks as a task kind, and reconciliation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.app import create_app
from callcenter.jobs import outbound as jobs
from core.audit import AuditEvent
from middle_office.review_calls import ORDER_REVIEW
from outbound import attempts, errors, legs, outcomes, tasks
from outbound.models import AttemptStatus, OutboundAttempt, OutboundTask, TaskStatus
from outbound.policy import Policy
from queues.models import Actor, Agent, AgentState, Post
from queues.presence import change_state
from tests.builders import add_agent
from tests.conftest import NOW
from tests.middle_office.conftest import RecordingTelephony

CUSTOMER = "+8613900139000"
AGENT_LEG = f"CA{1:032x}"  # the first CallSid the recording telephony hands out


@pytest.fixture
def engine_app(
    make_runtime: Callable[..., Any],
    session_factory: sessionmaker[Session],
    redis: object,
    telephony: RecordingTelephony,
) -> Flask:
    # follow-up jobs (hang-ups) run at once, after their commit
    rt = make_runtime(session_factory, telephony=telephony, jobs_async=False, outbound_cps=50)
    return create_app(runtime=rt)


@pytest.fixture
def middle_agent(session: Session) -> int:
    agent = add_agent(
        session, "huang.li", display_name="黄丽", posts=[Post.MIDDLE_OFFICE], skills={"orders": 4}
    )
    change_state(session, agent.id, AgentState.AVAILABLE, reason=None, actor=Actor.AGENT, now=NOW)
    session.commit()
    return agent.id


def state_of(session: Session, agent_id: int) -> AgentState:
    agent = session.get(Agent, agent_id, populate_existing=True)
    assert agent is not None
    return agent.state


def make_task(session: Session, policy: Policy, subject_id: int = 1, **kw: Any) -> OutboundTask:
    values: dict[str, Any] = {
        "kind": ORDER_REVIEW.name,  # imported: its module registers the kind
        "subject_id": subject_id,
        "to_number": CUSTOMER,
        "language": "zh",
        "skill": "orders",
        "now": NOW,
        "policy": policy,
    }
    values.update(kw)
    task = tasks.create_task(session, **values)
    session.commit()
    return task


def test_a_task_is_assigned_to_the_eligible_agent_and_created_once(
    session: Session, policy: Policy, middle_agent: int
) -> None:
    task = make_task(session, policy)
    again = make_task(session, policy)
    assert again.id == task.id and task.agent_id == middle_agent
    assert task.timezone == "Asia/Shanghai" and task.next_attempt_at == NOW


def test_a_retried_dial_job_never_dials_twice(
    engine_app: Flask,
    session: Session,
    policy: Policy,
    middle_agent: int,
    telephony: RecordingTelephony,
) -> None:
    task = make_task(session, policy)
    attempt = attempts.start_attempt(
        session, task.id, agent_id=middle_agent, now=NOW, policy=policy
    )
    session.commit()
    with engine_app.app_context():
        jobs.dial_agent(attempt.id)
        jobs.dial_agent(attempt.id)  # RQ ran it again
    assert len(telephony.placed) == 1
    placed = telephony.placed[0]
    assert placed["to"].startswith("client:")
    assert placed["from_"] == "+864008001234" and placed["record"] is True
    session.expire_all()
    row = session.get(OutboundAttempt, attempt.id)
    assert row is not None and row.status is AttemptStatus.DIALING_AGENT and row.agent_call_sid


def test_two_clicks_make_one_attempt(session: Session, policy: Policy, middle_agent: int) -> None:
    task = make_task(session, policy)
    attempts.start_attempt(session, task.id, agent_id=middle_agent, now=NOW, policy=policy)
    with pytest.raises(errors.TaskNotOpen):
        attempts.start_attempt(session, task.id, agent_id=middle_agent, now=NOW, policy=policy)


def test_a_dial_lost_between_claim_and_callsid_is_reconciled_not_redialled(
    engine_app: Flask,
    session: Session,
    policy: Policy,
    middle_agent: int,
    telephony: RecordingTelephony,
) -> None:
    task = make_task(session, policy)
    attempt = attempts.start_attempt(
        session, task.id, agent_id=middle_agent, now=NOW, policy=policy
    )
    assert legs.claim_agent_dial(session, attempt.id, now=NOW) is not None
    session.commit()  # the worker died here: claimed, maybe dialled, no CallSid
    with engine_app.app_context():
        jobs.dial_agent(attempt.id)
    assert telephony.placed == []
    later = NOW + outcomes.RECONCILE_AFTER + timedelta(seconds=1)
    redial, follow, _ = outcomes.reconcile(session, now=later, policy=policy)
    assert redial == []
    session.refresh(task)
    assert task.status is TaskStatus.PENDING and task.last_outcome == "dial_unconfirmed"
    assert task.attempts == 0  # it never reached the customer's phone for sure
    # The agent, reserved for a call that never rang, is free again (and back in the pool).
    assert state_of(session, middle_agent) is AgentState.AVAILABLE
    assert follow.publish == [middle_agent] and follow.route_agents == [middle_agent]


def test_a_customer_dial_lost_after_the_agent_answered_is_dialled_by_the_tick(
    engine_app: Flask,
    session: Session,
    policy: Policy,
    middle_agent: int,
    telephony: RecordingTelephony,
) -> None:
    """The agent answers, and the dial_customer job is lost (its worker or Redis died): the
    agent would wait in the conference for nobody. The tick, once the job is plainly lost,
    dials the customer; a late run of the lost job dials nobody a second time."""
    task = make_task(session, policy)
    attempt = attempts.start_attempt(
        session, task.id, agent_id=middle_agent, now=NOW, policy=policy
    )
    session.commit()
    with engine_app.app_context():
        jobs.dial_agent(attempt.id)
    assert legs.agent_answered(session, attempt.id, AGENT_LEG, now=NOW)
    session.commit()  # the dial_customer job enqueued now is lost
    soon = NOW + timedelta(seconds=legs.AGENT_RING_TIMEOUT_S)
    assert outcomes.reconcile(session, now=soon, policy=policy).dial_customers == []
    later = NOW + outcomes.CUSTOMER_DIAL_LOST_AFTER + timedelta(seconds=1)
    repairs = outcomes.reconcile(session, now=later, policy=policy)
    assert repairs.dial_customers == [attempt.id] and repairs.redial == []
    with engine_app.app_context():
        jobs.dial_customer(attempt.id)
        jobs.dial_customer(attempt.id)  # the lost job turns up after all
    assert [call["to"] for call in telephony.placed[1:]] == [CUSTOMER]
    session.expire_all()
    assert outcomes.reconcile(session, now=later, policy=policy).dial_customers == []


def test_an_agent_leg_whose_status_never_came_ends_unanswered(
    engine_app: Flask,
    session: Session,
    policy: Policy,
    middle_agent: int,
    telephony: RecordingTelephony,
) -> None:
    task = make_task(session, policy)
    attempt = attempts.start_attempt(
        session, task.id, agent_id=middle_agent, now=NOW, policy=policy
    )
    session.commit()
    with engine_app.app_context():
        jobs.dial_agent(attempt.id)  # placed; its status callbacks are lost
    session.expire_all()
    soon = NOW + outcomes.RECONCILE_AFTER
    assert outcomes.reconcile(session, now=soon, policy=policy)[1].hang_up == []  # may ring
    later = soon + timedelta(seconds=legs.AGENT_RING_TIMEOUT_S + 1)
    redial, follow, _ = outcomes.reconcile(session, now=later, policy=policy)
    assert redial == [] and follow.hang_up == [AGENT_LEG]
    agent = session.get(Agent, middle_agent, populate_existing=True)
    assert agent is not None and (agent.state, agent.state_reason) == (AgentState.BREAK, "missed")
    session.refresh(task)
    assert task.status is TaskStatus.PENDING and task.last_outcome == "agent_unreachable"


def test_the_customer_dial_counts_the_attempt_and_no_answer_retries_after_backoff(
    engine_app: Flask,
    session: Session,
    policy: Policy,
    middle_agent: int,
    telephony: RecordingTelephony,
) -> None:
    task = make_task(session, policy)
    attempt = attempts.start_attempt(
        session, task.id, agent_id=middle_agent, now=NOW, policy=policy
    )
    session.commit()
    assert state_of(session, middle_agent) is AgentState.RESERVED  # no inbound caller now
    with engine_app.app_context():
        jobs.dial_agent(attempt.id)
        session.expire_all()
        assert legs.agent_answered(session, attempt.id, AGENT_LEG, now=NOW)
        session.commit()
        assert state_of(session, middle_agent) is AgentState.ON_CALL
        jobs.dial_customer(attempt.id)
        jobs.dial_customer(attempt.id)
    assert [p["to"] for p in telephony.placed][1:] == [CUSTOMER]
    session.expire_all()
    leg = legs.customer_leg_ended(session, attempt.id, "no-answer", now=NOW, policy=policy)
    assert leg == AGENT_LEG  # the agent's leg is hung up
    session.refresh(task)
    assert (task.status, task.attempts, task.last_outcome) == (TaskStatus.PENDING, 1, "no_answer")
    assert task.next_attempt_at == NOW + timedelta(minutes=15)
    assert state_of(session, middle_agent) is AgentState.ON_CALL  # until the leg has ended
    legs.agent_leg_ended(session, attempt.id, "completed", now=NOW, policy=policy)
    assert state_of(session, middle_agent) is AgentState.WRAP_UP
    with pytest.raises(errors.NotDue):
        attempts.start_attempt(session, task.id, agent_id=middle_agent, now=NOW, policy=policy)


def test_a_do_not_call_number_is_never_dialled(
    engine_app: Flask,
    session: Session,
    policy: Policy,
    middle_agent: int,
    telephony: RecordingTelephony,
) -> None:
    tasks.add_do_not_call(session, CUSTOMER, reason="asked", actor="test", now=NOW)
    task = make_task(session, policy)
    assert task.status is TaskStatus.BLOCKED
    with pytest.raises(errors.TaskNotOpen):
        attempts.start_attempt(session, task.id, agent_id=middle_agent, now=NOW, policy=policy)
    assert telephony.placed == []


def test_a_number_listed_while_the_agent_rings_is_not_dialled(
    engine_app: Flask,
    session: Session,
    policy: Policy,
    middle_agent: int,
    telephony: RecordingTelephony,
) -> None:
    task = make_task(session, policy)
    attempt = attempts.start_attempt(
        session, task.id, agent_id=middle_agent, now=NOW, policy=policy
    )
    session.commit()
    with engine_app.app_context():
        jobs.dial_agent(attempt.id)
        session.expire_all()
        legs.agent_answered(session, attempt.id, AGENT_LEG, now=NOW)
        tasks.add_do_not_call(session, CUSTOMER, reason="asked", actor="test", now=NOW)
        session.commit()
        jobs.dial_customer(attempt.id)
    assert [p["to"] for p in telephony.placed if p["to"] == CUSTOMER] == []
    assert telephony.hung_up == [AGENT_LEG]
    session.refresh(task)
    assert task.status is TaskStatus.BLOCKED


def test_an_agent_who_is_not_available_cannot_start_a_call(
    session: Session, policy: Policy, middle_agent: int
) -> None:
    task = make_task(session, policy)
    change_state(
        session, middle_agent, AgentState.BREAK, reason="lunch", actor=Actor.AGENT, now=NOW
    )
    with pytest.raises(errors.AgentNotAvailable):
        attempts.start_attempt(session, task.id, agent_id=middle_agent, now=NOW, policy=policy)


def test_an_agent_leg_never_answered_puts_the_agent_on_break_missed(
    session: Session, policy: Policy, middle_agent: int
) -> None:
    task = make_task(session, policy)
    attempt = attempts.start_attempt(
        session, task.id, agent_id=middle_agent, now=NOW, policy=policy
    )
    legs.agent_leg_ended(session, attempt.id, "no-answer", now=NOW, policy=policy)
    agent = session.get(Agent, middle_agent)
    assert agent is not None and (agent.state, agent.state_reason) == (AgentState.BREAK, "missed")
    session.refresh(task)
    assert task.status is TaskStatus.PENDING and task.attempts == 0  # not counted


def test_calls_are_refused_outside_calling_hours(
    session: Session, policy: Policy, middle_agent: int
) -> None:
    late = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai
    task = make_task(session, policy, now=late)
    assert task.next_attempt_at == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    with pytest.raises(errors.NotDue):
        attempts.start_attempt(session, task.id, agent_id=middle_agent, now=late, policy=policy)
    task.next_attempt_at = late
    with pytest.raises(errors.OutsideCallingHours):
        attempts.start_attempt(session, task.id, agent_id=middle_agent, now=late, policy=policy)
    assert task.next_attempt_at == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # moved on


def test_outcomes_close_or_reschedule_and_are_audited(
    session: Session, policy: Policy, middle_agent: int
) -> None:
    task = make_task(session, policy)
    attempt = attempts.start_attempt(
        session, task.id, agent_id=middle_agent, now=NOW, policy=policy
    )
    legs.claim_agent_dial(session, attempt.id, now=NOW)
    assert legs.agent_answered(session, attempt.id, AGENT_LEG, now=NOW)
    assert legs.claim_customer_dial(session, attempt.id, now=NOW, policy=policy)
    assert legs.customer_answered(session, attempt.id, f"CA{2:032x}", now=NOW)
    legs.agent_leg_ended(session, attempt.id, "completed", now=NOW, policy=policy)
    assert state_of(session, middle_agent) is AgentState.WRAP_UP
    with pytest.raises(errors.BadOutcome):
        outcomes.record_outcome(
            session,
            task.id,
            agent_id=middle_agent,
            actor="huang.li",
            outcome="dial_unconfirmed",
            notes="",
            now=NOW,
            policy=policy,
        )
    outcomes.record_outcome(
        session,
        task.id,
        agent_id=middle_agent,
        actor="huang.li",
        outcome="wrong_number",
        notes="空号",
        now=NOW,
        policy=policy,
    )
    assert task.status is TaskStatus.FAILED and task.attempt_rows[0].notes == "空号"
    assert state_of(session, middle_agent) is AgentState.AVAILABLE  # the outcome ends wrap-up
    actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[-1] == "outbound.outcome" and "outbound.attempt_started" in actions
