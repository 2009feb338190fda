"""Twilio voice webhooks under /twilio/voice: signed, thin, and never an error to the caller."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from callcenter.back_office.cancellations import PhoneCancellation
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
from callcenter.voice import services
from callcenter.voice.services import call_info
from callcenter.voice.twiml import (
    VoiceUrls,
    render_apology,
    render_hold,
    render_hold_apology,
    render_hold_last_resort,
    render_last_resort,
    render_message,
    render_queue_exit,
    render_step,
)
from core.calls import StatusUpdate
from core.phones import mask
from ivr_menus import services as ivr

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
#: Documents that replace a waitUrl document: their error answer keeps the caller in line.
HOLD_LOOP = frozenset({"voice.queue_wait", "voice.queue_offer"})


@bp.before_request
def _require_signature() -> None:
    settings = runtime().settings
    verify_signature(settings.signing_token, settings.public_base_url)


def _urls() -> VoiceUrls:
    return VoiceUrls(runtime().settings.public_base_url.rstrip("/") + "/twilio/voice")


@bp.post("/incoming")
def incoming() -> Response:
    form, rt = VoiceForm.from_form(request.form), runtime()
    with rt.unit_of_work() as uow:
        flow = services.call_flow(uow, rt, now=rt.clock())
        decision = ivr.start_call(uow.session, rt.menus, call_info(form), **flow)
    return twiml(render_step(decision.step, rt.menus, _urls()))


@bp.post("/menu/<node_id>")
def gather(node_id: str) -> Response:
    form, rt = GatherForm.from_form(request.form), runtime()
    attempt = request.args.get("attempt", 1, type=int)
    with rt.unit_of_work() as uow:
        decision = ivr.continue_call(
            uow.session,
            rt.menus,
            call_info(form),
            node_id=node_id,
            attempt=attempt,
            digits=form.digits,
            speech=form.speech_result,
            cancellation=PhoneCancellation(uow, rt),
            **services.call_flow(uow, rt, now=rt.clock()),
        )
    return twiml(render_step(decision.step, rt.menus, _urls()))


@bp.post("/status")
def call_status() -> tuple[str, int]:
    form, rt = CallStatusForm.from_form(request.form), runtime()
    now = rt.clock()
    update = StatusUpdate(
        form.call_sid,
        form.call_status,
        form.timestamp or now,
        form.sequence_number,
        form.call_duration,
    )
    with rt.unit_of_work() as uow:
        services.call_status(uow, rt, update, now=now)
    return "", 204


@bp.post("/queue/wait")
def queue_wait() -> Response:
    form, rt = QueueWaitForm.from_form(request.form), runtime()
    queue = request.args.get("queue", "")[:40]
    with rt.unit_of_work() as uow:
        hold = services.hold(
            uow, rt, form.call_sid, queue, queue_time_s=form.queue_time, now=rt.clock()
        )
    return twiml(render_hold(rt.menus, hold, _music_url(), _urls(), queue))


def _music_url() -> str:
    path = url_for("media.hold_music_wav")[len(request.script_root) :]  # the base has the root
    return runtime().settings.public_base_url.rstrip("/") + path


@bp.post("/queue/exit")
def queue_exit() -> Response:
    form, rt = QueueExitForm.from_form(request.form), runtime()
    queue = request.args.get("queue", "")[:40]
    with rt.unit_of_work() as uow:
        left = services.leave_queue(
            uow,
            rt,
            call_info(form),
            queue=queue,
            result=form.queue_result,
            waited_s=form.queue_time,
            now=rt.clock(),
        )
    country_code = rt.settings.default_country_code
    return twiml(render_queue_exit(rt.menus, _urls(), left, queue=queue, country_code=country_code))


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
    rt, reason = runtime(), request.args.get("reason", "")[:40] or None
    with rt.unit_of_work() as uow:
        return services.save_voicemail(uow, rt, form, reason=reason, now=rt.clock())


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
    services.rescue(rt, call_sid[:64], now=rt.clock())
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
    if request.endpoint in HOLD_LOOP:
        return _hold_apology(sid)
    return _apology(sid)


def _hold_apology(call_sid: str) -> Response:
    """The caller is in Twilio's queue and keeps their place there and in ours: apologise
    and play music (only verbs a waitUrl may hold); the next turn tries again."""
    try:
        return twiml(render_hold_apology(runtime().menus, _language_of(call_sid), _music_url()))
    except Exception:
        log.exception("hold-loop apology failed for call %s", call_sid[:40])
        return twiml(render_hold_last_resort())
