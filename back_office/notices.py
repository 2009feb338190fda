"""Status notices: "refund issued" and "replacement shipped" as automated calls of the outbound
engine (a task kind it dials by itself, with no agent: `outbound.automated`).

Finance's or logistics' confirmation (`handoffs.confirm_refunded`, `confirm_shipped`) plans
the notice (`plan_notice`): one task per RMA and event (its dedupe key), to the order's
recipient phone, else the account's first phone, in the customer's language; the engine
derives the time zone from the number and applies its rules (calling hours there, retries
with backoff, the do-not-call list, pacing). The customer hears the RMA number as digits, the
outcome, and the refund in yuan or the tracking number (`script`); an answering machine gets
the number and the outcome only. When the task closes, whatever the reason (done: heard to
the end or left on a machine; failed: never reached; blocked: do-not-call), the RMA moves
`close`, audited (`NoticeSubject`). Services flush and never commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from back_office import states
from core.audit import record
from core.models import Customer, Order, Rma, RmaKind, RmaStatus
from core.speech import say_amount, say_digits
from outbound.kinds import Line, NoSubject, TaskKind, register
from outbound.models import OutboundAttempt, OutboundTask, TaskStatus
from outbound.policy import Policy
from outbound.tasks import create_task
from queues.models import Post

#: The skill (and queue, config/queues.toml) of the back office's returns and exchanges.
SKILL = "returns"
#: The RMA's state after a confirmation → the notice's event.
EVENTS = {RmaStatus.REFUNDED: "refunded", RmaStatus.REPLACEMENT_SHIPPED: "shipped"}
#: Task states after which the RMA is closed (the customer was told, or cannot be).
CLOSING = frozenset({TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.BLOCKED})


def spoken_reference(reference: str, language: str) -> str:
    """A reference as said on the phone: its letters one by one, then its digits in groups
    (`core.speech.say_digits`): SF1234567890 → "S F, 幺二三四，五六七八，九零"."""
    letters = " ".join(ch.upper() for ch in reference if ch.isascii() and ch.isalpha())
    digits = say_digits(reference, language)
    separator = "，" if language == "zh" else ", "
    return separator.join(part for part in (letters, digits) if part)


def script(session: Session, task: OutboundTask, language: str, machine: bool) -> list[Line]:
    """What the customer of an RMA notice hears, in `language` (read-only)."""
    rma = session.get(Rma, task.subject_id)
    if rma is None:
        return []
    number = say_digits(rma.number, language)
    if rma.kind is RmaKind.RETURN:
        amount = say_amount(rma.refund_amount_fen or 0, language)
        key = "notice_machine_refunded" if machine else "notice_refunded"
        return [Line(key, (("number", number), ("amount", amount)))]
    tracking = spoken_reference(rma.tracking_number or "", language)
    key = "notice_machine_shipped" if machine else "notice_shipped"
    return [Line(key, (("number", number), ("tracking", tracking)))]


class NoticeSubject(NoSubject):
    """What a notice call's end means for its RMA: once its task closes, the RMA is closed."""

    def attempt_over(
        self, session: Session, task: OutboundTask, attempt: OutboundAttempt | None, now: datetime
    ) -> None:
        if task.status not in CLOSING:
            return  # pending again: another attempt follows
        rma = session.get(Rma, task.subject_id)
        if rma is None or states.target("close", rma.kind, rma.status) is None:
            return  # gone, or closed already
        before = states.move(session, rma, "close", now=now)
        record(
            session,
            actor_id=None,
            actor="system",
            action="rma.closed",
            subject_type="rma",
            subject_id=rma.number,
            now=now,
            before=before.value,
            after=rma.status.value,
            task_id=task.id,
            notice=task.status.value,
            outcome=task.last_outcome,
        )


#: Dialled by the engine when due; 0 in its menu puts the customer through to `returns`.
RMA_NOTICE = register(
    TaskKind(
        "rma_notice",
        "rma",
        Post.BACK_OFFICE,
        False,
        "RMA notice",
        subject=NoticeSubject(),
        automated=True,
        script=script,
        queue=SKILL,
    )
)


def notice_key(rma: Rma, event: str) -> str:
    return f"{RMA_NOTICE.name}:{rma.id}:{event}"


def plan_notice(
    session: Session, rma: Rma, *, now: datetime, policy: Policy
) -> OutboundTask | None:
    """The notice call of a refunded return or a shipped exchange (once per RMA and event);
    None if the RMA is in neither state or the customer has no number (then the RMA stays
    open: an agent tells them). A number on the do-not-call list gives a blocked task, and
    the RMA is closed at once. Flushes."""
    event = EVENTS.get(rma.status)
    if event is None:
        return None
    order = session.get(Order, rma.order_id)
    customer = session.get(Customer, rma.customer_id)
    if order is None or customer is None:
        return None
    number = order.recipient_phone or (customer.phones[0].e164 if customer.phones else None)
    if number is None:
        return None
    task = create_task(
        session,
        kind=RMA_NOTICE.name,
        subject_id=rma.id,
        to_number=number,
        language=customer.language.value,
        skill=SKILL,
        now=now,
        policy=policy,
        customer_id=customer.id,
        dedupe_key=notice_key(rma, event),
    )
    record(
        session,
        actor_id=None,
        actor="system",
        action="rma.notice_planned",
        subject_type="rma",
        subject_id=rma.number,
        now=now,
        event=event,
        task_id=task.id,
        status=task.status.value,
    )
    return task
