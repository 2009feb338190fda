"""Outbound attempts: one try at a task, started for an agent, whose presence follows it.

`start_attempt` claims a pending task for an agent (compare-and-set `pending → calling`) and
reserves them; the legs of the call (`outbound.legs`) then move the attempt and the agent on
(`move_attempt`, `move_agent`: compare-and-sets, so a repeated event changes nothing). The
agent and the customer meet in the conference `conference_name(attempt.id)`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.audit import record
from core.db import rowcount
from outbound.errors import (
    AgentNotAvailable,
    DoNotCallListed,
    NotDue,
    NotYourTask,
    OutsideCallingHours,
    TaskNotFound,
    TaskNotOpen,
)
from outbound.kinds import kind_of, subject_of
from outbound.models import AttemptStatus, OutboundAttempt, OutboundTask, TaskStatus
from outbound.policy import Policy
from outbound.scheduling import next_calling_time
from outbound.tasks import close, on_do_not_call
from queues.connect import MISSED
from queues.models import Actor, Agent, AgentState
from queues.presence import PresenceError, change_state

log = logging.getLogger(__name__)


def start_attempt(
    session: Session, task_id: int, *, agent_id: int, now: datetime, policy: Policy
) -> OutboundAttempt:
    """Claim a task for a call by `agent_id` (click-to-call, or the router for routed kinds).

    Checks: the task is pending, the agent's (an unassigned one is taken; routed kinds go to
    whoever the router chose), due, inside calling hours in the customer's time zone (else
    the next attempt moves to the next opening), the number is not on the do-not-call list
    (the task is then blocked), and the agent is available (or already reserved by the
    router for this call). Compare-and-set `pending → calling`, so two clicks make one
    attempt; the agent becomes reserved. Flushes; after the commit, enqueue
    `jobs.dial_agent(attempt.id)`.
    """
    task = session.get(OutboundTask, task_id)
    if task is None:
        raise TaskNotFound(f"no outbound task {task_id}", task_id=task_id)
    if task.status is not TaskStatus.PENDING:
        raise TaskNotOpen(f"task {task_id} is {task.status.value}", status=task.status.value)
    if kind_of(task.kind).automated:
        raise NotYourTask(f"task {task_id} is an automated call", task_id=task_id)
    if not kind_of(task.kind).routed and task.agent_id not in (None, agent_id):
        raise NotYourTask(f"task {task_id} is assigned to another agent", task_id=task_id)
    if on_do_not_call(session, task.to_number):
        close(session, task, TaskStatus.BLOCKED, now)
        raise DoNotCallListed("the number is on the do-not-call list", task_id=task_id)
    if task.next_attempt_at > now:
        raise NotDue(f"next attempt at {task.next_attempt_at.isoformat()}", task_id=task_id)
    hours = policy.calling_hours(task.timezone)
    if not hours.is_open(now):
        task.next_attempt_at = next_calling_time(hours, now)
        session.flush()
        raise OutsideCallingHours(
            "outside calling hours in the customer's time zone",
            timezone=task.timezone,
            next=task.next_attempt_at.isoformat(),
        )
    key = subject_of(task).call_key(session, task)
    agent = session.get(Agent, agent_id)
    free = agent is not None and (
        agent.state is AgentState.AVAILABLE
        or (agent.state is AgentState.RESERVED and key is not None and agent.call_sid == key)
    )
    if not free:
        raise AgentNotAvailable(
            "set yourself available at the desk before calling",
            state=agent.state.value if agent else None,
        )
    claimed = rowcount(
        session.execute(
            update(OutboundTask)
            .where(OutboundTask.id == task_id, OutboundTask.status == TaskStatus.PENDING)
            .values(status=TaskStatus.CALLING, agent_id=agent_id)
        )
    )
    if claimed != 1:
        raise TaskNotOpen(f"task {task_id} was taken meanwhile", task_id=task_id)
    session.refresh(task)
    attempt = OutboundAttempt(task_id=task_id, agent_id=agent_id, created_at=now)
    session.add(attempt)
    session.flush()
    try:
        change_state(
            session,
            agent_id,
            AgentState.RESERVED,
            reason=None,
            actor=Actor.SYSTEM,
            now=now,
            call_sid=key or conference_name(attempt.id),
        )
    except PresenceError as exc:  # changed since the read above: the caller rolls back
        raise AgentNotAvailable(str(exc), state=exc.code) from None
    audit_attempt(session, attempt, "outbound.attempt_started", now, agent_id=agent_id)
    return attempt


def agent_call_key(session: Session, attempt: OutboundAttempt) -> str:
    """The call the attempt's agent is reserved, on call, or wrapping up for."""
    return subject_of(attempt.task).call_key(session, attempt.task) or conference_name(attempt.id)


def move_agent(
    session: Session,
    attempt: OutboundAttempt,
    expected: AgentState,
    to: AgentState,
    *,
    now: datetime,
    actor: Actor = Actor.SYSTEM,
) -> bool:
    """Move the attempt's agent from `expected` to `to` if they are there for this call."""
    agent = session.get(Agent, attempt.agent_id) if attempt.agent_id else None
    key = agent_call_key(session, attempt)
    if agent is None or agent.state is not expected or agent.call_sid != key:
        return False
    try:
        with session.begin_nested():
            change_state(
                session,
                agent.id,
                to,
                reason=MISSED if to is AgentState.BREAK else None,
                actor=actor,
                now=now,
                call_sid=key if to in (AgentState.ON_CALL, AgentState.WRAP_UP) else None,
                expected=expected,
                break_reasons=(MISSED,),
            )
    except PresenceError as exc:
        log.info("agent %s not moved to %s: %s", agent.id, to, exc.code)
        return False
    return True


def conference_name(attempt_id: int) -> str:
    """The conference where the attempt's agent and customer meet."""
    return f"mo-attempt-{attempt_id}"


def move_attempt(session: Session, attempt_id: int, expected: AttemptStatus, **values: Any) -> bool:
    """Compare-and-set: update the attempt only if it is still `expected`; True if it was."""
    return (
        rowcount(
            session.execute(
                update(OutboundAttempt)
                .where(OutboundAttempt.id == attempt_id, OutboundAttempt.status == expected)
                .values(**values)
            )
        )
        == 1
    )


def audit_attempt(
    session: Session, attempt: OutboundAttempt, action: str, now: datetime, **data: Any
) -> None:
    """An audit entry by the system about an attempt, filed under its task."""
    record(
        session,
        actor_id=None,
        actor="system",
        action=action,
        subject_type="outbound_task",
        subject_id=attempt.task_id,
        now=now,
        attempt_id=attempt.id,
        **data,
    )
