"""The back office's status call: an agent phones the customer about their RMA (a rejection, or
anything that needs explaining), as a task kind of the one outbound engine.

The kind is worked from the back office's work list by click-to-call (the engine's work list,
retries with backoff, calling hours in the customer's time zone, the do-not-call list and
pacing: nothing of that is repeated here). One task per RMA (the engine's dedupe key is kind and
subject), planned on rejection (`back_office.review.reject`) or by the "call the customer"
button. When the task closes, a rejected RMA has been dealt with: reached (done), attempts
exhausted or refused (failed), or the number is on the do-not-call list (blocked) all move it
`close`; a cancelled task does not. Services flush and never commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from back_office import states
from core.audit import record
from core.errors import DomainError
from core.models import Customer, Order, Rma, RmaStatus
from outbound.kinds import NoSubject, TaskKind, register
from outbound.models import OutboundAttempt, OutboundTask, TaskStatus
from outbound.policy import Policy
from outbound.tasks import create_task
from queues.models import Post

#: The task statuses after which a rejected RMA is closed: the customer was told, or they
#: cannot be (attempts exhausted, refused, wrong number, do-not-call).
CLOSES_THE_RMA = frozenset({TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.BLOCKED})

#: The skill the back office's calls are matched on (after-sales).
SKILL = "aftersales"


class NobodyToCall(DomainError):
    """The RMA's customer has no phone number on file and the order names none (HTTP 409)."""

    code = "nobody-to-call"


class RmaStatusSubject(NoSubject):
    """What the status call's events mean for its RMA: only its closing matters (the talk is
    the agent's; its notes are the attempt's)."""

    def attempt_over(
        self, session: Session, task: OutboundTask, attempt: OutboundAttempt | None, now: datetime
    ) -> None:
        if task.status not in CLOSES_THE_RMA:
            return
        rma = session.get(Rma, task.subject_id)
        if rma is None or states.target("close", rma.kind, rma.status) is None:
            return  # gone, or not closable yet (an approved RMA closes when it is settled)
        if rma.status is not RmaStatus.REJECTED:
            return  # a refund or a shipment closes by its own notice, not by this call
        before = states.move(session, rma, "close", now=now)
        record(
            session,
            actor_id=None,
            actor="system",
            action="rma.closed",
            subject_type="rma",
            subject_id=rma.number,
            now=now,
            task_id=task.id,
            task_status=task.status.value,
            outcome=task.last_outcome,
            before=before.value,
            after=rma.status.value,
        )


#: Worked from the back office's work list by click-to-call; closing it closes a rejected RMA.
RMA_STATUS_CALL = register(
    TaskKind(
        "rma_status",
        "rma",
        Post.BACK_OFFICE,  # only agents working the back office get its tasks
        False,
        "RMA status call",
        subject=RmaStatusSubject(),
    )
)


def number_to_call(session: Session, rma: Rma) -> str | None:
    """Whom to phone about `rma`: the customer's first number on file, else the order's
    recipient's (pure read)."""
    customer = session.get(Customer, rma.customer_id)
    if customer is not None and customer.phones:
        return customer.phones[0].e164
    order = session.get(Order, rma.order_id)
    return order.recipient_phone if order is not None else None


def plan_status_call(
    session: Session,
    rma: Rma,
    *,
    now: datetime,
    policy: Policy,
    actor: str = "system",
    agent_id: int | None = None,
    why: str = "",
) -> OutboundTask:
    """The status call about `rma` (once per RMA: a second request returns the same task).

    A number on the do-not-call list gives a `blocked` task (never dialled; a rejected RMA then
    closes at once). NobodyToCall when there is no number. Audited. Flushes.
    """
    number = number_to_call(session, rma)
    if number is None:
        raise NobodyToCall(f"RMA {rma.number}: no phone number to call", rma=rma.number)
    customer = session.get(Customer, rma.customer_id)
    task = create_task(
        session,
        kind=RMA_STATUS_CALL.name,
        subject_id=rma.id,
        to_number=number,
        language=customer.language.value if customer else "zh",
        skill=SKILL,
        customer_id=rma.customer_id,
        now=now,
        policy=policy,
    )
    record(
        session,
        actor_id=agent_id,
        actor=actor,
        action="rma.status_call_planned",
        subject_type="rma",
        subject_id=rma.number,
        now=now,
        task_id=task.id,
        task_status=task.status.value,
        why=why[:200],
    )
    return task
