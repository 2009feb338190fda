"""Webhooks of the connection between a waiting caller and an agent (same blueprint, signed).

/queue/offer        the caller pressed a key in the hold loop (1: call me back)
/queue/callback     the caller confirmed their callback number or keyed another
/agent/answer       the agent's leg answered: whisper, then into the conference
/agent/status       the agent's leg rang, answered, or ended (ring-no-answer, end of talk)
/agent/done         the agent's conference ended
/conference/caller  the caller (redirected out of the hold loop) joins the conference
/conference/done    the caller's conference ended
/recording/call     the recording of a connected call

Callbacks are dialled by the outbound engine (its webhooks under /twilio/outbound:
`callcenter.middle_office.twilio`); here the caller books one.
"""

from __future__ import annotations

from flask import Response, request
from twilio.twiml.voice_response import VoiceResponse

from callcenter.runtime import runtime
from callcenter.twilio_http import CallStatusForm, GatherForm, RecordingForm, VoiceForm, twiml
from callcenter.voice import services
from callcenter.voice.twiml import (
    render_agent_leg,
    render_callback_number,
    render_caller_leg,
    render_message,
    whisper_for,
)
from callcenter.voice.views import _music_url, _urls, bp
from ivr_menus import services as ivr
from queue_callbacks import booking
from queues import connect
from queues import services as queue_services
from queues.models import QueuedCall


def _entry_id() -> int:
    try:
        return int(request.args.get("entry", ""))
    except ValueError:
        return 0


def _assignment() -> str:
    return request.args.get("assignment", "")[:32]


@bp.post("/queue/offer")
def queue_offer() -> Response:
    """A key pressed during the hold loop: 1 asks for a callback (when we know the number)."""
    form, rt = GatherForm.from_form(request.form), runtime()
    queue = request.args.get("queue", "")[:40]
    r = twiml("<Response/>")
    if form.digits != "1":
        return r  # any other key: the hold loop goes on
    with rt.unit_of_work() as uow:
        if not booking.may_call_back(uow.session, form.call_sid):
            return r  # no number, or one we may not call: the caller keeps waiting
        entry = queue_services.request_callback(uow.session, form.call_sid, queue, now=rt.clock())
    if entry is None:
        return r
    return twiml("<Response><Leave/></Response>")


@bp.post("/queue/callback")
def callback_number() -> Response:
    """Confirm the callback number (1, or nothing) or take the one keyed; then goodbye."""
    form, rt = GatherForm.from_form(request.form), runtime()
    attempt = request.args.get("attempt", 1, type=int)
    with rt.unit_of_work() as uow:
        language = ivr.call_language(uow.session, form.call_sid)
        keyed = services.key_callback_number(
            uow, rt, _entry_id(), form.call_sid, form.digits, attempt=attempt, now=rt.clock()
        )
    country_code = rt.settings.default_country_code
    return twiml(
        render_callback_number(
            rt.menus, language, _urls(), keyed, attempt, country_code=country_code
        )
    )


@bp.post("/agent/answer")
def agent_answer() -> Response:
    form, rt = VoiceForm.from_form(request.form), runtime()
    with rt.unit_of_work() as uow:
        language, entry = services.agent_answered(
            uow, rt, _entry_id(), _assignment(), form.call_sid, now=rt.clock()
        )
        if entry is None:
            return twiml(render_message(rt.menus, language, "caller_gone", hangup=True))
        whisper = whisper_for(rt.menus, entry, language)
    return twiml(render_agent_leg(rt.menus, language, _urls(), entry.id, whisper))


@bp.post("/agent/status")
def agent_status() -> tuple[str, int]:
    form, rt = CallStatusForm.from_form(request.form), runtime()
    with rt.unit_of_work() as uow:
        services.agent_leg_status(
            uow,
            rt,
            _entry_id(),
            _assignment(),
            form.call_sid,
            form.call_status.value,
            now=rt.clock(),
        )
    return "", 204


@bp.post("/agent/done")
def agent_done() -> Response:
    return twiml("<Response><Hangup/></Response>")


@bp.post("/conference/caller")
def conference_caller() -> Response:
    form, rt = VoiceForm.from_form(request.form), runtime()
    with rt.unit_of_work() as uow:
        entry = connect.caller_joined(uow.session, _entry_id(), now=rt.clock())
        language = ivr.call_language(uow.session, entry.call_sid if entry else form.call_sid)
    if entry is None:
        return twiml(render_message(rt.menus, language, "agent_leaving", hangup=True))
    return twiml(
        render_caller_leg(rt.menus, language, _urls(), entry.id, wait_url=_urls().conference_wait)
    )


@bp.post("/conference/wait")
def conference_wait() -> Response:
    """Our music for a caller who reaches the conference while the agent hears the whisper."""
    r = VoiceResponse()
    r.play(_music_url(), loop=0)
    return twiml(r)


@bp.post("/conference/done")
def conference_done() -> Response:
    form, rt = VoiceForm.from_form(request.form), runtime()
    with rt.unit_of_work() as uow:
        entry = uow.session.get(QueuedCall, _entry_id())
        language = ivr.call_language(uow.session, entry.call_sid if entry else form.call_sid)
    return twiml(render_message(rt.menus, language, "goodbye", hangup=True))


@bp.post("/recording/call")
def call_recording() -> tuple[str, int]:
    """The recording of a connected call: upsert it, then queue its processing job (once)."""
    form, rt = RecordingForm.from_form(request.form), runtime()
    with rt.unit_of_work() as uow:
        services.recording_status(
            uow, rt, form.status_update(), entry_id=_entry_id(), now=rt.clock()
        )
    return "", 204
