"""The agent desk under /desk: sign-in, the page, and the JSON API the page polls and calls.

Every route but the sign-in form needs a signed-in agent (the API answers 401, pages redirect);
every POST needs the session's CSRF token. Refusals of the state machine and of the desk's
actions are 409 `{"error": {"code", "message", "details"}}`; unusable bodies are 422.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from sqlalchemy.orm import Session

from callcenter import access
from callcenter.desk import actions, auth
from callcenter.desk.forms import Invalid, LoginForm, PostForm, StateForm, WrapUpForm
from callcenter.desk.screen import desk_view
from callcenter.jobs import router as jobs
from callcenter.runtime import Runtime, runtime
from config.permissions import Permissions
from core.errors import DomainError
from core.telephony import TelephonyUnavailable
from queues import connect
from queues.models import Agent, AgentState
from queues.passwords import authenticate
from queues.presence import PresenceError
from supervision.monitor import monitoring_of

log = logging.getLogger(__name__)
bp = Blueprint(
    "desk", __name__, url_prefix="/desk", template_folder="templates", static_folder="static"
)
PUBLIC = frozenset({"desk.login_form", "desk.log_in", "desk.static"})
SHIFT = timedelta(hours=12)  # a signed-in session lasts one long shift


@bp.record_once
def _configure(state: BlueprintSetupState) -> None:
    settings = state.app.extensions["callcenter"].settings
    state.app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SHIFT,
    )


# --- guards and errors ------------------------------------------------------------------------


@bp.before_request
def _guard() -> Response | tuple[Response, int] | None:
    if request.endpoint not in PUBLIC:
        with runtime().session_factory() as db:
            agent = auth.signed_in_agent(db)
        if agent is None:
            if _is_api():
                return _error("not-signed-in", "sign in at /desk/login", 401)
            return redirect(url_for("desk.login_form"))
        g.desk_agent_id = agent.id
    if request.method == "POST" and not auth.csrf_valid():
        if _is_api():
            return _error("csrf-failed", "missing or wrong CSRF token; reload the page", 403)
        return Response(render_template("desk/expired.html"), 403)
    return None


access.require(bp, "desk.use", public=PUBLIC)  # after _guard: signed in and CSRF checked
access.require(bp, "desk.switch_post", "switch_post")


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _csp(runtime()))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "desk.static":
        response.cache_control.no_store = True
    return response


@bp.errorhandler(Invalid)
def _invalid(exc: Invalid) -> tuple[Response, int]:
    return jsonify(error=exc.as_dict()), 422


@bp.errorhandler(PresenceError)
@bp.errorhandler(actions.DeskError)
def _refused(exc: DomainError) -> tuple[Response, int]:
    return jsonify(error=exc.as_dict()), 409


@bp.errorhandler(TelephonyUnavailable)
def _unavailable(exc: TelephonyUnavailable) -> tuple[Response, int]:
    log.warning("desk: phone network unavailable: %s", exc)
    return jsonify(error=exc.as_dict()), 503


# --- pages --------------------------------------------------------------------------------------


@bp.get("/login")
def login_form() -> str:
    return render_template("desk/login.html", csrf=auth.csrf_token(), error=None, login="")


@bp.post("/login")
def log_in() -> Response | tuple[str, int]:
    form = LoginForm.from_form(request.form)
    with runtime().unit_of_work() as uow:
        agent = authenticate(uow.session, form.login, form.password)
        if agent is not None:
            auth.sign_in(agent)
    if agent is None:
        error = "登录名或密码错误 Wrong login or password"
        return render_template(
            "desk/login.html", csrf=auth.csrf_token(), error=error, login=form.login
        ), 401
    return redirect(url_for("desk.page"))


@bp.post("/logout")
def log_out() -> Response:
    rt = runtime()
    try:
        with rt.unit_of_work() as uow:
            actions.change_state(uow, rt, _agent(uow.session), AgentState.OFFLINE, reason=None)
    except (PresenceError, actions.DeskError) as exc:
        flash(f"不能退出登录 Cannot sign out: {exc.message}")
        return redirect(url_for("desk.page"))
    auth.sign_out()
    return redirect(url_for("desk.login_form"))


@bp.get("/")
def page() -> str:
    rt = runtime()
    with rt.session_factory() as db:
        agent = _agent(db)
        links = staff_links(agent, rt.permissions)
    local = rt.settings.uses_local_network
    return render_template(
        "desk/desk.html",
        agent=agent,
        links=links,
        csrf=auth.csrf_token(),
        mode="local" if local else "twilio",
        sdk_url=None if local else rt.settings.desk_voice_sdk_url,
    )


@bp.context_processor
def _post_labels() -> dict[str, Any]:
    return {"post_labels": {name: p.label for name, p in runtime().permissions.posts.items()}}


#: The other staff pages, and the permission that opens each (config/permissions.toml).
STAFF_PAGES = (
    ("/supervisor/", "现场监控 Wallboard", "wallboard.read"),
    ("/reports/", "报表 Reports", "reports.read"),
    ("/recordings/", "录音 Recordings", "recordings.replay"),
    ("/middle/", "中台工单 Work list", "middle.work"),
)


def staff_links(agent: Agent, table: Permissions) -> list[tuple[str, str]]:
    """Links to the staff pages this account may open, as the permission table says."""
    held = agent.held_posts()
    return [(href, label) for href, label, needs in STAFF_PAGES if table.allows(needs, held)]


# --- the JSON API -------------------------------------------------------------------------------


@bp.get("/api/state")
def state() -> Response:
    return _state_response(runtime())


@bp.post("/api/state")
def change_state() -> Response:
    form, rt = StateForm.from_json(_body()), runtime()
    with rt.unit_of_work() as uow:
        address = actions.change_state(
            uow, rt, _agent(uow.session), form.to, reason=form.reason, expected=form.expected
        )
    if form.to is AgentState.AVAILABLE:
        actions.ring_at_desk(rt.settings, address)
    return _state_response(rt)


@bp.post("/post")
def switch_post() -> Response:
    rt = runtime()
    form = PostForm.from_body(_body() if request.is_json else request.form)
    with rt.unit_of_work() as uow:
        actions.switch_post(uow, rt, _agent(uow.session), form.post)
    if request.is_json:
        return _state_response(rt)
    return redirect(url_for("desk.page"))


@bp.post("/api/answer")
def answer() -> Response:
    rt = runtime()
    if not rt.settings.uses_local_network:
        raise actions.AnswerInBrowser("with Twilio, answer in the browser (Voice SDK)")
    with rt.unit_of_work() as uow:
        leg = actions.ringing_leg(uow.session, _agent(uow.session))
    actions.answer_on_local_network(rt.settings, leg)  # no transaction open: it calls us back
    return _state_response(rt)


@bp.post("/api/hangup")
def hang_up() -> Response:
    rt = runtime()
    with rt.unit_of_work() as uow:
        leg = actions.talking_leg(uow.session, _agent(uow.session))
    rt.enqueue(jobs.hang_up, leg, retries=jobs.RING_RETRIES)
    return _state_response(rt)


@bp.post("/api/wrap-up")
def wrap_up() -> Response:
    rt = runtime()
    form = WrapUpForm.from_json(_body(), rt.queues.presence.dispositions)
    with rt.unit_of_work() as uow:
        actions.check_wrap_up(uow.session, _agent(uow.session))
        _entry, follow = connect.wrap_up(
            uow.session,
            g.desk_agent_id,
            disposition=form.disposition,
            notes=form.notes,
            now=rt.clock(),
            presence=rt.queues.presence,
        )
        jobs.after_commit(uow, rt, follow)
    return _state_response(rt)


@bp.get("/api/token")
def token() -> Response:
    rt = runtime()
    if rt.settings.uses_local_network:
        return jsonify(mode="local")
    with rt.session_factory() as db:
        identity = _agent(db).client_identity
    jwt = actions.voice_token(rt.settings, identity)
    return jsonify(mode="twilio", identity=identity, token=jwt, ttl_s=rt.settings.desk_token_ttl_s)


# --- helpers ------------------------------------------------------------------------------------


def _agent(db: Session) -> Agent:
    agent = db.get(Agent, g.desk_agent_id)
    assert agent is not None  # checked by _guard in this request
    return agent


def _state_response(rt: Runtime) -> Response:
    with rt.session_factory() as db:
        agent = _agent(db)
        view = desk_view(
            db,
            agent,
            now=rt.clock(),
            tz=ZoneInfo(rt.settings.timezone),
            presence=rt.queues.presence,
        )
        view["monitored"] = monitoring_of(
            db, agent.id, visible=bool(rt.settings.supervisor_monitor_visible)
        )
    return jsonify(view)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("send a JSON object")
    return body


def _is_api() -> bool:
    return request.path.startswith(f"{bp.url_prefix}/api/")


def _error(code: str, message: str, status: int) -> tuple[Response, int]:
    return jsonify(error={"code": code, "message": message, "details": {}}), status


def _csp(rt: Runtime) -> str:
    """Scripts only from here (and, with Twilio, the SDK's host); no inline script at all."""
    script, remote = "'self'", "'self'"
    if not rt.settings.uses_local_network:
        sdk = urlsplit(rt.settings.desk_voice_sdk_url)
        if sdk.scheme == "https":
            script += f" https://{sdk.netloc}"
        remote = "'self' https: wss:"  # the SDK's signalling, event gateway and sounds
    return (
        f"default-src 'self'; script-src {script}; connect-src {remote}; media-src {remote} blob:; "
        "img-src 'self' data:; style-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
