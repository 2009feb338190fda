"""Booking queue callbacks with the outbound engine: the caller keeps their place in line.

The `queue_callback` kind is routed: the inbound router offers it at the caller's place among
live callers, and the engine makes the call (calling hours, do-not-call list, pacing,
recording, retries). What the call's events do to the queue entry: `queue_callbacks.entries`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core.calls import get_call
from core.models import Call
from core.phones import to_e164
from outbound.attempts import start_attempt
from outbound.errors import OutboundError
from outbound.kinds import TaskKind, register, subject_of
from outbound.policy import Policy
from outbound.tasks import change_number, create_task, on_do_not_call
from queue_callbacks import entries as callbacks
from queue_callbacks.entries import QueueEntrySubject
from queues.config import PresenceSettings
from queues.connect import OPEN, UNASSIGNED, Followup, caller_left, entry_cas, release_agent
from queues.models import Post, QueuedCall, QueuedCallStatus
from queues.routing import base_priority
from queues.services import waiting_caller

log = logging.getLogger(__name__)
#: How often a caller may key a callback number we cannot take before the one we have stands.
NUMBER_TRIES = 3

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
    create_task(  # the caller keeps their priority and arrival time
        session,
        kind=QUEUE_CALLBACK.name,
        subject_id=entry.id,
        to_number=entry.callback_to,
        language=entry.language,
        skill=entry.skill,
        priority=priority,
        queued_at=entry.enqueued_at,
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


def may_call_back(session: Session, call_sid: str) -> bool:
    """Whether a callback may be offered on this call: the caller's number is known and it is
    not on the do-not-call list. Read-only."""
    call = get_call(session, call_sid)
    number = call.caller_e164 if call else None
    return number is not None and not on_do_not_call(session, number)


def caller_left_queue(
    session: Session,
    entry: QueuedCall,
    *,
    now: datetime,
    presence: PresenceSettings,
    tier_priority: Mapping[str, int],
    policy: Policy,
) -> Followup:
    """The caller left the queue (Twilio's Enqueue action, after `leave_queue` ended or kept
    their entry): what follows for the line. Flushes.

    An agent still reserved for the caller is released (`queues.connect.caller_left`); a
    caller who left to be called back is handed to the engine with the priority they had on
    the waiting list (`book_queue_callback`). Idempotent like both; the followup is for the
    boundary, after the commit.
    """
    follow = caller_left(session, entry, now=now, presence=presence)
    if entry.callback_to and entry.status in OPEN:  # left to be called back
        priority = base_priority(waiting_caller(entry), tier_priority)
        follow.merge(book_queue_callback(session, entry, priority=priority, now=now, policy=policy))
    return follow


@dataclass(frozen=True, slots=True)
class NumberKeyed:
    """What the caller's answer to "is this your number?" led to."""

    entry_id: int | None  # None: no callback of this call to confirm (say goodbye)
    number: str | None  # the number the callback goes to
    again: bool = False  # a number we cannot take was keyed: ask once more


def key_callback_number(
    session: Session,
    entry_id: int,
    call_sid: str,
    digits: str | None,
    *,
    attempt: int,
    country_code: str,
    now: datetime,
    policy: Policy,
) -> NumberKeyed:
    """The caller confirmed their callback number (1, or nothing) or keyed another. Flushes.

    Another number is taken when it is a plausible phone number we may call
    (`change_callback_number`); otherwise the caller is asked again, up to `NUMBER_TRIES`
    times, after which the number we have stands. An entry that is not this call's is not
    touched. Keying the same number twice changes nothing more.
    """
    entry = session.get(QueuedCall, entry_id)
    if entry is None or entry.call_sid != call_sid:
        return NumberKeyed(None, None)
    keyed = (digits or "").strip()
    if keyed and keyed != "1":
        number = to_e164(keyed, country_code)
        taken = (
            number is not None
            and len(number) >= 8
            and change_callback_number(session, entry.id, number, now=now, policy=policy)
        )
        if not taken and attempt < NUMBER_TRIES:  # invalid, or a number we may not call
            return NumberKeyed(entry.id, entry.callback_to, again=True)
    return NumberKeyed(entry.id, entry.callback_to)
