"""The router's jobs (RQ) and the after-commit followups that start them.

Each job opens its own units of work and reaches the Runtime through the app context (the
worker runs inside the app). Every job is idempotent, because RQ may run one twice and the
periodic `tick` re-does what a lost job would have done:

- `route_caller(entry_id)`, `route_agent(agent_id)`: claim a pair in Redis, `reserve` it in
  the database, then `ring_agent`.
- `ring_agent(entry_id, assignment_id)`: place the agent's leg (claim, commit, dial, record the
  CallSid: a retried job never dials twice).
- `bridge_caller(entry_id)`: after the agent answered, redirect the caller out of the hold
  loop into the conference.
- `hang_up(call_sid)`.
- `tick()`: every few seconds (`callcenter cron`): end wrap-ups that are due, put back the
  caller and the agent of an assignment whose leg was never placed (`repair_rings_not_placed`:
  no blame, unlike a ring unanswered), give up on rings whose status callback never came,
  put due callbacks back in their place,
  bridge again the callers of agents who answered but whose bridge was lost
  (`repair_unbridged`), and sweep the waiting list.

A callback entry the router reserves is handed to the outbound engine instead of rung here
(`queue_callbacks.booking.start_queue_callback`, dialled by `callcenter.jobs.outbound.dial_agent`):
it gets the engine's calling hours, do-not-call list, pacing and retries.
"""

from __future__ import annotations

import logging
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from callcenter.runtime import Runtime, runtime
from callcenter.voice.twiml import VoiceUrls
from core.calls import get_call
from core.db import UnitOfWork
from core.telephony import TelephonyRejected, TelephonyUnavailable
from queue_callbacks import booking
from queue_callbacks import entries as callbacks
from queues import connect, reconcile
from queues.connect import Followup
from queues.models import Agent, AgentState, QueuedCall, QueuedCallStatus
from queues.presence import Actor, change_state, finish_wrap_up_due
from queues.routing import Assignment
from queues.services import waiting_caller

log = logging.getLogger(__name__)

DIAL_CLAIM_TTL_S = 24 * 3600
RING_RETRIES = 3  # a dial that fails for a transient reason is retried by RQ this often
BRIDGE_RETRIES = 4  # a redirect that fails or dies midway is retried by RQ this often
BRIDGE_CLAIM_TTL_S = 10  # a bridge killed midway blocks its retries no longer than this


# --- after the commit ---------------------------------------------------------------------


def after_commit(uow: UnitOfWork, rt: Runtime, follow: Followup) -> None:
    """Register `follow` to be carried out once `uow` commits (nothing if it rolls back)."""
    if follow:
        uow.after_commit(carry_out, rt, follow)


def carry_out(rt: Runtime, follow: Followup) -> None:
    """Do a Followup: Redis first (callers back in place, agents' availability), then jobs."""
    with rt.unit_of_work() as uow:
        _sync_redis(rt, uow.session, follow)
    for sid in follow.hang_up:
        rt.enqueue(hang_up, sid, retries=RING_RETRIES)
    for entry_id in follow.route_entries:
        rt.enqueue(route_caller, entry_id)
    for agent_id in follow.route_agents:
        rt.enqueue(route_agent, agent_id)


def _sync_redis(rt: Runtime, session: Session, follow: Followup) -> None:
    waiting = rt.waiting_list
    try:
        for entry_id in follow.dequeue:
            waiting.remove(str(entry_id))
        for entry_id in follow.requeue:
            entry = session.get(QueuedCall, entry_id)
            if entry is not None and entry.status in connect.ROUTABLE:
                waiting.add(waiting_caller(entry))
        for agent_id in follow.publish:
            publish_agent(rt, session, agent_id)
    except RedisError:
        log.exception("could not update the waiting list (the tick and `queues rebuild` repair it)")


def publish_agent(rt: Runtime, session: Session, agent_id: int) -> None:
    """Make the Redis agent pool match the database: in it exactly while available."""
    agent = session.get(Agent, agent_id)
    if agent is not None and agent.active and agent.state is AgentState.AVAILABLE:
        rt.waiting_list.agent_available(connect.candidate(agent))
    else:
        rt.waiting_list.agent_unavailable(str(agent_id))


def set_agent_state(
    rt: Runtime,
    uow: UnitOfWork,
    agent_id: int,
    to: AgentState,
    *,
    reason: str | None,
    actor: Actor,
    expected: AgentState | None = None,
) -> Agent:
    """Change an agent's state (desk, supervisor, command) and keep the router in step.

    After the commit the agent enters or leaves the Redis pool, and an agent who became
    available is offered the first eligible waiting caller at once.
    """
    agent = change_state(
        uow.session,
        agent_id,
        to,
        reason=reason,
        actor=actor,
        now=rt.clock(),
        expected=expected,
        break_reasons=rt.queues.presence.break_reasons,
    )
    follow = Followup(publish=[agent_id])
    if agent.state is AgentState.AVAILABLE:
        follow.route_agents.append(agent_id)
    after_commit(uow, rt, follow)
    return agent


# --- routing --------------------------------------------------------------------------------


def route_caller(entry_id: int) -> None:
    """Give a waiting caller to the longest-idle eligible agent, if one is available."""
    rt = runtime()
    assignment = rt.waiting_list.assign_for_caller(str(entry_id), rt.clock())
    if assignment is not None:
        _reserved(rt, assignment)


def route_agent(agent_id: int) -> None:
    """Give an available agent the first waiting caller they can take, if any."""
    rt = runtime()
    assignment = rt.waiting_list.assign_for_agent(str(agent_id), rt.clock())
    if assignment is not None:
        _reserved(rt, assignment)


def _reserved(rt: Runtime, assignment: Assignment) -> None:
    # Imported here: the engine's jobs carry out their followups with this module.
    from callcenter.jobs import outbound as outbound_jobs

    attempt_id = None
    with rt.unit_of_work() as uow:
        entry, undo = connect.reserve(
            uow.session, assignment, now=rt.clock(), presence=rt.queues.presence
        )
        if entry is not None and entry.callback_to:
            attempt_id, refused = booking.start_queue_callback(
                uow.session, entry, now=rt.clock(), policy=outbound_jobs.policy_for(rt)
            )
            undo.merge(refused)
        after_commit(uow, rt, undo)
    if attempt_id is not None:
        rt.enqueue(outbound_jobs.dial_agent, attempt_id, retries=outbound_jobs.DIAL_RETRIES)
    elif entry is not None and not entry.callback_to:
        rt.enqueue(ring_agent, entry.id, assignment.assignment_id, retries=RING_RETRIES)


def ring_agent(entry_id: int, assignment_id: str) -> None:
    """Place the agent's leg for an assignment: claim and commit, dial, then record its
    CallSid (like the outbound engine's legs, `outbound.legs`).

    The claim is in the database (`connect.claim_ring`), so a retried or repeated job, even
    after a Redis loss, never dials a second leg for the same assignment. A transient failure
    releases the claim and raises (RQ retries with backoff); a refusal (an unknown client, a
    bad number) counts as a ring-no-answer. A job lost, or killed between its claim and the
    dial, leaves an assignment with no leg: the tick's `repair_rings_not_placed` puts the
    caller back in their place and the agent back to available.
    """
    rt = runtime()
    with rt.unit_of_work() as uow:
        if not connect.claim_ring(uow.session, entry_id, assignment_id, now=rt.clock()):
            return
        entry = uow.session.get(QueuedCall, entry_id)
        agent = uow.session.get(Agent, entry.agent_id) if entry and entry.agent_id else None
        if entry is None or agent is None:
            return
        to = connect.ring_address(agent)
        from_ = rt.settings.hotline_number
        call_sid = entry.call_sid
    urls = _urls(rt)
    try:
        placed = rt.telephony.place_call(
            to=to,
            from_=from_,
            url=urls.agent_answer(entry_id, assignment_id),
            status_callback=urls.agent_status(entry_id, assignment_id),
            status_events=("initiated", "ringing", "answered", "completed"),
            timeout_s=rt.queues.presence.ring_timeout_s,
            record=True,
            recording_status_callback=urls.call_recording(entry_id),
        )
    except TelephonyUnavailable:
        with rt.unit_of_work() as uow:
            connect.release_ring_claim(uow.session, entry_id, assignment_id)
        raise
    except TelephonyRejected as exc:
        log.warning("could not ring %s for entry %s: %s", to, entry_id, exc)
        with rt.unit_of_work() as uow:
            follow = connect.ring_failed(
                uow.session,
                entry_id,
                assignment_id,
                "failed",
                now=rt.clock(),
                presence=rt.queues.presence,
            )
            after_commit(uow, rt, follow)
        return
    with rt.unit_of_work() as uow:
        kept = connect.record_agent_leg(uow.session, entry_id, assignment_id, placed.sid)
    if not kept:  # the caller left while we dialled: the leg has nobody to talk to
        log.info("entry %s (%s) ended while its agent leg was placed", entry_id, call_sid)
        rt.enqueue(hang_up, placed.sid, retries=RING_RETRIES)


def bridge_caller(entry_id: int) -> None:
    """Bring the caller of a connected entry into its conference (once per entry).

    Idempotent when retried or repeated: a short in-flight claim keeps two runs from
    redirecting at once, and a done mark (set only once the redirect succeeded) ends any
    later run; a run killed midway leaves only the claim, which expires, so a retry or the
    tick's repair (`repair_unbridged`) redirects the caller after all. A caller whose call
    has ended (in our records, or as Twilio answers the redirect) is gone before the bridge:
    the entry is abandoned and the agent's leg hung up.
    """
    rt = runtime()
    with rt.unit_of_work() as uow:
        entry = uow.session.get(QueuedCall, entry_id)
        if entry is None or entry.status is not QueuedCallStatus.CONNECTED:
            return
        if entry.talk_ended_at is not None:
            return
        call_sid, agent_leg = entry.call_sid, entry.agent_call_sid
        call = get_call(uow.session, call_sid)
        ended = call is not None and call.status.is_final
    prefix = rt.settings.redis_prefix
    done, claim = f"{prefix}bridged:{entry_id}", f"{prefix}bridge:{entry_id}"
    if rt.redis.exists(done):
        return
    if not rt.redis.set(claim, "1", nx=True, ex=BRIDGE_CLAIM_TTL_S):
        return
    if ended:
        _caller_gone(rt, entry_id, agent_leg, "the call has ended")
        return
    urls = _urls(rt)
    try:
        rt.telephony.redirect_call(call_sid, urls.conference_caller(entry_id))
    except TelephonyUnavailable:
        rt.redis.delete(claim)
        raise
    except TelephonyRejected as exc:  # the caller's call has ended: nobody to bridge
        _caller_gone(rt, entry_id, agent_leg, str(exc))
        return
    rt.redis.set(done, "1", ex=DIAL_CLAIM_TTL_S)
    rt.redis.delete(claim)


def _caller_gone(rt: Runtime, entry_id: int, agent_leg: str | None, why: str) -> None:
    log.info("could not bring the caller of entry %s in: %s", entry_id, why)
    with rt.unit_of_work() as uow:
        connect.caller_gone_before_bridge(uow.session, entry_id, now=rt.clock())
    if agent_leg:
        rt.enqueue(hang_up, agent_leg, retries=RING_RETRIES)


def repair_unbridged(rt: Runtime, *, now: datetime) -> list[int]:
    """Agents who answered while their caller, a grace period later, is still in the hold
    loop (the `bridge_caller` job was lost, or died midway): bridge them again (the job
    frees the agent instead if the caller has gone). Once per entry per grace period. The
    entry ids repaired."""
    grace = rt.settings.reconcile_grace_s
    with rt.unit_of_work() as uow:
        stuck = [
            (e.id, e.agent_id, e.answered_at)
            for e in reconcile.unbridged(uow.session, now=now, grace_s=grace)
        ]
    repaired = []
    prefix = rt.settings.redis_prefix
    for entry_id, agent_id, answered_at in stuck:
        if not rt.redis.set(f"{prefix}bridge-repair:{entry_id}", "1", nx=True, ex=grace):
            continue
        log.warning(
            "repair: agent %s answered entry %s at %s but the caller has not reached the "
            "conference; bridging the caller again",
            agent_id,
            entry_id,
            answered_at,
        )
        # A grace period after the answer, any claim left is a dead run's (a live one holds
        # it for one redirect), and a done mark with no caller in the conference is stale.
        rt.redis.delete(f"{prefix}bridged:{entry_id}", f"{prefix}bridge:{entry_id}")
        rt.enqueue(bridge_caller, entry_id, retries=BRIDGE_RETRIES)
        repaired.append(entry_id)
    return repaired


def repair_rings_not_placed(rt: Runtime, *, now: datetime) -> list[int]:
    """Assignments whose agent's leg was never placed a grace period after they were made
    (`ring_agent` lost, or killed between its claim and the dial, or out of retries): the
    caller goes back in their place and the agent back to available, then both are routed
    again (a new assignment, so a new ring). The entry ids repaired."""
    with rt.unit_of_work() as uow:
        stuck = reconcile.rings_not_placed(
            uow.session, now=now, grace_s=rt.settings.reconcile_grace_s
        )
        follow = Followup()
        repaired = []
        for entry in stuck:
            assert entry.assignment_id is not None
            entry_id, agent_id, assignment_id = entry.id, entry.agent_id, entry.assignment_id
            assigned_at = entry.assigned_at
            undo = connect.ring_not_placed(uow.session, entry_id, assignment_id, now=now)
            if not undo:
                continue
            log.warning(
                "repair: entry %s was assigned to agent %s at %s but their leg was never "
                "placed; the caller waits again in their place and the agent is available",
                entry_id,
                agent_id,
                assigned_at,
            )
            follow.merge(undo)
            repaired.append(entry_id)
        after_commit(uow, rt, follow)
    return repaired


def hang_up(call_sid: str) -> None:
    """End a call leg; one that has already ended is fine."""
    try:
        runtime().telephony.hang_up(call_sid)
    except TelephonyRejected as exc:
        log.info("hang-up of %s: %s", call_sid, exc)


# --- the periodic tick -----------------------------------------------------------------------


def tick() -> None:
    """The safety net, every few seconds: wrap-ups due, lost ring callbacks, lost bridges,
    a routing sweep."""
    rt = runtime()
    now: datetime = rt.clock()
    presence = rt.queues.presence
    with rt.unit_of_work() as uow:
        ended = finish_wrap_up_due(uow.session, now=now, wrap_up_s=presence.wrap_up_s)
        follow = Followup(publish=list(ended), route_agents=list(ended))
        after_commit(uow, rt, follow)
    repair_rings_not_placed(rt, now=now)
    with rt.unit_of_work() as uow:
        follow = connect.stale_reservations(uow.session, now=now, presence=presence)
        follow.merge(callbacks.release_due(uow.session, now=now))
        after_commit(uow, rt, follow)
    try:
        repair_unbridged(rt, now=now)
        made = rt.waiting_list.sweep(now)
    except RedisError:
        log.exception("routing sweep failed")
        return
    for assignment in made:
        _reserved(rt, assignment)


def _urls(rt: Runtime) -> VoiceUrls:
    return VoiceUrls(rt.settings.public_base_url.rstrip("/") + "/twilio/voice")
