"""Tables of the middle office: order intake, review tasks, and deliveries of decisions to the
order system. (Outbound tasks and their attempts are the engine's: `outbound.models`.)"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.models import Order, str_enum


class ReviewStatus(enum.StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    CANCELLED = "cancelled"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class OrderIntake(Base):
    """What the order system last sent for an order: the fingerprint behind idempotent intake."""

    __tablename__ = "mo_order_intakes"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    source: Mapped[str] = mapped_column(String(10))  # api, csv
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the normalised order
    invoice_requested: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    revisions: Mapped[int] = mapped_column(default=1)

    order: Mapped[Order] = relationship()


class ReviewTask(Base):
    """One manual review of one order, naming every rule it tripped."""

    __tablename__ = "mo_review_tasks"
    __table_args__ = (Index("ix_mo_review_tasks_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    status: Mapped[ReviewStatus] = mapped_column(str_enum(ReviewStatus), default=ReviewStatus.OPEN)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)  # rule codes
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # per rule: the evidence
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    decision_reason: Mapped[str | None] = mapped_column(String(200))

    order: Mapped[Order] = relationship()


class WebhookDelivery(Base):
    """One decision to tell the order system, sent (signed) until it is acknowledged."""

    __tablename__ = "mo_webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("ix_mo_webhook_deliveries_status_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(80))  # e.g. review:12:approved
    event: Mapped[str] = mapped_column(String(40))  # order.approved, order.cancelled
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    exported_at: Mapped[datetime | None]
