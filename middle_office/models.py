"""Tables of the middle office: order intake and review tasks. (Outbound tasks and their
attempts are the engine's, `outbound.models`; deliveries of decisions are the kernel's,
`core.webhooks`.)"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.models import Order, str_enum


class ReviewStatus(enum.StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    CANCELLED = "cancelled"


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
