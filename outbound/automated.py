"""Automated calls: the engine dials a task of an automated kind by itself, with no agent.

The tick finds the due tasks (`due`); a job claims and dials each one with the
two-transaction pattern (STYLE §4.9):

1. claim and commit (`claim_dial`): the checks of a click-to-call (pending, due, the
   do-not-call list: the task is blocked and never dialled, calling hours in the customer's
   time zone: the task waits for the next opening), then a compare-and-set
   `pending → calling` on the task, which counts the attempt and creates it already
   `dialing_customer`; a second job for the same task finds it taken and dials nothing;
2. dial (after the commit, paced by the CPS token bucket), with answering-machine detection
   when the setting is on;
3. record the CallSid in a second transaction (`legs.record_customer_call`).

When the customer's phone answers (`answered`), a person hears the kind's script and then a
menu (1: again; 0: put through to the kind's queue at their tier, `put_through`; nothing: a
goodbye). Reaching the menu means the notice was heard to the end (`heard`: the attempt's
outcome is `reached_resolved`). An answering machine gets the short message and the outcome
`reached_machine`: a product choice, the notice was left, so the task closes as done and
reports count it apart from a person reached. A fax is a wrong number. The leg's final status
callback ends the attempt (`legs.customer_leg_ended`): heard or machine → done; answered but
hung up before the end → `hung_up_early`, retried with backoff; no answer, busy, failed →
retried until `max_attempts`, then failed. Reconciling covers these attempts like the
agent's: a claim whose CallSid never came back ends `dial_unconfirmed` and is retried as a
new attempt, never redialled (`outcomes.reconcile`); a lost final callback is asked of
Twilio (`outbound.reconcile`). Services flush and never commit.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.calls import upsert_call
from core.db import rowcount
from core.models import Customer, Language, Tier
from outbound.attempts import audit_attempt
from outbound.kinds import KINDS, Line, kind_of
from outbound.legs import Dial, customer_answered
from outbound.models import AttemptStatus, OutboundAttempt, OutboundTask, Outcome, TaskStatus
from outbound.policy import Policy
from outbound.scheduling import next_calling_time
from outbound.tasks import close, on_do_not_call
from queues import services as queue_services
from queues.models import QueuedCall
from queues.routing import QueueRoute

#: Twilio's AnsweredBy values (MachineDetection) that mean no person took the call.
MACHINE = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other"}
)
FAX = "fax"


class Answer(enum.StrEnum):
    """Who took an automated call, as the answer webhook decides what to play."""

    PERSON = "person"  # the script, then the menu
    MACHINE = "machine"  # the short message, then hang up
    NOBODY = "nobody"  # a fax, or an attempt no longer under way: hang up


def automated_kinds() -> list[str]:
    return [k.name for k in KINDS.values() if k.automated]


def due(session: Session, *, now: datetime, limit: int = 100) -> list[int]:
    """Pending tasks of automated kinds whose next attempt is due, in work order. Read-only."""
    kinds = automated_kinds()
    if not kinds:
        return []
    return list(
        session.scalars(
            select(OutboundTask.id)
            .where(
                OutboundTask.status == TaskStatus.PENDING,
                OutboundTask.kind.in_(kinds),
                OutboundTask.next_attempt_at <= now,
            )
            .order_by(OutboundTask.priority.desc(), OutboundTask.queued_at, OutboundTask.id)
            .limit(limit)
        )
    )


def is_due(session: Session, task_id: int, *, now: datetime) -> bool:
    """Whether the task may be claimed now (pending, automated, due). Read-only: a job asks
    before it waits for a dial token, so a copy of a job already done spends none."""
    task = session.get(OutboundTask, task_id)
    return (
        task is not None
        and task.status is TaskStatus.PENDING
        and kind_of(task.kind).automated
        and task.next_attempt_at <= now
    )


def claim_dial(session: Session, task_id: int, *, now: datetime, policy: Policy) -> Dial | None:
    """Claim an automated task's next call (step 1 above); the dial to make after the commit,
    or None: not pending (taken by another job), not automated, not due, on the do-not-call
    list (closed `blocked`), or outside calling hours (moved to the next opening). Flushes."""
    task = session.get(OutboundTask, task_id)
    if task is None or task.status is not TaskStatus.PENDING:
        return None
    if not kind_of(task.kind).automated or task.next_attempt_at > now:
        return None
    if on_do_not_call(session, task.to_number):
        close(session, task, TaskStatus.BLOCKED, now)
        return None
    hours = policy.calling_hours(task.timezone)
    if not hours.is_open(now):
        task.next_attempt_at = next_calling_time(hours, now)
        session.flush()
        return None
    claimed = rowcount(
        session.execute(
            update(OutboundTask)
            .where(OutboundTask.id == task_id, OutboundTask.status == TaskStatus.PENDING)
            .values(status=TaskStatus.CALLING, attempts=OutboundTask.attempts + 1)
            .execution_options(synchronize_session=False)
        )
    )
    if claimed != 1:
        return None
    session.refresh(task)
    attempt = OutboundAttempt(
        task_id=task_id,
        agent_id=None,
        status=AttemptStatus.DIALING_CUSTOMER,
        created_at=now,
        customer_claimed_at=now,
    )
    session.add(attempt)
    session.flush()
    audit_attempt(session, attempt, "outbound.attempt_started", now, automated=True)
    return Dial(attempt.id, task.to_number, task.id, "")


def answered(
    session: Session, attempt_id: int, call_sid: str, *, answered_by: str | None, now: datetime
) -> Answer:
    """The customer's phone answered (`dialing_customer → connected`, once; Twilio's repeat
    of the same webhook gets the same answer). `answered_by` is Twilio's AnsweredBy (None
    without machine detection: a person). Flushes."""
    first = customer_answered(session, attempt_id, call_sid, now=now)
    attempt = session.get(OutboundAttempt, attempt_id)
    if attempt is None or attempt.status is not AttemptStatus.CONNECTED:
        return Answer.NOBODY
    if first and answered_by in MACHINE:
        attempt.outcome = Outcome.REACHED_MACHINE.value
    elif first and answered_by == FAX:
        attempt.outcome = Outcome.WRONG_NUMBER.value
    if first:
        session.flush()
        audit_attempt(
            session, attempt, "outbound.answered", now, answered_by=answered_by or "human"
        )
    if attempt.outcome == Outcome.REACHED_MACHINE.value:
        return Answer.MACHINE
    if attempt.outcome == Outcome.WRONG_NUMBER.value:
        return Answer.NOBODY
    return Answer.PERSON


def heard(session: Session, attempt_id: int, *, now: datetime) -> bool:
    """The person reached the menu after the script: the notice was heard to the end (the
    attempt's outcome `reached_resolved`, set once). True while the call is under way."""
    kept = rowcount(
        session.execute(
            update(OutboundAttempt)
            .where(
                OutboundAttempt.id == attempt_id,
                OutboundAttempt.status == AttemptStatus.CONNECTED,
                OutboundAttempt.outcome.is_(None),
            )
            .values(outcome=Outcome.REACHED_RESOLVED.value)
            .execution_options(synchronize_session=False)
        )
    )
    attempt = session.get(OutboundAttempt, attempt_id, populate_existing=True)
    if kept and attempt is not None:
        audit_attempt(session, attempt, "outbound.notice_heard", now)
    return attempt is not None and attempt.status is AttemptStatus.CONNECTED


def script_of(session: Session, attempt_id: int, language: str, *, machine: bool) -> list[Line]:
    """What the attempt's customer hears (the kind's script). Read-only."""
    attempt = session.get(OutboundAttempt, attempt_id)
    if attempt is None:
        return []
    script = kind_of(attempt.task.kind).script
    return script(session, attempt.task, language, machine) if script is not None else []


def put_through(
    session: Session,
    attempt_id: int,
    call_sid: str,
    *,
    from_number: str,
    to_number: str,
    now: datetime,
) -> QueuedCall | None:
    """The person pressed 0: their leg waits in the kind's queue like an inbound caller, with
    their tier's priority (the call is recorded and tied to the task's customer). Idempotent
    per call and queue (`queues.services.enqueue_call`); None if the kind has no queue or the
    call is not under way. Flushes; the boundary adds the entry to the waiting list after the
    commit."""
    attempt = session.get(OutboundAttempt, attempt_id)
    if attempt is None or attempt.status is not AttemptStatus.CONNECTED:
        return None
    task = attempt.task
    queue = kind_of(task.kind).queue
    if queue is None:
        return None
    call, _ = upsert_call(
        session,
        call_sid,
        direction="outbound-api",
        from_number=from_number,
        to_number=to_number,
        now=now,
    )
    customer = session.get(Customer, task.customer_id) if task.customer_id else None
    if customer is not None and call.customer_id is None:
        call.customer_id = customer.id
        call.customer = customer
        call.identified_by = "outbound"
        call.vip = customer.tier is Tier.VIP
    if task.language in {lang.value for lang in Language}:
        call.language = Language(task.language)
    entry = queue_services.enqueue_call(
        session,
        call,
        QueueRoute(queue, task.skill, 0),
        language=task.language,
        tier=customer.tier.value if customer is not None else None,
        vip=call.vip,
        now=now,
    )
    audit_attempt(session, attempt, "outbound.put_through", now, queue=queue, entry_id=entry.id)
    return entry
