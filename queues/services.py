"""Queue entries of inbound calls: record them, end them, announce them, restore Redis from them.

The database row (`QueuedCall`) is the record; the Redis waiting list is the fast shared view
the router reads, keyed by the row's id. Services here flush and never commit. Redis is
written only after the commit: the boundary registers `add_waiting` / `remove_waiting` as
after-commit hooks, so a rolled-back request never leaves a ghost caller in Redis.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import insert_ignoring_conflict
from core.models import Call, CallStatus, Language
from queues.config import HoldSettings, MaxWaitAction, QueueSet
from queues.estimates import WaitEstimate, estimate_wait, recent_handle_time
from queues.models import Agent, AgentLanguage, AgentSkill, AgentState, QueuedCall, QueuedCallStatus
from queues.routing import AVAILABLE, AgentCandidate, QueueRoute, WaitingCaller
from queues.waiting import WaitingList

log = logging.getLogger(__name__)

#: Twilio's QueueResult → how the entry ended. Any other result (leave, queue-full, error,
#: system-error, …) leaves the queue without an agent, and the caller is offered a voicemail.
RESULTS = {
    "bridged": QueuedCallStatus.CONNECTED,
    "bridging-in-process": QueuedCallStatus.CONNECTED,
    "hangup": QueuedCallStatus.ABANDONED,
}
#: Agents in these states are logged in to their queues: they count as staffing them.
SERVING = (AgentState.AVAILABLE, AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP)
DEFAULT_TIER = "new"  # an unidentified caller


def waiting_caller(entry: QueuedCall) -> WaitingCaller:
    """The router's view of a queue entry (its id, as text, is the waiting list's entry id)."""
    return WaitingCaller(
        entry_id=str(entry.id),
        call_sid=entry.call_sid,
        queue=entry.queue,
        skill=entry.skill,
        language=entry.language,
        tier=entry.tier,
        route_priority=entry.route_priority,
        enqueued_at=entry.enqueued_at,
    )


def _latest_entry(
    session: Session, call_sid: str, queue: str, *, waiting_only: bool = False
) -> QueuedCall | None:
    """The call's most recent entry in `queue` (only a waiting one, if asked). Read-only."""
    query = select(QueuedCall).where(QueuedCall.call_sid == call_sid, QueuedCall.queue == queue)
    if waiting_only:
        query = query.where(QueuedCall.status == QueuedCallStatus.WAITING)
    return session.scalar(
        query.order_by(QueuedCall.enqueued_at.desc(), QueuedCall.id.desc()).limit(1)
    )


def open_entry(session: Session, call_sid: str) -> QueuedCall | None:
    """The call's entry that is waiting, ringing an agent or booked for a callback, if any."""
    return session.scalar(
        select(QueuedCall)
        .where(
            QueuedCall.call_sid == call_sid,
            QueuedCall.status.in_(
                (
                    QueuedCallStatus.WAITING,
                    QueuedCallStatus.ASSIGNED,
                    QueuedCallStatus.CALLBACK,
                    QueuedCallStatus.SCHEDULED,
                )
            ),
        )
        .limit(1)
    )


def enqueue_call(
    session: Session,
    call: Call,
    route: QueueRoute,
    *,
    language: str,
    tier: str | None,
    vip: bool,
    now: datetime,
) -> QueuedCall:
    """Record that the call waits in `route.queue` from `now`; the waiting entry. Flushes.

    Idempotent per call and queue while the entry waits: a repeated webhook gets the same row
    back and creates nothing. The insert is keyed by (call, queue, enqueued_at) and ignores a
    conflict, so two copies of the same webhook racing each other create one row. Adding the
    caller to the Redis waiting list is the boundary's job, after the commit (`add_waiting`).
    """
    existing = _latest_entry(session, call.sid, route.queue, waiting_only=True)
    if existing is not None:
        return existing
    insert_ignoring_conflict(
        session,
        QueuedCall,
        {
            "call_id": call.id,
            "call_sid": call.sid,
            "queue": route.queue,
            "skill": route.skill,
            "language": language,
            "tier": tier or DEFAULT_TIER,
            "route_priority": route.priority,
            "vip": vip,
            "enqueued_at": now,
            "status": QueuedCallStatus.WAITING,
        },
        ["call_id", "queue", "enqueued_at"],
    )
    entry = _latest_entry(session, call.sid, route.queue, waiting_only=True)
    assert entry is not None  # just inserted, or inserted by the racing copy
    return entry


def leave_queue(
    session: Session,
    call_sid: str,
    queue: str,
    *,
    result: str,
    now: datetime,
    waited_s: int | None = None,
    callback_to: str | None = None,
) -> QueuedCall | None:
    """End the call's waiting entry in `queue` with Twilio's QueueResult; the entry, or None.

    A caller who asked for a callback leaves with "leave": the entry becomes a `callback`
    entry (to `callback_to`, the caller's own number, until they key another); it is not
    ended. The boundary then hands it to the outbound engine
    (`queue_callbacks.booking.book_queue_callback`), which keeps its place.

    Maps `result` through `RESULTS` (hangup → abandoned, bridged → connected, anything else →
    voicemail) and records when, why and how long the caller waited: Twilio's QueueTime
    (`waited_s`) when given, else the time since `enqueued_at`. Idempotent: an entry that has
    already ended is returned unchanged, so a repeated callback changes nothing. Returns None
    when the call never waited here (e.g. the fallback queue after an error). Flushes; the
    boundary removes the entry from Redis after the commit (`remove_waiting`).
    """
    entry = _latest_entry(session, call_sid, queue)
    if entry is None or entry.status not in (QueuedCallStatus.WAITING, QueuedCallStatus.ASSIGNED):
        return entry
    if result == "leave" and entry.callback_requested_at is not None and callback_to:
        # Left the hold loop to be called back (an entry already assigned stays assigned
        # here: booking the callback releases its agent).
        if entry.status is QueuedCallStatus.WAITING:
            entry.status = QueuedCallStatus.CALLBACK
        entry.callback_to = entry.callback_to or callback_to
        session.flush()
        return entry
    entry.status = RESULTS.get(result, QueuedCallStatus.VOICEMAIL)
    entry.left_at = now
    entry.reason = result[:40] or None
    if waited_s is None:
        waited_s = max(0, round((now - entry.enqueued_at).total_seconds()))
    entry.wait_s = waited_s
    session.flush()
    return entry


def add_waiting(waiting: WaitingList, caller: WaitingCaller) -> None:
    """After commit: put the caller on the Redis waiting list (idempotent by entry id).

    A Redis failure is logged, not raised: the caller's call must go on, and the row in the
    database lets `callcenter queues rebuild` restore the entry.
    """
    try:
        waiting.add(caller)
    except RedisError:
        log.exception("could not add queue entry %s to the waiting list", caller.entry_id)


def remove_waiting(waiting: WaitingList, entry_id: str) -> None:
    """After commit: take an entry off the Redis waiting list (idempotent); failures are logged."""
    try:
        waiting.remove(entry_id)
    except RedisError:
        log.exception("could not remove queue entry %s from the waiting list", entry_id)


# --- the hold loop ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HoldTurn:
    """What one turn of the hold loop says before the music."""

    greet: bool  # the first turn: "all our agents are busy"
    announce: bool  # position and/or estimated wait
    comfort: bool  # "thank you for waiting"


def hold_turn(
    queue_time_s: int,
    hold: HoldSettings,
    *,
    announced_at_s: int | None = None,
    comforted_at_s: int | None = None,
) -> HoldTurn:
    """Which messages are due at this turn of the hold loop (pure).

    `queue_time_s` is how long the caller has waited (Twilio's QueueTime); `announced_at_s` and
    `comforted_at_s` are the QueueTime of the last announcement and comfort message (None:
    not yet). The first turn greets and announces at once; then an announcement is due every
    `announce_every_s`, and a comfort message `comfort_every_s` after whichever was said last,
    so the two never come in the same turn. With both announcement flags off, only comfort
    messages are said.
    """
    first = announced_at_s is None and comforted_at_s is None
    announcing = hold.announce_position or hold.announce_wait
    announce = announcing and (
        announced_at_s is None or queue_time_s - announced_at_s >= hold.announce_every_s
    )
    last_said = max(announced_at_s or 0, comforted_at_s or 0)
    comfort = not first and not announce and queue_time_s - last_said >= hold.comfort_every_s
    return HoldTurn(greet=first, announce=announce, comfort=comfort)


@dataclass(frozen=True, slots=True)
class HoldStatus:
    """One turn of a waiting caller's hold loop: language, what to say, and the figures."""

    language: str | None
    turn: HoldTurn
    position: int | None = None  # 1 = next; None: not on the waiting list (or not announced)
    estimate: WaitEstimate | None = None
    announce_wait: bool = False  # say the estimate (or that nobody serves the queue)
    offer_callback: bool = False  # "press 1 to be called back, keeping your place"
    leave: bool = False  # the maximum wait is reached: leave the queue (the action follows)
    leave_message: str | None = None  # said before leaving
    entry_id: int | None = None  # the waiting entry this turn is about
    moved_to: int | None = None  # the entry it overflowed into, this turn


def staffing(session: Session, skill: str, language: str) -> tuple[int, int]:
    """(agents serving, of whom busy) for a skill and language; read-only.

    Serving: active agents with the skill who speak the language and are logged in
    (available, reserved, on a call or in wrap-up); busy: serving but not available.
    """
    rows = session.execute(
        select(Agent.state, func.count())
        .join(AgentSkill, AgentSkill.agent_id == Agent.id)
        .join(AgentLanguage, AgentLanguage.agent_id == Agent.id)
        .where(
            Agent.active.is_(True),
            Agent.state.in_(SERVING),
            AgentSkill.skill == skill,
            AgentSkill.level > 0,
            AgentLanguage.language == Language(language),
        )
        .group_by(Agent.state)
    ).all()
    serving = sum(n for _, n in rows)
    available = sum(n for state, n in rows if state is AgentState.AVAILABLE)
    return serving, serving - available


def hold_status(
    session: Session,
    waiting: WaitingList,
    queues: QueueSet,
    call_sid: str,
    queue: str,
    *,
    queue_time_s: int,
    language: str | None,
    now: datetime,
) -> HoldStatus:
    """Decide one turn of the hold loop and remember what was said on the entry. Flushes.

    When the caller has waited the queue's `max_wait_s` (by Twilio's QueueTime or since the
    entry joined, whichever is longer), the turn carries out `at_max_wait` instead
    (`_at_max_wait`). Every other turn offers a callback.

    Recomputed at every turn: position from the Redis waiting list, staffing from the agents'
    presence, handle time from the queue's recent calls (`recent_handle_times`; the queue's
    `default_handle_s` until five are measured), then `estimates.estimate_wait`. A call with
    no waiting entry here (e.g. the fallback queue after an error) hears the plain hold
    message every turn.
    Running it twice for the same turn only repeats an announcement.
    """
    entry = _latest_entry(session, call_sid, queue, waiting_only=True)
    if entry is None or queue not in queues:
        return HoldStatus(language, HoldTurn(greet=True, announce=False, comfort=False))
    config = queues[queue]
    waited = max(queue_time_s, round((now - entry.enqueued_at).total_seconds()))
    if waited >= config.max_wait_s:
        return _at_max_wait(session, queues, entry, now=now)
    turn = hold_turn(
        queue_time_s,
        config.hold,
        announced_at_s=entry.announced_at_s,
        comforted_at_s=entry.comforted_at_s,
    )
    if turn.comfort:
        entry.comforted_at_s = queue_time_s
    if not turn.announce:
        session.flush()
        return HoldStatus(entry.language, turn, offer_callback=True)
    entry.announced_at_s = queue_time_s
    session.flush()
    position = waiting.position(str(entry.id))
    if position is None:  # not on the list (Redis lost it): say nothing we cannot know
        return HoldStatus(entry.language, turn, offer_callback=True)
    serving, busy = staffing(session, entry.skill, entry.language)
    aht = recent_handle_time(
        recent_handle_times(session, entry.queue, now=now), default_s=config.default_handle_s
    )
    return HoldStatus(
        entry.language,
        turn,
        position=position if config.hold.announce_position else None,
        estimate=estimate_wait(position, agents_serving=serving, agents_busy=busy, aht_s=aht),
        announce_wait=config.hold.announce_wait,
        offer_callback=True,
    )


_NO_TURN = HoldTurn(greet=False, announce=False, comfort=False)


def _at_max_wait(
    session: Session, queues: QueueSet, entry: QueuedCall, *, now: datetime
) -> HoldStatus:
    """The queue's `at_max_wait` action for a caller who has waited long enough. Flushes.

    All three end this turn with <Leave/>, and the Enqueue action (`queue_exit`) then goes on:
    - callback: the entry is marked as asking for a callback (it keeps its place);
    - overflow: the entry ends as `overflowed` and a new entry waits in `overflow_to`, with the
      same arrival time, tier and route priority (so the caller keeps their seniority there);
    - voicemail: the caller is offered a voicemail.
    """
    config = queues[entry.queue]
    if config.at_max_wait is MaxWaitAction.CALLBACK:
        if entry.callback_requested_at is None:
            entry.callback_requested_at = now
            session.flush()
        return HoldStatus(
            entry.language,
            _NO_TURN,
            leave=True,
            leave_message="queue_max_wait_callback",
            entry_id=entry.id,
        )
    if config.at_max_wait is MaxWaitAction.OVERFLOW and config.overflow_to:
        target = queues[config.overflow_to]
        moved = overflow_entry(session, entry, target.name, skill=target.skills[0], now=now)
        return HoldStatus(
            entry.language, _NO_TURN, leave=True, entry_id=entry.id, moved_to=moved.id
        )
    return HoldStatus(entry.language, _NO_TURN, leave=True, entry_id=entry.id)


def overflow_entry(
    session: Session, entry: QueuedCall, to_queue: str, *, skill: str, now: datetime
) -> QueuedCall:
    """Move a waiting entry to another queue, keeping its arrival time and priority. Flushes.

    `skill` is what the new entry is routed on (the target queue's first required skill).

    Idempotent: an entry already overflowed returns the entry it became.
    """
    if entry.status is QueuedCallStatus.WAITING:
        entry.status = QueuedCallStatus.OVERFLOWED
        entry.left_at = now
        entry.wait_s = max(0, round((now - entry.enqueued_at).total_seconds()))
        entry.reason = f"overflow:{to_queue}"[:40]
        session.flush()
    insert_ignoring_conflict(
        session,
        QueuedCall,
        {
            "call_id": entry.call_id,
            "call_sid": entry.call_sid,
            "queue": to_queue,
            "skill": skill,
            "language": entry.language,
            "tier": entry.tier,
            "route_priority": entry.route_priority,
            "vip": entry.vip,
            "enqueued_at": entry.enqueued_at,
            "status": QueuedCallStatus.WAITING,
            "announced_at_s": entry.announced_at_s,
            "comforted_at_s": entry.comforted_at_s,
        },
        ["call_id", "queue", "enqueued_at"],
    )
    moved = session.scalar(
        select(QueuedCall).where(
            QueuedCall.call_id == entry.call_id,
            QueuedCall.queue == to_queue,
            QueuedCall.enqueued_at == entry.enqueued_at,
        )
    )
    assert moved is not None
    return moved


def overflowed_to(session: Session, entry: QueuedCall) -> QueuedCall | None:
    """The waiting entry an overflowed entry became, if any. Read-only."""
    if entry.status is not QueuedCallStatus.OVERFLOWED or not entry.reason:
        return None
    return _latest_entry(
        session, entry.call_sid, entry.reason.removeprefix("overflow:"), waiting_only=True
    )


def request_callback(
    session: Session, call_sid: str, queue: str, *, now: datetime
) -> QueuedCall | None:
    """The caller pressed 1 in the hold loop: mark the waiting entry. Idempotent. Flushes."""
    entry = _latest_entry(session, call_sid, queue, waiting_only=True)
    if entry is not None and entry.callback_requested_at is None:
        entry.callback_requested_at = now
        session.flush()
    return entry


RECENT_CALLS = 50
RECENT_WINDOW = timedelta(hours=2)


def recent_handle_times(session: Session, queue: str, *, now: datetime) -> list[float]:
    """Handle times (talk + wrap-up, seconds) of the queue's last calls in the past two hours.

    Talk runs from the agent's answer to the end of their leg; wrap-up until the agent saved
    it (or, if they never did, the queue's wrap-up is not counted). Read-only.
    """
    rows = session.execute(
        select(QueuedCall.answered_at, QueuedCall.talk_ended_at, QueuedCall.wrapped_up_at)
        .where(
            QueuedCall.queue == queue,
            QueuedCall.talk_ended_at.is_not(None),
            QueuedCall.talk_ended_at >= now - RECENT_WINDOW,
        )
        .order_by(QueuedCall.talk_ended_at.desc())
        .limit(RECENT_CALLS)
    ).all()
    return [
        ((wrapped or ended) - answered).total_seconds()
        for answered, ended, wrapped in rows
        if answered is not None and ended is not None
    ]


# --- rebuild ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rebuilt:
    callers: int
    agents: int


def available_agents(session: Session) -> list[AgentCandidate]:
    """Every active, available agent as the router sees them (idle since their last call)."""
    agents = session.scalars(
        select(Agent)
        .where(Agent.active.is_(True), Agent.state == AgentState.AVAILABLE)
        .order_by(Agent.id)
    ).all()
    return [
        AgentCandidate(
            agent_id=str(a.id),
            skills=a.skill_levels(),
            languages=frozenset(lang.value for lang in a.languages),
            state=AVAILABLE,
            idle_since=max(a.state_since, a.last_call_ended_at or a.state_since),
        )
        for a in agents
    ]


#: The audit action of a rebuild of the waiting list (the wallboard shows recent ones).
REBUILD_AUDIT_ACTION = "queues.rebuild"


def rebuild_waiting_list(session: Session, waiting: WaitingList) -> Rebuilt:
    """Replace the Redis waiting list and agent pool with what the database says. Read-only.

    For `callcenter queues rebuild` and the reconciliation duty after Redis lost its data.
    Every waiting entry gets the same score as when it joined (the score depends only on the
    entry's own values), so every caller keeps their place. A caller whose call has ended is
    never put back in line (a callback entry, whose caller's call ended by design, is). Safe
    to run any number of times.
    """
    ended = tuple(s for s in CallStatus if s.is_final)
    entries = session.scalars(
        select(QueuedCall)
        .join(Call, Call.id == QueuedCall.call_id)
        .where(
            (QueuedCall.status == QueuedCallStatus.CALLBACK)
            | ((QueuedCall.status == QueuedCallStatus.WAITING) & Call.status.not_in(ended))
        )
        .order_by(QueuedCall.id)
    ).all()
    agents = available_agents(session)
    waiting.rebuild([waiting_caller(e) for e in entries], agents)
    return Rebuilt(callers=len(entries), agents=len(agents))
