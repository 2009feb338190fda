"""The audit log: who did what to what, and when (replays, monitoring, dispatch, reviews).

Append-only. Services call `record` inside their unit of work, so an action and its audit
entry commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(40))  # the login, or "system"
    action: Mapped[str] = mapped_column(String(60), index=True)  # e.g. "recording.replay"
    subject_type: Mapped[str] = mapped_column(String(40))  # e.g. "recording", "call", "order"
    subject_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def record(
    session: Session,
    *,
    actor_id: int | None,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str | int,
    now: datetime,
    **data: Any,
) -> AuditEvent:
    """Append one audit entry (flushes, never commits)."""
    event = AuditEvent(
        at=now,
        actor_id=actor_id,
        actor=actor[:40],
        action=action[:60],
        subject_type=subject_type[:40],
        subject_id=str(subject_id)[:64],
        data=data,
    )
    session.add(event)
    session.flush()
    return event
