"""Booking queue callbacks with the outbound engine: the caller keeps their place in line.

The `queue_callback` kind is routed: the inbound router offers it at the caller's place among
live callers, and the engine makes the call (calling hours, do-not-call list, pacing,
recording, retries). What the call's events do to the queue entry: `queue_callbacks.entries`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from core.models import Call
from outbound.attempts import start_attempt
from outbound.errors import OutboundError
from outbound.kinds import TaskKind, register, subject_of
from outbound.models import OutboundTask
from outbound.policy import Policy
from outbound.tasks import change_number, create_task, on_do_not_call
from queue_callbacks import entries as callbacks
from queue_callbacks.entries import QueueEntrySubject
from queues.connect import UNASSIGNED, Followup, entry_cas, release_agent
from queues.models import Post, QueuedCall, QueuedCallStatus

log = logging.getLogger(__name__)

QUEUE_CALLBACK = register(
    TaskKind(
        "queue_callback",
        callbacks.SUBJECT_TYPE,
        Post.FRONT_DESK,
        True,
        "Queue callback",
        "callback_intro",
        QueueEntrySubject(),
    )
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


def book_queue_callback(
    session: Session, entry: QueuedCall, *, priority: int, now: datetime, policy: Policy
) -> Followup:
    """Hand a caller who left the line to be called back to the engine (once per entry).

    The entry keeps its place but leaves the waiting list (`scheduled`) until the caller's
    call has ended and the task is due (`queue_callbacks.entries.release_due`). An agent already
    ringing for the caller is released (back to available, their leg hung up): only the
    engine dials callbacks. A number on the do-not-call list ends the entry. Flushes; the
    followup updates Redis and the agent.
    """
    follow = Followup()
    if entry.callback_to is None or callbacks.task_of(session, entry.id) is not None:
        return follow
    if entry.status is QueuedCallStatus.ASSIGNED:
        follow.merge(release_agent(session, entry, now=now))
    entry_cas(
        session,
        entry,
        (QueuedCallStatus.WAITING, QueuedCallStatus.CALLBACK, QueuedCallStatus.ASSIGNED),
        status=QueuedCallStatus.SCHEDULED,
        **UNASSIGNED,
    )
    follow.dequeue.append(entry.id)
    call = session.get(Call, entry.call_id)
    plan_queue_callback(
        session,
        entry_id=entry.id,
        to_number=entry.callback_to,
        skill=entry.skill,
        language=entry.language,
        priority=priority,
        enqueued_at=entry.enqueued_at,
        customer_id=call.customer_id if call else None,
        now=now,
        policy=policy,
    )
    return follow


def change_callback_number(
    session: Session, entry_id: int, number: str, *, now: datetime, policy: Policy
) -> bool:
    """The caller keyed another number for their callback (before it was dialled): the entry
    and its pending task take it. False if the number is on the do-not-call list, or the
    callback has moved on. Flushes."""
    entry = session.get(QueuedCall, entry_id)
    task = callbacks.task_of(session, entry_id)
    if entry is None or on_do_not_call(session, number):
        return False
    if entry.status not in (QueuedCallStatus.CALLBACK, QueuedCallStatus.SCHEDULED):
        return False
    entry.callback_to = number
    if task is not None:
        change_number(session, task, number, now=now, policy=policy)
    session.flush()
    return True


def start_queue_callback(
    session: Session, entry: QueuedCall, *, now: datetime, policy: Policy
) -> tuple[int | None, Followup]:
    """The router reserved a callback entry for an agent: start the engine's attempt with them.

    Refused (not due, outside calling hours, the number on the do-not-call list, the task
    closed), the agent is released and the entry waits off the list for its next attempt (or
    ends). Returns the attempt to dial after the commit, or None, and the followup. Flushes.
    """
    task = callbacks.task_of(session, entry.id)
    if task is None or entry.agent_id is None:
        return None, release_agent(session, entry, now=now)
    try:
        attempt = start_attempt(session, task.id, agent_id=entry.agent_id, now=now, policy=policy)
    except OutboundError as exc:
        log.info("callback of entry %s not started: %s", entry.id, exc.code)
        follow = release_agent(session, entry, now=now)
        session.refresh(task)
        subject_of(task).attempt_over(session, task, None, now)
        return None, follow
    return attempt.id, Followup()
