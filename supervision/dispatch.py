"""Dispatch: a supervisor moves callers and agents around the floor, each action audited.

Each function changes the database in the caller's transaction (it flushes, never commits)
and records its audit entry there, so the action and its audit commit together. What must
follow the commit (the waiting list in Redis, the router's jobs, a redirect of the caller's
call) is returned as plain values or a `Followup` for the application layer to carry out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from config.settings import Settings
from core import audit
from core.errors import DomainError
from queues import connect
from queues.config import PresenceSettings, QueueSet
from queues.connect import Followup
from queues.models import Agent, AgentSkill, AgentState, QueuedCall, QueuedCallStatus
from queues.presence import SKILL
from queues.routing import Assignment, WaitingCaller
from queues.services import overflow_entry, waiting_caller
from queues.waiting import WaitingList
from supervision import support

MAX_BUMP = 1000


class DispatchError(DomainError):
    code = "dispatch-refused"


@dataclass(frozen=True, slots=True)
class Staff:
    """Who acts (for the audit log)."""

    id: int
    login: str


@dataclass(frozen=True, slots=True)
class Moved:
    """A caller moved to another queue: what the waiting list and the live call need next."""

    entry_id: int  # the new entry, waiting in the target queue
    old_queue: str
    call_sid: str
    on_line: bool  # the caller holds on the line (not a booked callback)
    caller: WaitingCaller  # the new entry as the waiting list holds it


def record(
    session: Session,
    staff: Staff,
    action: str,
    kind: str,
    subject_id: Any,
    *,
    now: datetime,
    **data: Any,
) -> None:
    """Audit a supervisor's action (`supervisor.<action>`) in the caller's transaction."""
    audit.record(
        session,
        actor_id=staff.id,
        actor=staff.login,
        action=f"supervisor.{action}",
        subject_type=kind,
        subject_id=subject_id,
        now=now,
        **data,
    )


def _waiting_entry(session: Session, entry_id: int) -> QueuedCall:
    entry = session.get(QueuedCall, entry_id)
    if entry is None or entry.status is not QueuedCallStatus.WAITING:
        raise DispatchError(f"entry {entry_id} is not waiting", entry_id=entry_id)
    return entry


def move_entry(
    session: Session, staff: Staff, entry_id: int, to_queue: str, *, queues: QueueSet, now: datetime
) -> Moved:
    """Move a waiting caller to another queue, keeping arrival time and priority. Flushes.

    The old entry ends `overflowed` (reason `overflow:<queue>`) and a new one waits in the
    target queue, as a max-wait overflow does. After the commit the caller must replace the
    old entry by `Moved.caller` in the waiting list and, when `on_line`, redirect the live call
    to the old queue's Enqueue action, which puts the caller in the new queue (the overflow
    path of `/queue/exit`). A second move of the same entry is refused (it no longer waits).
    """
    if to_queue not in queues:
        raise DispatchError(f"no queue {to_queue!r}", queue=to_queue)
    entry = _waiting_entry(session, entry_id)
    if entry.queue == to_queue:
        raise DispatchError(f"entry {entry_id} already waits in {to_queue}")
    old_queue, call_sid, on_line = entry.queue, entry.call_sid, entry.callback_to is None
    target = queues[to_queue]
    moved = overflow_entry(session, entry, to_queue, skill=target.skills[0], now=now)
    record(session, staff, "move", "queue_entry", entry_id, now=now, to=to_queue, new=moved.id)
    return Moved(moved.id, old_queue, call_sid, on_line, waiting_caller(moved))


def raise_priority(
    session: Session, staff: Staff, entry_id: int, by: int, *, now: datetime
) -> tuple[WaitingCaller, int]:
    """Add `by` to a waiting caller's route priority; (the caller re-scored, the new priority).

    Flushes. The waiting list fixes a caller's score when it is added (routing.queue_score),
    so after the commit the caller is taken off the list and put back on.
    """
    if not 0 < by <= MAX_BUMP:
        raise DispatchError(f"a bump must be 1-{MAX_BUMP}")
    entry = _waiting_entry(session, entry_id)
    entry.route_priority += by
    session.flush()
    record(session, staff, "priority", "queue_entry", entry_id, now=now, by=by)
    return waiting_caller(entry), entry.route_priority


def claim_pair(waiting: WaitingList, entry_id: int, agent_id: int) -> Assignment:
    """Claim a waiting caller and a chosen available agent together in the waiting list.

    One atomic claim in Redis: refused if the caller was taken, or the agent is not
    available or lacks the caller's skill or language. `reserve_pair` then records it.
    """
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
    return Assignment(aid, caller, agent)


def reserve_pair(
    session: Session,
    staff: Staff,
    assignment: Assignment,
    *,
    entry_id: int,
    agent_id: int,
    now: datetime,
    presence: PresenceSettings,
) -> tuple[QueuedCall | None, Followup]:
    """Reserve a claimed pair as the router's own decisions do, audited; (entry, undo).

    Flushes. The entry is None when the agent or the entry changed meanwhile: the audit entry
    (`ok=False`) still commits, the `undo` followup puts both back, and the caller reports
    the refusal after the commit. Otherwise the agent's leg is rung after the commit.
    """
    entry, undo = connect.reserve(session, assignment, now=now, presence=presence)
    record(
        session,
        staff,
        "assign",
        "queue_entry",
        entry_id,
        now=now,
        agent_id=agent_id,
        ok=bool(entry),
    )
    return entry, undo


def agent_state(state: str) -> AgentState:
    """The agent state a supervisor asked for by name (refused if there is none)."""
    try:
        return AgentState(state)
    except ValueError:
        raise DispatchError(f"no state {state!r}") from None


def set_skills(
    session: Session, staff: Staff, agent_id: int, skills: dict[str, int], *, now: datetime
) -> tuple[dict[str, int], Followup]:
    """Replace an agent's skills ({skill: level 1-5}); (the skills now, the followup).

    Flushes. The router sees the new skills once the followup (the agent republished and
    offered a caller) is carried out after the commit.
    """
    for skill, level in skills.items():
        if not SKILL.match(skill) or not isinstance(level, int) or not 1 <= level <= 5:
            raise DispatchError(f"bad skill {skill!r}={level!r} (level 1-5)")
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise DispatchError(f"no agent {agent_id}")
    before = agent.skill_levels()
    agent.skills = [AgentSkill(skill=s, level=lv) for s, lv in sorted(skills.items())]
    session.flush()
    record(session, staff, "skills", "agent", agent_id, now=now, before=before, after=skills)
    return agent.skill_levels(), Followup(publish=[agent_id], route_agents=[agent_id])


def support_group(settings: Settings, name: str) -> support.SupportGroup:
    """The support group of that name in `CALLCENTER_SUPERVISOR_SUPPORT_GROUPS`."""
    group = support.parse_groups(settings.supervisor_support_groups).get(name)
    if group is None:
        raise DispatchError(f"no support group {name!r}")
    return group


def pull_group(
    session: Session,
    staff: Staff,
    group: str,
    queue: str,
    *,
    settings: Settings,
    queues: QueueSet,
    now: datetime,
) -> tuple[list[int], Followup]:
    """Pull a support group into a queue by hand; (the agents lent its skills, the followup).

    Flushes. Pulling a group already pulled in lends nothing more (`support.pull`).
    """
    found = support_group(settings, group)
    if queue not in queues:
        raise DispatchError(f"no queue {queue!r}")
    changed = support.pull(
        session,
        found,
        queues[queue],
        level=settings.supervisor_support_level,
        by=staff.id,
        automatic=False,
        now=now,
    )
    record(
        session, staff, "support.pull", "queue", queue, now=now, group=group, agents=changed
    )
    return changed, Followup(publish=list(changed), route_agents=list(changed))


def release_group(
    session: Session,
    staff: Staff,
    group: str,
    queue: str | None,
    *,
    settings: Settings,
    now: datetime,
) -> tuple[list[int], Followup]:
    """Give back the skills a support group was lent (for one queue, or all); (the agents
    changed, the followup). Flushes; releasing twice changes nothing (`support.release`)."""
    support_group(settings, group)
    changed = support.release(session, group, queue, now=now)
    record(
        session,
        staff,
        "support.release",
        "queue",
        queue or "*",
        now=now,
        group=group,
        agents=changed,
    )
    return changed, Followup(publish=list(changed))
