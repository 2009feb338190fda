"""Queue callbacks: the queue entry's side of a callback that the outbound engine makes.

A caller who asks to be called back leaves the line. Their entry keeps its place (its score
on the waiting list depends only on its own values), and the outbound engine
(`outbound`, task kind `queue_callback`, registered by `queue_callbacks.booking`) makes the
call, with its calling hours, do-not-call list, dial pacing, recording and retries. The entry's
statuses on the way:

    booked as the caller leaves the queue   →  `booking.book_queue_callback`   scheduled
    the caller's call ended, the task due   →  `release_due`                   callback
      (on the waiting list again, in its place: the router offers it like a waiting caller)
    the router reserves it for an agent     →  `connect.reserve`                assigned
    the engine starts an attempt            →  `booking.start_queue_callback`
    the agent's leg is placed               →  `QueueEntrySubject.agent_leg`
    the customer answers                    →  `QueueEntrySubject.reached`      connected
    the agent's leg ends after the talk     →  `QueueEntrySubject.talk_ended`
    an attempt ends without a talk          →  `QueueEntrySubject.attempt_over`
      scheduled again for the engine's next attempt, or abandoned (attempts used up, the
      number on the do-not-call list)

The engine calls `QueueEntrySubject` inside its own transactions; every change is a
compare-and-set on the entry's status, so a repeated callback changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.models import Call
from outbound.models import OutboundAttempt, OutboundTask, TaskStatus
from queues.connect import (
    UNASSIGNED,
    Followup,
    caller_call_ended,
    entry_cas,
    entry_event,
    mark_answered,
)
from queues.models import QueuedCall, QueuedCallStatus

S = QueuedCallStatus
SUBJECT_TYPE = "queue_entry"
#: A caller still "on the line" this long after asking for a callback has gone (a lost status).
CALLER_GONE_AFTER = timedelta(minutes=5)
#: Entries a callback attempt may find its entry in (before the customer answers).
BEFORE_TALK = (S.CALLBACK, S.SCHEDULED, S.ASSIGNED)


def entry_of(session: Session, task: OutboundTask) -> QueuedCall | None:
    if task.subject_type != SUBJECT_TYPE:
        return None
    return session.get(QueuedCall, task.subject_id)


def task_of(session: Session, entry_id: int) -> OutboundTask | None:
    return session.scalar(
        select(OutboundTask).where(
            OutboundTask.subject_type == SUBJECT_TYPE, OutboundTask.subject_id == entry_id
        )
    )


class QueueEntrySubject:
    """What the outbound engine's events mean for a queue entry (see the module's docstring)."""

    def call_key(self, session: Session, task: OutboundTask) -> str | None:
        """The call the agent is reserved for: the caller's original call, as the router set
        it (so the desk's screen pop shows the entry)."""
        entry = entry_of(session, task)
        return entry.call_sid if entry is not None else None

    def agent_leg(self, session: Session, task: OutboundTask, attempt: OutboundAttempt) -> None:
        """The agent's leg has a CallSid: keep it on the entry (the desk answers and hangs up
        by it, supervisors monitor by it)."""
        entry = entry_of(session, task)
        if (
            entry is not None
            and entry.status in (S.ASSIGNED, S.CONNECTED)
            and entry.agent_id == attempt.agent_id
            and entry.agent_call_sid is None
            and attempt.agent_call_sid
        ):
            entry.agent_call_sid = attempt.agent_call_sid
            session.flush()

    def reached(
        self, session: Session, task: OutboundTask, attempt: OutboundAttempt, now: datetime
    ) -> None:
        """The customer answered: the wait ends now (what the callback figures count)."""
        entry = entry_of(session, task)
        if entry is None or entry.status is not S.ASSIGNED:
            return
        waited = mark_answered(session, entry, now)
        if waited is not None:
            entry_event(
                session,
                entry,
                "agent_answered",
                now,
                f"answered:{entry.assignment_id}",
                agent_id=entry.agent_id,
                waited_s=waited,
                attempt_id=attempt.id,
            )

    def talk_ended(
        self, session: Session, task: OutboundTask, attempt: OutboundAttempt, now: datetime
    ) -> None:
        entry = entry_of(session, task)
        if entry is not None and entry.status is S.CONNECTED and entry.talk_ended_at is None:
            entry.talk_ended_at = now
            session.flush()

    def attempt_over(
        self, session: Session, task: OutboundTask, attempt: OutboundAttempt | None, now: datetime
    ) -> None:
        """An attempt ended, or the task closed, without a talk. A pending task: the entry waits
        off the list for the next attempt (`release_due`). A closed one: the entry ends."""
        entry = entry_of(session, task)
        if entry is None or entry.status not in BEFORE_TALK:
            return
        if task.status in (TaskStatus.PENDING, TaskStatus.CALLING):
            entry_cas(session, entry, BEFORE_TALK, status=S.SCHEDULED, **UNASSIGNED)
            return
        waited = max(0, round((now - entry.enqueued_at).total_seconds()))
        why = task.last_outcome  # failed: the last attempt's outcome (no_answer, busy, …)
        if task.status in (TaskStatus.BLOCKED, TaskStatus.CANCELLED) or why is None:
            why = task.status.value
        reason = f"callback_{why}"[:40]
        if entry_cas(
            session,
            entry,
            BEFORE_TALK,
            status=S.ABANDONED,
            left_at=now,
            wait_s=waited,
            reason=reason,
            **UNASSIGNED,
        ):
            entry_event(
                session,
                entry,
                "callback_failed",
                now,
                f"callback_failed:{entry.id}",
                status=task.status.value,
                outcome=task.last_outcome,
            )


def release_due(session: Session, *, now: datetime, call_sid: str | None = None) -> Followup:
    """Put back on the waiting list, in their place, the scheduled callbacks that may be
    called now: the task is pending and due (which is inside calling hours), and the caller's
    own call has ended (nobody is dialled back while still on the line confirming the number;
    if that call's final status never came, `CALLER_GONE_AFTER` after the request).

    Run by the router's tick, and when a caller's call ends (`call_sid`). Flushes; the
    followup adds the entries to Redis and routes them.
    """
    query = (
        select(QueuedCall)
        .join(OutboundTask, OutboundTask.subject_id == QueuedCall.id)
        .join(Call, Call.id == QueuedCall.call_id)
        .where(
            QueuedCall.status == S.SCHEDULED,
            OutboundTask.subject_type == SUBJECT_TYPE,
            OutboundTask.status == TaskStatus.PENDING,
            OutboundTask.next_attempt_at <= now,
            or_(
                Call.ended_at.is_not(None),
                QueuedCall.callback_requested_at <= now - CALLER_GONE_AFTER,
            ),
        )
        .order_by(QueuedCall.id)
    )
    if call_sid is not None:
        query = query.where(QueuedCall.call_sid == call_sid)
    follow = Followup()
    for entry in session.scalars(query).all():
        if entry_cas(session, entry, (S.SCHEDULED,), status=S.CALLBACK):
            follow.requeue.append(entry.id)
            follow.route_entries.append(entry.id)
    return follow


def call_ended(session: Session, call_sid: str, *, now: datetime) -> Followup:
    """The caller's call has ended (its final status): what that means for the line. Flushes.

    An agent left waiting for the caller in a conference is freed
    (`queues.connect.caller_call_ended`), and a callback booked on this call may now be made:
    the caller is off the line (`release_due`). Idempotent like both; the followup is for the
    boundary, after the commit.
    """
    follow = caller_call_ended(session, call_sid, now=now)
    return follow.merge(release_due(session, now=now, call_sid=call_sid))
