"""Hand-offs: an approved return goes to finance (a refund to pay), an approved exchange to
logistics (a replacement to ship), each as a signed, retried webhook (`core.webhooks`, the
mechanism the middle office's decisions use) and in the daily CSV export of its target.

The delivery is queued in the approval's transaction, once per RMA (its dedupe key), so a
refund is handed to finance at most once whatever is retried or clicked twice. When the target
acknowledges it, the RMA moves on (`approved → refund_pending | replacement_pending`); until
then the work list shows it as "pending hand-off". Finance then confirms "refunded" and
logistics "shipped, tracking number" through the API (`confirm_refunded`, `confirm_shipped`):
the same confirmation twice changes nothing. Services flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from back_office import notices, states
from core import webhooks
from core.audit import record
from core.errors import DomainError
from core.models import Order, Rma, RmaKind, RmaStatus
from core.webhooks import WebhookDelivery
from outbound.policy import Policy

TARGET = {RmaKind.RETURN: "finance", RmaKind.EXCHANGE: "logistics"}
EVENT = {RmaKind.RETURN: "rma.refund_requested", RmaKind.EXCHANGE: "rma.replacement_requested"}


class ConfirmationMismatch(DomainError):
    """A confirmation that contradicts the one already recorded (another reference or
    tracking number): refused, nothing changes (HTTP 409)."""

    code = "confirmation-mismatch"


def delivery_key(rma: Rma) -> str:
    return f"rma:{rma.id}:handoff"


def payload_of(session: Session, rma: Rma) -> dict[str, Any]:
    """What finance or logistics is told about an approved RMA."""
    order = session.get(Order, rma.order_id)
    assert order is not None
    data: dict[str, Any] = {
        "rma": rma.number,
        "kind": rma.kind.value,
        "order": order.number,
        "account": order.customer.account_number,
        "sku": rma.sku,
        "quantity": rma.quantity,
        "reason": rma.reason,
        "approved_at": rma.decided_at.isoformat() if rma.decided_at else None,
    }
    if rma.kind is RmaKind.RETURN:
        data["refund_amount_fen"] = rma.refund_amount_fen
        data["payment_type"] = order.payment_type.value
    else:
        data["replacement_sku"] = rma.replacement_sku
        data["recipient_name"] = order.recipient_name
        data["recipient_phone"] = order.recipient_phone
        data["province"] = order.province
        data["city"] = order.city
        data["address"] = order.address
        data["postal_code"] = order.postal_code
    return data


def hand_off(session: Session, rma: Rma, *, now: datetime) -> WebhookDelivery:
    """Queue the approved RMA's delivery to finance or logistics (once per RMA). Flushes; the
    caller sends it after the commit (`callcenter.jobs.outbound.deliver_decision`)."""
    if rma.status is not RmaStatus.APPROVED:
        raise states.IllegalMove(
            f"RMA {rma.number} is {rma.status.value}: only an approved RMA is handed off",
            rma=rma.number,
            status=rma.status.value,
        )
    return webhooks.queue_delivery(
        session,
        key=delivery_key(rma),
        target=TARGET[rma.kind],
        event=EVENT[rma.kind],
        payload=payload_of(session, rma),
        now=now,
    )


def delivery_of(session: Session, rma: Rma) -> WebhookDelivery | None:
    """The RMA's hand-off delivery, if it was handed off."""
    return session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.dedupe_key == delivery_key(rma))
    )


def _acknowledged(session: Session, delivery: WebhookDelivery, now: datetime) -> None:
    """Finance or logistics acknowledged a hand-off: the RMA is theirs now (once)."""
    rma = session.scalar(select(Rma).where(Rma.number == delivery.payload.get("rma")))
    if rma is None or states.target("handed_off", rma.kind, rma.status) is None:
        return  # already confirmed past it, or not an RMA's delivery
    states.move(session, rma, "handed_off", now=now)
    record(
        session,
        actor_id=None,
        actor="system",
        action="rma.handed_off",
        subject_type="rma",
        subject_id=rma.number,
        now=now,
        target=delivery.target,
        delivery_id=delivery.id,
        before=RmaStatus.APPROVED.value,
        after=rma.status.value,
    )


for _target in TARGET.values():
    webhooks.on_delivered(_target, _acknowledged)


@dataclass(frozen=True, slots=True)
class Confirmed:
    rma: str
    status: str
    changed: bool  # False: the same confirmation again


def find(session: Session, number: str) -> Rma:
    rma = session.scalar(select(Rma).where(Rma.number == number))
    if rma is None:
        raise states.UnknownRma(f"no RMA {number}", rma=number)
    return rma


def confirm_refunded(
    session: Session,
    number: str,
    *,
    reference: str,
    now: datetime,
    actor: str = "finance",
    policy: Policy | None = None,
) -> Confirmed:
    """Finance paid the refund of return `number` (its own `reference`); the customer's
    notice call is planned (`notices.plan_notice`, the engine's `policy`). Idempotent: the
    same confirmation again returns changed=False; another reference is a
    ConfirmationMismatch."""
    rma = find(session, number)
    if rma.finance_reference is not None:
        if rma.finance_reference != reference:
            raise ConfirmationMismatch(
                f"RMA {number} was refunded under {rma.finance_reference}",
                rma=number,
                reference=rma.finance_reference,
            )
        return Confirmed(rma.number, rma.status.value, False)
    before = states.move(session, rma, "refunded", now=now, finance_reference=reference)
    _audit(session, rma, "rma.refunded", actor, now, before, reference=reference)
    notices.plan_notice(session, rma, now=now, policy=policy or Policy())
    return Confirmed(rma.number, rma.status.value, True)


def confirm_shipped(
    session: Session,
    number: str,
    *,
    tracking: str,
    now: datetime,
    actor: str = "logistics",
    policy: Policy | None = None,
) -> Confirmed:
    """Logistics shipped the replacement of exchange `number` (parcel `tracking`); the
    customer's notice call is planned. Idempotent like `confirm_refunded`."""
    rma = find(session, number)
    if rma.tracking_number is not None:
        if rma.tracking_number != tracking:
            raise ConfirmationMismatch(
                f"RMA {number} shipped as {rma.tracking_number}",
                rma=number,
                tracking=rma.tracking_number,
            )
        return Confirmed(rma.number, rma.status.value, False)
    before = states.move(session, rma, "shipped", now=now, tracking_number=tracking)
    _audit(session, rma, "rma.replacement_shipped", actor, now, before, tracking=tracking)
    notices.plan_notice(session, rma, now=now, policy=policy or Policy())
    return Confirmed(rma.number, rma.status.value, True)


def _audit(
    session: Session,
    rma: Rma,
    action: str,
    actor: str,
    now: datetime,
    before: RmaStatus,
    **data: Any,
) -> None:
    record(
        session,
        actor_id=None,
        actor=actor,
        action=action,
        subject_type="rma",
        subject_id=rma.number,
        now=now,
        before=before.value,
        after=rma.status.value,
        **data,
    )
