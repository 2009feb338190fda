"""Listen, whisper and barge: the supervisor as a participant of a connected call's conference.

Listen adds the supervisor's device (their `client:` identity, or their phone) muted; whisper
sets coaching on the agent's leg (only the agent hears); barge unmutes and stops coaching.
Each change is audited in the same unit of work that records it; the REST call to Twilio (or
the local network) follows the commit, from the supervisor's request (not a webhook).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.runtime import Runtime
from callcenter.supervisor.dispatch import Staff
from callcenter.supervisor.models import Monitoring, MonitorMode
from callcenter.voice.twiml import conference_name
from core import audit
from core.errors import DomainError
from queues.connect import ring_address
from queues.models import Agent, QueuedCall, QueuedCallStatus


class MonitorError(DomainError):
    code = "monitor-refused"


def participant_flags(mode: MonitorMode, agent_leg: str) -> dict[str, Any]:
    """How the supervisor's participant is set in each mode (Participants API fields)."""
    if mode is MonitorMode.LISTEN:
        return {"muted": True, "coaching": False, "call_sid_to_coach": None}
    if mode is MonitorMode.WHISPER:
        return {"muted": False, "coaching": True, "call_sid_to_coach": agent_leg}
    return {"muted": False, "coaching": False, "call_sid_to_coach": None}


def monitor(rt: Runtime, staff: Staff, entry_id: int, mode: str) -> Monitoring:
    """Start monitoring a connected call in `mode`, or switch an ongoing monitoring to it."""
    try:
        wanted = MonitorMode(mode)
    except ValueError:
        raise MonitorError(f"no mode {mode!r} (listen, whisper, barge)") from None
    with rt.unit_of_work() as uow:
        entry = uow.session.get(QueuedCall, entry_id)
        if (
            entry is None
            or entry.status is not QueuedCallStatus.CONNECTED
            or entry.talk_ended_at is not None
            or not entry.agent_call_sid
        ):
            raise MonitorError(f"entry {entry_id} is not a connected call", entry_id=entry_id)
        supervisor = uow.session.get(Agent, staff.id)
        assert supervisor is not None
        current = uow.session.scalar(
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
                started_at=rt.clock(),
            )
            uow.session.add(current)
        current.mode = wanted
        uow.session.flush()
        audit.record(
            uow.session,
            actor_id=staff.id,
            actor=staff.login,
            action=f"monitor.{wanted.value}",
            subject_type="queue_entry",
            subject_id=entry_id,
            now=rt.clock(),
            agent_id=entry.agent_id,
            call_sid=entry.call_sid,
        )
        agent_leg, device, monitoring_id = (
            entry.agent_call_sid,
            ring_address(supervisor),
            current.id,
        )
        leg, conference_sid = current.call_sid, current.conference_sid
    flags = participant_flags(wanted, agent_leg)
    name = conference_name(entry_id)
    if leg is None:
        leg = rt.telephony.add_participant(
            name,
            from_=rt.settings.hotline_number,
            to=device,
            muted=flags["muted"],
            call_sid_to_coach=flags["call_sid_to_coach"],
        )
    else:
        conference_sid = conference_sid or rt.telephony.find_conference(name)
        if conference_sid is None:
            raise MonitorError(f"the conference of entry {entry_id} has ended")
        rt.telephony.update_participant(conference_sid, leg, **flags)
    with rt.unit_of_work() as uow:
        row = uow.session.get(Monitoring, monitoring_id)
        assert row is not None
        row.call_sid, row.conference_sid = leg, conference_sid
        return row


def stop(rt: Runtime, staff: Staff, monitoring_id: int) -> None:
    """End a monitoring: the supervisor's leg is hung up. Idempotent."""
    with rt.unit_of_work() as uow:
        row = uow.session.get(Monitoring, monitoring_id)
        if row is None or row.ended_at is not None:
            return
        row.ended_at = rt.clock()
        audit.record(
            uow.session,
            actor_id=staff.id,
            actor=staff.login,
            action="monitor.stop",
            subject_type="queue_entry",
            subject_id=row.entry_id,
            now=rt.clock(),
        )
        leg = row.call_sid
    if leg:
        from callcenter.jobs import router as jobs

        rt.enqueue(jobs.hang_up, leg, retries=jobs.RING_RETRIES)


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
