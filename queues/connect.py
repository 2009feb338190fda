"""Connecting a waiting caller to an agent, as database decisions (flush, never commit).

The life of one connection, with the status of the queue entry and the agent's state:

    router claims caller + agent in Redis  →  `reserve`          entry assigned, agent reserved
    the agent's leg is placed              →  `record_agent_leg` (the CallSid is kept)
    the agent answers                      →  `agent_answered`   entry connected, agent on_call
      (the caller is then redirected into the conference; callbacks are dialled by the
      outbound engine instead, see `queue_callbacks.entries`)
    the agent's leg ends                   →  `talk_ended`       agent wrap_up
    the agent saves notes and disposition  →  `wrap_up`          agent available

and the ways it can go wrong:

    the agent's leg is not answered        →  `ring_failed`      caller back in their place,
                                                                  agent on break "missed"
    the caller hangs up meanwhile          →  `caller_left`      entry abandoned, agent available
    a status callback is lost              →  `stale_reservations` (the periodic tick)
    the agent's leg was never placed       →  `ring_not_placed`  caller back in their place,
                                                                  agent available

Every function reads the rows it changes and changes them only from the state it expects
(compare-and-set on the entry's status and assignment, `presence.change_state` with
`expected` for the agent), so Twilio's repeated and reordered callbacks, a retried job, or two
processes racing on the same entry change things once. What must happen outside the database
(Redis, Twilio) is returned as a `Followup` for the boundary to do after the commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.calls import get_call, log_event
from core.db import rowcount
from core.models import CallEvent
from queues.config import PresenceSettings
from queues.models import Actor, Agent, AgentState, QueuedCall, QueuedCallStatus
from queues.presence import PresenceError, change_state
from queues.reconcile import BRIDGED, bridged_key
from queues.routing import AVAILABLE, AgentCandidate, Assignment, inbound_skills

log = logging.getLogger(__name__)

S = QueuedCallStatus
#: Entries the router may give to an agent (they are on the Redis waiting list).
ROUTABLE = (S.WAITING, S.CALLBACK)
#: Entries that have not ended.
OPEN = (S.WAITING, S.CALLBACK, S.SCHEDULED, S.ASSIGNED, S.CONNECTED)
#: Twilio's final statuses of a leg that was never answered.
NOT_ANSWERED = frozenset({"no-answer", "busy", "failed", "canceled"})
MISSED = "missed"
#: The values that take an entry's assignment away (it waits again, or ends).
UNASSIGNED: dict[str, Any] = {
    "assignment_id": None,
    "agent_id": None,
    "agent_call_sid": None,
    "assigned_at": None,
}


@dataclass
class Followup:
    """What the boundary does after the commit, in this order."""

    requeue: list[int] = field(default_factory=list)  # entry ids back on the waiting list
    dequeue: list[int] = field(default_factory=list)  # entry ids off the waiting list
    publish: list[int] = field(default_factory=list)  # agents whose availability changed
    hang_up: list[str] = field(default_factory=list)  # call legs to end
    route_entries: list[int] = field(default_factory=list)  # route these callers now
    route_agents: list[int] = field(default_factory=list)  # route these agents now

    def merge(self, other: Followup) -> Followup:
        for name in ("requeue", "dequeue", "publish", "hang_up", "route_entries", "route_agents"):
            getattr(self, name).extend(
                x for x in getattr(other, name) if x not in getattr(self, name)
            )
        return self

    def __bool__(self) -> bool:
        return any(
            (
                self.requeue,
                self.dequeue,
                self.publish,
                self.hang_up,
                self.route_entries,
                self.route_agents,
            )
        )


def candidate(agent: Agent) -> AgentCandidate:
    """The router's view of an available agent (idle since their last call, or since available)."""
    return AgentCandidate(
        agent_id=str(agent.id),
        skills=inbound_skills(
            agent.post_now.value if agent.post_now else None,
            {p.value for p in agent.posts},
            agent.skill_levels(),
        ),
        languages=frozenset(lang.value for lang in agent.languages),
        state=AVAILABLE,
        idle_since=max(agent.state_since, agent.last_call_ended_at or agent.state_since),
    )


def ring_address(agent: Agent) -> str:
    """Where the agent's leg rings: their phone if they have one, else their browser desk."""
    return agent.phone_e164 or f"client:{agent.client_identity}"


def entry_cas(session: Session, entry: QueuedCall, expected: tuple[S, ...], **values: Any) -> bool:
    """Update the entry only if it is still in one of `expected` with the same assignment."""
    query = update(QueuedCall).where(
        QueuedCall.id == entry.id,
        QueuedCall.status.in_(expected),
        QueuedCall.assignment_id.is_(None)
        if entry.assignment_id is None
        else QueuedCall.assignment_id == entry.assignment_id,
    )
    result = session.execute(
        query.values(**values), execution_options={"synchronize_session": False}
    )
    session.flush()
    if rowcount(result) != 1:
        return False
    session.refresh(entry)
    return True


def entry_event(
    session: Session, entry: QueuedCall, kind: str, now: datetime, key: str, **data: Any
) -> None:
    call = get_call(session, entry.call_sid)
    if call is not None:
        log_event(session, call, kind, now=now, dedupe_key=key, entry_id=entry.id, **data)


def _try_change(session: Session, agent_id: int, to: AgentState, **kwargs: Any) -> bool:
    """A system state change that may find the agent elsewhere already: True if made (or no-op)."""
    try:
        with session.begin_nested():
            change_state(session, agent_id, to, actor=Actor.SYSTEM, **kwargs)
    except PresenceError as exc:
        log.info("agent %s not moved to %s: %s", agent_id, to, exc.code)
        return False
    return True


# --- the router's claim becomes a reservation ---------------------------------------------


def reserve(
    session: Session, assignment: Assignment, *, now: datetime, presence: PresenceSettings
) -> tuple[QueuedCall | None, Followup]:
    """Record a claim the router won in Redis: entry assigned, agent reserved. Flushes.

    The claim took both out of Redis. If the database disagrees (the caller hung up, the
    agent went on break a moment ago), nothing is reserved and the followup puts back on the
    Redis lists whichever of the two is still free in the database, and routes it again.
    Returns the assigned entry, or None.
    """
    entry_id, agent_id = int(assignment.caller.entry_id), int(assignment.agent.agent_id)
    entry = session.get(QueuedCall, entry_id)
    agent = session.get(Agent, agent_id)
    undo = Followup()
    if entry is None or agent is None:
        return None, undo
    if entry.assignment_id == assignment.assignment_id:  # this claim was recorded already
        return (entry if entry.status is S.ASSIGNED else None), undo
    entry_free = entry.status in ROUTABLE
    agent_free = agent.active and agent.state is AgentState.AVAILABLE
    if entry_free and agent_free:
        try:
            with session.begin_nested():
                change_state(
                    session,
                    agent_id,
                    AgentState.RESERVED,
                    reason=None,
                    actor=Actor.SYSTEM,
                    now=now,
                    call_sid=entry.call_sid,
                    expected=AgentState.AVAILABLE,
                    break_reasons=presence.break_reasons,
                )
                if not entry_cas(
                    session,
                    entry,
                    ROUTABLE,
                    status=S.ASSIGNED,
                    assignment_id=assignment.assignment_id,
                    agent_id=agent_id,
                    agent_call_sid=None,
                    assigned_at=now,
                    rings=entry.rings + 1,
                ):
                    raise _Lost()
        except (PresenceError, _Lost):
            session.expire_all()
            entry, agent = session.get(QueuedCall, entry_id), session.get(Agent, agent_id)
            assert entry is not None and agent is not None
            entry_free = entry.status in ROUTABLE
            agent_free = agent.active and agent.state is AgentState.AVAILABLE
        else:
            entry_event(
                session,
                entry,
                "assigned",
                now,
                f"assigned:{assignment.assignment_id}",
                agent_id=agent_id,
                queue=entry.queue,
            )
            return entry, undo
    if entry_free:
        undo.requeue.append(entry_id)
        undo.route_entries.append(entry_id)
    if agent_free:
        undo.publish.append(agent_id)
        undo.route_agents.append(agent_id)
    return None, undo


class _Lost(Exception):
    pass


def ring_claim_key(assignment_id: str) -> str:
    """The dedupe key of the `ring_claimed` event: the claim of an assignment's one dial."""
    return f"ring_claimed:{assignment_id}"


def claim_ring(session: Session, entry_id: int, assignment_id: str, *, now: datetime) -> bool:
    """Claim the dial of the agent's leg of an assignment (the first transaction of
    claim-commit-dial-record): True once per assignment, while the entry is still assigned
    by it with no leg; a retried or repeated job finds the claim and never dials again. The
    claim is a `ring_claimed` call event (unique per call and dedupe key). Flushes."""
    entry = session.get(QueuedCall, entry_id)
    if entry is None or entry.assignment_id != assignment_id:
        return False
    if entry.status is not S.ASSIGNED or entry.agent_call_sid is not None:
        return False
    call = get_call(session, entry.call_sid)
    if call is None:
        return False
    return log_event(
        session,
        call,
        "ring_claimed",
        now=now,
        dedupe_key=ring_claim_key(assignment_id),
        entry_id=entry_id,
        agent_id=entry.agent_id,
    )


def release_ring_claim(session: Session, entry_id: int, assignment_id: str) -> None:
    """Undo a claim whose dial failed transiently (no call was created): a retry may dial."""
    entry = session.get(QueuedCall, entry_id)
    if entry is None:
        return
    session.execute(
        delete(CallEvent).where(
            CallEvent.call_sid == entry.call_sid,
            CallEvent.dedupe_key == ring_claim_key(assignment_id),
        )
    )
    session.flush()


def record_agent_leg(session: Session, entry_id: int, assignment_id: str, call_sid: str) -> bool:
    """Keep the CallSid of the agent's leg on the entry; False if the assignment has ended."""
    result = session.execute(
        update(QueuedCall)
        .where(
            QueuedCall.id == entry_id,
            QueuedCall.assignment_id == assignment_id,
            QueuedCall.agent_call_sid.is_(None),
        )
        .values(agent_call_sid=call_sid),
        execution_options={"synchronize_session": False},
    )
    session.flush()
    if rowcount(result) == 1:
        return True
    entry = session.get(QueuedCall, entry_id, populate_existing=True)
    return (
        entry is not None
        and entry.assignment_id == assignment_id
        and entry.status
        in (
            S.ASSIGNED,
            S.CONNECTED,
        )
    )


# --- the agent's leg ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answered:
    """The agent answered: connect (entry and agent) or tell the agent the caller has gone."""

    entry: QueuedCall | None
    connect: bool
    followup: Followup


def agent_answered(
    session: Session,
    entry_id: int,
    assignment_id: str,
    agent_call_sid: str,
    *,
    now: datetime,
    presence: PresenceSettings,
) -> Answered:
    """The agent's leg answered (its TwiML is being fetched). Flushes.

    Connects when the entry is still assigned by this assignment: the wait ends now (the
    answer is what service level and ASA count), the agent goes on call. A repeat of the
    same webhook finds the entry connected by the same assignment and connects again (the
    same TwiML; the bridge job is idempotent). Otherwise the caller has gone (hung up, or
    given to another agent after this leg was given up): `connect` is False, and an agent
    still reserved for the caller goes back to available.
    """
    entry = session.get(QueuedCall, entry_id)
    if entry is None or entry.assignment_id != assignment_id:
        return Answered(entry, False, Followup())
    if entry.status is S.CONNECTED:
        return Answered(entry, True, Followup())
    if entry.status is not S.ASSIGNED or entry.agent_id is None:
        return Answered(entry, False, release_agent(session, entry, now=now))
    waited = mark_answered(
        session, entry, now, agent_call_sid=entry.agent_call_sid or agent_call_sid
    )
    if waited is None:
        return Answered(entry, False, Followup())
    _try_change(
        session,
        entry.agent_id,
        AgentState.ON_CALL,
        reason=None,
        now=now,
        call_sid=entry.call_sid,
        break_reasons=presence.break_reasons,
    )
    entry_event(
        session,
        entry,
        "agent_answered",
        now,
        f"answered:{assignment_id}",
        agent_id=entry.agent_id,
        waited_s=waited,
    )
    return Answered(entry, True, Followup())


def mark_answered(session: Session, entry: QueuedCall, now: datetime, **values: Any) -> int | None:
    """The wait ends now: `assigned → connected` (the answer is what service level and ASA
    count). The seconds waited, or None if the entry was no longer assigned. Flushes."""
    waited = max(0, round((now - entry.enqueued_at).total_seconds()))
    if not entry_cas(
        session,
        entry,
        (S.ASSIGNED,),
        status=S.CONNECTED,
        answered_at=now,
        left_at=now,
        wait_s=waited,
        reason="answered",
        **values,
    ):
        return None
    return waited


def ring_failed(
    session: Session,
    entry_id: int,
    assignment_id: str,
    status: str,
    *,
    now: datetime,
    presence: PresenceSettings,
) -> Followup:
    """The agent's leg ended unanswered (no-answer, busy, failed, canceled). Flushes.

    While the entry is still assigned by this assignment: the caller goes back on the
    waiting list in the same place (same entry, same score: at the head unless a caller of
    higher priority arrived meanwhile) and is routed again; the agent goes on break
    "missed", which the team lead sees on the wallboard, and which the agent ends at the
    desk. Anything else (the caller had hung up, a repeat of the callback) changes nothing.
    """
    entry = session.get(QueuedCall, entry_id)
    follow = Followup()
    if entry is None or entry.assignment_id != assignment_id or entry.status is not S.ASSIGNED:
        return follow
    agent_id = entry.agent_id
    if not entry_cas(session, entry, (S.ASSIGNED,), status=S.WAITING, **UNASSIGNED):
        return follow
    entry_event(
        session,
        entry,
        "ring_failed",
        now,
        f"ring_failed:{assignment_id}",
        agent_id=agent_id,
        status=status,
    )
    follow.requeue.append(entry.id)
    follow.route_entries.append(entry.id)
    if agent_id is not None:
        _try_change(
            session,
            agent_id,
            AgentState.BREAK,
            reason=MISSED,
            now=now,
            call_sid=None,
            expected=AgentState.RESERVED,
            break_reasons=presence.break_reasons,
        )
    return follow


def talk_ended(
    session: Session,
    entry_id: int,
    assignment_id: str,
    *,
    now: datetime,
    presence: PresenceSettings,
) -> Followup:
    """The answered agent leg ended: the talk is over, the agent goes to wrap-up. Flushes."""
    entry = session.get(QueuedCall, entry_id)
    if entry is None or entry.assignment_id != assignment_id or entry.answered_at is None:
        return Followup()
    if entry.talk_ended_at is None:
        entry.talk_ended_at = now
        session.flush()
    if entry.agent_id is not None:
        agent = session.get(Agent, entry.agent_id)
        if (
            agent is not None
            and agent.state is AgentState.ON_CALL
            and agent.call_sid == entry.call_sid
        ):
            _try_change(
                session,
                agent.id,
                AgentState.WRAP_UP,
                reason=None,
                now=now,
                call_sid=entry.call_sid,
                expected=AgentState.ON_CALL,
                break_reasons=presence.break_reasons,
            )
    return Followup()


def agent_leg_status(
    session: Session,
    entry_id: int,
    assignment_id: str,
    call_sid: str,
    status: str,
    *,
    now: datetime,
    presence: PresenceSettings,
) -> Followup:
    """A status callback of the agent's leg (Twilio's CallStatus `status`). Flushes.

    Keeps the leg's CallSid on the entry (`record_agent_leg`), then: a leg that ended
    unanswered is `ring_failed`, a completed one `talk_ended`; any other status (ringing,
    in-progress) changes nothing more. Idempotent like those, so a repeated or reordered
    callback changes nothing; the followup is for the boundary, after the commit.
    """
    record_agent_leg(session, entry_id, assignment_id, call_sid)
    if status in NOT_ANSWERED:
        return ring_failed(session, entry_id, assignment_id, status, now=now, presence=presence)
    if status == "completed":
        return talk_ended(session, entry_id, assignment_id, now=now, presence=presence)
    return Followup()


def caller_gone_before_bridge(session: Session, entry_id: int, *, now: datetime) -> None:
    """The agent answered but the caller's call had ended before it joined: abandoned.

    `answered_at` stays (the agent did answer); the agent's leg is hung up by the boundary,
    and its end moves the agent to wrap-up as after any call.
    """
    entry = session.get(QueuedCall, entry_id)
    if entry is None or entry.status is not S.CONNECTED or entry.talk_ended_at is not None:
        return
    if entry_cas(session, entry, (S.CONNECTED,), status=S.ABANDONED, reason="left_before_bridge"):
        entry_event(session, entry, "abandoned", now, f"abandoned:{entry.id}", after_answer=True)


def caller_joined(session: Session, entry_id: int, *, now: datetime) -> QueuedCall | None:
    """The caller of a connected entry reaches its conference (their TwiML is being fetched):
    log it once (the `bridged` event the tick's repair looks for). The entry, if the caller
    should join; None if the entry has ended or its talk is over. Flushes."""
    entry = session.get(QueuedCall, entry_id)
    if entry is None or entry.status is not S.CONNECTED or entry.talk_ended_at is not None:
        return None
    entry_event(session, entry, BRIDGED, now, bridged_key(entry.id), agent_id=entry.agent_id)
    return entry


def caller_call_ended(session: Session, call_sid: str, *, now: datetime) -> Followup:
    """The caller's call has ended (or is lost to an error): free an agent left alone.

    For each connected entry of the call whose talk has not ended, the agent's leg is hung up:
    normally the conference already ended with the caller, and this changes nothing; but if
    the caller never reached the conference (hung up just after the redirect, or while the
    redirect was failing, or their TwiML fetch failed) the agent would otherwise wait there
    alone, and the entry is abandoned (`caller_gone_before_bridge`: no `bridged` event). The
    leg's end then moves the agent to wrap-up as after any call. Flushes.
    """
    entries = session.scalars(
        select(QueuedCall).where(
            QueuedCall.call_sid == call_sid,
            QueuedCall.status == S.CONNECTED,
            QueuedCall.talk_ended_at.is_(None),
            QueuedCall.agent_call_sid.is_not(None),
        )
    ).all()
    legs = [e.agent_call_sid for e in entries if e.agent_call_sid]
    for entry in entries:
        if not _bridged(session, entry.id):
            caller_gone_before_bridge(session, entry.id, now=now)
    return Followup(hang_up=legs)


def _bridged(session: Session, entry_id: int) -> bool:
    """Whether the caller of the entry reached its conference (the `bridged` event)."""
    found = session.scalar(
        select(CallEvent.id).where(
            CallEvent.kind == BRIDGED, CallEvent.dedupe_key == bridged_key(entry_id)
        )
    )
    return found is not None


def caller_left(
    session: Session, entry: QueuedCall, *, now: datetime, presence: PresenceSettings
) -> Followup:
    """After the caller left an assigned entry (hung up, or went to voicemail, while the agent
    rang): release it.

    The agent still reserved for this caller goes back to available (it was not their fault)
    and their ringing leg is hung up. For any other entry, nothing to do.
    """
    if entry.status in OPEN or entry.agent_id is None or entry.answered_at is not None:
        return Followup()
    return release_agent(session, entry, now=now)


def release_agent(session: Session, entry: QueuedCall, *, now: datetime) -> Followup:
    """The agent still reserved for the entry's caller goes back to available (it was not
    their fault), and their ringing leg, if any, is hung up. Flushes."""
    follow = Followup()
    if entry.agent_id is None:
        return follow
    agent = session.get(Agent, entry.agent_id)
    if agent is None or agent.state is not AgentState.RESERVED or agent.call_sid != entry.call_sid:
        return follow
    if _try_change(
        session,
        agent.id,
        AgentState.AVAILABLE,
        reason="caller_left",
        now=now,
        expected=AgentState.RESERVED,
    ):
        follow.publish.append(agent.id)
        follow.route_agents.append(agent.id)
    if entry.agent_call_sid:
        follow.hang_up.append(entry.agent_call_sid)
    return follow


def ring_not_placed(
    session: Session, entry_id: int, assignment_id: str, *, now: datetime
) -> Followup:
    """The agent's leg of an assignment was never placed (the `ring_agent` job was lost, died
    between its claim and the dial, or ran out of retries): nobody was rung, nobody missed
    anything. Flushes.

    While the entry is still assigned by this assignment with no leg: the caller goes back
    on the waiting list in the same place and is routed again, and the agent, still reserved
    for them, goes back to available (not on break). Anything else changes nothing.
    """
    entry = session.get(QueuedCall, entry_id)
    follow = Followup()
    if (
        entry is None
        or entry.assignment_id != assignment_id
        or entry.status is not S.ASSIGNED
        or entry.agent_call_sid is not None
    ):
        return follow
    agent_id = entry.agent_id
    result = session.execute(
        update(QueuedCall)
        .where(
            QueuedCall.id == entry_id,
            QueuedCall.status == S.ASSIGNED,
            QueuedCall.assignment_id == assignment_id,
            QueuedCall.agent_call_sid.is_(None),
        )
        .values(status=S.WAITING, **UNASSIGNED),
        execution_options={"synchronize_session": False},
    )
    session.flush()
    if rowcount(result) != 1:
        return follow
    session.refresh(entry)
    key = f"ring_not_placed:{assignment_id}"
    entry_event(session, entry, "ring_not_placed", now, key, agent_id=agent_id)
    follow.requeue.append(entry.id)
    follow.route_entries.append(entry.id)
    agent = session.get(Agent, agent_id) if agent_id is not None else None
    if (
        agent is not None
        and agent.state is AgentState.RESERVED
        and agent.call_sid == entry.call_sid
        and _try_change(
            session,
            agent.id,
            AgentState.AVAILABLE,
            reason="ring_not_placed",
            now=now,
            expected=AgentState.RESERVED,
        )
    ):
        follow.publish.append(agent.id)
        follow.route_agents.append(agent.id)
    return follow


def stale_reservations(
    session: Session, *, now: datetime, presence: PresenceSettings, grace_s: int = 30
) -> Followup:
    """Assignments whose agent's leg is still ringing well past the ring timeout (a lost
    status callback): give up.

    Treated like a ring-no-answer (`ring_failed`); the leg is hung up. An assignment with no
    leg was never rung (`queues.reconcile.rings_not_placed`, repaired by `ring_not_placed`).
    Callbacks are the outbound engine's (its `reconcile` repairs lost dials).
    """
    cutoff = now - timedelta(seconds=presence.ring_timeout_s + grace_s)
    stale = session.scalars(
        select(QueuedCall).where(
            QueuedCall.status == S.ASSIGNED,
            QueuedCall.assigned_at <= cutoff,
            QueuedCall.callback_to.is_(None),
            QueuedCall.agent_call_sid.is_not(None),
        )
    ).all()
    follow = Followup()
    for entry in stale:
        leg, aid = entry.agent_call_sid, entry.assignment_id
        assert aid is not None
        follow.merge(ring_failed(session, entry.id, aid, "timeout", now=now, presence=presence))
        if leg:
            follow.hang_up.append(leg)
    return follow


# --- wrap-up --------------------------------------------------------------------------------


class WrapUpError(PresenceError):
    code = "wrap-up-error"


def wrap_up(
    session: Session,
    agent_id: int,
    *,
    disposition: str,
    notes: str,
    now: datetime,
    presence: PresenceSettings,
    then: AgentState = AgentState.AVAILABLE,
    break_reason: str | None = None,
) -> tuple[QueuedCall | None, Followup]:
    """The agent saves the wrap-up of their last call and leaves wrap-up (to `then`). Flushes.

    The disposition must be one of the queue file's; notes up to 2,000 characters. Writes
    them on the agent's latest connected entry (the call they wrap up), once: a second save
    of the same call overwrites nothing. Raises a PresenceError subclass when refused.
    """
    if disposition not in presence.dispositions:
        raise WrapUpError(
            f"disposition must be one of: {', '.join(presence.dispositions)}",
            disposition=disposition,
        )
    if len(notes) > 2000:
        raise WrapUpError("notes are at most 2,000 characters", length=len(notes))
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise WrapUpError("no such agent", agent_id=agent_id)
    entry = latest_call_of(session, agent_id)
    if entry is not None and entry.wrapped_up_at is None:
        entry.disposition = disposition
        entry.notes = notes.strip() or None
        entry.wrapped_up_at = now
        session.flush()
    follow = Followup()
    if agent.state is AgentState.WRAP_UP:
        change_state(
            session,
            agent_id,
            then,
            reason=break_reason,
            actor=Actor.AGENT,
            now=now,
            expected=AgentState.WRAP_UP,
            break_reasons=presence.break_reasons,
        )
        if then is AgentState.AVAILABLE:
            follow.publish.append(agent_id)
            follow.route_agents.append(agent_id)
    return entry, follow


def latest_call_of(session: Session, agent_id: int) -> QueuedCall | None:
    """The agent's most recent connected (or ringing) queue entry. Read-only."""
    return session.scalar(
        select(QueuedCall)
        .where(QueuedCall.agent_id == agent_id)
        .order_by(QueuedCall.assigned_at.desc(), QueuedCall.id.desc())
        .limit(1)
    )
