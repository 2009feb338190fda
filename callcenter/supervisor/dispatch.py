"""Dispatch: a supervisor moves callers and agents around the floor, each action audited.

Every function runs one unit of work (the action and its audit entry commit together), then
brings Redis and the router in step after the commit, the way `callcenter.jobs.router` does.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from callcenter.jobs import router as jobs
from callcenter.runtime import Runtime
from callcenter.supervisor import support
from callcenter.voice.twiml import VoiceUrls
from core import audit
from core.errors import DomainError
from queues import connect
from queues.connect import Followup
from queues.models import Actor, Agent, AgentSkill, AgentState, QueuedCall, QueuedCallStatus
from queues.presence import SKILL
from queues.routing import Assignment
from queues.services import overflow_entry, waiting_caller

MAX_BUMP = 1000


class DispatchError(DomainError):
    code = "dispatch-refused"


@dataclass(frozen=True, slots=True)
class Staff:
    """Who acts (for the audit log)."""

    id: int
    login: str


def _audit(
    rt: Runtime, session: Any, staff: Staff, action: str, kind: str, sid: Any, **data: Any
) -> None:
    audit.record(
        session,
        actor_id=staff.id,
        actor=staff.login,
        action=f"supervisor.{action}",
        subject_type=kind,
        subject_id=sid,
        now=rt.clock(),
        **data,
    )


def _waiting_entry(session: Any, entry_id: int) -> QueuedCall:
    entry = session.get(QueuedCall, entry_id)
    if entry is None or entry.status is not QueuedCallStatus.WAITING:
        raise DispatchError(f"entry {entry_id} is not waiting", entry_id=entry_id)
    return entry


def move_entry(rt: Runtime, staff: Staff, entry_id: int, to_queue: str) -> int:
    """Move a waiting caller to another queue, keeping arrival time and priority; new entry id.

    The old entry ends `overflowed` (reason `overflow:<queue>`) and a new one waits in the
    target queue, as a max-wait overflow does. After the commit the caller's live call is
    redirected to the old queue's Enqueue action, which puts them in the new queue (the
    overflow path of `/queue/exit`), and the new entry replaces the old one in Redis.
    """
    if to_queue not in rt.queues:
        raise DispatchError(f"no queue {to_queue!r}", queue=to_queue)
    with rt.unit_of_work() as uow:
        entry = _waiting_entry(uow.session, entry_id)
        if entry.queue == to_queue:
            raise DispatchError(f"entry {entry_id} already waits in {to_queue}")
        old_queue, call_sid, on_line = entry.queue, entry.call_sid, entry.callback_to is None
        target = rt.queues[to_queue]
        moved = overflow_entry(uow.session, entry, to_queue, skill=target.skills[0], now=rt.clock())
        _audit(rt, uow.session, staff, "move", "queue_entry", entry_id, to=to_queue, new=moved.id)
        caller = waiting_caller(moved)
        moved_id = moved.id
    rt.waiting_list.remove(str(entry_id))
    rt.waiting_list.add(caller)
    if on_line:
        urls = VoiceUrls(rt.settings.public_base_url.rstrip("/") + "/twilio/voice")
        rt.enqueue(redirect_call, call_sid, urls.queue_exit(old_queue), retries=3)
    rt.enqueue(jobs.route_caller, moved_id)
    return moved_id


def redirect_call(call_sid: str, url: str) -> None:
    """Job: send a live call to new TwiML (a call that has ended is fine)."""
    from callcenter.runtime import runtime
    from core.telephony import TelephonyRejected

    with contextlib.suppress(TelephonyRejected):
        runtime().telephony.redirect_call(call_sid, url)


def raise_priority(rt: Runtime, staff: Staff, entry_id: int, by: int) -> int:
    """Add `by` to a waiting caller's route priority and re-place them; the new priority."""
    if not 0 < by <= MAX_BUMP:
        raise DispatchError(f"a bump must be 1-{MAX_BUMP}")
    with rt.unit_of_work() as uow:
        entry = _waiting_entry(uow.session, entry_id)
        entry.route_priority += by
        uow.session.flush()
        _audit(rt, uow.session, staff, "priority", "queue_entry", entry_id, by=by)
        caller, priority = waiting_caller(entry), entry.route_priority
    # The score is fixed at add time (routing.queue_score): take the caller off and back on.
    if rt.waiting_list.remove(str(entry_id)):
        rt.waiting_list.add(caller)
    rt.enqueue(jobs.route_caller, entry_id)
    return priority


def assign_to_agent(rt: Runtime, staff: Staff, entry_id: int, agent_id: int) -> str:
    """Hand a waiting caller to a chosen available agent; the assignment id.

    One atomic claim of the pair in Redis (refused if the caller was taken, or the agent is
    not available or lacks the caller's skill or language), then the reservation and the
    agent's ring, exactly as the router's own decisions.
    """
    waiting = rt.waiting_list
    caller = waiting.waiting(str(entry_id))
    agent = waiting.agent(str(agent_id))
    if caller is None:
        raise DispatchError(f"entry {entry_id} is not waiting", entry_id=entry_id)
    if agent is None:
        raise DispatchError(f"agent {agent_id} is not available", agent_id=agent_id)
    aid = uuid.uuid4().hex
    outcome = waiting.claim_outcome(caller.entry_id, agent.agent_id, aid, as_read=agent)
    if not outcome.won:
        raise DispatchError(
            f"could not hand entry {entry_id} to agent {agent_id}: {outcome.name.lower()}",
            outcome=outcome.name,
        )
    with rt.unit_of_work() as uow:
        entry, undo = connect.reserve(
            uow.session,
            Assignment(aid, caller, agent),
            now=rt.clock(),
            presence=rt.queues.presence,
        )
        _audit(
            rt,
            uow.session,
            staff,
            "assign",
            "queue_entry",
            entry_id,
            agent_id=agent_id,
            ok=bool(entry),
        )
        jobs.after_commit(uow, rt, undo)
    if entry is None:
        raise DispatchError(f"agent {agent_id} or entry {entry_id} changed meanwhile")
    rt.enqueue(jobs.ring_agent, entry.id, aid, retries=jobs.RING_RETRIES)
    return aid


def set_state(rt: Runtime, staff: Staff, agent_id: int, state: str, reason: str | None) -> str:
    """Change an agent's state as a supervisor (the presence table decides what is allowed)."""
    try:
        to = AgentState(state)
    except ValueError:
        raise DispatchError(f"no state {state!r}") from None
    with rt.unit_of_work() as uow:
        agent = jobs.set_agent_state(rt, uow, agent_id, to, reason=reason, actor=Actor.SUPERVISOR)
        _audit(rt, uow.session, staff, "state", "agent", agent_id, to=state, reason=reason)
        return agent.state.value


def set_skills(rt: Runtime, staff: Staff, agent_id: int, skills: dict[str, int]) -> dict[str, int]:
    """Replace an agent's skills ({skill: level 1-5}); the router sees them after the commit."""
    for skill, level in skills.items():
        if not SKILL.match(skill) or not isinstance(level, int) or not 1 <= level <= 5:
            raise DispatchError(f"bad skill {skill!r}={level!r} (level 1-5)")
    with rt.unit_of_work() as uow:
        agent = uow.session.get(Agent, agent_id)
        if agent is None:
            raise DispatchError(f"no agent {agent_id}")
        before = agent.skill_levels()
        agent.skills = [AgentSkill(skill=s, level=lv) for s, lv in sorted(skills.items())]
        uow.session.flush()
        _audit(rt, uow.session, staff, "skills", "agent", agent_id, before=before, after=skills)
        jobs.after_commit(uow, rt, Followup(publish=[agent_id], route_agents=[agent_id]))
        return agent.skill_levels()


def _group(rt: Runtime, name: str) -> support.SupportGroup:
    group = support.parse_groups(rt.settings.supervisor_support_groups).get(name)
    if group is None:
        raise DispatchError(f"no support group {name!r}")
    return group


def pull_group(rt: Runtime, staff: Staff, group: str, queue: str) -> list[int]:
    """Pull a support group into a queue by hand; the agents lent its skills."""
    found = _group(rt, group)
    if queue not in rt.queues:
        raise DispatchError(f"no queue {queue!r}")
    with rt.unit_of_work() as uow:
        changed = support.pull(
            uow.session,
            found,
            rt.queues[queue],
            level=rt.settings.supervisor_support_level,
            by=staff.id,
            automatic=False,
            now=rt.clock(),
        )
        _audit(rt, uow.session, staff, "support.pull", "queue", queue, group=group, agents=changed)
        jobs.after_commit(uow, rt, Followup(publish=list(changed), route_agents=list(changed)))
    return changed


def release_group(rt: Runtime, staff: Staff, group: str, queue: str | None) -> list[int]:
    """Give back the skills a support group was lent (for one queue, or all)."""
    _group(rt, group)
    with rt.unit_of_work() as uow:
        changed = support.release(uow.session, group, queue, now=rt.clock())
        _audit(
            rt,
            uow.session,
            staff,
            "support.release",
            "queue",
            queue or "*",
            group=group,
            agents=changed,
        )
        jobs.after_commit(uow, rt, Followup(publish=list(changed)))
    return changed
