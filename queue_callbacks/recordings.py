"""The recording of an outbound call (any task kind): kept on its attempt, and filed with the
queue entry when the call was a callback that reached its caller.

It lives here because that rule joins the outbound engine, the recordings and the queue
entries: this is the lowest package that sees all three (`recordings` and `outbound` may not
import each other, and only this package knows a callback's queue entry).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from outbound.models import OutboundAttempt, OutboundTask
from queue_callbacks.entries import entry_of
from recordings.services import Owner, StatusUpdate, record_status


def record_outbound_status(
    session: Session, attempt_id: int, update: StatusUpdate, *, now: datetime
) -> int | None:
    """A recording status callback of an outbound call; the recording to process, if any.

    A completed recording is kept on its attempt (SID and URL). The recording row is upserted
    by `recordings.services.record_status` (idempotent and order-proof, keyed by
    RecordingSid): owned by the attempt's agent and the task's customer under the queue
    label ``outbound:<kind>``, or linked to the queue entry of a callback whose caller
    answered. Returns the recording's id to the one caller that claims its processing job
    (enqueue it after the commit), None otherwise and for an unknown attempt. Flushes.
    """
    attempt = session.get(OutboundAttempt, attempt_id)
    if attempt is None:
        return None
    if update.status == "completed":
        attempt.recording_sid = update.recording_sid
        attempt.recording_url = update.url
    task = session.get(OutboundTask, attempt.task_id)
    owner = Owner(
        agent_id=attempt.agent_id,
        customer_id=task.customer_id if task else None,
        queue=f"outbound:{task.kind}"[:40] if task else "outbound",
    )
    entry = entry_of(session, task) if task else None
    talked = entry is not None and entry.answered_at is not None
    return record_status(
        session, update, entry_id=entry.id if talked and entry else None, now=now, owner=owner
    )
