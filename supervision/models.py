"""Tables of the floor supervisor's tools: alerts, support groups pulled into queues, monitoring."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.models import str_enum


class AlertKind(enum.StrEnum):
    LONGEST_WAIT = "longest_wait"  # a caller waits longer than the threshold (subject: queue)
    VIP_WAIT = "vip_wait"  # a VIP caller waits longer than the threshold (subject: queue)
    SERVICE_LEVEL = "service_level"  # the last 30 minutes are below the queue's target
    AGENT_AWAY = "agent_away"  # an agent on break (or "missed") too long (subject: agent id)
    #: A work order's SLA breach escalated it and it is not closed yet (subject: its number)
    WORK_ORDER_ESCALATED = "work_order_escalated"


class Alert(Base):
    """One abnormal condition, from when it was seen until a supervisor acknowledged it.

    `open_key` is "kind:subject" while the condition holds and NULL once it cleared: a unique
    column, so a condition that holds is raised once however often (and by however many
    processes) it is evaluated, and raised anew if it comes back after clearing.
    """

    __tablename__ = "supervisor_alerts"
    __table_args__ = (Index("ix_supervisor_alerts_ack", "acknowledged_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AlertKind] = mapped_column(str_enum(AlertKind))
    subject: Mapped[str] = mapped_column(String(80))
    message: Mapped[str] = mapped_column(String(200))
    open_key: Mapped[str | None] = mapped_column(String(124), unique=True)
    raised_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SupportPull(Base):
    """A skill a support group's agent was lent for a queue; released gives it back."""

    __tablename__ = "support_pulls"
    __table_args__ = (Index("ix_support_pulls_open", "group_name", "queue", "released_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_name: Mapped[str] = mapped_column(String(40))
    queue: Mapped[str] = mapped_column(String(40))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    skill: Mapped[str] = mapped_column(String(40))  # added for the pull (not held before)
    automatic: Mapped[bool] = mapped_column(default=False)  # pulled by the alert rule
    pulled_at: Mapped[datetime]
    pulled_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    released_at: Mapped[datetime | None]


class MonitorMode(enum.StrEnum):
    LISTEN = "listen"  # muted
    WHISPER = "whisper"  # coaching the agent: only the agent hears the supervisor
    BARGE = "barge"  # unmuted, not coaching: everyone hears the supervisor


class Monitoring(Base):
    """A supervisor's leg in a connected call's conference, and how it is set now."""

    __tablename__ = "monitorings"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("queued_calls.id", ondelete="CASCADE"), index=True
    )
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    mode: Mapped[MonitorMode] = mapped_column(str_enum(MonitorMode))
    call_sid: Mapped[str | None] = mapped_column(String(64))  # the supervisor's leg
    conference_sid: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
