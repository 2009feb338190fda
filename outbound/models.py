"""Tables of the outbound engine: tasks (one reason to phone one customer), their attempts, and
the do-not-call list. Every kind of call to customers shares them (`outbound.kinds`)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.models import str_enum


class TaskStatus(enum.StrEnum):
    """An outbound task: waiting for its next attempt, on a call, or closed."""

    PENDING = "pending"  # due at next_attempt_at (a person clicks, or the engine dials)
    CALLING = "calling"  # an attempt is under way (claimed in the database)
    DONE = "done"  # reached and resolved
    FAILED = "failed"  # attempts exhausted, wrong number, refused
    BLOCKED = "blocked"  # the number is on the do-not-call list
    CANCELLED = "cancelled"  # the subject no longer needs a call


OPEN_TASK = (TaskStatus.PENDING, TaskStatus.CALLING)


class AttemptStatus(enum.StrEnum):
    QUEUED = "queued"  # created; the agent's leg is to be dialled after the commit
    DIALING_AGENT = "dialing_agent"  # claimed for the agent dial (CallSid recorded after)
    AGENT_ON = "agent_on"  # the agent answered and is in the conference
    DIALING_CUSTOMER = "dialing_customer"  # claimed for the customer dial
    CONNECTED = "connected"  # the customer answered
    ENDED = "ended"


#: Attempts under way (every status but ended).
OPEN_ATTEMPT = tuple(a for a in AttemptStatus if a is not AttemptStatus.ENDED)


class Outcome(enum.StrEnum):
    REACHED_RESOLVED = "reached_resolved"
    REACHED_MISSING_INFO = "reached_missing_info"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"
    REFUSED = "refused"
    # The engine's own, not offered to agents:
    AGENT_UNREACHABLE = "agent_unreachable"  # the agent's leg did not answer: not counted
    DIAL_UNCONFIRMED = "dial_unconfirmed"  # a dial whose CallSid never came back (reconciled)
    # Automated calls (no agent, `outbound.automated`):
    REACHED_MACHINE = "reached_machine"  # an answering machine took the short message: closes
    HUNG_UP_EARLY = "hung_up_early"  # a person answered but left before the end: retried


class OutboundTask(Base):
    """One reason to phone one customer (an order review, a queue callback, later RMA notices).

    Kinds differ only by data (`outbound.kinds.KINDS`); the engine treats them alike.
    Order on the work list: priority (higher first), then `queued_at` (earlier first), which
    keeps a queue callback in the caller's original place.
    """

    __tablename__ = "mo_outbound_tasks"
    __table_args__ = (
        Index("ix_mo_outbound_tasks_status_due", "status", "next_attempt_at"),
        Index("ix_mo_outbound_tasks_agent_status", "agent_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    dedupe_key: Mapped[str] = mapped_column(String(80), unique=True)  # e.g. order_review:12
    subject_type: Mapped[str] = mapped_column(String(24))  # review, queue_entry, rma, ticket
    subject_id: Mapped[int]
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    to_number: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(40))  # the customer's: calling hours apply there
    language: Mapped[str] = mapped_column(String(8))
    skill: Mapped[str] = mapped_column(String(40))
    priority: Mapped[int] = mapped_column(default=0)
    queued_at: Mapped[datetime]
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus), default=TaskStatus.PENDING)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(default=0)  # counted attempts (customer dialled)
    max_attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    last_outcome: Mapped[str | None] = mapped_column(String(24))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    attempt_rows: Mapped[list[OutboundAttempt]] = relationship(
        back_populates="task", order_by="OutboundAttempt.id", cascade="all, delete-orphan"
    )


class OutboundAttempt(Base):
    """One try: the agent's leg, then the customer's, in the conference `mo-attempt-<id>`; for
    an automated kind, the customer's leg alone (no agent, `agent_id` None)."""

    __tablename__ = "mo_outbound_attempts"
    # Attempts under way, found by status (the tick's reconcile, the wallboard) and by agent
    # (the desk): a few rows among every attempt ever made.
    __table_args__ = (Index("ix_mo_outbound_attempts_status_agent", "status", "agent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(
        ForeignKey("mo_outbound_tasks.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    status: Mapped[AttemptStatus] = mapped_column(
        str_enum(AttemptStatus), default=AttemptStatus.QUEUED
    )
    created_at: Mapped[datetime]
    agent_claimed_at: Mapped[datetime | None]
    agent_call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    customer_claimed_at: Mapped[datetime | None]
    customer_call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    customer_status: Mapped[str | None] = mapped_column(String(20))  # Twilio's final status
    outcome: Mapped[str | None] = mapped_column(String(24))
    notes: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[datetime | None]
    recording_sid: Mapped[str | None] = mapped_column(String(64))
    recording_url: Mapped[str | None] = mapped_column(Text)

    task: Mapped[OutboundTask] = relationship(back_populates="attempt_rows")


class DoNotCall(Base):
    """The internal do-not-call list: no outbound call ever goes to these numbers."""

    __tablename__ = "mo_do_not_call"

    e164: Mapped[str] = mapped_column(String(16), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    added_at: Mapped[datetime]
    added_by: Mapped[str] = mapped_column(String(40))
