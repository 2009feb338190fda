"""Outcomes of outbound attempts: the agent's (`record_outcome`, which ends their wrap-up) and
the engine's own repair of dials whose CallSid never came back (`reconcile`, run by the tick).
What follows an outcome for the task is `outbound.tasks.reschedule`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import record
from outbound.attempts import audit_attempt, move_agent, move_attempt
from outbound.errors import BadOutcome, NotYourTask, TaskNotFound, TaskNotOpen
from outbound.legs import AGENT_RING_TIMEOUT_S, agent_leg_ended
from outbound.models import AttemptStatus, OutboundAttempt, OutboundTask, Outcome
from outbound.policy import Policy
from outbound.tasks import reschedule
from queues.connect import Followup
from queues.models import Actor, AgentState

RECONCILE_AFTER = timedelta(minutes=2)
#: An agent who answered waits this long (after their leg's ring time) for the customer's dial
#: to be claimed before the dial job counts as lost (pacing may hold it a few seconds).
CUSTOMER_DIAL_LOST_AFTER = timedelta(seconds=AGENT_RING_TIMEOUT_S + 60)


class Repairs(NamedTuple):
    """What the tick's repair leaves to the boundary: attempts whose agent dial and whose
    customer dial must be enqueued again (their jobs were lost), and the followup."""

    redial: list[int]
    follow: Followup
    dial_customers: list[int]


#: The outcomes an agent may record (the others are the engine's own).
AGENT_OUTCOMES = (
    Outcome.REACHED_RESOLVED,
    Outcome.REACHED_MISSING_INFO,
    Outcome.NO_ANSWER,
    Outcome.BUSY,
    Outcome.WRONG_NUMBER,
    Outcome.REFUSED,
)


def record_outcome(
    session: Session,
    task_id: int,
    *,
    agent_id: int,
    actor: str,
    outcome: str,
    notes: str,
    now: datetime,
    policy: Policy,
) -> OutboundTask:
    """The agent's outcome and notes for the task's latest attempt, then what follows.

    Only after the agent's leg has ended (the attempt is `ended`). An attempt the engine
    already closed (no answer, busy) keeps its outcome; the agent's notes are added. Flushes.
    """
    try:
        chosen = Outcome(outcome)
    except ValueError:
        chosen = None
    if chosen not in AGENT_OUTCOMES:
        raise BadOutcome(f"unknown outcome {outcome!r}", allowed=[o.value for o in AGENT_OUTCOMES])
    assert chosen is not None
    task = session.get(OutboundTask, task_id)
    if task is None:
        raise TaskNotFound(f"no outbound task {task_id}", task_id=task_id)
    attempt = task.attempt_rows[-1] if task.attempt_rows else None
    if attempt is None or attempt.agent_id != agent_id:
        raise NotYourTask("no call of yours to record an outcome for", task_id=task_id)
    attempt.notes = (notes or "").strip()[:2000] or attempt.notes
    if attempt.outcome is None:
        if attempt.status is not AttemptStatus.ENDED:
            raise TaskNotOpen("the call is still under way", task_id=task_id)
        attempt.outcome = chosen.value
        reschedule(session, task, chosen, now=now, policy=policy)
    session.flush()
    # The outcome is the call's wrap-up: saving it makes the agent available again.
    move_agent(
        session, attempt, AgentState.WRAP_UP, AgentState.AVAILABLE, now=now, actor=Actor.AGENT
    )
    record(
        session,
        actor_id=agent_id,
        actor=actor,
        action="outbound.outcome",
        subject_type="outbound_task",
        subject_id=task.id,
        now=now,
        attempt_id=attempt.id,
        outcome=attempt.outcome,
        notes=attempt.notes,
        status=task.status.value,
    )
    return task


def reconcile(session: Session, *, now: datetime, policy: Policy) -> Repairs:
    """The tick's repair: claims whose CallSid never came back end `dial_unconfirmed` (never
    redialled); attempts still `queued` are returned to be dialled again (their job was lost),
    and so are attempts whose agent answered but whose customer's dial was never claimed (its
    job was lost with a worker or Redis: the agent would wait in the conference for nobody;
    a second run of the job does nothing, `legs.claim_customer_dial`).

    The agent of a lost agent dial goes back to available; the agent of a lost customer dial
    waits in the conference, and their leg is hung up (the followup does both). An agent's
    leg still "ringing" well past its timeout lost its status callback: it ends as unanswered
    (the agent on break "missed") and is hung up."""
    stale = now - RECONCILE_AFTER
    lost = session.scalars(
        select(OutboundAttempt).where(
            (
                (OutboundAttempt.status == AttemptStatus.DIALING_AGENT)
                & OutboundAttempt.agent_call_sid.is_(None)
                & (OutboundAttempt.agent_claimed_at < stale)
            )
            | (
                (OutboundAttempt.status == AttemptStatus.DIALING_CUSTOMER)
                & OutboundAttempt.customer_call_sid.is_(None)
                & (OutboundAttempt.customer_claimed_at < stale)
            )
        )
    ).all()
    follow = Followup()
    for attempt in lost:
        if move_attempt(
            session, attempt.id, attempt.status, status=AttemptStatus.ENDED, ended_at=now
        ):
            session.refresh(attempt)
            attempt.outcome = Outcome.DIAL_UNCONFIRMED.value
            reschedule(session, attempt.task, Outcome.DIAL_UNCONFIRMED, now=now, policy=policy)
            audit_attempt(session, attempt, "outbound.dial_unconfirmed", now)
            if move_agent(session, attempt, AgentState.RESERVED, AgentState.AVAILABLE, now=now):
                assert attempt.agent_id is not None
                follow.publish.append(attempt.agent_id)
                follow.route_agents.append(attempt.agent_id)
            elif attempt.agent_call_sid:
                follow.hang_up.append(attempt.agent_call_sid)
    rang_out = session.scalars(
        select(OutboundAttempt).where(
            OutboundAttempt.status == AttemptStatus.DIALING_AGENT,
            OutboundAttempt.agent_call_sid.is_not(None),
            OutboundAttempt.agent_claimed_at < stale - timedelta(seconds=AGENT_RING_TIMEOUT_S),
        )
    ).all()
    for attempt in rang_out:
        agent_leg_ended(session, attempt.id, "timeout", now=now, policy=policy)
        if attempt.agent_call_sid:
            follow.hang_up.append(attempt.agent_call_sid)
    queued = session.scalars(
        select(OutboundAttempt.id).where(
            OutboundAttempt.status == AttemptStatus.QUEUED, OutboundAttempt.created_at < stale
        )
    ).all()
    waiting_agents = session.scalars(
        select(OutboundAttempt.id).where(
            OutboundAttempt.status == AttemptStatus.AGENT_ON,
            OutboundAttempt.customer_claimed_at.is_(None),
            OutboundAttempt.agent_claimed_at < now - CUSTOMER_DIAL_LOST_AFTER,
        )
    ).all()
    return Repairs(list(queued), follow, list(waiting_agents))
