"""The voice webhooks' work, past the form: domain calls in the webhook's unit of work, and what
must follow its commit (the Redis waiting list, routing jobs). No Flask here.

Each function takes the unit of work, the Runtime (waiting list, jobs, queues, menus,
settings) and `now`, and returns what the view renders.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from callcenter.jobs import recordings as recording_jobs
from callcenter.jobs import router as jobs
from callcenter.jobs.outbound import policy_for
from callcenter.runtime import Runtime
from callcenter.twilio_http import RecordingForm, VoiceForm
from callcenter.voice.twiml import QueueExit
from core.calls import StatusUpdate, apply_status
from core.db import UnitOfWork
from ivr_menus import services as ivr
from queue_callbacks import booking
from queue_callbacks import entries as callbacks
from queues import connect
from queues import services as queue_services
from queues.models import QueuedCall
from queues.routing import QueueRoute, WaitingCaller
from queues.services import HoldStatus
from recordings import services as recording_services

log = logging.getLogger(__name__)
#: Twilio's QueueResults of a call that ended in the queue (nothing more to say but goodbye).
ENDED_IN_QUEUE = frozenset({"bridged", "hangup"})


def join_waiting_list(uow: UnitOfWork, rt: Runtime, caller: WaitingCaller) -> None:
    """After the commit: the caller is on the waiting list, and routed at once."""
    uow.after_commit(queue_services.add_waiting, rt.waiting_list, caller)
    uow.after_commit(rt.enqueue, jobs.route_caller, int(caller.entry_id))


def call_flow(uow: UnitOfWork, rt: Runtime, *, now: datetime) -> dict[str, Any]:
    """What every IVR service call needs from the runtime, for this unit of work."""
    return {
        "hours": rt.hours,
        "country_code": rt.settings.default_country_code,
        "now": now,
        "on_enqueue": partial(join_waiting_list, uow, rt),
    }


def agent_leg_status(
    uow: UnitOfWork,
    rt: Runtime,
    entry_id: int,
    assignment_id: str,
    call_sid: str,
    status: str,
    *,
    now: datetime,
) -> None:
    """A status callback of an agent's leg (`connect.agent_leg_status`; idempotent,
    order-proof), and its followup after the commit. The reconciliation duty applies a lost
    one through here too."""
    follow = connect.agent_leg_status(
        uow.session,
        entry_id,
        assignment_id,
        call_sid,
        status,
        now=now,
        presence=rt.queues.presence,
    )
    jobs.after_commit(uow, rt, follow)


def recording_status(
    uow: UnitOfWork,
    rt: Runtime,
    update: recording_services.StatusUpdate,
    *,
    entry_id: int | None,
    now: datetime,
) -> None:
    """The recording of a connected call: upsert it, then queue its processing job (once).
    The reconciliation duty ingests a recording whose callback was lost through here too."""
    claimed = recording_services.record_status(uow.session, update, entry_id=entry_id, now=now)
    if claimed is not None:
        uow.after_commit(recording_jobs.enqueue_processing, rt, claimed)


def call_status(uow: UnitOfWork, rt: Runtime, update: StatusUpdate, *, now: datetime) -> None:
    """A status callback of a caller's call: record it (idempotent, order-proof); once it is
    final, free an agent left alone and release a callback booked on the call."""
    apply_status(uow.session, update)
    if update.status.is_final:
        jobs.after_commit(uow, rt, callbacks.call_ended(uow.session, update.call_sid, now=now))


def hold(
    uow: UnitOfWork, rt: Runtime, call_sid: str, queue: str, *, queue_time_s: int, now: datetime
) -> HoldStatus:
    """One turn of the hold loop (`queues.services.hold_status`), offering a callback only to a
    caller we may call back. An entry that overflowed this turn leaves the waiting list after
    the commit, and the entry that replaces it joins."""
    session = uow.session
    status = queue_services.hold_status(
        session,
        rt.waiting_list,
        rt.queues,
        call_sid,
        queue,
        queue_time_s=queue_time_s,
        language=ivr.call_language(session, call_sid),
        now=now,
    )
    if status.offer_callback and not booking.may_call_back(session, call_sid):
        status = replace(status, offer_callback=False)
    if status.moved_to is not None:  # overflowed: the new entry replaces the old one
        assert status.entry_id is not None
        uow.after_commit(queue_services.remove_waiting, rt.waiting_list, str(status.entry_id))
        moved = session.get(QueuedCall, status.moved_to)
        assert moved is not None
        join_waiting_list(uow, rt, queue_services.waiting_caller(moved))
    return status


def leave_queue(
    uow: UnitOfWork,
    rt: Runtime,
    info: ivr.CallInfo,
    *,
    queue: str,
    result: str,
    waited_s: int | None,
    now: datetime,
) -> QueueExit:
    """The caller left `queue` (Twilio's Enqueue action, with its QueueResult `result`).

    Ends the entry (`ivr.leave_queue`), takes an ended one off the waiting list after the
    commit, releases an agent still reserved for the caller and books a callback the caller
    asked for (`booking.caller_left_queue`). Returns where the caller goes next.
    """
    left = ivr.leave_queue(
        uow.session,
        info,
        queue=queue,
        result=result,
        waited_s=waited_s,
        country_code=rt.settings.default_country_code,
        now=now,
    )
    entry = left.entry
    if entry is None:
        return QueueExit(left.language, ended=result in ENDED_IN_QUEUE)
    if entry.status not in connect.OPEN:
        uow.after_commit(queue_services.remove_waiting, rt.waiting_list, str(entry.id))
    follow = booking.caller_left_queue(
        uow.session,
        entry,
        now=now,
        presence=rt.queues.presence,
        tier_priority=rt.queues.priority.tier_priority,
        policy=policy_for(rt),
    )
    jobs.after_commit(uow, rt, follow)
    moved = queue_services.overflowed_to(uow.session, entry)
    return QueueExit(
        left.language,
        ended=result in ENDED_IN_QUEUE,
        callback_entry=entry.id if entry.callback_to and entry.status in connect.OPEN else None,
        callback_to=entry.callback_to,
        moved_to=moved.queue if moved is not None else None,
    )


def call_info(form: VoiceForm) -> ivr.CallInfo:
    """What every voice webhook tells about the call, as the IVR services take it."""
    return ivr.CallInfo(form.call_sid, form.from_number, form.to_number, form.direction)


def save_voicemail(
    uow: UnitOfWork, rt: Runtime, form: RecordingForm, *, reason: str | None, now: datetime
) -> str | None:
    """Keep a voicemail (action and status callbacks both come, in any order; idempotent by
    RecordingSid). Returns the caller's language."""
    vm = ivr.save_voicemail(
        uow.session,
        call_info(form),
        recording_sid=form.recording_sid,
        recording_url=form.recording_url,
        duration_s=form.recording_duration,
        status=form.recording_status,
        reason=reason,
        error_code=form.error_code,
        country_code=rt.settings.default_country_code,
        now=now,
    )
    return vm.call.language.value if vm.call.language else None


def rescue(rt: Runtime, call_sid: str, *, now: datetime) -> None:
    """Before the apology sends the caller to the fallback queue: make that a real queue entry
    (so the router serves them), and free an agent who was waiting for them in a conference.

    Best effort, in a unit of work of its own: this runs because something failed, so its own
    failure is only logged.
    """
    if not call_sid:
        return
    queue = rt.settings.fallback_queue
    try:
        with rt.unit_of_work() as uow:
            jobs.after_commit(uow, rt, connect.caller_call_ended(uow.session, call_sid, now=now))
            if rt.hours.is_open(now) and queue in rt.queues:
                ivr.enqueue_after_failure(
                    uow.session,
                    call_sid,
                    QueueRoute(queue, rt.queues[queue].skills[0]),
                    now=now,
                    default_language=rt.menus.default_language,
                    on_enqueue=partial(join_waiting_list, uow, rt),
                )
    except Exception:
        log.exception("could not put call %s in the fallback queue", call_sid[:40])


def key_callback_number(
    uow: UnitOfWork,
    rt: Runtime,
    entry_id: int,
    call_sid: str,
    digits: str | None,
    *,
    attempt: int,
    now: datetime,
) -> booking.NumberKeyed:
    """The caller confirmed their callback number or keyed another
    (`booking.key_callback_number`, with the centre's country code and calling policy)."""
    return booking.key_callback_number(
        uow.session,
        entry_id,
        call_sid,
        digits,
        attempt=attempt,
        country_code=rt.settings.default_country_code,
        now=now,
        policy=policy_for(rt),
    )


def agent_answered(
    uow: UnitOfWork,
    rt: Runtime,
    entry_id: int,
    assignment_id: str,
    call_sid: str,
    *,
    now: datetime,
) -> tuple[str, QueuedCall | None]:
    """The agent's leg answered: connect them (`connect.agent_answered`) and, after the
    commit, bring the caller into the conference. Returns the agent's language and the entry
    to connect, or None when the caller has gone."""
    answered = connect.agent_answered(
        uow.session, entry_id, assignment_id, call_sid, now=now, presence=rt.queues.presence
    )
    jobs.after_commit(uow, rt, answered.followup)
    entry = answered.entry
    language = ivr.agent_language(uow.session, rt.menus, entry.agent_id if entry else None)
    if not answered.connect or entry is None:
        return language, None
    uow.after_commit(rt.enqueue, jobs.bridge_caller, entry.id, retries=jobs.BRIDGE_RETRIES)
    return language, entry
