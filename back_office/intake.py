"""RMA intake from the order system (JSON API, CSV import): validate, then create or update.

Idempotent by RMA number: the same request again changes nothing (`RmaIntake` keeps the
fingerprint of what was last sent); a changed request updates the RMA while it is still
undecided (awaiting inspection or in review) and is refused once it is decided. A request that
is wrong in any way is refused whole, naming every bad field, and nothing is stored. Services
flush; the caller commits.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from back_office import fields, states
from back_office.models import RmaIntake
from core.audit import record
from core.db import rowcount
from core.errors import DomainError
from core.models import Order, OrderItem, OrderStatus, Rma, RmaKind, RmaReason, RmaStatus

NUMBER = re.compile(r"^[A-Za-z0-9-]{4,20}$")
#: The reasons a customer may give; an unshipped order's cancellation is not filed this way.
REASONS = tuple(r.value for r in RmaReason if r is not RmaReason.UNSHIPPED_CANCEL)
#: States in which the order system may still change an RMA: nobody has decided it yet.
UNDECIDED = frozenset({RmaStatus.AWAITING_INSPECTION, RmaStatus.IN_REVIEW})
MAX_QUANTITY = 10_000

FIELDS = (
    "number",
    "order",
    "sku",
    "quantity",
    "kind",
    "reason",
    "replacement_sku",
    "opened",
    "description",
    "requested_at",
)


class InvalidRma(DomainError):
    """The RMA cannot be stored; `details.fields` maps each bad field to what is wrong."""

    code = "invalid-rma"


@dataclass(frozen=True, slots=True)
class RmaIn:
    """A validated RMA request as the order system sent it."""

    number: str
    order: str
    sku: str
    quantity: int
    kind: RmaKind
    reason: RmaReason
    replacement_sku: str | None
    opened: bool
    description: str | None
    requested_at: datetime | None

    def fingerprint(self) -> str:
        data = asdict(self)
        data["requested_at"] = self.requested_at.isoformat() if self.requested_at else None
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def parse_rma(raw: Any) -> RmaIn:
    """Validate one RMA payload; raise InvalidRma naming every bad field (pure)."""
    if not isinstance(raw, dict):
        raise InvalidRma("the body must be a JSON object", fields={"": "not an object"})
    errors: fields.Errors = {}
    number = fields.text(raw, "number", errors, 20, required=True)
    if number and not NUMBER.match(number):
        errors["number"] = "4-20 letters, digits or dashes"
    order = fields.text(raw, "order", errors, 20, required=True)
    sku = fields.text(raw, "sku", errors, 40, required=True)
    quantity = fields.whole(raw, "quantity", errors, low=1, high=MAX_QUANTITY)
    kind = raw.get("kind")
    if kind not in {k.value for k in RmaKind}:
        errors["kind"] = "required: return or exchange" if kind is None else "return or exchange"
    reason = raw.get("reason")
    if reason not in REASONS:
        errors["reason"] = "required, one of: " + ", ".join(REASONS)
    replacement = fields.text(raw, "replacement_sku", errors, 40, required=kind == "exchange")
    if kind == "return" and replacement:
        errors["replacement_sku"] = "only an exchange has a replacement"
    opened = fields.flag(raw, "opened", errors, default=False)
    description = fields.text(raw, "description", errors, 2000, required=False)
    requested_at = fields.moment(raw, "requested_at", errors)
    fields.unknown(raw, FIELDS, errors)
    if errors:
        raise InvalidRma(f"{len(errors)} bad field(s)", fields=errors)
    assert number and order and sku
    return RmaIn(
        number=number,
        order=order,
        sku=sku,
        quantity=quantity,
        kind=RmaKind(str(kind)),
        reason=RmaReason(str(reason)),
        replacement_sku=replacement,
        opened=opened,
        description=description,
        requested_at=requested_at,
    )


@dataclass(frozen=True, slots=True)
class IngestResult:
    rma_id: int
    number: str
    outcome: str  # created, updated, unchanged
    status: str  # the RMA's state


def ingest(session: Session, data: RmaIn, *, source: str, now: datetime) -> IngestResult:
    """Create or update the RMA `data` names. Flushes, never commits.

    The same request again (same fingerprint) changes nothing and returns `unchanged`, whatever
    state the RMA has reached since. A new RMA starts in `states.FILED` on its order line; a
    changed one is updated only while undecided (IllegalMove, 409, once it is decided: a
    compare-and-set, so a decision made meanwhile wins). Raises InvalidRma naming every field
    the database contradicts (unknown order, an order not delivered, a SKU not on it, more than
    is left of the line); nothing is stored then. Creates and updates are audited.

    Two requests filing the same new number at once: the one that commits second finds the
    other's RMA at its insert (a savepoint catches the unique constraint) and is judged again
    against it, so it answers `unchanged` or `updated` instead of failing.
    """
    try:
        return _ingest(session, data, source=source, now=now)
    except _Raced:
        return _ingest(session, data, source=source, now=now)


class _Raced(Exception):
    """Another transaction committed the same new RMA number first."""


def _ingest(session: Session, data: RmaIn, *, source: str, now: datetime) -> IngestResult:
    fingerprint = data.fingerprint()
    intake = session.scalar(select(RmaIntake).where(RmaIntake.number == data.number))
    rma = session.scalar(select(Rma).where(Rma.number == data.number))
    if intake is not None and rma is not None and intake.fingerprint == fingerprint:
        return IngestResult(rma.id, rma.number, "unchanged", rma.status.value)
    if rma is not None and rma.status not in UNDECIDED:
        raise refused_change(rma)
    order, line = _check(session, data, now)
    values = {
        "order_id": order.id,
        "customer_id": order.customer_id,
        "order_item_id": line.id,
        "sku": data.sku,
        "quantity": data.quantity,
        "kind": data.kind,
        "reason": data.reason.value,
        "replacement_sku": data.replacement_sku,
        "opened": data.opened,
        "description": data.description,
        "source": source,
    }
    if rma is None:
        outcome, before = "created", None
        rma = Rma(number=data.number, status=states.FILED, created_at=data.requested_at or now)
        _assign(rma, values, now)
        try:
            with session.begin_nested():
                session.add(rma)
                session.flush()
        except IntegrityError as exc:
            raise _Raced from exc
    else:
        outcome, before = "updated", snapshot(rma)
        _update(session, rma, values, now)
    _remember(session, intake, rma, data.number, fingerprint, source, now)
    record(
        session,
        actor_id=None,
        actor="order-system",
        action=f"rma.{outcome}",
        subject_type="rma",
        subject_id=rma.number,
        now=now,
        source=source,
        before=before,
        after=snapshot(rma),
    )
    return IngestResult(rma.id, rma.number, outcome, rma.status.value)


def snapshot(rma: Rma) -> dict[str, Any]:
    """What the order system said of an RMA, and where it stands, as plain data (the audit)."""
    return {
        "status": rma.status.value,
        "order_id": rma.order_id,
        "order_item_id": rma.order_item_id,
        "sku": rma.sku,
        "quantity": rma.quantity,
        "kind": rma.kind.value,
        "reason": rma.reason,
        "replacement_sku": rma.replacement_sku,
        "opened": rma.opened,
        "description": rma.description,
    }


def refused_change(rma: Rma, what: str = "it") -> states.IllegalMove:
    """IllegalMove (409) for a change to a decided RMA, naming its state and who decided it."""
    return states.IllegalMove(
        f"RMA {rma.number} is {rma.status.value}: {what} can no longer change",
        rma=rma.number,
        event="update",
        status=rma.status.value,
        decided_by=rma.decided_by,
        decided_at=rma.decided_at.isoformat() if rma.decided_at else None,
        allowed=states.allowed(rma.kind, rma.status),
    )


def _assign(rma: Rma, values: dict[str, Any], now: datetime) -> None:
    for name, value in values.items():
        setattr(rma, name, value)
    rma.updated_at = now


def _update(session: Session, rma: Rma, values: dict[str, Any], now: datetime) -> None:
    """Change an undecided RMA, compare-and-set on its state (a decision made meanwhile wins)."""
    session.flush()
    changed = rowcount(
        session.execute(
            update(Rma)
            .where(Rma.id == rma.id, Rma.status.in_(UNDECIDED))
            .values(updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
    )
    session.refresh(rma)
    if changed != 1:
        raise refused_change(rma)


def _remember(
    session: Session,
    intake: RmaIntake | None,
    rma: Rma,
    number: str,
    fingerprint: str,
    source: str,
    now: datetime,
) -> None:
    if intake is None:
        intake = RmaIntake(number=number, received_at=now, revisions=0)
        session.add(intake)
    intake.rma_id = rma.id
    intake.revisions += 1
    intake.fingerprint = fingerprint
    intake.source = source
    intake.updated_at = now
    session.flush()


def holds_quantity(rma: Rma) -> bool:
    """Whether an RMA takes its quantity out of its order line: every one but a rejected one
    (rejected, or closed after a rejection: neither refunded nor shipped)."""
    if rma.status is RmaStatus.REJECTED:
        return False
    return not (
        rma.status is RmaStatus.CLOSED
        and rma.finance_reference is None
        and rma.tracking_number is None
        and rma.refund_amount_fen is None
    )


def _check(session: Session, data: RmaIn, now: datetime) -> tuple[Order, OrderItem]:
    """The order and line `data` names, or InvalidRma naming each field the database refuses."""
    errors: fields.Errors = {}
    if data.requested_at is not None and data.requested_at > now:
        errors["requested_at"] = "is in the future"
    order = session.scalar(select(Order).where(Order.number == data.order))
    if order is None:
        errors["order"] = f"no order {data.order}"
        raise InvalidRma(f"{len(errors)} bad field(s)", fields=errors)
    if order.status is not OrderStatus.DELIVERED:
        errors["order"] = f"order {order.number} is {order.status.value}, not delivered yet"
    lines = [i for i in order.items if i.sku == data.sku]
    if not lines:
        errors["sku"] = f"{data.sku} is not on order {order.number}"
    else:
        ordered = sum(i.quantity for i in lines)
        others = session.scalars(
            select(Rma).where(
                Rma.order_id == order.id,
                Rma.sku == data.sku,
                Rma.number != data.number,
            )
        ).all()
        held = sum(o.quantity for o in others if holds_quantity(o))
        if data.quantity > ordered - held:
            errors["quantity"] = (
                f"{ordered} ordered, {held} already under other RMAs: "
                f"at most {max(ordered - held, 0)}"
            )
    if errors:
        raise InvalidRma(f"{len(errors)} bad field(s)", fields=errors)
    return order, lines[0]
