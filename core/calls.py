"""Calls and their event log: upsert by CallSid, log events once, apply status callbacks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import insert_ignoring_conflict
from core.models import Call, CallDirection, CallEvent, CallStatus
from core.phones import mask

log = logging.getLogger(__name__)


def get_call(session: Session, sid: str) -> Call | None:
    return session.scalar(select(Call).where(Call.sid == sid))


def upsert_call(
    session: Session, sid: str, *, direction: str, from_number: str, to_number: str, now: datetime
) -> tuple[Call, bool]:
    """The Call for this CallSid, created on first sight; (call, created). Flushes.

    Safe against a concurrent duplicate webhook: the unique CallSid decides, and the loser
    reads the winner's row.
    """
    call = get_call(session, sid)
    if call is not None:
        return call, False
    try:
        direction_value = CallDirection(direction)
    except ValueError:
        direction_value = CallDirection.INBOUND
    created = insert_ignoring_conflict(
        session,
        Call,
        {
            "sid": sid,
            "direction": direction_value,
            "from_number": from_number[:64],
            "to_number": to_number[:64],
            "status": CallStatus.IN_PROGRESS,
            "started_at": now,
            "answered_at": now,
            "vip": False,
        },
        ["sid"],
    )
    call = get_call(session, sid)
    assert call is not None
    return call, created


def log_event(
    session: Session,
    call: Call,
    kind: str,
    *,
    now: datetime,
    dedupe_key: str | None = None,
    **data: Any,
) -> bool:
    """Append an event; with a dedupe_key a repeat of the same event is dropped. True if added."""
    return insert_ignoring_conflict(
        session,
        CallEvent,
        {
            "call_id": call.id,
            "call_sid": call.sid,
            "kind": kind,
            "occurred_at": now,
            "dedupe_key": dedupe_key,
            "data": data,
        },
        ["call_id", "dedupe_key"],
    )


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    call_sid: str
    status: CallStatus
    at: datetime
    sequence: int | None = None
    duration_s: int | None = None


def apply_status(session: Session, update: StatusUpdate) -> bool:
    """Apply a call-progress callback. Idempotent and safe against reordering. Flushes.

    The event is logged once per status. The call's status only moves forward
    (queued < ringing < in-progress < final), so a late "ringing" never overwrites
    "completed", and a final status is never replaced. An unknown CallSid is logged and
    ignored: nothing is created. Returns whether the call changed.
    """
    call = get_call(session, update.call_sid)
    if call is None:
        log.warning("status callback for unknown call %s ignored", update.call_sid)
        return False
    log_event(
        session,
        call,
        "status",
        now=update.at,
        dedupe_key=f"status:{update.status.value}",
        status=update.status.value,
        sequence=update.sequence,
    )
    if update.sequence is not None:
        call.last_sequence = max(call.last_sequence or 0, update.sequence)
    if call.status.is_final or update.status.rank < call.status.rank:
        return False
    if update.status.rank == call.status.rank and update.status is call.status:
        return False
    call.status = update.status
    if update.status is CallStatus.IN_PROGRESS and call.answered_at is None:
        call.answered_at = update.at
    if update.status.is_final:
        call.ended_at = update.at
        call.duration_s = update.duration_s
    log.info("call %s from %s is %s", call.sid, mask(call.caller_e164), call.status.value)
    return True
