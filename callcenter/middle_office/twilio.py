"""Twilio's webhooks of outbound calls under /twilio/outbound (signed, like the voice ones).

/twilio/outbound/agent              the agent's leg answered: whisper, then the conference
/twilio/outbound/agent/status       the agent's leg rang, answered, or ended
/twilio/outbound/customer           the customer answered: who calls, then join
/twilio/outbound/customer/join      the customer enters the agent's conference
/twilio/outbound/customer/status    the customer's leg rang, answered, or ended
/twilio/outbound/recording          the recording of the call
/twilio/outbound/notice             an automated call answered: the notice (a machine: the
                                    short message), then the menu
/twilio/outbound/notice/menu        the menu's key: 1 again, 0 the kind's queue, none goodbye
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, Response, abort, request
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from callcenter.jobs import outbound as jobs
from callcenter.middle_office import services
from callcenter.middle_office.errors import domain_error
from callcenter.runtime import Runtime, runtime
from callcenter.twilio_http import (
    CallStatusForm,
    GatherForm,
    MalformedWebhook,
    RecordingForm,
    VoiceForm,
    twiml,
    verify_signature,
)
from callcenter.voice import services as voice_services
from callcenter.voice.twiml import (
    VoiceUrls,
    join_as_agent,
    render_enqueue,
    render_message,
    whisper_for,
)
from core.calls import StatusUpdate, get_call
from core.db import UnitOfWork
from core.errors import DomainError
from ivr_menus import services as ivr
from ivr_menus.model import MenuSet
from outbound import attempts, automated, kinds, legs
from outbound.automated import Answer
from outbound.kinds import Line
from outbound.models import OutboundAttempt
from queue_callbacks import entries as callbacks
from queues import services as queue_services

#: How long the notice's menu waits for a key (seconds).
NOTICE_MENU_TIMEOUT_S = 6

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
        _put_through_status(uow, rt, form, now=rt.clock())
    return "", 204


@bp.post("/recording")
def recording() -> tuple[str, int]:
    """An outbound call's recording: kept on the attempt and processed like every recording."""
    rt, form = runtime(), RecordingForm.from_form(request.form)
    with rt.unit_of_work() as uow:
        services.file_recording(uow, rt, _attempt_id(), form.status_update(), now=rt.clock())
    return "", 204


@dataclass(frozen=True, slots=True)
class NoticeForm(VoiceForm):
    """The answer request of an automated call: who answered (machine detection), if asked."""

    answered_by: str | None

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> NoticeForm:
        return cls(**cls._common(form), answered_by=(form.get("AnsweredBy") or "")[:32] or None)


@bp.post("/notice")
def notice() -> Response:
    rt, form, attempt_id = runtime(), NoticeForm.from_form(request.form), _attempt_id()
    with rt.unit_of_work() as uow:
        who = automated.answered(
            uow.session, attempt_id, form.call_sid, answered_by=form.answered_by, now=rt.clock()
        )
        language = _notice_language(rt.menus, uow.session, attempt_id)
        lines = automated.script_of(
            uow.session, attempt_id, language, machine=who is Answer.MACHINE
        )
    menu_url = jobs.urls_for(rt).notice_menu(attempt_id)
    return twiml(render_notice(rt.menus, language, lines, who, menu_url))


@bp.post("/notice/menu")
def notice_menu() -> Response:
    rt, form, attempt_id = runtime(), GatherForm.from_form(request.form), _attempt_id()
    with rt.unit_of_work() as uow:
        reply = _notice_reply(uow, rt, attempt_id, form, now=rt.clock())
    return twiml(reply)


def _put_through_status(
    uow: UnitOfWork, rt: Runtime, form: CallStatusForm, *, now: datetime
) -> None:
    """A customer put through from a notice to a queue is also the inbound flow's caller (a
    call it knows): the status goes to it too, so its end frees an agent left waiting and
    closes the call (`callcenter.voice.services.call_status`)."""
    if get_call(uow.session, form.call_sid) is None:
        return
    update = StatusUpdate(
        form.call_sid,
        form.call_status,
        form.timestamp or now,
        form.sequence_number,
        form.call_duration,
    )
    voice_services.call_status(uow, rt, update, now=now)


def _notice_language(menus: MenuSet, session: Session, attempt_id: int) -> str:
    attempt = session.get(OutboundAttempt, attempt_id)
    return _spoken(menus, attempt.task.language if attempt else menus.default_language)


def _notice_reply(
    uow: UnitOfWork, rt: Runtime, attempt_id: int, form: GatherForm, *, now: datetime
) -> VoiceResponse:
    """The notice's menu (the notice was heard to the end: `automated.heard`): 1 says it
    again, 0 puts the customer in the kind's queue at their tier (on the waiting list and
    routed after the commit), anything else or nothing says goodbye."""
    session, menus = uow.session, rt.menus
    live = automated.heard(session, attempt_id, now=now)
    language = _notice_language(menus, session, attempt_id)
    if live and form.digits == "1":
        lines = automated.script_of(session, attempt_id, language, machine=False)
        menu_url = jobs.urls_for(rt).notice_menu(attempt_id)
        return render_notice(menus, language, lines, Answer.PERSON, menu_url)
    if live and form.digits == "0":
        entry = automated.put_through(
            session,
            attempt_id,
            form.call_sid,
            from_number=form.from_number,
            to_number=form.to_number,
            now=now,
        )
        if entry is not None:
            voice_services.join_waiting_list(uow, rt, queue_services.waiting_caller(entry))
            urls = VoiceUrls(rt.settings.public_base_url.rstrip("/") + "/twilio/voice")
            return render_enqueue(menus, language, urls, entry.queue, "notice_transfer")
    return render_message(menus, language, "notice_goodbye", hangup=True)


def render_notice(
    menus: MenuSet, language: str, lines: list[Line], who: Answer, menu_url: str
) -> VoiceResponse:
    """An automated call's TwiML. A person: the notice said in full (before the <Gather>, so
    no key cuts it short), then the menu, whose action is requested even with no key. An
    answering machine: the short message, then hang up. Nobody (a fax, a call no longer
    under way): hang up."""
    r = VoiceResponse()
    if who is Answer.NOBODY:
        r.hangup()
        return r
    voice = menus.voices[language].language
    for line in lines:
        r.say(menus.message(language, line.key, **dict(line.values)), language=voice)
    if who is Answer.MACHINE:
        r.hangup()
        return r
    gather = r.gather(
        input="dtmf",
        num_digits=1,
        timeout=NOTICE_MENU_TIMEOUT_S,
        action=menu_url,
        method="POST",
        action_on_empty_result=True,
    )
    gather.say(menus.message(language, "notice_menu"), language=voice)
    return r


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
