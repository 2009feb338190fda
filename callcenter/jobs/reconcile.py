"""Reconciliation with Twilio and with the database: the cron's safety net for what a lost
callback, a lost job or a lost Redis left behind.

- `tick()` (the `reconcile` duty): after a Redis loss or restart (its marker key is gone, or
  names another server run: a restart from a snapshot loses what came after it), rebuild the
  waiting lists and the agent pool from the database (`rebuild_redis`), and say so on the
  wallboard; then find the legs and calls whose state has not moved for longer than
  plausible (`queues.reconcile`), ask Twilio's REST API (or the local network) for their
  real status, and apply a missing final status through the same code path as the real
  callback (`callcenter.voice.services.agent_leg_status` / `call_status` / `leave_queue`),
  so a callback that arrives late after all changes nothing. The outbound engine's
  attempts likewise (`reconcile_outbound`: `outbound.reconcile` finds them, the legs' missing
  callbacks go through `callcenter.middle_office.services.agent_leg_status` /
  `customer_leg_status`, the outbound webhooks' own). Callers waiting in line past a
  plausible wait are asked about too (`reconcile_waiting`), so one whose hang-up and status
  callbacks were both lost is not left in line until `CALLCENTER_MAX_CALL_S`.
- `recordings()` (the `reconcile-recordings` duty): list the recordings Twilio holds for the
  agent legs of recent calls that have no recording row, and ingest them through the
  recording callback's code path (`recordings.services.record_status`).

A REST failure (Twilio 5xx, a timeout) leaves things for the next turn and is logged. Every
repair is logged at WARNING: what was found, and what was applied.
"""

from __future__ import annotations

import logging
from datetime import datetime

from redis.exceptions import RedisError, ResponseError

from callcenter.jobs import router as jobs
from callcenter.middle_office import services as outbound_services
from callcenter.runtime import Runtime, runtime
from callcenter.voice import services as voice
from core import audit
from core.calls import StatusUpdate, get_call
from core.models import CallStatus
from core.telephony import CallState, RemoteRecording, TelephonyError
from ivr_menus.services import CallInfo
from outbound import reconcile as outbound_stale
from queues import reconcile as stale
from queues.services import REBUILD_AUDIT_ACTION, Rebuilt, rebuild_waiting_list
from recordings import services as recording_services
from recordings.reconcile import unrecorded_legs

log = logging.getLogger(__name__)

#: Twilio's recording statuses that its status callback would have posted.
POSTED_RECORDING = frozenset({"completed", "absent", "failed"})


def tick() -> None:
    """RQ/cron entry point: see the module docstring."""
    rt = runtime()
    rebuild_redis(rt, now=rt.clock())
    reconcile_calls(rt, now=rt.clock())
    reconcile_outbound(rt, now=rt.clock())
    reconcile_waiting(rt, now=rt.clock())


def recordings() -> None:
    """Cron entry point: ingest recordings whose callback was lost."""
    rt = runtime()
    reconcile_recordings(rt, now=rt.clock())


# --- Redis ------------------------------------------------------------------------------------


def marker_key(rt: Runtime) -> str:
    """The key that holds the run id of the Redis server the last rebuild wrote to: missing
    (Redis lost its data), or another server's (Redis restarted, perhaps from a snapshot
    older than the waiting list it held), the waiting lists must be rebuilt."""
    return f"{rt.settings.redis_prefix}rebuilt-at"


def server_run_id(rt: Runtime) -> str:
    """The Redis server's run id (new at each start); "" where INFO is not allowed, and then
    only a missing marker tells of a loss."""
    try:
        return str(rt.redis.info("server").get("run_id", ""))
    except ResponseError:
        return ""


def redis_lost(rt: Runtime) -> bool:
    """Whether the waiting lists in Redis may be missing entries: the marker is gone, or was
    written to a server that has restarted since."""
    stored = rt.redis.get(marker_key(rt))
    if stored is None:
        return True
    marked = stored.decode() if isinstance(stored, bytes) else str(stored)
    run_id = server_run_id(rt)
    return bool(run_id) and marked != run_id


def rebuild_redis(rt: Runtime, *, now: datetime, reason: str = "redis-lost") -> Rebuilt | None:
    """Rebuild the waiting lists and agent pool from the database if Redis lost them (the
    marker key is gone), or always with `reason="command"`. Callers whose call has ended
    leave their queue first (as their Enqueue action would have had them), so nobody dead
    is put back in line. The audit entry is the wallboard's notice. What was restored, or
    None when nothing was rebuilt (or Redis is unreachable: the next turn tries again)."""
    try:
        if reason == "redis-lost" and not redis_lost(rt):
            return None
        end_callers_gone(rt, now=now)
        with rt.unit_of_work() as uow:
            rebuilt = rebuild_waiting_list(uow.session, rt.waiting_list)
            audit.record(
                uow.session,
                actor_id=None,
                actor="system",
                action=REBUILD_AUDIT_ACTION,
                subject_type="queues",
                subject_id="all",
                now=now,
                reason=reason,
                callers=rebuilt.callers,
                agents=rebuilt.agents,
            )
        rt.redis.set(marker_key(rt), server_run_id(rt) or now.isoformat())
    except RedisError as exc:
        log.warning(
            "reconcile: Redis is unreachable (%s); the rebuild waits for the next turn", exc
        )
        return None
    log.warning(
        "repair: %s: rebuilt the waiting lists and agent pool from the database: "
        "%s waiting callers, %s available agents",
        "Redis had lost its data" if reason == "redis-lost" else "on request",
        rebuilt.callers,
        rebuilt.agents,
    )
    return rebuilt


def end_callers_gone(rt: Runtime, *, now: datetime) -> list[int]:
    """Entries still in line whose caller's call has ended (their Enqueue action was lost):
    they leave their queue as the action would have had them (hung up). Their ids."""
    with rt.unit_of_work() as uow:
        gone = [(e.id, e.call_sid, e.queue) for e in stale.callers_gone(uow.session)]
    for entry_id, call_sid, queue in gone:
        log.warning(
            "repair: entry %s in %s is still in line but call %s has ended: it leaves the queue",
            entry_id,
            queue,
            call_sid,
        )
        _leave(rt, call_sid, queue, now=now)
    return [entry_id for entry_id, _, _ in gone]


def _leave(rt: Runtime, call_sid: str, queue: str, *, now: datetime) -> None:
    with rt.unit_of_work() as uow:
        call = get_call(uow.session, call_sid)
        if call is None:
            return
        info = CallInfo(call.sid, call.from_number, call.to_number, call.direction.value)
        voice.leave_queue(uow, rt, info, queue=queue, result="hangup", waited_s=None, now=now)


# --- calls ------------------------------------------------------------------------------------


def _fetch(rt: Runtime, call_sid: str, what: str) -> CallState | None:
    try:
        return rt.telephony.fetch_call(call_sid)
    except TelephonyError as exc:
        log.warning("reconcile: could not fetch %s %s (%s); next turn", what, call_sid, exc)
        return None


def _ended_at(state: CallState, now: datetime) -> datetime:
    at = state.ended_at
    return at if at is not None and at.tzinfo is not None and at <= now else now


def reconcile_calls(rt: Runtime, *, now: datetime) -> int:
    """Ask Twilio about stale legs and calls and apply their missing final callbacks; the
    number of repairs made."""
    settings = rt.settings
    with rt.unit_of_work() as uow:
        legs = stale.stale_agent_legs(
            uow.session,
            now=now,
            ring_timeout_s=rt.queues.presence.ring_timeout_s,
            max_call_s=settings.max_call_s,
            grace_s=settings.reconcile_grace_s,
        )
        calls = stale.stale_caller_calls(
            uow.session, now=now, max_call_s=settings.max_call_s, grace_s=settings.reconcile_grace_s
        )
    repairs = 0
    for leg in legs:
        state = _fetch(rt, leg.call_sid, "agent leg")
        if state is None:
            continue
        status = _status(state)
        if status is not None and status.is_final:
            log.warning(
                "repair: agent %s's leg %s of entry %s: %s, and Twilio says %s; applying the "
                "missing status callback",
                leg.agent_id,
                leg.call_sid,
                leg.entry_id,
                leg.why.value,
                status.value,
            )
            with rt.unit_of_work() as uow:
                voice.agent_leg_status(
                    uow,
                    rt,
                    leg.entry_id,
                    leg.assignment_id,
                    leg.call_sid,
                    status.value,
                    now=_ended_at(state, now),
                )
            repairs += 1
        elif leg.why is stale.Why.CALLER_ENDED:
            log.warning(
                "repair: agent %s's leg %s of entry %s is %s although the caller's call has "
                "ended; hanging it up",
                leg.agent_id,
                leg.call_sid,
                leg.entry_id,
                state.status,
            )
            rt.enqueue(jobs.hang_up, leg.call_sid, retries=jobs.RING_RETRIES)
            repairs += 1
    for call in calls:
        repairs += _apply_final_status(rt, call.call_sid, call.why.value, "call", now=now)
    if calls:
        repairs += len(end_callers_gone(rt, now=now))
    return repairs


#: A caller in line is asked about once their wait passes their queue's maximum wait, or this,
#: whichever is shorter (the hold loop deals with the maximum wait of a live caller)...
WAIT_CHECK_AFTER_S = 300
#: ...then at most this often while they wait.
WAIT_CHECK_EVERY_S = 60


def reconcile_waiting(rt: Runtime, *, now: datetime) -> int:
    """Callers waiting in line past a plausible wait (`queues.reconcile.waiting_past`) are
    asked about (each at most every `WAIT_CHECK_EVERY_S`); one whose call Twilio says has
    ended gets its missing status callback and leaves the queue as their Enqueue action would
    have had them (hung up). The number of callers repaired."""
    bounds = {name: min(q.max_wait_s, WAIT_CHECK_AFTER_S) for name, q in rt.queues.queues.items()}
    with rt.unit_of_work() as uow:
        waiting = stale.waiting_past(
            uow.session, now=now, after_s=bounds, default_after_s=WAIT_CHECK_AFTER_S
        )
    repaired = 0
    for call in waiting:
        if not check_due(rt, call.call_sid, now=now, every_s=WAIT_CHECK_EVERY_S):
            continue
        what = "waiting caller's call"
        repaired += _apply_final_status(rt, call.call_sid, call.why.value, what, now=now)
    if repaired:
        end_callers_gone(rt, now=now)
    return repaired


def _status(state: CallState) -> CallStatus | None:
    try:
        return CallStatus(state.status)
    except ValueError:
        log.warning("reconcile: call %s has an unknown status %r", state.sid, state.status)
        return None


def check_due(rt: Runtime, what: str, *, now: datetime, every_s: int) -> bool:
    """True at most once every `every_s` seconds of `now` per `what` (a CallSid): a row that
    stays stale is asked about again only then. The last check's time is kept in Redis; if
    Redis is unreachable, the check is due (a REST call too many is harmless)."""
    key = f"{rt.settings.redis_prefix}reconcile-checked:{what}"
    try:
        last = rt.redis.get(key)
        if last is not None and now.timestamp() - float(last) < every_s:
            return False
        rt.redis.set(key, str(now.timestamp()), ex=max(3600, 10 * every_s))
    except (RedisError, ValueError):
        pass
    return True


# --- outbound attempts ------------------------------------------------------------------------


def reconcile_outbound(rt: Runtime, *, now: datetime) -> int:
    """Ask Twilio about the legs of stale outbound attempts (`outbound.reconcile`) and apply
    their missing final callbacks through the outbound webhooks' services; the number of
    callbacks applied. Each leg is asked about at most once per grace period."""
    settings = rt.settings
    with rt.unit_of_work() as uow:
        stale_ = outbound_stale.stale_attempts(
            uow.session,
            now=now,
            customer_ring_timeout_s=settings.outbound_ring_timeout_s,
            max_call_s=settings.max_call_s,
            grace_s=settings.reconcile_grace_s,
        )
    repairs = 0
    for attempt in stale_:
        # The customer's leg first: its end decides the attempt's outcome (no answer, busy).
        for side, sid, apply in (
            ("customer", attempt.customer_leg, outbound_services.customer_leg_status),
            ("agent", attempt.agent_leg, outbound_services.agent_leg_status),
        ):
            if sid is None or not check_due(rt, sid, now=now, every_s=settings.reconcile_grace_s):
                continue
            state = _fetch(rt, sid, f"the {side} leg of outbound attempt")
            status = _status(state) if state is not None else None
            if state is None or status is None:
                continue
            if not status.is_final:
                if attempt.why is outbound_stale.Why.AGENT_LEFT:
                    log.warning(
                        "repair: outbound attempt %s has ended but agent %s's leg %s is %s; "
                        "hanging it up",
                        attempt.attempt_id,
                        attempt.agent_id,
                        sid,
                        state.status,
                    )
                    rt.enqueue(jobs.hang_up, sid, retries=jobs.RING_RETRIES)
                continue
            log.warning(
                "repair: outbound attempt %s (agent %s): %s, and Twilio says the %s leg %s is "
                "%s; applying the missing status callback",
                attempt.attempt_id,
                attempt.agent_id,
                attempt.why.value,
                side,
                sid,
                status.value,
            )
            with rt.unit_of_work() as uow:
                apply(uow, rt, attempt.attempt_id, sid, status.value, now=_ended_at(state, now))
            repairs += 1
    return repairs


# --- recordings -------------------------------------------------------------------------------


def reconcile_recordings(rt: Runtime, *, now: datetime) -> list[str]:
    """Ingest the recordings Twilio holds whose callback was lost; their RecordingSids."""
    settings = rt.settings
    with rt.unit_of_work() as uow:
        legs = unrecorded_legs(
            uow.session,
            now=now,
            since_s=settings.reconcile_recordings_hours * 3600,
            grace_s=settings.reconcile_grace_s,
        )
    ingested = []
    for leg in legs:
        try:
            held = rt.telephony.list_recordings(leg.call_sid)
        except TelephonyError as exc:
            log.warning(
                "reconcile: could not list the recordings of %s (%s); next turn", leg.call_sid, exc
            )
            continue
        for rec in held:
            if rec.status not in POSTED_RECORDING:
                continue  # still being made: its callback may yet come
            log.warning(
                "repair: recording %s of entry %s (leg %s, %s s) had no callback; ingesting it",
                rec.sid,
                leg.entry_id,
                leg.call_sid,
                rec.duration_s,
            )
            _ingest(rt, rec, leg.entry_id, now=now)
            ingested.append(rec.sid)
    return ingested


def _ingest(rt: Runtime, rec: RemoteRecording, entry_id: int, *, now: datetime) -> None:
    update = recording_services.StatusUpdate(
        recording_sid=rec.sid,
        status=rec.status,
        url=rec.url,
        duration_s=rec.duration_s,
        channels=rec.channels,
        error_code=rec.error_code,
        call_sid=rec.call_sid,
    )
    with rt.unit_of_work() as uow:
        voice.recording_status(uow, rt, update, entry_id=entry_id, now=now)


def _apply_final_status(rt: Runtime, call_sid: str, why: str, what: str, *, now: datetime) -> int:
    """Ask Twilio about a caller's call; if it has ended, apply the missing status callback
    through the webhook's own path (`voice.call_status`). 1 if it was applied, else 0."""
    state = _fetch(rt, call_sid, what)
    status = _status(state) if state is not None else None
    if state is None or status is None or not status.is_final:
        return 0
    log.warning(
        "repair: call %s: %s, and Twilio says %s; applying the missing status callback",
        call_sid,
        why,
        status.value,
    )
    update = StatusUpdate(call_sid, status, _ended_at(state, now), None, state.duration_s)
    with rt.unit_of_work() as uow:
        voice.call_status(uow, rt, update, now=now)
    return 1
