"""Order intake from the order system (JSON API, CSV import): validate, upsert, review or approve.

Idempotent by order number: the same order sent again changes nothing; a changed order is
updated and judged again while it has not shipped. Services flush; the caller commits.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import record
from core.errors import DomainError
from core.models import Customer, Order, OrderItem, OrderStatus, PaymentType
from core.phones import to_e164
from middle_office import review_calls
from middle_office.models import OrderIntake, ReviewStatus, ReviewTask
from middle_office.policy import ReviewPolicy
from middle_office.rules import MISSING_INFO, OrderFacts, Reason, review_reasons
from outbound import tasks

NUMBER = re.compile(r"^[A-Za-z0-9-]{4,20}$")
ACCOUNT = re.compile(r"^[A-Za-z0-9-]{1,20}$")
OPEN_ORDER = (OrderStatus.PENDING_REVIEW, OrderStatus.APPROVED)


class InvalidOrder(DomainError):
    """The order cannot be stored; `details.fields` maps each bad field to what is wrong."""

    code = "invalid-order"


class OrderClosed(DomainError):
    """A change to an order that has shipped, been delivered or cancelled."""

    code = "order-closed"


@dataclass(frozen=True, slots=True)
class ItemIn:
    sku: str
    name: str
    quantity: int
    unit_price_fen: int


@dataclass(frozen=True, slots=True)
class OrderIn:
    """A validated order as the order system sent it."""

    number: str
    account: str
    customer_name: str | None
    amount_fen: int
    payment_type: str
    placed_at: datetime
    recipient_name: str | None
    recipient_phone: str | None
    province: str | None
    city: str | None
    address: str | None
    postal_code: str | None
    invoice_requested: bool
    invoice_title: str | None
    items: tuple[ItemIn, ...]

    def fingerprint(self) -> str:
        data = asdict(self)
        data["placed_at"] = self.placed_at.isoformat()
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _text(
    raw: Mapping[str, Any], name: str, errors: dict[str, str], limit: int, *, required: bool
) -> str | None:
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[name] = "required"
        return None
    if not isinstance(value, str):
        errors[name] = "must be a string"
        return None
    value = value.strip()
    if len(value) > limit or "\x00" in value:
        errors[name] = f"at most {limit} characters"
        return None
    return value


def _int(raw: Mapping[str, Any], name: str, errors: dict[str, str], *, low: int) -> int:
    value = raw.get(name)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        errors[name] = "required, a whole number" if value is None else "must be a whole number"
        return 0
    if not low <= value <= 10**12:
        errors[name] = f"must be at least {low}"
    return value


def parse_order(raw: Any, *, country_code: str = "86") -> OrderIn:
    """Validate one order payload; raise InvalidOrder naming every bad field (pure)."""
    if not isinstance(raw, Mapping):
        raise InvalidOrder("the body must be a JSON object", fields={"": "not an object"})
    errors: dict[str, str] = {}
    number = _text(raw, "number", errors, 20, required=True)
    if number and not NUMBER.match(number):
        errors["number"] = "4-20 letters, digits or dashes"
    account = _text(raw, "account", errors, 20, required=True)
    if account and not ACCOUNT.match(account):
        errors["account"] = "letters, digits or dashes"
    amount = _int(raw, "amount_fen", errors, low=0)
    payment = raw.get("payment_type")
    if payment not in {p.value for p in PaymentType}:
        errors["payment_type"] = "required: prepaid or cod" if payment is None else "prepaid or cod"
    placed_at = _datetime(raw.get("placed_at"), errors)
    phone_text = _text(raw, "recipient_phone", errors, 20, required=False)
    phone = to_e164(phone_text, country_code) if phone_text else None
    if phone_text and phone is None:
        errors["recipient_phone"] = "not a phone number"
    invoice_requested = raw.get("invoice_requested", False)
    if not isinstance(invoice_requested, bool):
        errors["invoice_requested"] = "must be true or false"
    items = _items(raw.get("items"), errors)
    if items and "amount_fen" not in errors:
        total = sum(i.quantity * i.unit_price_fen for i in items)
        if total != amount:
            errors["amount_fen"] = f"does not match the items' total ({total})"
    fields = {
        "customer_name": _text(raw, "customer_name", errors, 120, required=False),
        "recipient_name": _text(raw, "recipient_name", errors, 120, required=False),
        "province": _text(raw, "province", errors, 40, required=False),
        "city": _text(raw, "city", errors, 40, required=False),
        "address": _text(raw, "address", errors, 255, required=False),
        "postal_code": _text(raw, "postal_code", errors, 12, required=False),
        "invoice_title": _text(raw, "invoice_title", errors, 120, required=False),
    }
    unknown = sorted(set(raw) - set(FIELDS))
    for name in unknown:
        errors[str(name)[:40]] = "unknown field"
    if errors:
        raise InvalidOrder(f"{len(errors)} bad field(s)", fields=errors)
    assert number and account and placed_at
    return OrderIn(
        number=number,
        account=account,
        amount_fen=amount,
        payment_type=str(payment),
        placed_at=placed_at,
        recipient_phone=phone,
        invoice_requested=bool(invoice_requested),
        items=items,
        **fields,
    )


FIELDS = (
    "number",
    "account",
    "customer_name",
    "amount_fen",
    "payment_type",
    "placed_at",
    "recipient_name",
    "recipient_phone",
    "province",
    "city",
    "address",
    "postal_code",
    "invoice_requested",
    "invoice_title",
    "items",
)


def _datetime(value: Any, errors: dict[str, str]) -> datetime | None:
    if not isinstance(value, str):
        errors["placed_at"] = "required, ISO 8601 with a UTC offset"
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        errors["placed_at"] = "not an ISO 8601 date and time"
        return None
    if parsed.tzinfo is None:
        errors["placed_at"] = "needs a UTC offset"
        return None
    return parsed


def _items(value: Any, errors: dict[str, str]) -> tuple[ItemIn, ...]:
    if not isinstance(value, list) or not value:
        errors["items"] = "required, a non-empty list"
        return ()
    if len(value) > 200:
        errors["items"] = "at most 200 items"
        return ()
    items = []
    for index, raw in enumerate(value):
        local: dict[str, str] = {}
        if not isinstance(raw, Mapping):
            errors[f"items[{index}]"] = "must be an object"
            continue
        sku = _text(raw, "sku", local, 40, required=True)
        name = _text(raw, "name", local, 200, required=True)
        quantity = _int(raw, "quantity", local, low=1)
        price = _int(raw, "unit_price_fen", local, low=0)
        for key, message in local.items():
            errors[f"items[{index}].{key}"] = message
        if not local and sku and name:
            items.append(ItemIn(sku, name, quantity, price))
    return tuple(items)


@dataclass(frozen=True, slots=True)
class IntakeResult:
    order_id: int
    number: str
    outcome: str  # created, updated, unchanged
    status: str  # the order's status
    review_id: int | None
    reasons: tuple[str, ...]


def facts_of(order: Order, *, invoice_requested: bool) -> OrderFacts:
    return OrderFacts(
        number=order.number,
        amount_fen=order.amount_fen,
        payment_type=order.payment_type.value,
        placed_at=order.placed_at,
        phone=order.recipient_phone,
        province=order.province,
        city=order.city,
        address=order.address,
        invoice_requested=invoice_requested,
        invoice_title=order.invoice_title,
        items=tuple(sorted((i.sku, i.quantity) for i in order.items)),
        cancelled=order.status is OrderStatus.CANCELLED,
    )


def ingest(
    session: Session, data: OrderIn, *, source: str, now: datetime, policy: ReviewPolicy
) -> IntakeResult:
    """Store a new or changed order and judge it: a review task naming every reason, or approval.

    Flushes, never commits. The same order again (same fingerprint) changes nothing and
    returns `unchanged`; a changed order that has not shipped is updated and judged again.
    Raises OrderClosed for a change to a shipped, delivered or cancelled order.
    """
    fingerprint = data.fingerprint()
    intake = session.scalar(select(OrderIntake).where(OrderIntake.number == data.number))
    order = session.scalar(select(Order).where(Order.number == data.number))
    if intake is not None and intake.fingerprint == fingerprint and order is not None:
        review = open_review(session, order.id)
        return IntakeResult(
            order.id,
            order.number,
            "unchanged",
            order.status.value,
            review.id if review else None,
            tuple(review.reasons) if review else (),
        )
    if order is not None and order.status not in OPEN_ORDER:
        raise OrderClosed(
            f"order {data.number} is {order.status.value}; it can no longer change",
            number=data.number,
            status=order.status.value,
        )
    customer = _customer(session, data, now)
    outcome = "updated" if order is not None else "created"
    if order is None:
        order = Order(number=data.number, status=OrderStatus.PENDING_REVIEW)
        session.add(order)
    _apply(order, data, customer)
    session.flush()
    if intake is None:
        intake = OrderIntake(number=data.number, received_at=now, revisions=0)
        session.add(intake)
    intake.revisions += 1
    intake.order_id = order.id
    intake.fingerprint = fingerprint
    intake.invoice_requested = data.invoice_requested
    intake.updated_at = now
    intake.source = source
    session.flush()
    review = judge(session, order, now=now, policy=policy)
    record(
        session,
        actor_id=None,
        actor="order-system",
        action=f"order.{outcome}",
        subject_type="order",
        subject_id=order.number,
        now=now,
        source=source,
        status=order.status.value,
        reasons=list(review.reasons) if review else [],
    )
    return IntakeResult(
        order.id,
        order.number,
        outcome,
        order.status.value,
        review.id if review else None,
        tuple(review.reasons) if review else (),
    )


def _customer(session: Session, data: OrderIn, now: datetime) -> Customer:
    customer = session.scalar(select(Customer).where(Customer.account_number == data.account))
    if customer is None:
        customer = Customer(
            name=data.customer_name or data.recipient_name or data.account,
            account_number=data.account,
            created_at=now,
        )
        session.add(customer)
        session.flush()
    return customer


def _apply(order: Order, data: OrderIn, customer: Customer) -> None:
    order.customer = customer
    order.amount_fen = data.amount_fen
    order.payment_type = PaymentType(data.payment_type)
    order.placed_at = data.placed_at
    order.recipient_name = data.recipient_name
    order.recipient_phone = data.recipient_phone
    order.province = data.province
    order.city = data.city
    order.address = data.address
    order.postal_code = data.postal_code
    order.invoice_title = data.invoice_title
    order.items = [
        OrderItem(sku=i.sku, name=i.name, quantity=i.quantity, unit_price_fen=i.unit_price_fen)
        for i in data.items
    ]


def open_review(session: Session, order_id: int) -> ReviewTask | None:
    return session.scalar(
        select(ReviewTask).where(
            ReviewTask.order_id == order_id, ReviewTask.status == ReviewStatus.OPEN
        )
    )


def judge(
    session: Session, order: Order, *, now: datetime, policy: ReviewPolicy
) -> ReviewTask | None:
    """Run the rules on a stored order: open (or update) its review task, or approve it.

    Flushes. An order needing review is `pending_review` with one open ReviewTask naming
    every reason; a missing-information review also gets an outbound call task.
    """
    invoice = {
        i.order_id: i.invoice_requested
        for i in session.scalars(
            select(OrderIntake).where(
                OrderIntake.order_id.in_(
                    select(Order.id).where(Order.customer_id == order.customer_id)
                )
            )
        )
    }
    others = session.scalars(
        select(Order).where(Order.customer_id == order.customer_id, Order.id != order.id)
    ).all()
    findings = review_reasons(
        facts_of(order, invoice_requested=invoice.get(order.id, False)),
        [facts_of(o, invoice_requested=invoice.get(o.id, False)) for o in others],
        policy.thresholds,
    )
    review = open_review(session, order.id)
    if not findings:
        if review is not None:
            review.status = ReviewStatus.APPROVED
            review.decided_at = now
            review.decision_reason = "no rule tripped after a change"
            tasks.cancel_tasks_for(session, "review", review.id, now=now)
        order.status = OrderStatus.APPROVED
        session.flush()
        return None
    reasons = [f.reason.value for f in findings]
    details = {f.reason.value: f.detail for f in findings}
    if review is None:
        review = ReviewTask(order_id=order.id, reasons=reasons, details=details, created_at=now)
        session.add(review)
    else:
        review.reasons, review.details = reasons, details
    order.status = OrderStatus.PENDING_REVIEW
    session.flush()
    if any(Reason(r) in MISSING_INFO for r in reasons):
        review_calls.plan_review_call(session, review, now=now, policy=policy.calling)
    return review
