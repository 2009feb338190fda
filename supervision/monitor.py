"""Listen, whisper and barge: the supervisor as a participant of a connected call's conference.

Listen adds the supervisor's device (their `client:` identity, or their phone) muted; whisper
sets coaching on the agent's leg (only the agent hears); barge unmutes and stops coaching.
Each change is audited in the same transaction that records it (`start`, `stop`); the REST
call to Twilio (or the local network) follows the commit (`connect`), from the supervisor's
request (not a webhook), and its leg is recorded in a second transaction (`record_leg`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.errors import DomainError
from core.telephony import Telephony
from queues.connect import ring_address
from queues.models import Agent, QueuedCall, QueuedCallStatus
from supervision.dispatch import Staff
from supervision.models import Monitoring, MonitorMode


class MonitorError(DomainError):
    code = "monitor-refused"


@dataclass(frozen=True, slots=True)
class Leg:
    """A monitoring as recorded, and what the REST call needs to set its participant."""

    monitoring_id: int
    entry_id: int
    mode: MonitorMode
    agent_leg: str  # the agent's call in the conference (coached in whisper mode)
    device: str  # where the supervisor's leg rings
    call_sid: str | None  # the supervisor's leg, once placed
    conference_sid: str | None


def participant_flags(mode: MonitorMode, agent_leg: str) -> dict[str, Any]:
    """How the supervisor's participant is set in each mode (Participants API fields)."""
    if mode is MonitorMode.LISTEN:
        return {"muted": True, "coaching": False, "call_sid_to_coach": None}
    if mode is MonitorMode.WHISPER:
        return {"muted": False, "coaching": True, "call_sid_to_coach": agent_leg}
    return {"muted": False, "coaching": False, "call_sid_to_coach": None}


def start(session: Session, staff: Staff, entry_id: int, mode: str, *, now: datetime) -> Leg:
    """Start monitoring a connected call in `mode`, or switch an ongoing monitoring to it.

    Flushes the monitoring row and its audit entry. Idempotent per (entry, supervisor): an
    ongoing monitoring is switched, not doubled. After the commit, `connect` sets the
    supervisor's participant as the mode wants.
    """
    try:
        wanted = MonitorMode(mode)
    except ValueError:
        raise MonitorError(f"no mode {mode!r} (listen, whisper, barge)") from None
    entry = session.get(QueuedCall, entry_id)
    if (
        entry is None
        or entry.status is not QueuedCallStatus.CONNECTED
        or entry.talk_ended_at is not None
        or not entry.agent_call_sid
    ):
        raise MonitorError(f"entry {entry_id} is not a connected call", entry_id=entry_id)
    supervisor = session.get(Agent, staff.id)
    assert supervisor is not None
    current = session.scalar(
        select(Monitoring).where(
            Monitoring.entry_id == entry_id,
            Monitoring.supervisor_id == staff.id,
            Monitoring.ended_at.is_(None),
        )
    )
    if current is None:
        current = Monitoring(
            entry_id=entry_id,
            supervisor_id=staff.id,
            agent_id=entry.agent_id,
            mode=wanted,
            started_at=now,
        )
        session.add(current)
    current.mode = wanted
    session.flush()
    audit.record(
        session,
        actor_id=staff.id,
        actor=staff.login,
        action=f"monitor.{wanted.value}",
        subject_type="queue_entry",
        subject_id=entry_id,
        now=now,
        agent_id=entry.agent_id,
        call_sid=entry.call_sid,
    )
    return Leg(
        monitoring_id=current.id,
        entry_id=entry_id,
        mode=wanted,
        agent_leg=entry.agent_call_sid,
        device=ring_address(supervisor),
        call_sid=current.call_sid,
        conference_sid=current.conference_sid,
    )


def connect(
    telephony: Telephony, leg: Leg, *, conference: str, from_: str
) -> tuple[str, str | None]:
    """Set the supervisor's participant in `conference` as `leg.mode` wants; (its call SID,
    the conference SID). Call after the commit of `start`: this is a REST call.

    The first time the supervisor's device is added to the conference; after that their
    participant is updated. Raises `MonitorError` when the conference has ended.
    """
    flags = participant_flags(leg.mode, leg.agent_leg)
    if leg.call_sid is None:
        call_sid = telephony.add_participant(
            conference,
            from_=from_,
            to=leg.device,
            muted=flags["muted"],
            call_sid_to_coach=flags["call_sid_to_coach"],
        )
        return call_sid, leg.conference_sid
    conference_sid = leg.conference_sid or telephony.find_conference(conference)
    if conference_sid is None:
        raise MonitorError(f"the conference of entry {leg.entry_id} has ended")
    telephony.update_participant(conference_sid, leg.call_sid, **flags)
    return leg.call_sid, conference_sid


def record_leg(
    session: Session, monitoring_id: int, call_sid: str, conference_sid: str | None
) -> Monitoring:
    """Record the supervisor's leg and its conference on the monitoring. Flushes (a repeat
    writes the same values)."""
    row = session.get(Monitoring, monitoring_id)
    assert row is not None
    row.call_sid, row.conference_sid = call_sid, conference_sid
    session.flush()
    return row


def stop(session: Session, staff: Staff, monitoring_id: int, *, now: datetime) -> str | None:
    """End a monitoring, audited; the supervisor's leg to hang up after the commit, if any.

    Idempotent: a monitoring already ended (or unknown) is left alone and gives None.
    """
    row = session.get(Monitoring, monitoring_id)
    if row is None or row.ended_at is not None:
        return None
    row.ended_at = now
    audit.record(
        session,
        actor_id=staff.id,
        actor=staff.login,
        action="monitor.stop",
        subject_type="queue_entry",
        subject_id=row.entry_id,
        now=now,
    )
    return row.call_sid


def monitoring_of(
    session: Session, agent_id: int, *, visible: bool = True
) -> dict[str, Any] | None:
    """What the agent's desk may show: who monitors their call and how, or None (read-only).

    None when nobody monitors, or when monitoring is configured invisible
    (`CALLCENTER_SUPERVISOR_MONITOR_VISIBLE=0`).
    """
    if not visible:
        return None
    row = session.execute(
        select(Monitoring, Agent.display_name)
        .join(Agent, Agent.id == Monitoring.supervisor_id)
        .join(QueuedCall, QueuedCall.id == Monitoring.entry_id)
        .where(
            Monitoring.agent_id == agent_id,
            Monitoring.ended_at.is_(None),
            QueuedCall.talk_ended_at.is_(None),
        )
        .order_by(Monitoring.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    monitoring, name = row
    return {
        "mode": monitoring.mode.value,
        "supervisor": name,
        "since": monitoring.started_at.isoformat(),
    }


def active(session: Session) -> list[dict[str, Any]]:
    """Ongoing monitorings (for the wallboard)."""
    return [
        {"id": m.id, "entry_id": m.entry_id, "supervisor_id": m.supervisor_id, "mode": m.mode.value}
        for m in session.scalars(
            select(Monitoring).where(Monitoring.ended_at.is_(None)).order_by(Monitoring.id)
        )
    ]
