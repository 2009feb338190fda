"""Twilio voice webhooks under /twilio/voice: signed, thin, and never an error to the caller."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from callcenter.jobs import outbound as outbound_jobs
from callcenter.jobs import router as jobs
from callcenter.runtime import runtime
from callcenter.twilio_http import (
    CallStatusForm,
    GatherForm,
    MalformedWebhook,
    QueueExitForm,
    QueueWaitForm,
    RecordingForm,
    VoiceForm,
    twiml,
    verify_signature,
)
from callcenter.voice.twiml import (
    VoiceUrls,
    render_apology,
    render_callback_prompt,
    render_enqueue,
    render_hold,
    render_last_resort,
    render_message,
    render_step,
    render_voicemail,
)
from core.calls import StatusUpdate, apply_status, get_call
from core.db import UnitOfWork
from core.phones import mask, national
from core.speech import say_digits
from ivr_menus import services as ivr
from outbound import tasks
from queue_callbacks import booking
from queue_callbacks import entries as callbacks
from queues import connect
from queues import services as queue_services
from queues.models import QueuedCall
from queues.routing import QueueRoute, WaitingCaller, base_priority

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/twilio/voice")
#: Status callbacks: Twilio ignores what they answer, so a failure is a 400/503, not TwiML.
CALLBACKS = frozenset(
    {
        "voice.call_status",
        "voice.recording_status",
        "voice.agent_status",
        "voice.call_recording",
    }
)
ENDED_IN_QUEUE = frozenset({"bridged", "hangup"})
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


@bp.before_request
def _require_signature() -> None:
    settings = runtime().settings
    verify_signature(settings.signing_token, settings.public_base_url)


def _urls() -> VoiceUrls:
    return VoiceUrls(runtime().settings.public_base_url.rstrip("/") + "/twilio/voice")


def _info(form: VoiceForm) -> ivr.CallInfo:
    return ivr.CallInfo(form.call_sid, form.from_number, form.to_number, form.direction)


def _flow(uow: UnitOfWork) -> dict[str, Any]:
    """What every IVR service call needs from the runtime, for this unit of work."""
    rt = runtime()
    return {
        "hours": rt.hours,
        "country_code": rt.settings.default_country_code,
        "now": rt.clock(),
        "on_enqueue": lambda caller: _joined(uow, caller),
    }


def _joined(uow: UnitOfWork, caller: WaitingCaller) -> None:
    """After the commit: the caller is on the waiting list, and routed at once."""
    rt = runtime()
    uow.after_commit(queue_services.add_waiting, rt.waiting_list, caller)
    uow.after_commit(rt.enqueue, jobs.route_caller, int(caller.entry_id))


def _leaving(uow: UnitOfWork, left: list[QueuedCall]) -> dict[str, Any]:
    """What `ivr.leave_queue` needs from the runtime, for this unit of work."""
    rt = runtime()

    def on_leave(entry: QueuedCall) -> None:
        left.append(entry)
        if entry.status not in connect.OPEN:
            uow.after_commit(queue_services.remove_waiting, rt.waiting_list, str(entry.id))
        follow = connect.caller_left(
            uow.session, entry, now=rt.clock(), presence=rt.queues.presence
        )
        if entry.callback_to and entry.status in connect.OPEN:  # left to be called back
            priority = base_priority(
                queue_services.waiting_caller(entry), rt.queues.priority.tier_priority
            )
            follow.merge(
                booking.book_queue_callback(
                    uow.session,
                    entry,
                    priority=priority,
                    now=rt.clock(),
                    policy=outbound_jobs.policy_for(rt),
                )
            )
        jobs.after_commit(uow, rt, follow)

    return {
        "country_code": rt.settings.default_country_code,
        "now": rt.clock(),
        "on_leave": on_leave,
    }


@bp.post("/incoming")
def incoming() -> Response:
    form, rt = VoiceForm.from_form(request.form), runtime()
    with rt.unit_of_work() as uow:
        decision = ivr.start_call(uow.session, rt.menus, _info(form), **_flow(uow))
    return twiml(render_step(decision.step, rt.menus, _urls()))


@bp.post("/menu/<node_id>")
def gather(node_id: str) -> Response:
    form, rt = GatherForm.from_form(request.form), runtime()
    attempt = request.args.get("attempt", 1, type=int)
    with rt.unit_of_work() as uow:
        decision = ivr.continue_call(
            uow.session,
            rt.menus,
            _info(form),
            node_id=node_id,
            attempt=attempt,
            digits=form.digits,
            speech=form.speech_result,
            **_flow(uow),
        )
    return twiml(render_step(decision.step, rt.menus, _urls()))


@bp.post("/status")
def call_status() -> tuple[str, int]:
    form, rt = CallStatusForm.from_form(request.form), runtime()
    with rt.unit_of_work() as uow:
        apply_status(
            uow.session,
            StatusUpdate(
                form.call_sid,
                form.call_status,
                form.timestamp or rt.clock(),
                form.sequence_number,
                form.call_duration,
            ),
        )
        if form.call_status.value in FINAL_STATUSES:
            follow = connect.caller_call_ended(uow.session, form.call_sid)
            # A caller booked for a callback is called back once off the line.
            follow.merge(callbacks.release_due(uow.session, now=rt.clock(), call_sid=form.call_sid))
            jobs.after_commit(uow, rt, follow)
    return "", 204


@bp.post("/queue/wait")
def queue_wait() -> Response:
    form, rt = QueueWaitForm.from_form(request.form), runtime()
    queue = request.args.get("queue", "")[:40]
    with rt.unit_of_work() as uow:
        hold = queue_services.hold_status(
            uow.session,
            rt.waiting_list,
            rt.queues,
            form.call_sid,
            queue,
            queue_time_s=form.queue_time,
            language=ivr.call_language(uow.session, form.call_sid),
            now=rt.clock(),
        )
        if hold.offer_callback and not may_call_back(uow.session, form.call_sid):
            hold = replace(hold, offer_callback=False)
        if hold.moved_to is not None:  # overflowed: the new entry replaces the old one
            assert hold.entry_id is not None
            uow.after_commit(queue_services.remove_waiting, rt.waiting_list, str(hold.entry_id))
            moved = uow.session.get(QueuedCall, hold.moved_to)
            assert moved is not None
            _joined(uow, queue_services.waiting_caller(moved))
    return twiml(render_hold(rt.menus, hold, _music_url(), _urls(), queue))


def may_call_back(session: Session, call_sid: str) -> bool:
    """Whether a callback can be offered: the caller's number is known and we may call it."""
    call = get_call(session, call_sid)
    number = call.caller_e164 if call else None
    return number is not None and not tasks.on_do_not_call(session, number)


def spoken_number(number: str | None, language: str | None) -> str:
    """A callback number read back to the caller, as they would say it themselves."""
    rt = runtime()
    local = national(number or "", rt.settings.default_country_code)
    return say_digits(local, language or rt.menus.default_language)


def _music_url() -> str:
    path = url_for("media.hold_music_wav")[len(request.script_root) :]  # the base has the root
    return runtime().settings.public_base_url.rstrip("/") + path


@bp.post("/queue/exit")
def queue_exit() -> Response:
    form, rt = QueueExitForm.from_form(request.form), runtime()
    queue = request.args.get("queue", "")[:40]
    left: list[QueuedCall] = []
    with rt.unit_of_work() as uow:
        language = ivr.leave_queue(
            uow.session,
            _info(form),
            queue=queue,
            result=form.queue_result,
            waited_s=form.queue_time,
            **_leaving(uow, left),
        )
        entry = left[0] if left else None
        moved = queue_services.overflowed_to(uow.session, entry) if entry else None
    if form.queue_result in ENDED_IN_QUEUE:
        return twiml(render_message(rt.menus, language, "goodbye", hangup=True))
    if entry is not None and entry.callback_to and entry.status in connect.OPEN:
        number = spoken_number(entry.callback_to, language)
        return twiml(render_callback_prompt(rt.menus, language, _urls(), entry.id, number, 1))
    if moved is not None:
        return twiml(render_enqueue(rt.menus, language, _urls(), moved.queue, "queue_transfer"))
    return twiml(render_voicemail(rt.menus, language, _urls(), reason=f"queue:{queue}"))


@bp.post("/voicemail/done")
def voicemail_done() -> Response:
    rt = runtime()
    if request.form.get("RecordingSid"):
        language = _save_voicemail(RecordingForm.from_form(request.form))
    else:  # the caller left no message
        language = _language_of(VoiceForm.from_form(request.form).call_sid)
    return twiml(render_message(rt.menus, language, "voicemail_thanks", hangup=True))


@bp.post("/recording/status")
def recording_status() -> tuple[str, int]:
    _save_voicemail(RecordingForm.from_form(request.form))
    return "", 204


@bp.post("/fallback")
def fallback() -> Response:
    log.error(
        "Twilio used the fallback URL for call %s: error %s at %s",
        request.form.get("CallSid", "")[:40],
        request.form.get("ErrorCode", "")[:10],
        request.form.get("ErrorUrl", "")[:200],
    )
    return _apology(request.form.get("CallSid", ""))


def _save_voicemail(form: RecordingForm) -> str | None:
    rt = runtime()
    with rt.unit_of_work() as uow:
        vm = ivr.save_voicemail(
            uow.session,
            _info(form),
            recording_sid=form.recording_sid,
            recording_url=form.recording_url,
            duration_s=form.recording_duration,
            status=form.recording_status,
            reason=request.args.get("reason", "")[:40] or None,
            error_code=form.error_code,
            country_code=rt.settings.default_country_code,
            now=rt.clock(),
        )
        return vm.call.language.value if vm.call.language else None


def _language_of(call_sid: str) -> str | None:
    rt = runtime()
    try:
        with rt.unit_of_work() as uow:
            return ivr.call_language(uow.session, call_sid[:64])
    except SQLAlchemyError:
        log.exception("could not read the language of call %s", call_sid[:40])
        return None


def _apology(call_sid: str) -> Response:
    rt = runtime()
    _rescue(call_sid[:64])
    try:
        return twiml(
            render_apology(
                rt.menus,
                _language_of(call_sid),
                _urls(),
                fallback_queue=rt.settings.fallback_queue,
                is_open=rt.hours.is_open(rt.clock()),
            )
        )
    except Exception:  # the apology itself failed: the fixed bilingual one cannot
        log.exception("apology TwiML failed for call %s", call_sid[:40])
        return twiml(render_last_resort())


def _rescue(call_sid: str) -> None:
    """Before the apology sends the caller to the fallback queue: make that a real queue entry
    (so the router serves them), and free an agent who was waiting for them in a conference.

    Best effort: this runs because something failed, so its own failure is only logged.
    """
    rt = runtime()
    if not call_sid:
        return
    queue = rt.settings.fallback_queue
    try:
        with rt.unit_of_work() as uow:
            jobs.after_commit(uow, rt, connect.caller_call_ended(uow.session, call_sid))
            if rt.hours.is_open(rt.clock()) and queue in rt.queues:
                route = QueueRoute(queue, rt.queues[queue].skills[0])
                ivr.enqueue_after_failure(
                    uow.session,
                    call_sid,
                    route,
                    now=rt.clock(),
                    default_language=rt.menus.default_language,
                    on_enqueue=lambda caller: _joined(uow, caller),
                )
    except Exception:
        log.exception("could not put call %s in the fallback queue", call_sid[:40])


@bp.errorhandler(Exception)
def _failed(exc: Exception) -> Response | HTTPException | tuple[str, int]:
    if isinstance(exc, HTTPException):
        return exc
    sid = request.form.get("CallSid", "")[:40]
    if isinstance(exc, MalformedWebhook):
        log.warning("malformed webhook %s for call %s: %s", request.endpoint, sid, exc)
    else:
        log.exception(
            "voice webhook %s failed for call %s from %s",
            request.endpoint,
            sid,
            mask(request.form.get("From")),
        )
    if request.endpoint in CALLBACKS:
        return ("", 400) if isinstance(exc, MalformedWebhook) else ("", 503)
    return _apology(sid)
