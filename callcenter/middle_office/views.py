"""HTTP entry points of the middle office (thin): the order intake API, the outbound work list
with its actions, and the Twilio webhooks of outbound calls (signed, like the voice ones).

/api/orders                       POST  the order system (Bearer ORDER_API_TOKEN)
/middle/                          GET   the work list (middle-office post, team lead, manager)
/middle/tasks/<id>/call           POST  click-to-call: agent first, then the customer
/middle/tasks/<id>/outcome        POST  outcome and notes
/middle/reviews/<id>/fields       POST  complete missing fields
/middle/reviews/<id>/decision     POST  approve or cancel, with a reason
/twilio/outbound/...                    the calls' webhooks (agent, customer, statuses, recording)
"""

from __future__ import annotations

import hmac
from dataclasses import asdict
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from twilio.twiml.voice_response import VoiceResponse

from callcenter.desk import auth
from callcenter.jobs import outbound as jobs
from callcenter.jobs import recordings as recording_jobs
from callcenter.jobs import router as router_jobs
from callcenter.runtime import runtime
from callcenter.twilio_http import (
    CallStatusForm,
    MalformedWebhook,
    RecordingForm,
    VoiceForm,
    twiml,
    verify_signature,
)
from callcenter.voice.connect_views import recording_update
from callcenter.voice.twiml import join_as_agent, render_message, whisper_for
from core.errors import DomainError
from core.models import Order
from middle_office import intake, review
from middle_office.models import ReviewTask
from middle_office.policy import ReviewPolicy
from middle_office.rules import checklist
from outbound import engine as outbound
from outbound import kinds
from outbound.models import OutboundAttempt, OutboundTask
from queue_callbacks import entries as callbacks
from queues.connect import Followup
from queues.models import Agent, Post, Role
from recordings import services as recording_services

bp = Blueprint("middle_office", __name__, template_folder="templates")
STATUS = {
    "invalid-order": 422,
    "invalid-fields": 422,
    "bad-outcome": 422,
    "reason-required": 422,
    "still-incomplete": 409,
    "order-closed": 409,
    "task-not-open": 409,
    "not-due": 409,
    "outside-calling-hours": 409,
    "do-not-call": 409,
    "agent-not-available": 409,
    "review-closed": 409,
    "not-your-task": 403,
    "task-not-found": 404,
    "review-not-found": 404,
}


@bp.before_request
def _guard() -> Any:
    rt, path = runtime(), request.path
    if path.startswith("/twilio/outbound"):
        verify_signature(rt.settings.signing_token, rt.settings.public_base_url)
        return None
    if path.startswith("/api/orders"):
        token = rt.settings.order_api_token
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token or not hmac.compare_digest(sent.encode(), token.encode()):
            return _error("unauthorised", "a valid Bearer token is required", 401)
        return None
    with rt.session_factory() as db:
        staff = auth.signed_in_agent(db)
        allowed = staff is not None and (
            Post.MIDDLE_OFFICE in staff.posts or staff.has_role(Role.TEAM_LEAD)
        )
        if staff is not None:
            db.expunge(staff)
    if staff is None:
        return _error("not-signed-in", "sign in at /desk/login", 401)
    if not allowed:
        return _error("forbidden", "needs the middle-office post", 403)
    if request.method == "POST" and not auth.csrf_valid():
        return _error("csrf-failed", "missing or wrong CSRF token; reload the page", 403)
    g.staff = staff
    return None


def _error(code: str, message: str, status: int, **details: Any) -> tuple[Response, int]:
    return jsonify(error={"code": code, "message": message, "details": details}), status


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> ResponseReturnValue:
    if _from_page():
        flash(exc.message, "error")
        return redirect(url_for(".work_list"), 303)
    return jsonify(error=exc.as_dict()), STATUS.get(exc.code, 400)


def _from_page() -> bool:
    """A form the work list page posted (not the JSON API): answer with the page again."""
    return not request.is_json and auth.CSRF_FIELD in request.form


def _done(message: str, http_status: int = 200, /, **payload: Any) -> ResponseReturnValue:
    """The page gets itself back with `message` on top; an API client gets `payload`."""
    if _from_page():
        flash(message, "ok")
        return redirect(url_for(".work_list"), 303)
    return jsonify(**payload), http_status


@bp.errorhandler(MalformedWebhook)
def _malformed(exc: MalformedWebhook) -> tuple[str, int]:
    return str(exc), 400


# --- intake ---------------------------------------------------------------------------------


@bp.post("/api/orders")
def orders() -> tuple[Response, int]:
    rt = runtime()
    data = intake.parse_order(
        request.get_json(silent=True), country_code=rt.settings.default_country_code
    )
    with rt.unit_of_work() as uow:
        result = intake.ingest(
            uow.session,
            data,
            source="api",
            now=rt.clock(),
            policy=ReviewPolicy.from_settings(rt.settings),
        )
    return jsonify(asdict(result)), 201 if result.outcome == "created" else 200


# --- the work list --------------------------------------------------------------------------


@bp.get("/middle/")
def work_list() -> str:
    rt = runtime()
    with rt.session_factory() as db:
        mine = request.args.get("all") is None
        tasks = outbound.work_list(db, g.staff.id if mine else None)
        rows = [_row(db, t) for t in tasks]
        reviews = db.scalars(
            select(ReviewTask).where(ReviewTask.status == "open").order_by(ReviewTask.created_at)
        ).all()
        review_rows = [_review_row(db, r) for r in reviews]
    return render_template(
        "middle_office/work_list.html",
        rows=rows,
        reviews=review_rows,
        csrf=auth.csrf_token(),
        outcomes=[o.value for o in outbound.AGENT_OUTCOMES],
        staff=g.staff,
        now=rt.clock(),
    )


def _row(db: Any, task: OutboundTask) -> dict[str, Any]:
    last = task.attempt_rows[-1] if task.attempt_rows else None
    subject = db.get(ReviewTask, task.subject_id) if task.subject_type == "review" else None
    order = db.get(Order, subject.order_id) if subject else None
    return {
        "task": task,
        "kind": kinds.kind_of(task.kind).label,
        "routed": kinds.kind_of(task.kind).routed,
        "order": order,
        "review": subject,
        "last": last,
        "needs_outcome": last is not None and last.outcome is None and last.status == "ended",
    }


def _review_row(db: Any, r: ReviewTask) -> dict[str, Any]:
    order = db.get(Order, r.order_id)
    return {
        "review": r,
        "order": order,
        "checklist": checklist(order.payment_type.value, r.reasons),
        "missing": review.missing(db, order),
    }


@bp.get("/middle/api/tasks")
def tasks_json() -> Response:
    with runtime().session_factory() as db:
        tasks = outbound.work_list(db, g.staff.id)
        return jsonify(
            tasks=[
                {
                    "id": t.id,
                    "kind": t.kind,
                    "status": t.status.value,
                    "to": t.to_number,
                    "priority": t.priority,
                    "next_attempt_at": t.next_attempt_at.isoformat(),
                    "attempts": t.attempts,
                }
                for t in tasks
            ]
        )


@bp.post("/middle/tasks/<int:task_id>/call")
def call(task_id: int) -> ResponseReturnValue:
    rt = runtime()
    with rt.unit_of_work() as uow:
        attempt = outbound.start_attempt(
            uow.session, task_id, agent_id=g.staff.id, now=rt.clock(), policy=jobs.policy_for(rt)
        )
        router_jobs.after_commit(uow, rt, Followup(publish=[g.staff.id]))  # out of the pool
        uow.after_commit(rt.enqueue, jobs.dial_agent, attempt.id, retries=jobs.DIAL_RETRIES)
    return _done(
        f"Calling task {task_id}: your desk rings first, then the customer.",
        202,
        attempt=attempt.id,
        conference=outbound.conference_name(attempt.id),
    )


@bp.post("/middle/tasks/<int:task_id>/outcome")
def outcome(task_id: int) -> ResponseReturnValue:
    rt, form = runtime(), _form()
    with rt.unit_of_work() as uow:
        task = outbound.record_outcome(
            uow.session,
            task_id,
            agent_id=g.staff.id,
            actor=g.staff.login,
            outcome=str(form.get("outcome", "")),
            notes=str(form.get("notes", "")),
            now=rt.clock(),
            policy=jobs.policy_for(rt),
        )
        # Saving the outcome ended the agent's wrap-up: back in the router's pool.
        agent = [g.staff.id]
        router_jobs.after_commit(uow, rt, Followup(publish=agent, route_agents=agent))
    return _done(
        f"Task {task.id}: outcome saved, the task is {task.status.value}.",
        task=task.id,
        status=task.status.value,
        next=task.next_attempt_at.isoformat(),
    )


@bp.post("/middle/reviews/<int:review_id>/fields")
def fields(review_id: int) -> ResponseReturnValue:
    rt, form = runtime(), _form()
    values = {k: v for k, v in form.items() if k != auth.CSRF_FIELD}
    with rt.unit_of_work() as uow:
        changed = review.complete_fields(
            uow.session,
            review_id,
            values,
            agent_id=g.staff.id,
            actor=g.staff.login,
            now=rt.clock(),
            country_code=rt.settings.default_country_code,
        )
    saved = ", ".join(changed) or "nothing changed"
    return _done(f"Review {review_id}: {saved}.", changed=changed)


@bp.post("/middle/reviews/<int:review_id>/decision")
def decision(review_id: int) -> ResponseReturnValue:
    rt, form = runtime(), _form()
    with rt.unit_of_work() as uow:
        delivery = review.decide(
            uow.session,
            review_id,
            approve=form.get("decision") == "approve",
            reason=str(form.get("reason", "")),
            agent_id=g.staff.id,
            actor=g.staff.login,
            now=rt.clock(),
        )
        uow.after_commit(rt.enqueue, jobs.deliver_decision, delivery.id, queue="low")
    return _done(
        f"Review {review_id}: {delivery.event}; the order system is told.",
        review=review_id,
        event=delivery.event,
        delivery=delivery.id,
    )


def _form() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.is_json else None
    return dict(data) if isinstance(data, dict) else request.form.to_dict()


# --- Twilio webhooks of outbound calls ------------------------------------------------------


def _attempt_id() -> int:
    value = request.args.get("attempt", "")
    if not value.isdigit():
        abort(400)
    return int(value)


@bp.post("/twilio/outbound/agent")
def agent_leg() -> Response:
    rt, form, attempt_id = runtime(), VoiceForm.from_form(request.form), _attempt_id()
    with rt.unit_of_work() as uow:
        go = outbound.agent_answered(uow.session, attempt_id, form.call_sid, now=rt.clock())
        attempt = uow.session.get(OutboundAttempt, attempt_id)
        language = _agent_language(uow.session, attempt)
        whisper = _whisper(uow.session, attempt, language)
        if go:
            uow.after_commit(rt.enqueue, jobs.dial_customer, attempt_id, retries=jobs.DIAL_RETRIES)
    if not go:
        return twiml("<Response><Hangup/></Response>")
    voice = rt.menus.voices[language].language
    return twiml(render_agent(whisper, voice, outbound.conference_name(attempt_id)))


def _agent_language(session: Any, attempt: OutboundAttempt | None) -> str:
    agent = session.get(Agent, attempt.agent_id) if attempt and attempt.agent_id else None
    return runtime().menus.agent_language([lang.value for lang in agent.languages] if agent else [])


def _whisper(session: Any, attempt: OutboundAttempt | None, language: str) -> str:
    """What the call is about, in the agent's language (messages.toml: outbound_whisper; a
    queue callback: the queue and the caller's tier, as for a call from the queue)."""
    if attempt is None:
        return ""
    menus, task = runtime().menus, attempt.task
    entry = callbacks.entry_of(session, task)
    if entry is not None:
        return whisper_for(menus, entry, language)
    kind = menus.messages[language].get(f"kind_{task.kind}", kinds.kind_of(task.kind).label)
    return menus.message(language, "outbound_whisper", kind=kind, subject=str(task.subject_id))


def render_agent(whisper: str, voice: str, conference: str) -> VoiceResponse:
    """The agent hears what the call is about, then waits in the conference (silence)."""
    r = VoiceResponse()
    r.say(whisper, language=voice)
    join_as_agent(r.dial(), conference)
    return r


def render_customer(language: str, greeting: str, join_url: str) -> VoiceResponse:
    """The customer hears who calls, then asks to join (`render_join`): the agent is checked
    to be still there right before the customer enters (one who left during the greeting
    would otherwise leave the customer alone in a new conference)."""
    menus = runtime().menus
    lang = _spoken(language)
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


@bp.post("/twilio/outbound/agent/status")
def agent_status() -> tuple[str, int]:
    rt, form, attempt_id = runtime(), CallStatusForm.from_form(request.form), _attempt_id()
    status = form.call_status.value
    with rt.unit_of_work() as uow:
        outbound.record_agent_call(uow.session, attempt_id, form.call_sid)
        leg = None
        if form.call_status.is_final:
            leg = outbound.agent_leg_ended(
                uow.session, attempt_id, status, now=rt.clock(), policy=jobs.policy_for(rt)
            )
    if leg:
        rt.enqueue(jobs.hang_up, leg, retries=jobs.DIAL_RETRIES)
    return "", 204


@bp.post("/twilio/outbound/customer")
def customer_leg() -> Response:
    rt, form, attempt_id = runtime(), VoiceForm.from_form(request.form), _attempt_id()
    with rt.unit_of_work() as uow:
        joined = outbound.customer_answered(uow.session, attempt_id, form.call_sid, now=rt.clock())
        attempt = uow.session.get(OutboundAttempt, attempt_id)
        language = attempt.task.language if attempt else "zh"
    if not joined:
        return twiml("<Response><Hangup/></Response>")
    greeting = kinds.kind_of(attempt.task.kind).greeting if attempt else "outbound_greeting"
    return twiml(render_customer(language, greeting, jobs.urls_for(rt).customer_join(attempt_id)))


def _spoken(language: str) -> str:
    menus = runtime().menus
    return language if language in menus.languages else menus.default_language


@bp.post("/twilio/outbound/customer/join")
def customer_join() -> Response:
    rt, attempt_id = runtime(), _attempt_id()
    VoiceForm.from_form(request.form)
    with rt.unit_of_work() as uow:
        present = outbound.customer_may_join(uow.session, attempt_id)
        attempt = uow.session.get(OutboundAttempt, attempt_id)
        language = _spoken(attempt.task.language if attempt else "zh")
    if not present:
        return twiml(render_message(rt.menus, language, "agent_leaving", hangup=True))
    return twiml(render_join(outbound.conference_name(attempt_id)))


@bp.post("/twilio/outbound/customer/status")
def customer_status() -> tuple[str, int]:
    rt, form, attempt_id = runtime(), CallStatusForm.from_form(request.form), _attempt_id()
    with rt.unit_of_work() as uow:
        outbound.record_customer_call(uow.session, attempt_id, form.call_sid)
        leg = None
        if form.call_status.is_final:
            leg = outbound.customer_leg_ended(
                uow.session,
                attempt_id,
                form.call_status.value,
                now=rt.clock(),
                policy=jobs.policy_for(rt),
            )
    if leg:
        rt.enqueue(jobs.hang_up, leg, retries=jobs.DIAL_RETRIES)
    return "", 204


@bp.post("/twilio/outbound/recording")
def recording() -> tuple[str, int]:
    """An outbound call's recording: kept on the attempt and processed like every recording."""
    rt, form = runtime(), RecordingForm.from_form(request.form)
    with rt.unit_of_work() as uow:
        attempt = uow.session.get(OutboundAttempt, _attempt_id())
        if attempt is None:
            return "", 204
        if form.recording_status == "completed":
            attempt.recording_sid = form.recording_sid
            attempt.recording_url = form.recording_url
        task = uow.session.get(OutboundTask, attempt.task_id)
        owner = recording_services.Owner(
            agent_id=attempt.agent_id,
            customer_id=task.customer_id if task else None,
            queue=f"outbound:{task.kind}"[:40] if task else "outbound",
        )
        # A callback that reached the customer is filed with its queue entry, like the call.
        entry = callbacks.entry_of(uow.session, task) if task else None
        talked = entry is not None and entry.answered_at is not None
        claimed = recording_services.record_status(
            uow.session,
            recording_update(form),
            entry_id=entry.id if talked and entry else None,
            now=rt.clock(),
            owner=owner,
        )
        if claimed is not None:
            uow.after_commit(recording_jobs.enqueue_processing, rt, claimed)
    return "", 204
