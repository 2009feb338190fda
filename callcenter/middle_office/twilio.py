"""Twilio's webhooks of outbound calls under /twilio/outbound (signed, like the voice ones).

/twilio/outbound/agent              the agent's leg answered: whisper, then the conference
/twilio/outbound/agent/status       the agent's leg rang, answered, or ended
/twilio/outbound/customer           the customer answered: who calls, then join
/twilio/outbound/customer/join      the customer enters the agent's conference
/twilio/outbound/customer/status    the customer's leg rang, answered, or ended
/twilio/outbound/recording          the recording of the call
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from callcenter.jobs import outbound as jobs
from callcenter.middle_office import services
from callcenter.middle_office.errors import domain_error
from callcenter.runtime import runtime
from callcenter.twilio_http import (
    CallStatusForm,
    MalformedWebhook,
    RecordingForm,
    VoiceForm,
    twiml,
    verify_signature,
)
from callcenter.voice.twiml import join_as_agent, render_message, whisper_for
from core.errors import DomainError
from ivr_menus import services as ivr
from ivr_menus.model import MenuSet
from outbound import attempts, kinds, legs
from outbound.models import OutboundAttempt
from queue_callbacks import entries as callbacks

bp = Blueprint("outbound_calls", __name__, url_prefix="/twilio/outbound")
bp.register_error_handler(DomainError, domain_error)


@bp.before_request
def _require_signature() -> None:
    settings = runtime().settings
    verify_signature(settings.signing_token, settings.public_base_url)


@bp.errorhandler(MalformedWebhook)
def _malformed(exc: MalformedWebhook) -> tuple[str, int]:
    return str(exc), 400


def _attempt_id() -> int:
    value = request.args.get("attempt", "")
    if not value.isdigit():
        abort(400)
    return int(value)


@bp.post("/agent")
def agent_leg() -> Response:
    rt, form, attempt_id = runtime(), VoiceForm.from_form(request.form), _attempt_id()
    with rt.unit_of_work() as uow:
        go = legs.agent_answered(uow.session, attempt_id, form.call_sid, now=rt.clock())
        attempt = uow.session.get(OutboundAttempt, attempt_id)
        language = ivr.agent_language(uow.session, rt.menus, attempt.agent_id if attempt else None)
        whisper = _whisper(rt.menus, uow.session, attempt, language)
        if go:
            uow.after_commit(rt.enqueue, jobs.dial_customer, attempt_id, retries=jobs.DIAL_RETRIES)
    if not go:
        return twiml("<Response><Hangup/></Response>")
    voice = rt.menus.voices[language].language
    return twiml(render_agent(whisper, voice, attempts.conference_name(attempt_id)))


@bp.post("/agent/status")
def agent_status() -> tuple[str, int]:
    rt, form, attempt_id = runtime(), CallStatusForm.from_form(request.form), _attempt_id()
    with rt.unit_of_work() as uow:
        services.agent_leg_status(
            uow, rt, attempt_id, form.call_sid, form.call_status.value, now=rt.clock()
        )
    return "", 204


@bp.post("/customer")
def customer_leg() -> Response:
    rt, form, attempt_id = runtime(), VoiceForm.from_form(request.form), _attempt_id()
    with rt.unit_of_work() as uow:
        joined = legs.customer_answered(uow.session, attempt_id, form.call_sid, now=rt.clock())
        attempt = uow.session.get(OutboundAttempt, attempt_id)
        language = attempt.task.language if attempt else "zh"
    if not joined:
        return twiml("<Response><Hangup/></Response>")
    greeting = kinds.kind_of(attempt.task.kind).greeting if attempt else "outbound_greeting"
    join_url = jobs.urls_for(rt).customer_join(attempt_id)
    return twiml(render_customer(rt.menus, language, greeting, join_url))


@bp.post("/customer/join")
def customer_join() -> Response:
    rt, attempt_id = runtime(), _attempt_id()
    VoiceForm.from_form(request.form)
    with rt.unit_of_work() as uow:
        present = legs.customer_may_join(uow.session, attempt_id)
        attempt = uow.session.get(OutboundAttempt, attempt_id)
        language = _spoken(rt.menus, attempt.task.language if attempt else "zh")
    if not present:
        return twiml(render_message(rt.menus, language, "agent_leaving", hangup=True))
    return twiml(render_join(attempts.conference_name(attempt_id)))


@bp.post("/customer/status")
def customer_status() -> tuple[str, int]:
    rt, form, attempt_id = runtime(), CallStatusForm.from_form(request.form), _attempt_id()
    with rt.unit_of_work() as uow:
        services.customer_leg_status(
            uow, rt, attempt_id, form.call_sid, form.call_status.value, now=rt.clock()
        )
    return "", 204


@bp.post("/recording")
def recording() -> tuple[str, int]:
    """An outbound call's recording: kept on the attempt and processed like every recording."""
    rt, form = runtime(), RecordingForm.from_form(request.form)
    with rt.unit_of_work() as uow:
        services.file_recording(uow, rt, _attempt_id(), form.status_update(), now=rt.clock())
    return "", 204


def _whisper(
    menus: MenuSet, session: Session, attempt: OutboundAttempt | None, language: str
) -> str:
    """What the call is about, in the agent's language (messages.toml: outbound_whisper; a
    queue callback: the queue and the caller's tier, as for a call from the queue)."""
    if attempt is None:
        return ""
    task = attempt.task
    entry = callbacks.entry_of(session, task)
    if entry is not None:
        return whisper_for(menus, entry, language)
    kind = menus.messages[language].get(f"kind_{task.kind}", kinds.kind_of(task.kind).label)
    return menus.message(language, "outbound_whisper", kind=kind, subject=str(task.subject_id))


def _spoken(menus: MenuSet, language: str) -> str:
    return language if language in menus.languages else menus.default_language


def render_agent(whisper: str, voice: str, conference: str) -> VoiceResponse:
    """The agent hears what the call is about, then waits in the conference (silence)."""
    r = VoiceResponse()
    r.say(whisper, language=voice)
    join_as_agent(r.dial(), conference)
    return r


def render_customer(menus: MenuSet, language: str, greeting: str, join_url: str) -> VoiceResponse:
    """The customer hears who calls, then asks to join (`render_join`): the agent is checked
    to be still there right before the customer enters (one who left during the greeting
    would otherwise leave the customer alone in a new conference)."""
    lang = _spoken(menus, language)
    r = VoiceResponse()
    r.say(menus.message(lang, greeting), language=menus.voices[lang].language)
    r.redirect(join_url, method="POST")
    return r


def render_join(conference: str) -> VoiceResponse:
    """The customer enters the agent's conference; it ends when they leave."""
    r = VoiceResponse()
    dial = r.dial()
    dial.conference(
        conference,
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        beep=False,
        participant_label="customer",
    )
    return r
