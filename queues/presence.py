"""Agents' presence: accounts, the state transition table, and state changes with their log.

The states are `AgentState`: offline, available, reserved (ringing), on_call, wrap_up and
break (with a reason code). `TRANSITIONS` says which state may follow which, and who may ask
for it: the agent (from the desk), the system (router, call callbacks, timers) or a
supervisor. `decide_change` applies the table to a snapshot of the agent (pure);
`change_state` reads the agent, decides, and writes with a compare-and-set so that two
processes changing the same agent at once cannot both succeed.

Wrap-up ends by itself: `finish_wrap_up_due` (run on a timer) moves every agent whose wrap-up
has lasted `wrap_up_s` back to available. The length lives in the queue file's `[agents]`
table (`wrap_up_s`, with `ring_timeout_s` and the break reason codes), next to the queues it
serves, so operators change it where they change the queues.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from core.audit import record as audit
from core.db import rowcount
from core.errors import DomainError
from core.models import Language
from queues.models import Actor, Agent, AgentEvent, AgentSkill, AgentState, Post, Role
from queues.passwords import hash_password

log = logging.getLogger(__name__)

S = AgentState
A = Actor

#: Which state may follow which, and who may ask for it.
TRANSITIONS: Mapping[tuple[AgentState, AgentState], frozenset[Actor]] = {
    (S.OFFLINE, S.AVAILABLE): frozenset({A.AGENT, A.SUPERVISOR}),
    (S.OFFLINE, S.BREAK): frozenset({A.AGENT, A.SUPERVISOR}),
    (S.AVAILABLE, S.RESERVED): frozenset({A.SYSTEM}),  # the router assigned a caller
    (S.AVAILABLE, S.BREAK): frozenset({A.AGENT, A.SUPERVISOR}),
    (S.AVAILABLE, S.OFFLINE): frozenset({A.AGENT, A.SUPERVISOR, A.SYSTEM}),
    (S.RESERVED, S.ON_CALL): frozenset({A.SYSTEM}),  # the agent's leg answered
    (S.RESERVED, S.AVAILABLE): frozenset({A.SYSTEM}),  # the caller left before the answer
    (S.RESERVED, S.BREAK): frozenset({A.SYSTEM}),  # ring-no-answer: break "missed"
    (S.ON_CALL, S.WRAP_UP): frozenset({A.SYSTEM}),  # the call ended
    (S.WRAP_UP, S.AVAILABLE): frozenset({A.AGENT, A.SUPERVISOR, A.SYSTEM}),  # done, or timer
    (S.WRAP_UP, S.BREAK): frozenset({A.AGENT, A.SUPERVISOR}),
    (S.WRAP_UP, S.OFFLINE): frozenset({A.AGENT, A.SUPERVISOR}),
    (S.BREAK, S.BREAK): frozenset({A.AGENT, A.SUPERVISOR}),  # another reason
    (S.BREAK, S.AVAILABLE): frozenset({A.AGENT, A.SUPERVISOR}),
    (S.BREAK, S.OFFLINE): frozenset({A.AGENT, A.SUPERVISOR, A.SYSTEM}),
}
# Deliberately absent: leaving on_call other than to wrap-up (the call is still up), and
# leaving reserved other than by the router's decisions (a caller is ringing the agent).

#: States that belong to one call; the agent's `call_sid` is set exactly in these.
CALL_STATES = frozenset({S.RESERVED, S.ON_CALL, S.WRAP_UP})
DEFAULT_BREAK_REASONS = ("missed", "lunch", "training", "meeting", "personal")
#: Break reasons only the system sets (ring-no-answer), so that they mean what they say.
SYSTEM_BREAK_REASONS = frozenset({"missed"})
WRAP_UP_ELAPSED = "wrap_up_elapsed"
REASON_MAX = 40
LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
SKILL = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class PresenceError(DomainError):
    """A refused agent operation."""

    code = "presence-error"


class AgentNotFound(PresenceError):
    code = "agent-not-found"


class AgentInactive(PresenceError):
    code = "agent-inactive"


class TransitionNotAllowed(PresenceError):
    code = "transition-not-allowed"


class ActorNotAllowed(PresenceError):
    code = "actor-not-allowed"


class InvalidReason(PresenceError):
    code = "invalid-reason"


class AgentStateConflict(PresenceError):
    """The agent's state is not what the change expected (another change won the race)."""

    code = "agent-state-conflict"


class InvalidAgent(PresenceError):
    code = "invalid-agent"


class AgentExists(PresenceError):
    code = "agent-exists"


class PostNotHeld(PresenceError):
    code = "post-not-held"


#: States in which an agent may switch post: not while a call is theirs.
SWITCHABLE = frozenset({S.OFFLINE, S.AVAILABLE, S.BREAK})


def switch_post(
    session: Session, agent_id: int, post: Post, *, now: datetime, actor_id: int, actor: str
) -> bool:
    """Make `post` (one the agent holds) the rotating post they work now, and audit it.

    Refused (PostNotHeld, TransitionNotAllowed) for a post not held or during a call (reserved,
    on a call, wrap-up). Returns False and writes nothing when `post` is already the one worked
    (a double click); True after a switch, when the caller must re-publish the agent to the
    router (`Followup(publish=…, route_agents=…)`): the queues they take follow the post
    (`routing.inbound_skills`). Flushes, never commits.
    """
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise AgentNotFound(f"no agent {agent_id}")
    if post not in agent.posts:
        held = ", ".join(p.value for p in agent.posts) or "none"
        raise PostNotHeld(f"{agent.login} does not hold the post {post.value} (holds: {held})")
    before = agent.post_now
    if before is post:
        return False
    if agent.state not in SWITCHABLE:
        raise TransitionNotAllowed(
            f"finish the call first: cannot switch post while {agent.state.value}"
        )
    agent.current_post = post
    audit(
        session,
        actor_id=actor_id,
        actor=actor,
        action="agent.switch_post",
        subject_type="agent",
        subject_id=agent.id,
        now=now,
        before=before.value if before else None,
        after=post.value,
        state=agent.state.value,
    )
    return True


@dataclass(frozen=True, slots=True)
class Presence:
    """A snapshot of an agent's state, as read before a change."""

    state: AgentState
    reason: str | None
    call_sid: str | None
    since: datetime
    active: bool = True


@dataclass(frozen=True, slots=True)
class Change:
    """A decided state change: the new values, and the call the change concerns."""

    from_state: AgentState
    to_state: AgentState
    reason: str | None
    call_sid: str | None  # the agent's call after the change
    event_call_sid: str | None  # the call the change is about, for the log
    ends_call: bool  # on_call → wrap_up: stamps last_call_ended_at


def transition_allowed(from_state: AgentState, to_state: AgentState, actor: Actor) -> bool:
    """Whether `actor` may move an agent from `from_state` to `to_state` (pure)."""
    return actor in TRANSITIONS.get((from_state, to_state), frozenset())


def decide_change(
    current: Presence,
    to: AgentState,
    *,
    reason: str | None,
    actor: Actor,
    call_sid: str | None = None,
    break_reasons: Collection[str] = DEFAULT_BREAK_REASONS,
) -> Change | None:
    """The change that moves an agent from `current` to `to`, or None when already there.

    Pure. None (a no-op) when the agent is already in `to` (for a break: with the same
    reason; for a call state: on the same call, or no call named). Raises a PresenceError
    subclass when the change is refused: the transition is not in `TRANSITIONS`, the actor may
    not make it, the break reason is unknown (or system-only), the agent is disabled, or a call
    state names another call than the agent's.
    """
    if reason is not None and (not reason.strip() or len(reason) > REASON_MAX):
        raise InvalidReason(f"a reason is 1-{REASON_MAX} characters", reason=reason)
    if to is current.state:
        same_reason = to is not S.BREAK or reason is None or reason == current.reason
        same_call = call_sid is None or call_sid == current.call_sid
        if same_reason and same_call:
            return None
        if not same_call:
            raise AgentStateConflict(
                f"agent is {to} on call {current.call_sid}, not {call_sid}",
                state=current.state.value,
                call_sid=current.call_sid,
            )
    if not current.active and to is not S.OFFLINE:
        raise AgentInactive("the agent's account is disabled")
    allowed = TRANSITIONS.get((current.state, to))
    if allowed is None:
        raise TransitionNotAllowed(
            f"an agent cannot go from {current.state} to {to}",
            from_state=current.state.value,
            to_state=to.value,
        )
    if actor not in allowed:
        raise ActorNotAllowed(
            f"{current.state} → {to} is made by {', '.join(sorted(allowed))}, not {actor}",
            from_state=current.state.value,
            to_state=to.value,
            actor=actor.value,
        )
    if to is S.BREAK:
        if reason not in break_reasons:
            raise InvalidReason(
                f"break needs a reason from: {', '.join(break_reasons)}",
                reason=reason,
                allowed=list(break_reasons),
            )
        if reason in SYSTEM_BREAK_REASONS and actor is not A.SYSTEM:
            raise InvalidReason(f"break reason {reason!r} is set by the system only", reason=reason)
    new_call = _call_after(current, to, call_sid)
    return Change(
        from_state=current.state,
        to_state=to,
        reason=reason,
        call_sid=new_call,
        event_call_sid=new_call or call_sid or current.call_sid,
        ends_call=current.state is S.ON_CALL,
    )


def _call_after(current: Presence, to: AgentState, call_sid: str | None) -> str | None:
    if to not in CALL_STATES:
        return None
    if to is S.RESERVED:
        if not call_sid:
            raise InvalidReason("reserving an agent needs the caller's call SID")
        return call_sid
    if call_sid is not None and current.call_sid is not None and call_sid != current.call_sid:
        raise AgentStateConflict(
            f"agent is {current.state} on call {current.call_sid}, not {call_sid}",
            state=current.state.value,
            call_sid=current.call_sid,
        )
    return current.call_sid or call_sid


def change_state(
    session: Session,
    agent_id: int,
    to: AgentState,
    *,
    reason: str | None,
    actor: Actor,
    now: datetime,
    call_sid: str | None = None,
    expected: AgentState | None = None,
    break_reasons: Collection[str] = DEFAULT_BREAK_REASONS,
) -> Agent:
    """Move an agent to `to`, log an AgentEvent, and return the agent as now stored. Flushes.

    Transaction contract: one UPDATE … WHERE id = :id AND state = :read (and the same
    state_since, reason and call), then one INSERT of the event; never commits. If another
    transaction changed the agent between the read and the write, the UPDATE matches no row
    and AgentStateConflict is raised: the caller's unit of work rolls back and nothing is
    logged. With `expected`, an agent found in any other state is a conflict too (a desk
    that showed a stale state, a timer acting on an old list).

    Idempotent: asking for the state the agent is already in (same break reason, same call)
    changes nothing, logs nothing and returns the agent. Refusals raise a PresenceError
    subclass (see `decide_change`); AgentNotFound for an unknown id.
    """
    agent = _change(
        session,
        agent_id,
        to,
        reason=reason,
        actor=actor,
        now=now,
        call_sid=call_sid,
        guard=None if expected is None else (lambda p: p.state is expected),
        break_reasons=break_reasons,
    )
    assert agent is not None
    return agent


def finish_wrap_up_due(session: Session, *, now: datetime, wrap_up_s: int) -> list[int]:
    """Move agents whose wrap-up started `wrap_up_s` or more before `now` to available.

    Returns the ids of the agents moved, each with an AgentEvent (actor system, reason
    "wrap_up_elapsed"). Flushes, never commits. Safe to run from several timers at once and
    repeatedly: an agent is moved only while still in the same wrap-up (compare-and-set on
    state and state_since), so one that left wrap-up, or started a new one, meanwhile is left
    alone, and a second run finds nothing to do.
    """
    cutoff = now - timedelta(seconds=wrap_up_s)
    due = session.scalars(
        select(Agent.id)
        .where(Agent.state == S.WRAP_UP, Agent.state_since <= cutoff)
        .order_by(Agent.state_since, Agent.id)
    ).all()
    moved = []
    for agent_id in due:
        try:
            agent = _change(
                session,
                agent_id,
                S.AVAILABLE,
                reason=WRAP_UP_ELAPSED,
                actor=A.SYSTEM,
                now=now,
                call_sid=None,
                guard=lambda p: p.state is S.WRAP_UP and p.since <= cutoff,
                break_reasons=DEFAULT_BREAK_REASONS,
            )
        except PresenceError as exc:  # moved on meanwhile, or disabled: not ours to change
            log.info("wrap-up of agent %s not ended: %s", agent_id, exc.code)
            continue
        if agent is not None:
            moved.append(agent_id)
    return moved


def _change(
    session: Session,
    agent_id: int,
    to: AgentState,
    *,
    reason: str | None,
    actor: Actor,
    now: datetime,
    call_sid: str | None,
    guard: Callable[[Presence], bool] | None,
    break_reasons: Collection[str],
) -> Agent | None:
    if now.tzinfo is None:
        raise ValueError("change_state needs a timezone-aware `now`")
    current = _read(session, agent_id)
    if guard is not None and not guard(current):
        raise AgentStateConflict(
            f"agent {agent_id} is {current.state}", state=current.state.value, agent_id=agent_id
        )
    change = decide_change(
        current, to, reason=reason, actor=actor, call_sid=call_sid, break_reasons=break_reasons
    )
    if change is not None:
        values: dict[str, Any] = {
            "state": change.to_state,
            "state_reason": change.reason,
            "state_since": now,
            "call_sid": change.call_sid,
        }
        if change.ends_call:
            values["last_call_ended_at"] = now
        result = session.execute(
            update(Agent)
            .where(
                Agent.id == agent_id,
                Agent.state == current.state,
                Agent.state_since == current.since,
                _matches(Agent.state_reason, current.reason),
                _matches(Agent.call_sid, current.call_sid),
            )
            .values(values),
            execution_options={"synchronize_session": False},
        )
        if rowcount(result) != 1:
            raise AgentStateConflict(
                f"agent {agent_id} changed while moving from {current.state} to {to}",
                agent_id=agent_id,
                expected=current.state.value,
            )
        session.add(
            AgentEvent(
                agent_id=agent_id,
                from_state=change.from_state,
                to_state=change.to_state,
                reason=change.reason,
                actor=actor,
                at=now,
                call_sid=change.event_call_sid,
            )
        )
        session.flush()
        log.info("agent %s: %s → %s (%s, %s)", agent_id, current.state, to, reason, actor)
    return session.get(Agent, agent_id, populate_existing=True)


def _matches(column: InstrumentedAttribute[str | None], value: str | None) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _read(session: Session, agent_id: int) -> Presence:
    row = session.execute(
        select(
            Agent.state, Agent.state_reason, Agent.call_sid, Agent.state_since, Agent.active
        ).where(Agent.id == agent_id)
    ).one_or_none()
    if row is None:
        raise AgentNotFound(f"no agent with id {agent_id}", agent_id=agent_id)
    return Presence(
        state=row.state,
        reason=row.state_reason,
        call_sid=row.call_sid,
        since=row.state_since,
        active=row.active,
    )


# --- Accounts ----------------------------------------------------------------------------------


def create_agent(
    session: Session,
    *,
    login: str,
    display_name: str,
    posts: Sequence[Post],
    skills: Mapping[str, int],
    languages: Sequence[Language],
    now: datetime,
    team: str = "",
    phone_e164: str | None = None,
    client_identity: str | None = None,
    password: str | None = None,
    known_skills: Collection[str] | None = None,
    actor: Actor = A.SUPERVISOR,
    roles: Sequence[Role] = (),
) -> Agent:
    """Create an agent, offline, with a first AgentEvent (None → offline, "created"). Flushes.

    Validates everything first and raises InvalidAgent listing every problem; AgentExists
    when the login or Twilio Client identity is taken. Not idempotent by itself: a second
    call with the same login raises AgentExists (callers that seed check first). `known_skills`
    (e.g. the queue file's skills) refuses a skill no queue asks for, which is usually a typo.
    The Twilio Client identity defaults to "agent_<login>".
    """
    login = login.strip().lower()
    identity = client_identity or "agent_" + re.sub(r"[^A-Za-z0-9_]", "_", login)
    problems = _account_problems(
        login, display_name, posts, skills, languages, phone_e164, known_skills, roles
    )
    if problems:
        raise InvalidAgent("; ".join(problems), problems=problems)
    taken = session.scalar(
        select(Agent.login).where((Agent.login == login) | (Agent.client_identity == identity))
    )
    if taken is not None:
        raise AgentExists(
            f"an agent with login {login!r} or identity {identity!r} exists", login=login
        )
    agent = Agent(
        login=login,
        display_name=display_name.strip(),
        password_hash=hash_password(password) if password else None,
        team=team.strip(),
        client_identity=identity,
        phone_e164=phone_e164,
        state=S.OFFLINE,
        state_since=now,
        active=True,
        created_at=now,
    )
    agent.skills = [AgentSkill(skill=s, level=level) for s, level in sorted(skills.items())]
    agent.posts.extend(dict.fromkeys(posts))
    agent.languages.extend(dict.fromkeys(languages))
    agent.roles.extend(dict.fromkeys(roles))
    session.add(agent)
    session.flush()
    session.add(
        AgentEvent(
            agent_id=agent.id,
            from_state=None,
            to_state=S.OFFLINE,
            reason="created",
            actor=actor,
            at=now,
        )
    )
    session.flush()
    return agent


def _account_problems(
    login: str,
    display_name: str,
    posts: Sequence[Post],
    skills: Mapping[str, int],
    languages: Sequence[Language],
    phone_e164: str | None,
    known_skills: Collection[str] | None,
    roles: Sequence[Role] = (),
) -> list[str]:
    problems = []
    if not LOGIN.match(login):
        problems.append(f"login {login!r} must be 2-40 lowercase letters, digits, '.', '_', '-'")
    if not display_name.strip() or len(display_name) > 120:
        problems.append("the display name must be 1-120 characters")
    if not posts and not roles:
        problems.append("an account holds at least one post or role")
    if not languages:
        problems.append("an agent speaks at least one language")
    for skill, level in sorted(skills.items()):
        if not SKILL.match(skill):
            problems.append(f"skill {skill!r} must be lowercase letters, digits and _")
        elif known_skills is not None and skill not in known_skills:
            problems.append(
                f"no queue needs skill {skill!r} (queue skills: {', '.join(sorted(known_skills))})"
            )
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
            problems.append(f"skill {skill!r} has level {level!r}; levels are 1-5")
    if phone_e164 is not None and not E164.match(phone_e164):
        problems.append(f"phone {phone_e164!r} is not an E.164 number (+8613800138000)")
    return problems


def get_agent(session: Session, login: str) -> Agent | None:
    """The agent with this login (case-insensitive), or None. Reads only."""
    return session.scalar(select(Agent).where(Agent.login == login.strip().lower()))


def list_agents(session: Session) -> list[Agent]:
    """Every agent by login, with skills, posts and languages loaded. Reads only."""
    return list(
        session.scalars(
            select(Agent)
            .options(
                selectinload(Agent.skills),
                selectinload(Agent.post_rows),
                selectinload(Agent.language_rows),
                selectinload(Agent.role_rows),
            )
            .order_by(Agent.login)
        )
    )
