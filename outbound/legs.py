"""The legs of an outbound attempt: the agent's, then the customer's, each dialled with the
two-transaction pattern (STYLE §4.9), and what their status callbacks do.

1. claim and commit: a compare-and-set on the attempt (`queued → dialing_agent`,
   `agent_on → dialing_customer`) stamps the claim time (`claim_agent_dial`,
   `claim_customer_dial`);
2. dial (after the commit, in a job, paced by the CPS token bucket, `outbound.pacing`);
3. record the CallSid in a second transaction (`record_agent_call`, `record_customer_call`).

A retried job finds the attempt already claimed and does nothing: a claim without a CallSid
is reconciled by the tick (`outbound.outcomes.reconcile`), never dialled again.

The agent's presence follows the legs, as for an inbound call: on call when their leg answers
(`agent_answered`), wrap-up when it ends after answering, break "missed" when it was never
answered (`agent_leg_ended`). Every step is a compare-and-set, so a repeated callback changes
nothing. Services flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.db import rowcount
from outbound.attempts import (
    audit_attempt,
    conference_name,
    move_agent,
    move_attempt,
)
from outbound.kinds import kind_of, subject_of
from outbound.models import AttemptStatus, OutboundAttempt, OutboundTask, Outcome, TaskStatus
from outbound.policy import Policy
from outbound.tasks import close, on_do_not_call, reschedule
from queues.models import Agent, AgentState

AGENT_RING_TIMEOUT_S = 30  # how long the agent's leg rings before it counts as unanswered
NOT_ANSWERED = {"no-answer": Outcome.NO_ANSWER, "busy": Outcome.BUSY, "failed": Outcome.NO_ANSWER}


@dataclass(frozen=True, slots=True)
class Dial:
    """A leg to dial after the claim's commit: who, and into which conference."""

    attempt_id: int
    to: str
    task_id: int
    conference: str


def claim_agent_dial(session: Session, attempt_id: int, *, now: datetime) -> Dial | None:
    """Claim the agent's dial (`queued → dialing_agent`); None if already claimed or gone.

    Commit before dialling: a retried job then finds the claim and never dials twice.
    """
    attempt = session.get(OutboundAttempt, attempt_id)
    if attempt is None or attempt.agent_id is None:
        return None
    agent = session.get(Agent, attempt.agent_id)
    if agent is None or not move_attempt(
        session,
        attempt_id,
        AttemptStatus.QUEUED,
        status=AttemptStatus.DIALING_AGENT,
        agent_claimed_at=now,
    ):
        return None
    to = f"client:{agent.client_identity}" if not agent.phone_e164 else agent.phone_e164
    return Dial(attempt_id, to, attempt.task_id, conference_name(attempt_id))


def release_agent_claim(session: Session, attempt_id: int) -> None:
    """Undo a claim whose dial failed transiently (no call was created): a retry may dial."""
    session.execute(
        update(OutboundAttempt)
        .where(
            OutboundAttempt.id == attempt_id,
            OutboundAttempt.status == AttemptStatus.DIALING_AGENT,
            OutboundAttempt.agent_call_sid.is_(None),
        )
        .values(status=AttemptStatus.QUEUED, agent_claimed_at=None)
    )


def record_agent_call(session: Session, attempt_id: int, call_sid: str) -> None:
    """Keep the agent leg's CallSid (the second transaction of the dial). Idempotent."""
    kept = rowcount(
        session.execute(
            update(OutboundAttempt)
            .where(OutboundAttempt.id == attempt_id, OutboundAttempt.agent_call_sid.is_(None))
            .values(agent_call_sid=call_sid)
        )
    )
    if kept:
        attempt = session.get(OutboundAttempt, attempt_id, populate_existing=True)
        assert attempt is not None
        subject_of(attempt.task).agent_leg(session, attempt.task, attempt)


def agent_answered(session: Session, attempt_id: int, call_sid: str, *, now: datetime) -> bool:
    """The agent picked up: `dialing_agent → agent_on`, the agent on call; True if the
    customer is to be dialled."""
    record_agent_call(session, attempt_id, call_sid)
    if not move_attempt(
        session, attempt_id, AttemptStatus.DIALING_AGENT, status=AttemptStatus.AGENT_ON
    ):
        return False
    attempt = session.get(OutboundAttempt, attempt_id)
    assert attempt is not None
    move_agent(session, attempt, AgentState.RESERVED, AgentState.ON_CALL, now=now)
    return True


def claim_customer_dial(
    session: Session, attempt_id: int, *, now: datetime, policy: Policy
) -> Dial | None:
    """Claim the customer's dial (`agent_on → dialing_customer`), counting the attempt.

    Checked again at the last moment: the do-not-call list and calling hours (the agent may
    have taken a while). A refusal ends the attempt and returns None; the caller hangs up
    the agent's leg.
    """
    attempt = session.get(OutboundAttempt, attempt_id)
    if attempt is None or attempt.status is not AttemptStatus.AGENT_ON:
        return None
    task = attempt.task
    blocked = on_do_not_call(session, task.to_number)
    closed = not policy.calling_hours(task.timezone).is_open(now)
    if blocked or closed:
        if move_attempt(
            session, attempt_id, AttemptStatus.AGENT_ON, status=AttemptStatus.ENDED, ended_at=now
        ):
            session.refresh(attempt)
            if blocked:
                attempt.outcome = "do_not_call"
                close(session, task, TaskStatus.BLOCKED, now, attempt)
            else:
                attempt.outcome = Outcome.DIAL_UNCONFIRMED.value
                reschedule(session, task, Outcome.DIAL_UNCONFIRMED, now=now, policy=policy)
            session.flush()
        return None
    if not move_attempt(
        session,
        attempt_id,
        AttemptStatus.AGENT_ON,
        status=AttemptStatus.DIALING_CUSTOMER,
        customer_claimed_at=now,
    ):
        return None
    session.execute(
        update(OutboundTask)
        .where(OutboundTask.id == task.id)
        .values(attempts=OutboundTask.attempts + 1)
    )
    return Dial(attempt_id, task.to_number, task.id, conference_name(attempt_id))


def record_customer_call(session: Session, attempt_id: int, call_sid: str) -> None:
    """Keep the customer leg's CallSid (the second transaction of the dial). Idempotent."""
    session.execute(
        update(OutboundAttempt)
        .where(OutboundAttempt.id == attempt_id, OutboundAttempt.customer_call_sid.is_(None))
        .values(customer_call_sid=call_sid)
    )


def customer_answered(session: Session, attempt_id: int, call_sid: str, *, now: datetime) -> bool:
    """The customer picked up: `dialing_customer → connected`; True if they join the agent."""
    record_customer_call(session, attempt_id, call_sid)
    if not move_attempt(
        session, attempt_id, AttemptStatus.DIALING_CUSTOMER, status=AttemptStatus.CONNECTED
    ):
        return False
    attempt = session.get(OutboundAttempt, attempt_id, populate_existing=True)
    assert attempt is not None
    subject_of(attempt.task).reached(session, attempt.task, attempt, now)
    return True


def customer_may_join(session: Session, attempt_id: int) -> bool:
    """Whether the agent is still there for a customer who has heard the greeting."""
    attempt = session.get(OutboundAttempt, attempt_id)
    return attempt is not None and attempt.status is AttemptStatus.CONNECTED


def customer_leg_ended(
    session: Session, attempt_id: int, status: str, *, now: datetime, policy: Policy
) -> str | None:
    """The customer's leg ended. Unanswered (no-answer, busy, failed): the attempt ends with
    that outcome and the task is rescheduled; returns the agent's leg to hang up. An
    automated call's leg ends its attempt whatever the status (`_automated_leg_ended`).
    Idempotent."""
    attempt = session.get(OutboundAttempt, attempt_id)
    if attempt is None:
        return None
    attempt.customer_status = attempt.customer_status or status
    if attempt.agent_id is None and kind_of(attempt.task.kind).automated:
        _automated_leg_ended(session, attempt, status, now=now, policy=policy)
        return None
    outcome = NOT_ANSWERED.get(status)
    if outcome is None or not move_attempt(
        session,
        attempt_id,
        AttemptStatus.DIALING_CUSTOMER,
        status=AttemptStatus.ENDED,
        ended_at=now,
        outcome=outcome.value,
    ):
        session.flush()
        return None
    session.refresh(attempt)
    reschedule(session, attempt.task, outcome, now=now, policy=policy)
    audit_attempt(session, attempt, "outbound.attempt_ended", now, outcome=outcome.value)
    return attempt.agent_call_sid


def _automated_leg_ended(
    session: Session, attempt: OutboundAttempt, status: str, *, now: datetime, policy: Policy
) -> None:
    """An automated call's only leg ended (`outbound.automated`): unanswered → its outcome;
    answered → what was reached (heard to the end, a machine), else hung up early. The task
    is rescheduled or closed. Idempotent: a repeated final callback changes nothing."""
    before = attempt.status
    if before is AttemptStatus.DIALING_CUSTOMER and status in NOT_ANSWERED:
        outcome = NOT_ANSWERED[status]
    elif before is AttemptStatus.DIALING_CUSTOMER and status == "canceled":
        outcome = Outcome.NO_ANSWER
    elif before in (AttemptStatus.DIALING_CUSTOMER, AttemptStatus.CONNECTED) and status in (
        "completed",
        "canceled",
    ):
        outcome = Outcome(attempt.outcome) if attempt.outcome else Outcome.HUNG_UP_EARLY
    else:
        session.flush()
        return
    if not move_attempt(
        session,
        attempt.id,
        before,
        status=AttemptStatus.ENDED,
        ended_at=now,
        outcome=outcome.value,
    ):
        session.flush()
        return
    session.refresh(attempt)
    reschedule(session, attempt.task, outcome, now=now, policy=policy)
    audit_attempt(session, attempt, "outbound.attempt_ended", now, outcome=outcome.value)


def agent_leg_ended(
    session: Session, attempt_id: int, status: str, *, now: datetime, policy: Policy
) -> str | None:
    """The agent's leg ended: before answering → agent unreachable (not counted), the agent
    on break "missed"; after → wrap-up, and the attempt ends: its outcome waits for the
    agent unless the customer never answered (or, for a routed kind, the talk is the
    outcome). Returns the customer's leg to hang up, if it may still ring. Idempotent."""
    attempt = session.get(OutboundAttempt, attempt_id)
    if attempt is None:
        return None
    # The agent first: the attempt may have ended already (the customer did not answer).
    if not move_agent(session, attempt, AgentState.ON_CALL, AgentState.WRAP_UP, now=now):
        move_agent(session, attempt, AgentState.RESERVED, AgentState.BREAK, now=now)
    if attempt.status is AttemptStatus.ENDED:
        return None
    before = attempt.status
    if not move_attempt(session, attempt_id, before, status=AttemptStatus.ENDED, ended_at=now):
        return None
    session.refresh(attempt)
    task = attempt.task
    if before is AttemptStatus.CONNECTED:
        subject_of(task).talk_ended(session, task, attempt, now)
        if kind_of(task.kind).routed:
            attempt.outcome = Outcome.REACHED_RESOLVED.value
            reschedule(session, task, Outcome.REACHED_RESOLVED, now=now, policy=policy)
    elif before in (AttemptStatus.QUEUED, AttemptStatus.DIALING_AGENT):
        attempt.outcome = Outcome.AGENT_UNREACHABLE.value
        reschedule(session, task, Outcome.AGENT_UNREACHABLE, now=now, policy=policy)
    elif before is AttemptStatus.AGENT_ON:
        attempt.outcome = Outcome.DIAL_UNCONFIRMED.value  # the agent left before the dial
        reschedule(session, task, Outcome.DIAL_UNCONFIRMED, now=now, policy=policy)
    elif before is AttemptStatus.DIALING_CUSTOMER:
        attempt.outcome = Outcome.NO_ANSWER.value  # the agent gave up while it rang
        reschedule(session, task, Outcome.NO_ANSWER, now=now, policy=policy)
    session.flush()
    audit_attempt(
        session,
        attempt,
        "outbound.attempt_ended",
        now,
        agent_status=status,
        outcome=attempt.outcome,
    )
    if before is AttemptStatus.DIALING_CUSTOMER:
        return attempt.customer_call_sid
    return None
