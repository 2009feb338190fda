"""The supervisor views' orchestration: one unit of work around a `supervision` function, then
what follows its commit (the waiting list in Redis, the router's jobs, REST calls).

The decisions and the database changes are the domain's (`supervision.dispatch`,
`supervision.monitor`, `supervision.alerts`); this module only wires them to the Runtime, the
way `callcenter.jobs.router` carries out the router's followups.
"""

from __future__ import annotations

from callcenter.jobs import router
from callcenter.jobs.dispatch import redirect_call
from callcenter.runtime import Runtime
from callcenter.voice.twiml import VoiceUrls, conference_name
from queues.models import Actor
from supervision import alerts, dispatch, monitor
from supervision.dispatch import DispatchError, Staff
from supervision.models import Monitoring


def acknowledge(rt: Runtime, alert_id: int, *, by: int) -> tuple[int, str]:
    """Acknowledge an alert; (its id, when it was first acknowledged)."""
    with rt.unit_of_work() as uow:
        alert = alerts.acknowledge(uow.session, alert_id, by=by, now=rt.clock())
        assert alert.acknowledged_at is not None
        return alert.id, alert.acknowledged_at.isoformat()


def move_entry(rt: Runtime, staff: Staff, entry_id: int, to_queue: str) -> int:
    """Move a waiting caller to another queue (`dispatch.move_entry`); the new entry id.

    After the commit the new entry replaces the old one in Redis, the caller's live call is
    redirected to the old queue's Enqueue action (which puts them in the new queue), and the
    router is asked to place the caller.
    """
    with rt.unit_of_work() as uow:
        moved = dispatch.move_entry(
            uow.session, staff, entry_id, to_queue, queues=rt.queues, now=rt.clock()
        )
    rt.waiting_list.remove(str(entry_id))
    rt.waiting_list.add(moved.caller)
    if moved.on_line:
        rt.enqueue(redirect_call, moved.call_sid, _urls(rt).queue_exit(moved.old_queue), retries=3)
    rt.enqueue(router.route_caller, moved.entry_id)
    return moved.entry_id


def raise_priority(rt: Runtime, staff: Staff, entry_id: int, by: int) -> int:
    """Add `by` to a waiting caller's route priority and re-place them; the new priority."""
    with rt.unit_of_work() as uow:
        caller, priority = dispatch.raise_priority(uow.session, staff, entry_id, by, now=rt.clock())
    # The score is fixed at add time (routing.queue_score): take the caller off and back on.
    if rt.waiting_list.remove(str(entry_id)):
        rt.waiting_list.add(caller)
    rt.enqueue(router.route_caller, entry_id)
    return priority


def assign_to_agent(rt: Runtime, staff: Staff, entry_id: int, agent_id: int) -> str:
    """Hand a waiting caller to a chosen available agent; the assignment id.

    The pair is claimed in Redis, reserved (and audited) in the database, then the agent's
    leg is rung, exactly as the router's own decisions are.
    """
    assignment = dispatch.claim_pair(rt.waiting_list, entry_id, agent_id)
    with rt.unit_of_work() as uow:
        entry, undo = dispatch.reserve_pair(
            uow.session,
            staff,
            assignment,
            entry_id=entry_id,
            agent_id=agent_id,
            now=rt.clock(),
            presence=rt.queues.presence,
        )
        router.after_commit(uow, rt, undo)
    if entry is None:
        raise DispatchError(f"agent {agent_id} or entry {entry_id} changed meanwhile")
    aid = assignment.assignment_id
    rt.enqueue(router.ring_agent, entry.id, aid, retries=router.RING_RETRIES)
    return aid


def set_state(rt: Runtime, staff: Staff, agent_id: int, state: str, reason: str | None) -> str:
    """Change an agent's state as a supervisor (the presence table decides what is allowed)."""
    to = dispatch.agent_state(state)
    with rt.unit_of_work() as uow:
        agent = router.set_agent_state(rt, uow, agent_id, to, reason=reason, actor=Actor.SUPERVISOR)
        dispatch.record(
            uow.session, staff, "state", "agent", agent_id, now=rt.clock(), to=state, reason=reason
        )
        return agent.state.value


def set_skills(rt: Runtime, staff: Staff, agent_id: int, skills: dict[str, int]) -> dict[str, int]:
    """Replace an agent's skills ({skill: level 1-5}); the router sees them after the commit."""
    with rt.unit_of_work() as uow:
        levels, follow = dispatch.set_skills(uow.session, staff, agent_id, skills, now=rt.clock())
        router.after_commit(uow, rt, follow)
        return levels


def pull_group(rt: Runtime, staff: Staff, group: str, queue: str) -> list[int]:
    """Pull a support group into a queue by hand; the agents lent its skills."""
    with rt.unit_of_work() as uow:
        changed, follow = dispatch.pull_group(
            uow.session, staff, group, queue, settings=rt.settings, queues=rt.queues, now=rt.clock()
        )
        router.after_commit(uow, rt, follow)
    return changed


def release_group(rt: Runtime, staff: Staff, group: str, queue: str | None) -> list[int]:
    """Give back the skills a support group was lent (for one queue, or all)."""
    with rt.unit_of_work() as uow:
        changed, follow = dispatch.release_group(
            uow.session, staff, group, queue, settings=rt.settings, now=rt.clock()
        )
        router.after_commit(uow, rt, follow)
    return changed


def start_monitoring(rt: Runtime, staff: Staff, entry_id: int, mode: str) -> Monitoring:
    """Monitor a connected call in `mode` (listen, whisper, barge), or switch to that mode.

    Two transactions around the REST call: the monitoring and its audit entry commit first,
    then the supervisor's participant is added or updated, then its leg is recorded.
    """
    with rt.unit_of_work() as uow:
        leg = monitor.start(uow.session, staff, entry_id, mode, now=rt.clock())
    call_sid, conference_sid = monitor.connect(
        rt.telephony, leg, conference=conference_name(entry_id), from_=rt.settings.hotline_number
    )
    with rt.unit_of_work() as uow:
        return monitor.record_leg(uow.session, leg.monitoring_id, call_sid, conference_sid)


def stop_monitoring(rt: Runtime, staff: Staff, monitoring_id: int) -> None:
    """End a monitoring: the supervisor's leg is hung up after the commit. Idempotent."""
    with rt.unit_of_work() as uow:
        leg = monitor.stop(uow.session, staff, monitoring_id, now=rt.clock())
    if leg:
        rt.enqueue(router.hang_up, leg, retries=router.RING_RETRIES)


def _urls(rt: Runtime) -> VoiceUrls:
    return VoiceUrls(rt.settings.public_base_url.rstrip("/") + "/twilio/voice")
