"""Notices for the wallboard: things the floor should know happened, with their time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import AuditEvent
from queues.services import REBUILD_AUDIT_ACTION

#: How long a notice stays on the wallboard.
NOTICE_S = 3600


def rebuilds(session: Session, *, now: datetime, within_s: int = NOTICE_S) -> list[dict[str, Any]]:
    """The rebuilds of the waiting lists from the database in the last `within_s` seconds,
    newest first (after a Redis loss the queues and presence were restored: the figures
    between the loss and the rebuild may have been wrong). Read-only."""
    events = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.action == REBUILD_AUDIT_ACTION,
            AuditEvent.at >= now - timedelta(seconds=within_s),
        )
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(5)
    )
    return [
        {
            "kind": "rebuild",
            "at": e.at.isoformat(),
            "reason": e.data.get("reason"),
            "callers": e.data.get("callers"),
            "agents": e.data.get("agents"),
        }
        for e in events
    ]
