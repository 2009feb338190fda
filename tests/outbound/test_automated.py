"""The engine's automated calls on the test database: dialled by the engine itself with no
agent, once however often the job runs, retried with backoff, only within calling hours,
never to a number on the do-not-call list, and reconciled like the agent's calls."""

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
from callcenter.jobs import outbound_tick
from core.audit import AuditEvent
from outbound import attempts, automated, errors, legs, outcomes, tasks
from outbound.kinds import Line, NoSubject, TaskKind, register
from outbound.models import AttemptStatus, OutboundAttempt, OutboundTask, Outcome, TaskStatus
from outbound.policy import Policy
from outbound.reconcile import Why, stale_attempts
from queues.models import Post
from tests.builders import add_agent
from tests.conftest import NOW
from tests.middle_office.conftest import RecordingTelephony

CUSTOMER = "+8613900139000"
LEG = f"CA{1:032x}"  # the first CallSid the recording telephony hands out


class Closings(NoSubject):
    """Remembers every task state its subject was told about."""

    def __init__(self) -> None:
        self.told: list[tuple[int, str]] = []

    def attempt_over(self, session: Session, task: OutboundTask, attempt: Any, now: Any) -> None:
        self.told.append((task.subject_id, task.status.value))


def _script(session: Session, task: OutboundTask, language: str, machine: bool) -> list[Line]:
    key = "notice_machine_refunded" if machine else "notice_refunded"
    return [Line(key, (("number", str(task.subject_id)), ("amount", "1")))]


SUBJECT = Closings()
NOTICE = register(
    TaskKind(
        "test_notice",
        "test",
        Post.BACK_OFFICE,
        False,
        "Test notice",
        subject=SUBJECT,
        automated=True,
        script=_script,
        queue="returns",
    )
)


@pytest.fixture
def policy() -> Policy:
    return Policy()


@pytest.fixture
def telephony() -> RecordingTelephony:
    return RecordingTelephony()


@pytest.fixture
def engine_app(
    make_runtime: Callable[..., Any],
    session_factory: sessionmaker[Session],
    redis: object,
    telephony: RecordingTelephony,
) -> Flask:
    rt = make_runtime(session_factory, telephony=telephony, jobs_async=False, outbound_cps=50)
    return create_app(runtime=rt)


def make_task(session: Session, policy: Policy, subject_id: int = 1, **kw: Any) -> OutboundTask:
    values: dict[str, Any] = {
        "kind": NOTICE.name,
        "subject_id": subject_id,
        "to_number": CUSTOMER,
        "language": "zh",
        "skill": "returns",
        "now": NOW,
        "policy": policy,
    }
    values.update(kw)
    task = tasks.create_task(session, **values)
    session.commit()
    return task


def attempt_of(session: Session, task_id: int) -> OutboundAttempt:
    found = session.scalar(
        select(OutboundAttempt)
        .where(OutboundAttempt.task_id == task_id)
        .order_by(OutboundAttempt.id.desc())
    )
    assert found is not None
    return found


def test_no_agent_is_assigned_and_click_to_call_is_refused(
    session: Session, policy: Policy
) -> None:
    agent = add_agent(session, "wu.fang", posts=[Post.BACK_OFFICE], skills={"returns": 3})
    task = make_task(session, policy)
    tasks.assign_unassigned(session)
    assert task.agent_id is None and task.status is TaskStatus.PENDING
    with pytest.raises(errors.NotYourTask):
        attempts.start_attempt(session, task.id, agent_id=agent.id, now=NOW, policy=policy)


def test_the_tick_dials_a_due_task_once_however_often_its_job_runs(
    engine_app: Flask, session: Session, policy: Policy, telephony: RecordingTelephony
) -> None:
    task = make_task(session, policy)
    assert automated.due(session, now=NOW) == [task.id]
    with engine_app.app_context():
        outbound_tick.tick()
        jobs.dial_automated(task.id)  # RQ ran it again, or the next tick came first
        outbound_tick.tick()
    assert len(telephony.placed) == 1
    placed = telephony.placed[0]
    assert placed["to"] == CUSTOMER and placed["from_"] == "+864008001234"
    assert placed["machine_detection"] == "DetectMessageEnd"
    assert placed["url"].endswith(
        f"/twilio/outbound/notice?attempt={attempt_of(session, task.id).id}"
    )
    session.expire_all()
    attempt = attempt_of(session, task.id)
    assert attempt.status is AttemptStatus.DIALING_CUSTOMER and attempt.customer_call_sid == LEG
    assert attempt.agent_id is None and attempt.agent_call_sid is None
    row = session.get(OutboundTask, task.id)
    assert row is not None and (row.status, row.attempts) == (TaskStatus.CALLING, 1)


def test_machine_detection_can_be_switched_off(
    make_runtime: Callable[..., Any],
    session_factory: sessionmaker[Session],
    redis: object,
    session: Session,
    policy: Policy,
    telephony: RecordingTelephony,
) -> None:
    rt = make_runtime(
        session_factory, telephony=telephony, outbound_machine_detection=False, outbound_cps=50
    )
    task = make_task(session, policy)
    with create_app(runtime=rt).app_context():
        jobs.dial_automated(task.id)
    assert telephony.placed[0]["machine_detection"] is None


def test_no_answer_is_retried_with_backoff_until_max_attempts_then_fails(
    session: Session, policy: Policy
) -> None:
    task = make_task(session, policy, subject_id=7)
    now = NOW
    for n in range(1, policy.max_attempts + 1):
        dial = automated.claim_dial(session, task.id, now=now, policy=policy)
        assert dial is not None and dial.to == CUSTOMER
        assert automated.claim_dial(session, task.id, now=now, policy=policy) is None
        legs.record_customer_call(session, dial.attempt_id, f"CA{n:032x}")
        assert (
            legs.customer_leg_ended(session, dial.attempt_id, "no-answer", now=now, policy=policy)
            is None
        )
        session.refresh(task)
        assert task.attempts == n and task.last_outcome == "no_answer"
        if n < policy.max_attempts:
            assert task.status is TaskStatus.PENDING
            wait = policy.backoff[min(n, len(policy.backoff)) - 1]
            assert task.next_attempt_at == now + wait  # all within calling hours here
            assert automated.claim_dial(session, task.id, now=now, policy=policy) is None  # not due
            now = task.next_attempt_at
    assert task.status is TaskStatus.FAILED
    assert SUBJECT.told[-1] == (7, "failed")


def test_a_busy_line_counts_and_a_failed_dial_is_an_unanswered_attempt(
    engine_app: Flask, session: Session, policy: Policy, telephony: RecordingTelephony
) -> None:
    from core.telephony import TelephonyRejected

    def refuse(**kwargs: Any) -> Any:
        raise TelephonyRejected("invalid number", status=400)

    task = make_task(session, policy)
    telephony.place_call = refuse  # type: ignore[method-assign]
    with engine_app.app_context():
        jobs.dial_automated(task.id)
    session.expire_all()
    row = session.get(OutboundTask, task.id)
    assert row is not None and (row.status, row.attempts, row.last_outcome) == (
        TaskStatus.PENDING,
        1,
        "no_answer",
    )


def test_outside_calling_hours_the_task_waits_for_the_next_opening(
    engine_app: Flask, session: Session, policy: Policy, telephony: RecordingTelephony
) -> None:
    task = make_task(session, policy)
    night = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    assert automated.claim_dial(session, task.id, now=night, policy=policy) is None
    assert task.status is TaskStatus.PENDING
    assert task.next_attempt_at == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 09:00 next day
    assert automated.due(session, now=night) == []
    assert telephony.placed == []


def test_a_task_created_at_night_is_due_at_the_opening_in_the_customers_zone(
    session: Session, policy: Policy
) -> None:
    night = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
    task = make_task(session, policy, now=night)
    assert task.next_attempt_at == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def test_a_number_on_the_do_not_call_list_is_blocked_and_never_dialled(
    engine_app: Flask, session: Session, policy: Policy, telephony: RecordingTelephony
) -> None:
    listed = make_task(session, policy, subject_id=3)
    tasks.add_do_not_call(session, "+8613900139111", reason="asked", actor="test", now=NOW)
    session.commit()
    blocked = make_task(session, policy, subject_id=4, to_number="+8613900139111")
    assert blocked.status is TaskStatus.BLOCKED and SUBJECT.told[-1] == (4, "blocked")
    # Listed after the task was planned: the claim finds it and blocks the task.
    tasks.add_do_not_call(session, CUSTOMER, reason="asked", actor="test", now=NOW)
    session.commit()
    with engine_app.app_context():
        jobs.dial_automated(listed.id)
        jobs.dial_automated(blocked.id)
    assert telephony.placed == []
    session.expire_all()
    assert session.get(OutboundTask, listed.id).status is TaskStatus.BLOCKED  # type: ignore[union-attr]


def test_a_claim_whose_callsid_never_came_is_reconciled_and_retried_as_a_new_attempt(
    engine_app: Flask, session: Session, policy: Policy, telephony: RecordingTelephony
) -> None:
    task = make_task(session, policy)
    dial = automated.claim_dial(session, task.id, now=NOW, policy=policy)
    assert dial is not None
    session.commit()  # the worker died here: claimed, maybe dialled, no CallSid
    with engine_app.app_context():
        jobs.dial_automated(task.id)  # its retry
    assert telephony.placed == []
    later = NOW + outcomes.RECONCILE_AFTER + timedelta(seconds=1)
    repairs = outcomes.reconcile(session, now=later, policy=policy)
    assert repairs.redial == [] and repairs.follow.hang_up == []
    session.refresh(task)
    lost = session.get(OutboundAttempt, dial.attempt_id)
    assert lost is not None and lost.status is AttemptStatus.ENDED
    assert lost.outcome == "dial_unconfirmed" and task.status is TaskStatus.PENDING
    session.commit()
    with engine_app.app_context():
        jobs.dial_automated(task.id)  # too early: a minute later
        assert telephony.placed == []
    assert automated.due(session, now=later + timedelta(minutes=1)) == [task.id]


def test_heard_to_the_end_is_done_and_hung_up_early_is_retried(
    session: Session, policy: Policy
) -> None:
    heard, early = (
        make_task(session, policy, subject_id=11),
        make_task(session, policy, subject_id=12),
    )
    for task, sid in ((heard, f"CA{11:032x}"), (early, f"CA{12:032x}")):
        dial = automated.claim_dial(session, task.id, now=NOW, policy=policy)
        assert dial is not None
        legs.record_customer_call(session, dial.attempt_id, sid)
        assert (
            automated.answered(session, dial.attempt_id, sid, answered_by="human", now=NOW)
            is automated.Answer.PERSON
        )
        # Twilio repeats the answer webhook: the same answer, nothing moves twice.
        assert (
            automated.answered(session, dial.attempt_id, sid, answered_by="human", now=NOW)
            is automated.Answer.PERSON
        )
    assert automated.heard(session, attempt_of(session, heard.id).id, now=NOW)
    for task in (heard, early):
        legs.customer_leg_ended(
            session, attempt_of(session, task.id).id, "completed", now=NOW, policy=policy
        )
        legs.customer_leg_ended(
            session, attempt_of(session, task.id).id, "completed", now=NOW, policy=policy
        )
    assert (heard.status, heard.last_outcome) == (TaskStatus.DONE, "reached_resolved")
    assert (early.status, early.last_outcome) == (TaskStatus.PENDING, "hung_up_early")
    assert early.next_attempt_at == NOW + policy.backoff[0]
    assert (11, "done") in SUBJECT.told
    actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions.count("outbound.notice_heard") == 1 and "outbound.answered" in actions


@pytest.mark.parametrize(
    ("answered_by", "answer", "status", "outcome"),
    [
        ("machine_end_beep", automated.Answer.MACHINE, TaskStatus.DONE, Outcome.REACHED_MACHINE),
        ("machine_start", automated.Answer.MACHINE, TaskStatus.DONE, Outcome.REACHED_MACHINE),
        ("fax", automated.Answer.NOBODY, TaskStatus.FAILED, Outcome.WRONG_NUMBER),
    ],
)
def test_a_machine_takes_the_message_and_closes_the_task_a_fax_is_a_wrong_number(
    session: Session,
    policy: Policy,
    answered_by: str,
    answer: automated.Answer,
    status: TaskStatus,
    outcome: Outcome,
) -> None:
    task = make_task(session, policy)
    dial = automated.claim_dial(session, task.id, now=NOW, policy=policy)
    assert dial is not None
    assert (
        automated.answered(session, dial.attempt_id, LEG, answered_by=answered_by, now=NOW)
        is answer
    )
    assert automated.script_of(session, dial.attempt_id, "zh", machine=True)[0].key == (
        "notice_machine_refunded"
    )
    legs.customer_leg_ended(session, dial.attempt_id, "completed", now=NOW, policy=policy)
    assert (task.status, task.last_outcome) == (status, outcome.value)


def test_a_lost_final_callback_of_a_connected_automated_call_is_found_for_reconciling(
    session: Session, policy: Policy
) -> None:
    task = make_task(session, policy)
    dial = automated.claim_dial(session, task.id, now=NOW, policy=policy)
    assert dial is not None
    legs.record_customer_call(session, dial.attempt_id, LEG)
    automated.answered(session, dial.attempt_id, LEG, answered_by="human", now=NOW)
    soon = stale_attempts(
        session,
        now=NOW + timedelta(minutes=5),
        customer_ring_timeout_s=30,
        max_call_s=3600,
        grace_s=60,
    )
    assert soon == []
    found = stale_attempts(
        session,
        now=NOW + timedelta(hours=2),
        customer_ring_timeout_s=30,
        max_call_s=3600,
        grace_s=60,
    )
    assert [(s.attempt_id, s.customer_leg, s.why) for s in found] == [
        (dial.attempt_id, LEG, Why.PAST_MAX_CALL)
    ]


def test_a_ringing_automated_call_whose_final_callback_was_lost_is_found(
    session: Session, policy: Policy
) -> None:
    task = make_task(session, policy)
    dial = automated.claim_dial(session, task.id, now=NOW, policy=policy)
    assert dial is not None
    legs.record_customer_call(session, dial.attempt_id, LEG)
    found = stale_attempts(
        session,
        now=NOW + timedelta(minutes=3),
        customer_ring_timeout_s=30,
        max_call_s=3600,
        grace_s=60,
    )
    assert [(s.customer_leg, s.why) for s in found] == [(LEG, Why.CUSTOMER_RINGING)]
    # The reconciling duty applies Twilio's answer through the webhook's own service.
    legs.customer_leg_ended(
        session, dial.attempt_id, "no-answer", now=NOW + timedelta(minutes=3), policy=policy
    )
    assert (task.status, task.last_outcome) == (TaskStatus.PENDING, "no_answer")


def test_an_automated_kind_needs_a_script() -> None:
    with pytest.raises(ValueError, match="needs a script"):
        TaskKind("bad", "x", Post.BACK_OFFICE, False, "Bad", automated=True)
