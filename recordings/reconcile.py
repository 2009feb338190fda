"""Which recordings may have lost their callback: pure decisions over the database, with `now`
passed in. Read-only.

Twilio posts a recording's status once; if that post fails (our 503 during a database stall)
the recording exists only in Twilio's list. The reconciliation duty
(`callcenter.jobs.reconcile.recordings`) asks Twilio for the recordings of the legs found here
and ingests those it holds through the same code path as the callback
(`recordings.services.record_status`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from queues.models import QueuedCall
from recordings.models import Recording


@dataclass(frozen=True, slots=True)
class RecordedLeg:
    """The agent's leg of a connected queue entry: it was recorded (`ring_agent` records it)."""

    entry_id: int
    call_sid: str


def unrecorded_legs(
    session: Session, *, now: datetime, since_s: int, grace_s: int
) -> list[RecordedLeg]:
    """The agent legs of inbound calls answered in the last `since_s` seconds whose talk ended
    more than `grace_s` ago (Twilio has had time to post the recording) and of which we have
    no recording row."""
    known = exists().where(Recording.call_sid == QueuedCall.agent_call_sid)
    rows = session.execute(
        select(QueuedCall.id, QueuedCall.agent_call_sid)
        .where(
            QueuedCall.answered_at >= now - timedelta(seconds=since_s),
            QueuedCall.talk_ended_at <= now - timedelta(seconds=grace_s),
            QueuedCall.agent_call_sid.is_not(None),
            QueuedCall.callback_to.is_(None),
            ~known,
        )
        .order_by(QueuedCall.id)
    ).all()
    return [RecordedLeg(entry_id, sid) for entry_id, sid in rows if sid]
