"""The outbound call engine: one mechanism for every reason to phone a customer.

A task kind (`KINDS`) is data: which post may work it, whether it is worked from the work
list by click-to-call (order reviews) or offered by the inbound router at the caller's place in
line (queue callbacks, `routed`), and what the call's events mean for its subject (`Subject`:
nothing for a review; the queue entry's statuses for a callback, `queue_callbacks.entries`).
Decisions are pure and take `now`: who gets a task (`choose_assignee`), when the next attempt
may be (`schedule_after`, `next_calling_time`). Services below flush and never commit.

The agent's presence follows the attempt, as for an inbound call, so the router never offers
a caller to an agent on an outbound call: reserved when the attempt starts (from available),
on call when their leg answers, wrap-up when it ends after answering, break "missed" when it
was never answered. Saving the outcome ends the wrap-up.

Dialling is the two-transaction pattern (STYLE §4.9), twice per attempt (agent leg first,
then the customer):

1. claim and commit: a compare-and-set on the attempt (`queued → dialing_agent`,
   `agent_on → dialing_customer`) stamps the claim time;
2. dial (after the commit, in a job, paced by the CPS token bucket);
3. record the CallSid in a second transaction.

A retried job finds the attempt already claimed and does nothing: a claim without a CallSid
is reconciled by the tick after `RECONCILE_AFTER` (the attempt ends `dial_unconfirmed`, the
task goes back to the work list), never dialled again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from config.hours import BusinessHours
from core.audit import record
from core.errors import DomainError
from outbound.kinds import KINDS, kind_of, subject_of
from outbound.models import (
    OPEN_TASK,
    AttemptStatus,
    DoNotCall,
    OutboundAttempt,
    OutboundTask,
    Outcome,
    TaskStatus,
)
from outbound.policy import Policy
from queues.connect import MISSED, Followup
from queues.models import Actor, Agent, AgentState
from queues.presence import PresenceError, change_state

log = logging.getLogger(__name__)
RECONCILE_AFTER = timedelta(minutes=2)
AGENT_RING_TIMEOUT_S = 30  # how long the agent's leg rings before it counts as unanswered
AGENT_OUTCOMES = (
    Outcome.REACHED_RESOLVED,
    Outcome.REACHED_MISSING_INFO,
    Outcome.NO_ANSWER,
    Outcome.BUSY,
    Outcome.WRONG_NUMBER,
    Outcome.REFUSED,
)
NOT_ANSWERED = {"no-answer": Outcome.NO_ANSWER, "busy": Outcome.BUSY, "failed": Outcome.NO_ANSWER}


class OutboundError(DomainError):
    code = "outbound-error"


class TaskNotFound(OutboundError):
    code = "task-not-found"


class TaskNotOpen(OutboundError):
    code = "task-not-open"


class NotYourTask(OutboundError):
    code = "not-your-task"


class NotDue(OutboundError):
    code = "not-due"


class OutsideCallingHours(OutboundError):
    code = "outside-calling-hours"


class DoNotCallListed(OutboundError):
    code = "do-not-call"


class AgentNotAvailable(OutboundError):
    code = "agent-not-available"


class BadOutcome(OutboundError):
    code = "bad-outcome"


# --- pure decisions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """An agent as assignment sees them."""

    agent_id: int
    posts: frozenset[str]
    skills: dict[str, int]
    languages: frozenset[str]
    state: str
    open_tasks: int


def choose_assignee(
    post: str, skill: str, language: str, agents: Sequence[Candidate]
) -> int | None:
    """The eligible agent with the lightest load, or None.

    Eligible: holds `post`, has `skill` (any level), speaks `language`. Among them: signed-in
    agents (any state but offline) before offline ones, then fewest open tasks, then the
    higher skill level, then the lower agent id (deterministic).
    """
    eligible = [
        a for a in agents if post in a.posts and skill in a.skills and language in a.languages
    ]
    if not eligible:
        return None
    best = min(
        eligible,
        key=lambda a: (a.state == AgentState.OFFLINE, a.open_tasks, -a.skills[skill], a.agent_id),
    )
    return best.agent_id


def next_calling_time(hours: BusinessHours, at: datetime) -> datetime:
    """`at` if calls are allowed then, else the next opening in the customer's time zone."""
    if hours.is_open(at):
        return at
    local = at.astimezone(hours.tz)
    for days in range(0, 15):
        day = local.date() + timedelta(days=days)
        for span in sorted(hours.spans, key=lambda s: s.opens):
            if span.weekday != day.weekday() or day in hours.holidays:
                continue
            start = datetime.combine(day, span.opens, tzinfo=hours.tz)
            if start > local and hours.is_open(start):
                return start.astimezone(at.tzinfo)
    raise OutsideCallingHours("no calling hours in the next two weeks")


@dataclass(frozen=True, slots=True)
class Next:
    status: TaskStatus
    at: datetime | None  # the next attempt, for a pending task


def schedule_after(
    outcome: Outcome,
    attempts: int,
    *,
    now: datetime,
    max_attempts: int,
    backoff: Sequence[timedelta],
    hours: BusinessHours,
) -> Next:
    """What follows an attempt's outcome (pure). `attempts` counts this one if it was counted.

    Resolved → done; wrong number or refused → failed. Unanswered, busy or still missing
    information → again after backoff[attempts - 1] (the last wait repeats), moved to the
    next calling hours, until `max_attempts` counted attempts → failed. An attempt that never
    reached the customer's phone (agent unreachable, unconfirmed dial) is retried a minute
    later without counting.
    """
    if outcome is Outcome.REACHED_RESOLVED:
        return Next(TaskStatus.DONE, None)
    if outcome in (Outcome.WRONG_NUMBER, Outcome.REFUSED):
        return Next(TaskStatus.FAILED, None)
    if outcome in (Outcome.AGENT_UNREACHABLE, Outcome.DIAL_UNCONFIRMED):
        return Next(TaskStatus.PENDING, next_calling_time(hours, now + timedelta(minutes=1)))
    if attempts >= max_attempts:
        return Next(TaskStatus.FAILED, None)
    wait = backoff[min(max(attempts, 1), len(backoff)) - 1]
    return Next(TaskStatus.PENDING, next_calling_time(hours, now + wait))


# --- tasks ----------------------------------------------------------------------------------


def on_do_not_call(session: Session, e164: str) -> bool:
    return session.get(DoNotCall, e164) is not None


def create_task(
    session: Session,
    *,
    kind: str,
    subject_id: int,
    to_number: str,
    language: str,
    skill: str,
    now: datetime,
    policy: Policy,
    customer_id: int | None = None,
    priority: int = 0,
    queued_at: datetime | None = None,
) -> OutboundTask:
    """Create (once per kind and subject) a task to phone `to_number`, assigned if possible.

    Idempotent: the same kind and subject return the existing task. A number on the
    do-not-call list gives a `blocked` task that is never dialled. Flushes.
    """
    spec = kind_of(kind)
    key = f"{kind}:{subject_id}"
    found = session.scalar(select(OutboundTask).where(OutboundTask.dedupe_key == key))
    if found is not None:
        return found
    timezone = policy.timezone_for(to_number)
    task = OutboundTask(
        kind=kind,
        dedupe_key=key,
        subject_type=spec.subject_type,
        subject_id=subject_id,
        customer_id=customer_id,
        to_number=to_number,
        timezone=timezone,
        language=language,
        skill=skill,
        priority=priority,
        queued_at=queued_at or now,
        status=TaskStatus.PENDING,
        max_attempts=policy.max_attempts,
        next_attempt_at=next_calling_time(policy.calling_hours(timezone), now),
        created_at=now,
    )
    session.add(task)
    session.flush()
    if on_do_not_call(session, to_number):
        _close(session, task, TaskStatus.BLOCKED, now)
    elif not spec.routed:
        assign(session, task)
    record(
        session,
        actor_id=None,
        actor="system",
        action="outbound.task_created",
        subject_type="outbound_task",
        subject_id=task.id,
        now=now,
        kind=kind,
        subject=key,
        status=task.status.value,
        agent_id=task.agent_id,
    )
    return task


def cancel_tasks_for(session: Session, subject_type: str, subject_id: int, *, now: datetime) -> int:
    """Close the open tasks of a subject that no longer needs a call; how many. Flushes."""
    tasks = session.scalars(
        select(OutboundTask).where(
            OutboundTask.subject_type == subject_type,
            OutboundTask.subject_id == subject_id,
            OutboundTask.status == TaskStatus.PENDING,
        )
    ).all()
    for task in tasks:
        _close(session, task, TaskStatus.CANCELLED, now)
    session.flush()
    return len(tasks)


def _close(
    session: Session,
    task: OutboundTask,
    status: TaskStatus,
    now: datetime,
    attempt: OutboundAttempt | None = None,
) -> None:
    task.status = status
    task.closed_at = now
    session.flush()
    subject_of(task).attempt_over(session, task, attempt, now)


def candidates(session: Session) -> list[Candidate]:
    """Every active agent with their open-task load (one query for the loads)."""
    loads = dict(
        session.execute(
            select(OutboundTask.agent_id, func.count())
            .where(OutboundTask.status.in_(OPEN_TASK), OutboundTask.agent_id.is_not(None))
            .group_by(OutboundTask.agent_id)
        ).all()
    )
    agents = session.scalars(select(Agent).where(Agent.active.is_(True))).all()
    return [
        Candidate(
            a.id,
            frozenset(p.value for p in a.posts),
            a.skill_levels(),
            frozenset(lang.value for lang in a.languages),
            a.state.value,
            loads.get(a.id, 0),
        )
        for a in agents
    ]


def assign(session: Session, task: OutboundTask) -> int | None:
    """Give a pending unassigned task to the best eligible agent (if any). Flushes."""
    if task.agent_id is not None or task.status is not TaskStatus.PENDING:
        return task.agent_id
    task.agent_id = choose_assignee(
        kind_of(task.kind).post.value, task.skill, task.language, candidates(session)
    )
    session.flush()
    return task.agent_id


def assign_unassigned(session: Session) -> int:
    """Assign every pending task that has no agent yet (agents who joined since); how many."""
    listed = [k.name for k in KINDS.values() if not k.routed]
    tasks = session.scalars(
        select(OutboundTask)
        .where(
            OutboundTask.status == TaskStatus.PENDING,
            OutboundTask.agent_id.is_(None),
            OutboundTask.kind.in_(listed),
        )
        .order_by(OutboundTask.priority.desc(), OutboundTask.queued_at, OutboundTask.id)
    ).all()
    return sum(1 for t in tasks if assign(session, t) is not None)


def work_list(session: Session, agent_id: int | None) -> list[OutboundTask]:
    """Open tasks (an agent's, or all), in work order: priority, then original arrival."""
    query = select(OutboundTask).where(OutboundTask.status.in_(OPEN_TASK))
    if agent_id is not None:
        query = query.where(OutboundTask.agent_id == agent_id)
    return list(
        session.scalars(
            query.order_by(OutboundTask.priority.desc(), OutboundTask.queued_at, OutboundTask.id)
        )
    )


# --- attempts -------------------------------------------------------------------------------


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
    if not kind_of(task.kind).routed and task.agent_id not in (None, agent_id):
        raise NotYourTask(f"task {task_id} is assigned to another agent", task_id=task_id)
    if on_do_not_call(session, task.to_number):
        _close(session, task, TaskStatus.BLOCKED, now)
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
    claimed = session.execute(
        update(OutboundTask)
        .where(OutboundTask.id == task_id, OutboundTask.status == TaskStatus.PENDING)
        .values(status=TaskStatus.CALLING, agent_id=agent_id)
    ).rowcount
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
    _audit(session, attempt, "outbound.attempt_started", now, agent_id=agent_id)
    return attempt


def agent_call_key(session: Session, attempt: OutboundAttempt) -> str:
    """The call the attempt's agent is reserved, on call, or wrapping up for."""
    return subject_of(attempt.task).call_key(session, attempt.task) or conference_name(attempt.id)


def _move_agent(
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


@dataclass(frozen=True, slots=True)
class Dial:
    attempt_id: int
    to: str
    task_id: int
    conference: str


def conference_name(attempt_id: int) -> str:
    return f"mo-attempt-{attempt_id}"


def _cas(session: Session, attempt_id: int, expected: AttemptStatus, **values: Any) -> bool:
    return (
        session.execute(
            update(OutboundAttempt)
            .where(OutboundAttempt.id == attempt_id, OutboundAttempt.status == expected)
            .values(**values)
        ).rowcount
        == 1
    )


def claim_agent_dial(session: Session, attempt_id: int, *, now: datetime) -> Dial | None:
    """Claim the agent's dial (`queued → dialing_agent`); None if already claimed or gone.

    Commit before dialling: a retried job then finds the claim and never dials twice.
    """
    attempt = session.get(OutboundAttempt, attempt_id)
    if attempt is None or attempt.agent_id is None:
        return None
    agent = session.get(Agent, attempt.agent_id)
    if agent is None or not _cas(
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
    kept = session.execute(
        update(OutboundAttempt)
        .where(OutboundAttempt.id == attempt_id, OutboundAttempt.agent_call_sid.is_(None))
        .values(agent_call_sid=call_sid)
    ).rowcount
    if kept:
        attempt = session.get(OutboundAttempt, attempt_id, populate_existing=True)
        assert attempt is not None
        subject_of(attempt.task).agent_leg(session, attempt.task, attempt)


def agent_answered(session: Session, attempt_id: int, call_sid: str, *, now: datetime) -> bool:
    """The agent picked up: `dialing_agent → agent_on`, the agent on call; True if the
    customer is to be dialled."""
    record_agent_call(session, attempt_id, call_sid)
    if not _cas(session, attempt_id, AttemptStatus.DIALING_AGENT, status=AttemptStatus.AGENT_ON):
        return False
    attempt = session.get(OutboundAttempt, attempt_id)
    assert attempt is not None
    _move_agent(session, attempt, AgentState.RESERVED, AgentState.ON_CALL, now=now)
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
        if _cas(
            session, attempt_id, AttemptStatus.AGENT_ON, status=AttemptStatus.ENDED, ended_at=now
        ):
            session.refresh(attempt)
            if blocked:
                attempt.outcome = "do_not_call"
                _close(session, task, TaskStatus.BLOCKED, now, attempt)
            else:
                attempt.outcome = Outcome.DIAL_UNCONFIRMED.value
                _reschedule(session, task, Outcome.DIAL_UNCONFIRMED, now=now, policy=policy)
            session.flush()
        return None
    if not _cas(
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
    session.execute(
        update(OutboundAttempt)
        .where(OutboundAttempt.id == attempt_id, OutboundAttempt.customer_call_sid.is_(None))
        .values(customer_call_sid=call_sid)
    )


def customer_answered(session: Session, attempt_id: int, call_sid: str, *, now: datetime) -> bool:
    """The customer picked up: `dialing_customer → connected`; True if they join the agent."""
    record_customer_call(session, attempt_id, call_sid)
    if not _cas(
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
    that outcome and the task is rescheduled; returns the agent's leg to hang up. Idempotent."""
    attempt = session.get(OutboundAttempt, attempt_id)
    if attempt is None:
        return None
    attempt.customer_status = attempt.customer_status or status
    outcome = NOT_ANSWERED.get(status)
    if outcome is None or not _cas(
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
    _reschedule(session, attempt.task, outcome, now=now, policy=policy)
    _audit(session, attempt, "outbound.attempt_ended", now, outcome=outcome.value)
    return attempt.agent_call_sid


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
    if not _move_agent(session, attempt, AgentState.ON_CALL, AgentState.WRAP_UP, now=now):
        _move_agent(session, attempt, AgentState.RESERVED, AgentState.BREAK, now=now)
    if attempt.status is AttemptStatus.ENDED:
        return None
    before = attempt.status
    if not _cas(session, attempt_id, before, status=AttemptStatus.ENDED, ended_at=now):
        return None
    session.refresh(attempt)
    task = attempt.task
    if before is AttemptStatus.CONNECTED:
        subject_of(task).talk_ended(session, task, attempt, now)
        if kind_of(task.kind).routed:
            attempt.outcome = Outcome.REACHED_RESOLVED.value
            _reschedule(session, task, Outcome.REACHED_RESOLVED, now=now, policy=policy)
    elif before in (AttemptStatus.QUEUED, AttemptStatus.DIALING_AGENT):
        attempt.outcome = Outcome.AGENT_UNREACHABLE.value
        _reschedule(session, task, Outcome.AGENT_UNREACHABLE, now=now, policy=policy)
    elif before is AttemptStatus.AGENT_ON:
        attempt.outcome = Outcome.DIAL_UNCONFIRMED.value  # the agent left before the dial
        _reschedule(session, task, Outcome.DIAL_UNCONFIRMED, now=now, policy=policy)
    elif before is AttemptStatus.DIALING_CUSTOMER:
        attempt.outcome = Outcome.NO_ANSWER.value  # the agent gave up while it rang
        _reschedule(session, task, Outcome.NO_ANSWER, now=now, policy=policy)
    session.flush()
    _audit(
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
        _reschedule(session, task, chosen, now=now, policy=policy)
    session.flush()
    # The outcome is the call's wrap-up: saving it makes the agent available again.
    _move_agent(
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


def _reschedule(
    session: Session, task: OutboundTask, outcome: Outcome, *, now: datetime, policy: Policy
) -> None:
    session.flush()  # keep the attempt's pending changes: refresh cascades to attempts
    session.refresh(task, ["attempts", "status"])  # moved by compare-and-set in SQL
    if task.status is not TaskStatus.CALLING:
        return
    follow = schedule_after(
        outcome,
        task.attempts,
        now=now,
        max_attempts=task.max_attempts,
        backoff=policy.backoff,
        hours=policy.calling_hours(task.timezone),
    )
    task.last_outcome = outcome.value
    if follow.status is TaskStatus.PENDING and follow.at is not None:
        task.status = TaskStatus.PENDING
        task.next_attempt_at = follow.at
        session.flush()
        subject_of(task).attempt_over(session, task, None, now)
    else:
        _close(session, task, follow.status, now)
    session.flush()


def reconcile(session: Session, *, now: datetime, policy: Policy) -> tuple[list[int], Followup]:
    """The tick's repair: claims whose CallSid never came back end `dial_unconfirmed` (never
    redialled); attempts still `queued` are returned to be dialled again (their job was lost).

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
        if _cas(session, attempt.id, attempt.status, status=AttemptStatus.ENDED, ended_at=now):
            session.refresh(attempt)
            attempt.outcome = Outcome.DIAL_UNCONFIRMED.value
            _reschedule(session, attempt.task, Outcome.DIAL_UNCONFIRMED, now=now, policy=policy)
            _audit(session, attempt, "outbound.dial_unconfirmed", now)
            if _move_agent(session, attempt, AgentState.RESERVED, AgentState.AVAILABLE, now=now):
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
    return list(queued), follow


def _audit(
    session: Session, attempt: OutboundAttempt, action: str, now: datetime, **data: Any
) -> None:
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


# --- the do-not-call list --------------------------------------------------------------------


def add_do_not_call(
    session: Session, e164: str, *, reason: str, actor: str, now: datetime
) -> list[OutboundTask]:
    """Put a number on the list (idempotent) and block its open pending tasks (returned: the
    boundary takes their queue entries, if any, off the waiting list)."""
    if session.get(DoNotCall, e164) is None:
        session.add(DoNotCall(e164=e164, reason=reason[:200], added_at=now, added_by=actor[:40]))
        record(
            session,
            actor_id=None,
            actor=actor,
            action="outbound.do_not_call_added",
            subject_type="phone",
            subject_id=e164,
            now=now,
            reason=reason,
        )
    tasks = session.scalars(
        select(OutboundTask).where(
            OutboundTask.to_number == e164, OutboundTask.status == TaskStatus.PENDING
        )
    ).all()
    for task in tasks:
        _close(session, task, TaskStatus.BLOCKED, now)
    session.flush()
    return list(tasks)
