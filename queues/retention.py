"""Retention of call records and voicemails, as `recordings.services.purge_expired` is for
recordings: past their retention, what says who called is removed and the figures are kept.

A call record past `calls_days` loses its calling and called numbers, its link to the customer,
and its queue entries' callback numbers and wrap-up notes; its times, statuses, queues, agents
and dispositions stay, so the reports of past days do not change. A voicemail past
`voicemails_days` loses the link to its audio and is marked `purged`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.audit import record as audit
from core.db import rowcount
from core.models import Call, Voicemail
from queues.models import QueuedCall

PURGED = "purged"


@dataclass(frozen=True, slots=True)
class Purged:
    calls: int
    voicemails: int


def purge_expired_calls(
    session: Session, *, now: datetime, calls_days: int, voicemails_days: int
) -> Purged:
    """Strip the personal data of call records and voicemails past their retention, and write
    one audit entry per kind that had any. Idempotent: a stripped row no longer matches, so a
    second run (or two processes at once) changes nothing more. Flushes, never commits."""
    call_cutoff = now - timedelta(days=calls_days)
    expired = (
        select(Call.id)
        .where(
            Call.started_at < call_cutoff,
            or_(
                Call.caller_e164.is_not(None), Call.customer_id.is_not(None), Call.from_number != ""
            ),
        )
        .scalar_subquery()
    )
    session.execute(
        update(QueuedCall)
        .where(QueuedCall.call_id.in_(expired))
        .values(callback_to=None, notes=None)
        .execution_options(synchronize_session=False)
    )
    calls = rowcount(
        session.execute(
            update(Call)
            .where(Call.id.in_(expired))
            .values(caller_e164=None, customer_id=None, from_number="", to_number="")
            .execution_options(synchronize_session=False)
        )
    )
    voicemails = rowcount(
        session.execute(
            update(Voicemail)
            .where(
                Voicemail.created_at < now - timedelta(days=voicemails_days),
                Voicemail.status != PURGED,
            )
            .values(recording_url="", status=PURGED)
            .execution_options(synchronize_session=False)
        )
    )
    for kind, count, days in (
        ("call", calls, calls_days),
        ("voicemail", voicemails, voicemails_days),
    ):
        if count:
            audit(
                session,
                actor_id=None,
                actor="system",
                action=f"{kind}.purge",
                subject_type=kind,
                subject_id=f"{count} {kind}s",
                now=now,
                retention_days=days,
            )
    session.flush()
    return Purged(calls=calls, voicemails=voicemails)
