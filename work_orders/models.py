"""Tables of work orders: the work order, its timeline of events (which is also its audit
trail), and the calls it is linked to."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.models import Customer, Order, Rma, str_enum


class WorkOrderStatus(enum.StrEnum):
    """Where a work order stands; the moves between them are `work_orders.states`."""

    OPEN = "open"  # with the front-desk agent who opened it
    WITH_DEPARTMENT = "with_department"  # passed to a department's group, not yet claimed
    IN_PROGRESS = "in_progress"  # a department user claimed it
    WAITING_ON_CUSTOMER = "waiting_on_customer"  # the department asked the customer (paused)
    ANSWERED = "answered"  # the department answered: the owner's callback is due
    CLOSED = "closed"  # resolved (with a resolution code)


def _opened_at(context: Any) -> datetime | None:
    """A new work order is due for its first SLA check when it is opened."""
    value = context.get_current_parameters().get("created_at")
    return value if isinstance(value, datetime) else None


class WorkOrder(Base):
    """One contact's work order: what the customer asked, who has it, and where it stands."""

    __tablename__ = "work_orders"
    __table_args__ = (
        Index("ix_work_orders_status_department", "status", "department"),
        Index("ix_work_orders_customer_created", "customer_id", "created_at"),
        Index("ix_work_orders_next_check_at", "next_check_at"),
        Index("ix_work_orders_escalated_at", "escalated_at"),
        # Search (work_orders.search): a status or department filter, newest (id) first.
        Index("ix_work_orders_status_id", "status", "id"),
        Index("ix_work_orders_department_id", "department", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    #: The submitter's idempotency key (a wrap-up's form, an API client's key): the same key
    #: again finds the same work order instead of creating a second.
    client_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    rma_id: Mapped[int | None] = mapped_column(ForeignKey("rmas.id"), index=True)
    category: Mapped[str] = mapped_column(String(40))
    subcategory: Mapped[str | None] = mapped_column(String(40))
    #: The department's group it is passed to (a team name: aftersales-a, logistics, ...).
    department: Mapped[str | None] = mapped_column(String(40))
    priority: Mapped[int] = mapped_column(default=0)  # from the customer's tier
    status: Mapped[WorkOrderStatus] = mapped_column(str_enum(WorkOrderStatus))
    description: Mapped[str] = mapped_column(Text, default="")
    #: The front-desk agent who owns it (the callback goes to them), and their team.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    owner_team: Mapped[str] = mapped_column(String(40), default="")
    #: The department user who claimed it.
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    #: What the keyword rules suggested, and whether the agent chose otherwise.
    suggested_category: Mapped[str | None] = mapped_column(String(40))
    suggested_department: Mapped[str | None] = mapped_column(String(40))
    suggestion_overridden: Mapped[bool] = mapped_column(default=False)
    resolution_code: Mapped[str | None] = mapped_column(String(40))
    #: Closed on the call that opened it (first-contact resolution counts these).
    resolved_on_contact: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    #: The SLA clocks' snapshot (`work_orders.sweep.refresh_clocks` writes it from the
    #: timeline): when first feedback and resolution are due, the worst clock's state
    #: (running, paused, warning, breached, met), and when the sweep must look next (a new work
    #: order: at once). Lists and search read these; the sweep reads only rows whose check is due.
    feedback_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    sla_state: Mapped[str | None] = mapped_column(String(12))
    next_check_at: Mapped[datetime | None] = mapped_column(default=_opened_at)
    clocks_at: Mapped[datetime | None]  # when the snapshot was computed (None: never)
    #: When a breach escalated it (the team lead's list; once, however often the sweep runs).
    escalated_at: Mapped[datetime | None]

    customer: Mapped[Customer | None] = relationship()
    order: Mapped[Order | None] = relationship()
    rma: Mapped[Rma | None] = relationship()
    events: Mapped[list[WorkOrderEvent]] = relationship(
        back_populates="work_order", order_by="WorkOrderEvent.id", cascade="all, delete-orphan"
    )


class WorkOrderEvent(Base):
    """One entry of a work order's timeline: a note, a status change, a department's reply, a
    call, an SLA warning or breach, an escalation. Append-only; each with its author and time.
    A repeated submission carries the same `dedupe_key` and is dropped."""

    __tablename__ = "work_order_events"
    __table_args__ = (
        UniqueConstraint("work_order_id", "dedupe_key"),
        Index("ix_work_order_events_kind_at", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))  # created, status, note, reply, call, ...
    at: Mapped[datetime]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    author: Mapped[str] = mapped_column(String(60))  # the login, a department, or "system"
    dedupe_key: Mapped[str | None] = mapped_column(String(120))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    work_order: Mapped[WorkOrder] = relationship(back_populates="events")


class WorkOrderCall(Base):
    """A call linked to a work order (the one that opened it, the callback, a later contact)."""

    __tablename__ = "work_order_calls"

    work_order_id: Mapped[int] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), primary_key=True
    )
    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(20))  # opened, callback, follow_up, contact
    linked_at: Mapped[datetime]
