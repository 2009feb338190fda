"""Webhooks of the connection between a waiting caller and an agent (same blueprint, signed).

/queue/offer        the caller pressed a key in the hold loop (1: call me back)
/queue/callback     the caller confirmed their callback number or keyed another
/agent/answer       the agent's leg answered: whisper, then into the conference
/agent/status       the agent's leg rang, answered, or ended (ring-no-answer, end of talk)
/agent/done         the agent's conference ended
/conference/caller  the caller (redirected out of the hold loop) joins the conference
/conference/done    the caller's conference ended
/recording/call     the recording of a connected call

Callbacks are dialled by the outbound engine (`middle_office`, webhooks under
/twilio/outbound); here the caller books one.
"""

from __future__ import annotations

from flask import Response, request
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from callcenter.jobs import recordings as recording_jobs
from callcenter.jobs import router as jobs
from callcenter.jobs.outbound import policy_for
from callcenter.runtime import runtime
from callcenter.twilio_http import CallStatusForm, GatherForm, RecordingForm, VoiceForm, twiml
from callcenter.voice.twiml import (
    render_agent_leg,
    render_callback_prompt,
    render_caller_leg,
    render_message,
)
from callcenter.voice.views import _music_url, _urls, bp, may_call_back, spoken_number
from core.phones import to_e164
from ivr_menus import services as ivr
from queue_callbacks import booking
from queues import connect
from queues import services as queue_services
from queues.models import Agent, QueuedCall, QueuedCallStatus
from recordings import services as recording_services

CALLBACK_TRIES = 3


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
        if not may_call_back(uow.session, form.call_sid):
            return r  # no number, or one we may not call: the caller keeps waiting
        entry = queue_services.request_callback(uow.session, form.call_sid, queue, now=rt.clock())
    if entry is None:
        return r
    return twiml("<Response><Leave/></Response>")


@bp.post("/queue/callback")
def callback_number() -> Response:
    """Confirm the callback number (1, or nothing) or take the one keyed; then goodbye."""
    form, rt = GatherForm.from_form(request.form), runtime()
    entry_id = _entry_id()
    attempt = request.args.get("attempt", 1, type=int)
    with rt.unit_of_work() as uow:
        entry = uow.session.get(QueuedCall, entry_id)
        language = ivr.call_language(uow.session, form.call_sid)
        if entry is None or entry.call_sid != form.call_sid:
            return twiml(render_message(rt.menus, language, "goodbye", hangup=True))
        digits = (form.digits or "").strip()
        if digits and digits != "1":
            number = to_e164(digits, rt.settings.default_country_code)
            taken = (
                number is not None
                and len(number) >= 8
                and booking.change_callback_number(
                    uow.session, entry.id, number, now=rt.clock(), policy=policy_for(rt)
                )
            )
            if not taken and attempt < CALLBACK_TRIES:  # invalid, or a number we may not call
                return twiml(
                    render_callback_prompt(
                        rt.menus,
                        language,
                        _urls(),
                        entry.id,
                        spoken_number(entry.callback_to, language),
                        attempt + 1,
                        invalid=True,
                    )
                )
        number = entry.callback_to or ""
    return twiml(
        render_message(
            rt.menus,
            language,
            "callback_booked",
            hangup=True,
            number=spoken_number(number, language),
        )
    )


@bp.post("/agent/answer")
def agent_answer() -> Response:
    form, rt = VoiceForm.from_form(request.form), runtime()
    entry_id, assignment = _entry_id(), _assignment()
    with rt.unit_of_work() as uow:
        answered = connect.agent_answered(
            uow.session,
            entry_id,
            assignment,
            form.call_sid,
            now=rt.clock(),
            presence=rt.queues.presence,
        )
        jobs.after_commit(uow, rt, answered.followup)
        if not answered.connect or answered.entry is None:
            language = _agent_language(uow.session, answered.entry)
            return twiml(render_message(rt.menus, language, "caller_gone", hangup=True))
        entry = answered.entry
        language = _agent_language(uow.session, entry)
        whisper = whisper_for(entry, language)
        uow.after_commit(rt.enqueue, jobs.bridge_caller, entry.id)
    return twiml(render_agent_leg(rt.menus, language, _urls(), entry.id, whisper))


def _agent_language(session: Session, entry: QueuedCall | None) -> str:
    agent = session.get(Agent, entry.agent_id) if entry and entry.agent_id else None
    return runtime().menus.agent_language([lang.value for lang in agent.languages] if agent else [])


def whisper_for(entry: QueuedCall, language: str) -> str:
    """What the agent hears about a caller before the talk: the queue and the tier."""
    menus = runtime().menus
    messages = menus.messages[language]
    label = messages.get(f"label_{entry.queue}", entry.queue)
    tier = messages.get(f"tier_{entry.tier}", entry.tier)
    key = "whisper_callback" if entry.callback_to else "whisper"
    return menus.message(language, key, queue=label, tier=tier)


@bp.post("/agent/status")
def agent_status() -> tuple[str, int]:
    form, rt = CallStatusForm.from_form(request.form), runtime()
    entry_id, assignment = _entry_id(), _assignment()
    status = form.call_status.value
    with rt.unit_of_work() as uow:
        connect.record_agent_leg(uow.session, entry_id, assignment, form.call_sid)
        if status in connect.NOT_ANSWERED:
            follow = connect.ring_failed(
                uow.session,
                entry_id,
                assignment,
                status,
                now=rt.clock(),
                presence=rt.queues.presence,
            )
        elif status == "completed":
            follow = connect.talk_ended(
                uow.session, entry_id, assignment, now=rt.clock(), presence=rt.queues.presence
            )
        else:
            follow = connect.Followup()
        jobs.after_commit(uow, rt, follow)
    return "", 204


@bp.post("/agent/done")
def agent_done() -> Response:
    return twiml("<Response><Hangup/></Response>")


@bp.post("/conference/caller")
def conference_caller() -> Response:
    form, rt = VoiceForm.from_form(request.form), runtime()
    with rt.unit_of_work() as uow:
        entry = uow.session.get(QueuedCall, _entry_id())
        language = ivr.call_language(uow.session, entry.call_sid if entry else form.call_sid)
        if entry is None or entry.status is not QueuedCallStatus.CONNECTED or entry.talk_ended_at:
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
        claimed = recording_services.record_status(
            uow.session, recording_update(form), entry_id=_entry_id(), now=rt.clock()
        )
        if claimed is not None:
            uow.after_commit(recording_jobs.enqueue_processing, rt, claimed)
    return "", 204


def recording_update(form: RecordingForm) -> recording_services.StatusUpdate:
    """A recording status callback as the pipeline takes it (inbound and outbound calls)."""
    channels = request.form.get("RecordingChannels", "")
    return recording_services.StatusUpdate(
        recording_sid=form.recording_sid,
        status=form.recording_status,
        url=form.recording_url,
        duration_s=form.recording_duration,
        channels=int(channels) if channels in ("1", "2") else None,
        error_code=form.error_code,
        call_sid=form.call_sid,
    )
