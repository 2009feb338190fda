"""The outbound call engine: one mechanism for every reason to phone a customer.

A task kind (`KINDS`) is data: which post and skill may work it, whether the engine dials on
its own when the assignee is free (queue callbacks) or waits for a click (order reviews).
Decisions are pure and take `now`: who gets a task (`choose_assignee`), when the next attempt
may be (`schedule_after`, `next_calling_time`). Services below flush and never commit.

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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from callcenter.audit import record
from callcenter.errors import DomainError
from callcenter.models import Customer, Order
from config.hours import BusinessHours
from middle_office.models import (
    OPEN_TASK,
    AttemptStatus,
    DoNotCall,
    OutboundAttempt,
    OutboundTask,
    Outcome,
    ReviewTask,
    TaskStatus,
)
from middle_office.policy import Policy
from queues.models import Agent, AgentState, Post

RECONCILE_AFTER = timedelta(minutes=2)
AGENT_OUTCOMES = (
    Outcome.REACHED_RESOLVED,
    Outcome.REACHED_MISSING_INFO,
    Outcome.NO_ANSWER,
    Outcome.BUSY,
    Outcome.WRONG_NUMBER,
    Outcome.REFUSED,
)
NOT_ANSWERED = {"no-answer": Outcome.NO_ANSWER, "busy": Outcome.BUSY, "failed": Outcome.NO_ANSWER}


@dataclass(frozen=True, slots=True)
class TaskKind:
    name: str
    subject_type: str
    post: Post
    auto_dial: bool  # the engine starts attempts itself when the assignee is available
    label: str


KINDS: dict[str, TaskKind] = {
    k.name: k
    for k in (
        TaskKind("order_review", "review", Post.MIDDLE_OFFICE, False, "Order review"),
        TaskKind("queue_callback", "queue_entry", Post.FRONT_DESK, True, "Queue callback"),
        # Later, with no change to the engine: TaskKind("rma_notice", "rma", BACK_OFFICE, …),
        # TaskKind("ticket_callback", "ticket", FRONT_DESK, …).
    )
}


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
    spec = KINDS[kind]
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
        _close(task, TaskStatus.BLOCKED, now)
    else:
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


def plan_review_call(
    session: Session, review: ReviewTask, *, now: datetime, policy: Policy
) -> OutboundTask | None:
    """The order-review call for `review` (once): the recipient's phone, else the account's."""
    order = session.get(Order, review.order_id)
    if order is None:
        return None
    customer = session.get(Customer, order.customer_id)
    number = order.recipient_phone or (
        customer.phones[0].e164 if customer and customer.phones else None
    )
    if number is None:
        return None  # nobody to call: the review is worked without a call
    return create_task(
        session,
        kind="order_review",
        subject_id=review.id,
        to_number=number,
        language=customer.language.value if customer else "zh",
        skill="orders",
        customer_id=order.customer_id,
        now=now,
        policy=policy,
        queued_at=review.created_at,
    )


def plan_queue_callback(
    session: Session,
    *,
    entry_id: int,
    to_number: str,
    skill: str,
    language: str,
    priority: int,
    enqueued_at: datetime,
    customer_id: int | None,
    now: datetime,
    policy: Policy,
) -> OutboundTask:
    """A queue callback as an outbound task: the caller keeps their priority and arrival time."""
    return create_task(
        session,
        kind="queue_callback",
        subject_id=entry_id,
        to_number=to_number,
        language=language,
        skill=skill,
        priority=priority,
        queued_at=enqueued_at,
        customer_id=customer_id,
        now=now,
        policy=policy,
    )


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
        _close(task, TaskStatus.CANCELLED, now)
    session.flush()
    return len(tasks)


def _close(task: OutboundTask, status: TaskStatus, now: datetime) -> None:
    task.status = status
    task.closed_at = now


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
        KINDS[task.kind].post.value, task.skill, task.language, candidates(session)
    )
    session.flush()
    return task.agent_id


def assign_unassigned(session: Session) -> int:
    """Assign every pending task that has no agent yet (agents who joined since); how many."""
    tasks = session.scalars(
        select(OutboundTask)
        .where(OutboundTask.status == TaskStatus.PENDING, OutboundTask.agent_id.is_(None))
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
    """Claim a task for a call by `agent_id` (click-to-call, or the engine for auto kinds).

    Checks: the task is pending, the agent's (an unassigned one is taken), due, inside calling
    hours in the customer's time zone, and the number is not on the do-not-call list (the
    task is then blocked). Compare-and-set `pending → calling`, so two clicks make one
    attempt. Flushes; after the commit, enqueue `jobs.dial_agent(attempt.id)`.
    """
    task = session.get(OutboundTask, task_id)
    if task is None:
        raise TaskNotFound(f"no outbound task {task_id}", task_id=task_id)
    if task.status is not TaskStatus.PENDING:
        raise TaskNotOpen(f"task {task_id} is {task.status.value}", status=task.status.value)
    if task.agent_id not in (None, agent_id):
        raise NotYourTask(f"task {task_id} is assigned to another agent", task_id=task_id)
    if on_do_not_call(session, task.to_number):
        _close(task, TaskStatus.BLOCKED, now)
        session.flush()
        raise DoNotCallListed("the number is on the do-not-call list", task_id=task_id)
    if task.next_attempt_at > now:
        raise NotDue(f"next attempt at {task.next_attempt_at.isoformat()}", task_id=task_id)
    hours = policy.calling_hours(task.timezone)
    if not hours.is_open(now):
        raise OutsideCallingHours(
            "outside calling hours in the customer's time zone",
            timezone=task.timezone,
            next=next_calling_time(hours, now).isoformat(),
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
    _audit(session, attempt, "outbound.attempt_started", now, agent_id=agent_id)
    return attempt


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
    session.execute(
        update(OutboundAttempt)
        .where(OutboundAttempt.id == attempt_id, OutboundAttempt.agent_call_sid.is_(None))
        .values(agent_call_sid=call_sid)
    )


def agent_answered(session: Session, attempt_id: int, call_sid: str, *, now: datetime) -> bool:
    """The agent picked up: `dialing_agent → agent_on`; True if the customer is to be dialled."""
    record_agent_call(session, attempt_id, call_sid)
    return _cas(session, attempt_id, AttemptStatus.DIALING_AGENT, status=AttemptStatus.AGENT_ON)


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
                _close(task, TaskStatus.BLOCKED, now)
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
    record_customer_call(session, attempt_id, call_sid)
    return _cas(session, attempt_id, AttemptStatus.DIALING_CUSTOMER, status=AttemptStatus.CONNECTED)


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
    """The agent's leg ended: before answering → agent unreachable (not counted); after →
    the attempt ends, and its outcome waits for the agent unless the customer never
    answered. Returns the customer's leg to hang up, if it may still ring. Idempotent."""
    attempt = session.get(OutboundAttempt, attempt_id)
    if attempt is None or attempt.status is AttemptStatus.ENDED:
        return None
    before = attempt.status
    if not _cas(session, attempt_id, before, status=AttemptStatus.ENDED, ended_at=now):
        return None
    session.refresh(attempt)
    task = attempt.task
    if before in (AttemptStatus.QUEUED, AttemptStatus.DIALING_AGENT):
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
    else:
        _close(task, follow.status, now)
    session.flush()


def reconcile(session: Session, *, now: datetime, policy: Policy) -> list[int]:
    """The tick's repair: claims whose CallSid never came back end `dial_unconfirmed` (never
    redialled); attempts still `queued` are returned to be dialled again (their job was lost)."""
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
    for attempt in lost:
        if _cas(session, attempt.id, attempt.status, status=AttemptStatus.ENDED, ended_at=now):
            session.refresh(attempt)
            attempt.outcome = Outcome.DIAL_UNCONFIRMED.value
            _reschedule(session, attempt.task, Outcome.DIAL_UNCONFIRMED, now=now, policy=policy)
            _audit(session, attempt, "outbound.dial_unconfirmed", now)
    queued = session.scalars(
        select(OutboundAttempt.id).where(
            OutboundAttempt.status == AttemptStatus.QUEUED, OutboundAttempt.created_at < stale
        )
    ).all()
    return list(queued)


def auto_starts(session: Session, *, now: datetime, policy: Policy) -> list[int]:
    """Start attempts of auto-dial kinds (queue callbacks) in work order: each due task goes
    to an available eligible agent (its assignee if available, else the best other one, so
    a callback never waits for one person). The attempt ids to dial after the commit."""
    auto = [k.name for k in KINDS.values() if k.auto_dial]
    tasks = session.scalars(
        select(OutboundTask)
        .where(
            OutboundTask.kind.in_(auto),
            OutboundTask.status == TaskStatus.PENDING,
            OutboundTask.next_attempt_at <= now,
        )
        .order_by(OutboundTask.priority.desc(), OutboundTask.queued_at, OutboundTask.id)
    ).all()
    if not tasks:
        return []
    calling = set(
        session.scalars(
            select(OutboundTask.agent_id).where(OutboundTask.status == TaskStatus.CALLING)
        )
    )  # on an outbound call already (presence is not changed by the engine yet)
    free = [
        c
        for c in candidates(session)
        if c.state == AgentState.AVAILABLE and c.agent_id not in calling
    ]
    started: list[int] = []
    for task in tasks:
        preferred = [c for c in free if c.agent_id == task.agent_id]
        agent_id = choose_assignee(
            KINDS[task.kind].post.value, task.skill, task.language, preferred or free
        )
        if agent_id is None:
            continue
        try:
            attempt = start_attempt(session, task.id, agent_id=agent_id, now=now, policy=policy)
        except NotYourTask:
            task.agent_id = None  # reassigned to whoever is free now
            attempt = start_attempt(session, task.id, agent_id=agent_id, now=now, policy=policy)
        except OutboundError:
            continue
        free = [c for c in free if c.agent_id != agent_id]
        started.append(attempt.id)
    return started


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


def add_do_not_call(session: Session, e164: str, *, reason: str, actor: str, now: datetime) -> int:
    """Put a number on the list (idempotent) and block its open pending tasks; how many."""
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
        _close(task, TaskStatus.BLOCKED, now)
    session.flush()
    return len(tasks)
