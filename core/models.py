"""Shared models of the kernel: customers, orders, RMA requests, calls and their event log."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow


def str_enum(cls: type[enum.Enum]) -> Enum:
    """Store a StrEnum by value in a plain string column (no native enum type to migrate)."""
    return Enum(cls, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e])


class Tier(enum.StrEnum):
    NEW = "new"
    RETURNING = "returning"
    VIP = "vip"


class Language(enum.StrEnum):
    ZH = "zh"
    EN = "en"


class PaymentType(enum.StrEnum):
    PREPAID = "prepaid"
    COD = "cod"


class OrderStatus(enum.StrEnum):
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class RmaKind(enum.StrEnum):
    RETURN = "return"
    EXCHANGE = "exchange"


class RmaStatus(enum.StrEnum):
    """Where a return or exchange stands; the moves between them are `back_office.states`."""

    AWAITING_INSPECTION = "awaiting_inspection"  # filed; the item is not inspected yet
    IN_REVIEW = "in_review"  # inspected (pass or fail): on the back office's work list
    APPROVED = "approved"  # approved; the hand-off to finance or logistics is not acknowledged
    REJECTED = "rejected"  # the customer is told why, then it closes
    REFUND_PENDING = "refund_pending"  # return: finance has it and will pay
    REFUNDED = "refunded"  # return: finance paid the refund
    REPLACEMENT_PENDING = "replacement_pending"  # exchange: logistics has it and will ship
    REPLACEMENT_SHIPPED = "replacement_shipped"  # exchange: logistics sent the replacement
    CLOSED = "closed"  # the customer has been told (or could not be): nothing more to do


class RmaReason(enum.StrEnum):
    """Why the customer returns or exchanges the item (the order system's list)."""

    QUALITY_PROBLEM = "quality_problem"
    DAMAGED_IN_TRANSIT = "damaged_in_transit"
    WRONG_ITEM = "wrong_item"
    NOT_AS_DESCRIBED = "not_as_described"
    WRONG_SIZE = "wrong_size"
    MISSING_PARTS = "missing_parts"
    NO_LONGER_WANTED = "no_longer_wanted"
    UNSHIPPED_CANCEL = "unshipped_cancel"  # an order cancelled before it shipped (no review)


class CallStatus(enum.StrEnum):
    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"

    @property
    def rank(self) -> int:
        """Progress order: a callback may only move a call forward; final states never change."""
        return _CALL_STATUS_RANK[self]

    @property
    def is_final(self) -> bool:
        return self.rank == 3


_CALL_STATUS_RANK = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 0,
    CallStatus.RINGING: 1,
    CallStatus.IN_PROGRESS: 2,
    CallStatus.COMPLETED: 3,
    CallStatus.BUSY: 3,
    CallStatus.FAILED: 3,
    CallStatus.NO_ANSWER: 3,
    CallStatus.CANCELED: 3,
}


class CallDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND_API = "outbound-api"
    OUTBOUND_DIAL = "outbound-dial"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    account_number: Mapped[str] = mapped_column(String(20), unique=True)
    tier: Mapped[Tier] = mapped_column(str_enum(Tier), default=Tier.NEW)
    language: Mapped[Language] = mapped_column(str_enum(Language), default=Language.ZH)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )
    orders: Mapped[list[Order]] = relationship(back_populates="customer")


class CustomerPhone(Base):
    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(16), unique=True)
    label: Mapped[str] = mapped_column(String(20), default="mobile")

    customer: Mapped[Customer] = relationship(back_populates="phones")


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    amount_fen: Mapped[int]  # CNY in fen (1/100 yuan): exact on every backend
    payment_type: Mapped[PaymentType] = mapped_column(str_enum(PaymentType))
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    recipient_name: Mapped[str | None] = mapped_column(String(120))
    recipient_phone: Mapped[str | None] = mapped_column(String(16))
    province: Mapped[str | None] = mapped_column(String(40))
    city: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(255))
    postal_code: Mapped[str | None] = mapped_column(String(12))
    invoice_title: Mapped[str | None] = mapped_column(String(120))
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship(back_populates="orders")
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItem.id"
    )


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(default=1)
    unit_price_fen: Mapped[int]

    order: Mapped[Order] = relationship(back_populates="items")


class Rma(Base):
    """A return or exchange request for one order line. The IVR reads its status out; the back
    office reviews it (`back_office`), and every move is `back_office.states`'s."""

    __tablename__ = "rmas"
    __table_args__ = (Index("ix_rmas_status_updated", "status", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[RmaKind] = mapped_column(str_enum(RmaKind))
    status: Mapped[RmaStatus] = mapped_column(str_enum(RmaStatus))
    reason: Mapped[str] = mapped_column(String(200), default="")  # an RmaReason's value
    description: Mapped[str | None] = mapped_column(Text)  # the customer's own words
    sku: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int] = mapped_column(default=1)
    order_item_id: Mapped[int | None] = mapped_column(ForeignKey("order_items.id"))
    opened: Mapped[bool] = mapped_column(default=False)  # the customer opened the item
    refund_amount_fen: Mapped[int | None]
    replacement_sku: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(10), default="api")  # api, csv, ivr, desk, seed
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(String(40))  # from the review's list
    decision_notes: Mapped[str | None] = mapped_column(Text)
    finance_reference: Mapped[str | None] = mapped_column(String(60))  # finance's refund id
    tracking_number: Mapped[str | None] = mapped_column(String(40))  # the replacement's parcel
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship()
    customer: Mapped[Customer] = relationship()


class Call(Base):
    """One call leg as Twilio knows it, keyed by CallSid."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    direction: Mapped[CallDirection] = mapped_column(str_enum(CallDirection))
    from_number: Mapped[str] = mapped_column(String(64), default="")
    to_number: Mapped[str] = mapped_column(String(64), default="")
    caller_e164: Mapped[str | None] = mapped_column(String(16), index=True)
    status: Mapped[CallStatus] = mapped_column(str_enum(CallStatus))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    identified_by: Mapped[str | None] = mapped_column(String(20))  # phone, account, order
    language: Mapped[Language | None] = mapped_column(str_enum(Language))
    vip: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_s: Mapped[int | None]
    last_sequence: Mapped[int | None]

    customer: Mapped[Customer | None] = relationship()
    events: Mapped[list[CallEvent]] = relationship(
        back_populates="call", order_by="CallEvent.id", cascade="all, delete-orphan"
    )


class CallEvent(Base):
    """An append-only log of every state change of a call, with its time."""

    __tablename__ = "call_events"
    __table_args__ = (
        UniqueConstraint("call_id", "dedupe_key"),
        Index("ix_call_events_kind_occurred", "kind", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Repeated webhooks carry the same key (e.g. "status:completed"); the constraint drops them.
    dedupe_key: Mapped[str | None] = mapped_column(String(120))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    call: Mapped[Call] = relationship(back_populates="events")


class Voicemail(Base):
    __tablename__ = "voicemails"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True)
    recording_url: Mapped[str] = mapped_column(Text, default="")
    duration_s: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(20), default="completed")
    reason: Mapped[str | None] = mapped_column(String(40))  # node or queue it was left from
    error_code: Mapped[str | None] = mapped_column(String(10))  # Twilio's, for absent/failed

    call: Mapped[Call] = relationship()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
