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
from callcenter.audit import AuditEvent
from callcenter.models import Language
from middle_office import jobs, outbound
from middle_office.models import AttemptStatus, OutboundAttempt, OutboundTask, TaskStatus
from middle_office.policy import Policy
from queues.models import AgentState, Post
from queues.presence import create_agent
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
    rt = make_runtime(session_factory, outbound_cps=50)
    rt.telephony_factory = lambda: telephony
    rt.jobs_async = False  # follow-up jobs (hang-ups) run at once, after their commit
    return create_app(runtime=rt)


@pytest.fixture
def middle_agent(session: Session) -> int:
    agent = create_agent(
        session,
        login="huang.li",
        display_name="黄丽",
        posts=[Post.MIDDLE_OFFICE],
        skills={"orders": 4},
        languages=[Language.ZH],
        now=NOW,
    )
    session.commit()
    return agent.id


def make_task(session: Session, policy: Policy, subject_id: int = 1, **kw: Any) -> OutboundTask:
    values: dict[str, Any] = {
        "kind": "order_review",
        "subject_id": subject_id,
        "to_number": CUSTOMER,
        "language": "zh",
        "skill": "orders",
        "now": NOW,
        "policy": policy,
    }
    values.update(kw)
    task = outbound.create_task(session, **values)
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
    attempt = outbound.start_attempt(
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
    outbound.start_attempt(session, task.id, agent_id=middle_agent, now=NOW, policy=policy)
    with pytest.raises(outbound.TaskNotOpen):
        outbound.start_attempt(session, task.id, agent_id=middle_agent, now=NOW, policy=policy)


def test_a_dial_lost_between_claim_and_callsid_is_reconciled_not_redialled(
    engine_app: Flask,
    session: Session,
    policy: Policy,
    middle_agent: int,
    telephony: RecordingTelephony,
) -> None:
    task = make_task(session, policy)
    attempt = outbound.start_attempt(
        session, task.id, agent_id=middle_agent, now=NOW, policy=policy
    )
    assert outbound.claim_agent_dial(session, attempt.id, now=NOW) is not None
    session.commit()  # the worker died here: claimed, maybe dialled, no CallSid
    with engine_app.app_context():
        jobs.dial_agent(attempt.id)
    assert telephony.placed == []
    later = NOW + outbound.RECONCILE_AFTER + timedelta(seconds=1)
    assert outbound.reconcile(session, now=later, policy=policy) == []
    session.refresh(task)
    assert task.status is TaskStatus.PENDING and task.last_outcome == "dial_unconfirmed"
    assert task.attempts == 0  # it never reached the customer's phone for sure


def test_the_customer_dial_counts_the_attempt_and_no_answer_retries_after_backoff(
    engine_app: Flask,
    session: Session,
    policy: Policy,
    middle_agent: int,
    telephony: RecordingTelephony,
) -> None:
    task = make_task(session, policy)
    attempt = outbound.start_attempt(
        session, task.id, agent_id=middle_agent, now=NOW, policy=policy
    )
    session.commit()
    with engine_app.app_context():
        jobs.dial_agent(attempt.id)
        session.expire_all()
        assert outbound.agent_answered(session, attempt.id, AGENT_LEG, now=NOW)
        session.commit()
        jobs.dial_customer(attempt.id)
        jobs.dial_customer(attempt.id)
    assert [p["to"] for p in telephony.placed][1:] == [CUSTOMER]
    session.expire_all()
    leg = outbound.customer_leg_ended(session, attempt.id, "no-answer", now=NOW, policy=policy)
    assert leg == AGENT_LEG  # the agent's leg is hung up
    session.refresh(task)
    assert (task.status, task.attempts, task.last_outcome) == (TaskStatus.PENDING, 1, "no_answer")
    assert task.next_attempt_at == NOW + timedelta(minutes=15)
    with pytest.raises(outbound.NotDue):
        outbound.start_attempt(session, task.id, agent_id=middle_agent, now=NOW, policy=policy)


def test_a_do_not_call_number_is_never_dialled(
    engine_app: Flask,
    session: Session,
    policy: Policy,
    middle_agent: int,
    telephony: RecordingTelephony,
) -> None:
    outbound.add_do_not_call(session, CUSTOMER, reason="asked", actor="test", now=NOW)
    task = make_task(session, policy)
    assert task.status is TaskStatus.BLOCKED
    with pytest.raises(outbound.TaskNotOpen):
        outbound.start_attempt(session, task.id, agent_id=middle_agent, now=NOW, policy=policy)
    assert telephony.placed == []


def test_a_number_listed_while_the_agent_rings_is_not_dialled(
    engine_app: Flask,
    session: Session,
    policy: Policy,
    middle_agent: int,
    telephony: RecordingTelephony,
) -> None:
    task = make_task(session, policy)
    attempt = outbound.start_attempt(
        session, task.id, agent_id=middle_agent, now=NOW, policy=policy
    )
    session.commit()
    with engine_app.app_context():
        jobs.dial_agent(attempt.id)
        session.expire_all()
        outbound.agent_answered(session, attempt.id, AGENT_LEG, now=NOW)
        outbound.add_do_not_call(session, CUSTOMER, reason="asked", actor="test", now=NOW)
        session.commit()
        jobs.dial_customer(attempt.id)
    assert [p["to"] for p in telephony.placed if p["to"] == CUSTOMER] == []
    assert telephony.hung_up == [AGENT_LEG]
    session.refresh(task)
    assert task.status is TaskStatus.BLOCKED


def test_calls_are_refused_outside_calling_hours(
    session: Session, policy: Policy, middle_agent: int
) -> None:
    late = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai
    task = make_task(session, policy, now=late)
    assert task.next_attempt_at == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    with pytest.raises(outbound.NotDue):
        outbound.start_attempt(session, task.id, agent_id=middle_agent, now=late, policy=policy)
    task.next_attempt_at = late
    with pytest.raises(outbound.OutsideCallingHours):
        outbound.start_attempt(session, task.id, agent_id=middle_agent, now=late, policy=policy)


def test_outcomes_close_or_reschedule_and_are_audited(
    session: Session, policy: Policy, middle_agent: int
) -> None:
    task = make_task(session, policy)
    attempt = outbound.start_attempt(
        session, task.id, agent_id=middle_agent, now=NOW, policy=policy
    )
    attempt.status = AttemptStatus.ENDED
    with pytest.raises(outbound.BadOutcome):
        outbound.record_outcome(
            session,
            task.id,
            agent_id=middle_agent,
            actor="huang.li",
            outcome="dial_unconfirmed",
            notes="",
            now=NOW,
            policy=policy,
        )
    outbound.record_outcome(
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
    actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[-1] == "outbound.outcome" and "outbound.attempt_started" in actions


def test_a_queue_callback_keeps_its_place_and_priority_and_dials_itself(
    session: Session,
    policy: Policy,
) -> None:
    front = create_agent(
        session,
        login="li.na",
        display_name="李娜",
        posts=[Post.FRONT_DESK],
        skills={"general": 3},
        languages=[Language.ZH],
        now=NOW,
    )
    early = outbound.plan_queue_callback(
        session,
        entry_id=7,
        to_number="+8613800000007",
        skill="general",
        language="zh",
        priority=10,
        enqueued_at=NOW - timedelta(minutes=9),
        customer_id=None,
        now=NOW,
        policy=policy,
    )
    vip = outbound.plan_queue_callback(
        session,
        entry_id=8,
        to_number="+8613800000008",
        skill="general",
        language="zh",
        priority=50,
        enqueued_at=NOW - timedelta(minutes=1),
        customer_id=None,
        now=NOW,
        policy=policy,
    )
    late = outbound.plan_queue_callback(
        session,
        entry_id=9,
        to_number="+8613800000009",
        skill="general",
        language="zh",
        priority=10,
        enqueued_at=NOW - timedelta(minutes=5),
        customer_id=None,
        now=NOW,
        policy=policy,
    )
    assert [t.id for t in outbound.work_list(session, front.id)] == [vip.id, early.id, late.id]
    assert outbound.auto_starts(session, now=NOW, policy=policy) == []  # the agent is offline
    front.state = AgentState.AVAILABLE
    session.flush()
    started = outbound.auto_starts(session, now=NOW, policy=policy)
    assert len(started) == 1 and session.get(OutboundAttempt, started[0]).task_id == vip.id  # type: ignore[union-attr]
    other = create_agent(
        session,
        login="wang.wei",
        display_name="王伟",
        posts=[Post.FRONT_DESK],
        skills={"general": 2},
        languages=[Language.ZH],
        now=NOW,
    )
    other.state = AgentState.AVAILABLE
    session.flush()
    (second,) = outbound.auto_starts(session, now=NOW, policy=policy)  # li.na is busy now
    attempt = session.get(OutboundAttempt, second)
    assert attempt is not None and attempt.task_id == early.id and attempt.agent_id == other.id
