"""The review rules: pure decisions over plain order facts, thresholds passed in as data.

`review_reasons(order, history, thresholds)` names every rule an order trips; an order that
trips none is approved automatically. `checklist(payment_type, reasons)` is what the reviewer
works through: prepaid and cash-on-delivery orders differ (docs/MIDDLE_OFFICE.md).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


class Reason(enum.StrEnum):
    AMOUNT_OVER_LIMIT = "amount_over_limit"
    MISSING_ADDRESS = "missing_address"
    MISSING_PHONE = "missing_phone"
    MISSING_INVOICE_TITLE = "missing_invoice_title"
    DUPLICATE_ORDER = "duplicate_order"
    MANY_ORDERS = "many_orders"
    UNUSUAL_ADDRESS = "unusual_address"


#: Reasons that only a call to the customer can clear (information we do not have).
MISSING_INFO = frozenset(
    {Reason.MISSING_ADDRESS, Reason.MISSING_PHONE, Reason.MISSING_INVOICE_TITLE}
)


@dataclass(frozen=True, slots=True)
class Thresholds:
    amount_fen: int = 200_000  # strictly above this is reviewed (2,000 CNY)
    duplicate_window: timedelta = timedelta(minutes=30)
    burst_count: int = 4
    burst_window: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What the rules look at in one order (the candidate, or one of the customer's others)."""

    number: str
    amount_fen: int
    payment_type: str  # prepaid, cod
    placed_at: datetime
    phone: str | None
    province: str | None
    city: str | None
    address: str | None
    invoice_requested: bool
    invoice_title: str | None
    items: tuple[tuple[str, int], ...]  # (sku, quantity), sorted
    cancelled: bool = False

    @property
    def has_address(self) -> bool:
        return all((v or "").strip() for v in (self.province, self.city, self.address))

    @property
    def place(self) -> tuple[str, str] | None:
        if not self.has_address:
            return None
        return (_norm(self.province), _norm(self.city))


def _norm(text: str | None) -> str:
    return "".join((text or "").split()).lower().removesuffix("市").removesuffix("省")


@dataclass(frozen=True, slots=True)
class Finding:
    reason: Reason
    detail: dict[str, Any]


def missing_info(order: OrderFacts) -> list[Finding]:
    """The incomplete-information rules `order` trips: address, phone, invoice title (pure)."""
    found: list[Finding] = []
    if not order.has_address:
        missing = [
            name
            for name, value in (
                ("province", order.province),
                ("city", order.city),
                ("address", order.address),
            )
            if not (value or "").strip()
        ]
        found.append(Finding(Reason.MISSING_ADDRESS, {"fields": missing}))
    if not (order.phone or "").strip():
        found.append(Finding(Reason.MISSING_PHONE, {}))
    if order.invoice_requested and not (order.invoice_title or "").strip():
        found.append(Finding(Reason.MISSING_INVOICE_TITLE, {}))
    return found


def review_reasons(
    order: OrderFacts, history: Sequence[OrderFacts], thresholds: Thresholds
) -> list[Finding]:
    """Every rule `order` trips, in the order of `Reason`; empty means approve automatically.

    `history` is the customer's other orders (any time; the rules pick their own windows).
    Only later orders are flagged as duplicates: the earlier one is named in the detail.
    Pure: the same facts always give the same findings.
    """
    found: list[Finding] = []
    if order.amount_fen > thresholds.amount_fen:
        found.append(
            Finding(
                Reason.AMOUNT_OVER_LIMIT,
                {"amount_fen": order.amount_fen, "limit_fen": thresholds.amount_fen},
            )
        )
    found.extend(missing_info(order))
    others = [o for o in history if o.number != order.number and not o.cancelled]
    duplicate = _duplicate_of(order, others, thresholds.duplicate_window)
    if duplicate is not None:
        found.append(Finding(Reason.DUPLICATE_ORDER, {"of": duplicate.number}))
    recent = [
        o.number
        for o in others
        if timedelta(0) <= order.placed_at - o.placed_at <= thresholds.burst_window
    ]
    if len(recent) + 1 >= thresholds.burst_count:
        found.append(
            Finding(
                Reason.MANY_ORDERS,
                {
                    "count": len(recent) + 1,
                    "window_s": int(thresholds.burst_window.total_seconds()),
                    "orders": sorted(recent),
                },
            )
        )
    usual = {o.place for o in others if o.place is not None and o.placed_at < order.placed_at}
    if order.place is not None and usual and order.place not in usual:
        found.append(
            Finding(
                Reason.UNUSUAL_ADDRESS,
                {"city": order.city, "usual": sorted(f"{p} {c}" for p, c in usual)},
            )
        )
    return found


def _duplicate_of(
    order: OrderFacts, others: Sequence[OrderFacts], window: timedelta
) -> OrderFacts | None:
    """The earliest earlier order with the same items and destination within `window`."""
    for other in sorted(others, key=lambda o: (o.placed_at, o.number)):
        gap = order.placed_at - other.placed_at
        earlier = gap > timedelta(0) or (gap == timedelta(0) and other.number < order.number)
        if (
            earlier
            and gap <= window
            and other.items == order.items
            and other.place == order.place
            and other.amount_fen == order.amount_fen
        ):
            return other
    return None


@dataclass(frozen=True, slots=True)
class CheckItem:
    code: str
    text: str


_PREPAID = (
    CheckItem("payment_received", "Payment received in full and matches the order amount"),
    CheckItem("payer_matches", "Payer account matches the customer account (no third-party card)"),
)
_COD = (
    CheckItem("customer_confirmed", "Customer confirmed by phone that they placed the order"),
    CheckItem("cod_area", "Cash on delivery is offered at the delivery address"),
    CheckItem("cod_limit", "Amount is within the courier's cash-on-delivery limit"),
)
_BY_REASON = {
    Reason.AMOUNT_OVER_LIMIT: CheckItem(
        "amount_confirmed", "Customer confirmed the items, quantities and total"
    ),
    Reason.MISSING_ADDRESS: CheckItem("address_completed", "Complete delivery address recorded"),
    Reason.MISSING_PHONE: CheckItem("phone_completed", "Recipient phone recorded"),
    Reason.MISSING_INVOICE_TITLE: CheckItem(
        "invoice_completed", "Invoice title (person or company name) recorded"
    ),
    Reason.DUPLICATE_ORDER: CheckItem(
        "duplicate_resolved", "Customer said whether both orders are wanted; cancel the extra one"
    ),
    Reason.MANY_ORDERS: CheckItem(
        "burst_explained", "Customer confirmed the orders (not a compromised account or reseller)"
    ),
    Reason.UNUSUAL_ADDRESS: CheckItem(
        "address_confirmed", "Customer confirmed the new delivery address"
    ),
}


def checklist(payment_type: str, reasons: Sequence[str]) -> list[CheckItem]:
    """The reviewer's checklist: the payment type's checks, then one per reason (pure)."""
    base = _COD if payment_type == "cod" else _PREPAID
    return [*base, *(_BY_REASON[Reason(r)] for r in reasons if r in _BY_REASON)]
