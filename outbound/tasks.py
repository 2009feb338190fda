"""Outbound tasks: one reason to phone one customer, from creation to closing.

A task is created once per kind and subject (`create_task`), assigned to the lightest-loaded
eligible agent unless its kind is routed (`assign`), worked from the work list (`work_list`),
given another number before it is dialled (`change_number`), rescheduled or closed after each
attempt (`reschedule`, `close`), and cancelled when its subject no longer needs a call
(`cancel_tasks_for`). A number on the do-not-call list blocks every task to it
(`add_do_not_call`). Services flush and never commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import record
from outbound.kinds import KINDS, kind_of, subject_of
from outbound.models import OPEN_TASK, DoNotCall, OutboundAttempt, OutboundTask, Outcome, TaskStatus
from outbound.policy import Policy
from outbound.scheduling import Candidate, choose_assignee, next_calling_time, schedule_after
from queues.models import Agent


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
    dedupe_key: str | None = None,
) -> OutboundTask:
    """Create (once per kind and subject, or per `dedupe_key` when given) a task to phone
    `to_number`, assigned if possible (never for routed or automated kinds).

    Idempotent: the same kind and subject (key) return the existing task. A number on the
    do-not-call list gives a `blocked` task that is never dialled. Flushes.
    """
    spec = kind_of(kind)
    key = dedupe_key or f"{kind}:{subject_id}"
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
        close(session, task, TaskStatus.BLOCKED, now)
    elif not spec.routed and not spec.automated:
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
        close(session, task, TaskStatus.CANCELLED, now)
    session.flush()
    return len(tasks)


def change_number(
    session: Session, task: OutboundTask, number: str, *, now: datetime, policy: Policy
) -> bool:
    """A pending task is to call another number (before it is dialled): its time zone follows
    the number, and its next attempt waits for calling hours there. False (nothing changed) if
    the task is no longer pending. The caller checks the do-not-call list. Flushes."""
    if task.status is not TaskStatus.PENDING:
        return False
    task.to_number = number
    task.timezone = policy.timezone_for(number)
    task.next_attempt_at = max(
        task.next_attempt_at, next_calling_time(policy.calling_hours(task.timezone), now)
    )
    session.flush()
    return True


def close(
    session: Session,
    task: OutboundTask,
    status: TaskStatus,
    now: datetime,
    attempt: OutboundAttempt | None = None,
) -> None:
    """Close the task with `status` (done, failed, blocked, cancelled) and tell its subject;
    `attempt` is the one that closed it, if any. Flushes."""
    task.status = status
    task.closed_at = now
    session.flush()
    subject_of(task).attempt_over(session, task, attempt, now)


def reschedule(
    session: Session, task: OutboundTask, outcome: Outcome, *, now: datetime, policy: Policy
) -> None:
    """What follows an attempt's `outcome` for a task still `calling` (`schedule_after`):
    pending again at its next time, or closed. A task no longer calling is left alone, so a
    repeated event changes nothing. Flushes."""
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
        close(session, task, follow.status, now)
    session.flush()


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
            a.post_now.value if a.post_now else None,
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
    listed = [k.name for k in KINDS.values() if not k.routed and not k.automated]
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


# --- the do-not-call list --------------------------------------------------------------------


def on_do_not_call(session: Session, e164: str) -> bool:
    return session.get(DoNotCall, e164) is not None


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
        close(session, task, TaskStatus.BLOCKED, now)
    session.flush()
    return list(tasks)
