"""The agent desk under /desk: sign-in, the page, and the JSON API the page polls and calls.

Every route but the sign-in form needs a signed-in agent (the API answers 401, pages redirect
to the sign-in, which comes back with `next=`); every POST needs the session's CSRF token
(`callcenter.security`). Sign-in is throttled per account and per address (`queues.signin`):
429 with how long to wait. Refusals of the state machine and of the desk's
actions are 409 `{"error": {"code", "message", "details"}}`; unusable bodies are 422.
"""

from __future__ import annotations

import logging
from typing import Any
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
from sqlalchemy.orm import Session

from back_office.cancellations import CancellationError
from callcenter import access
from callcenter.back_office import cancellations
from callcenter.back_office.errors import domain_error
from callcenter.desk import actions, auth
from callcenter.desk import work_orders as work_order_screen
from callcenter.desk.forms import (
    ContactWorkOrderForm,
    Invalid,
    LoginForm,
    PostForm,
    StateForm,
    WrapUpForm,
)
from callcenter.desk.screen import desk_view
from callcenter.jobs import router as jobs
from callcenter.runtime import Runtime, runtime
from config.permissions import Permissions
from core.errors import DomainError
from core.telephony import TelephonyUnavailable
from queues import signin
from queues.models import Agent, AgentState
from queues.presence import PresenceError
from supervision.monitor import monitoring_of
from work_orders.desk import DESCRIPTION_MAX, InvalidWorkOrder

log = logging.getLogger(__name__)
bp = Blueprint(
    "desk", __name__, url_prefix="/desk", template_folder="templates", static_folder="static"
)
PUBLIC = frozenset({"desk.login_form", "desk.log_in", "desk.static"})


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
    return None


access.require(bp, "desk.use", public=PUBLIC)  # after _guard: signed in
access.require(bp, "desk.switch_post", "switch_post")
access.require(bp, "orders.cancel_unshipped", "cancel_order")


@bp.errorhandler(Invalid)
def _invalid(exc: Invalid) -> tuple[Response, int]:
    return jsonify(error=exc.as_dict()), 422


@bp.errorhandler(PresenceError)
@bp.errorhandler(actions.DeskError)
def _refused(exc: DomainError) -> tuple[Response, int]:
    return jsonify(error=exc.as_dict()), 409


@bp.errorhandler(InvalidWorkOrder)
def _invalid_work_order(exc: InvalidWorkOrder) -> tuple[Response, int]:
    return jsonify(error=exc.as_dict()), 422


@bp.errorhandler(CancellationError)
def _not_cancelled(exc: CancellationError) -> tuple[Response, int]:
    return domain_error(exc)  # a shipped order: 409 naming the return instead


@bp.errorhandler(TelephonyUnavailable)
def _unavailable(exc: TelephonyUnavailable) -> tuple[Response, int]:
    log.warning("desk: phone network unavailable: %s", exc)
    return jsonify(error=exc.as_dict()), 503


# --- pages --------------------------------------------------------------------------------------


@bp.get("/login")
def login_form() -> str:
    return _login_page(None, "", auth.safe_next(request.args.get("next")))


@bp.post("/login")
def log_in() -> Response | tuple[str, int]:
    form = LoginForm.from_form(request.form)
    result = _attempt_sign_in(runtime(), form)
    if isinstance(result, signin.Refusal):
        status = 401 if result is signin.WRONG else 429
        return _login_page(result.message, form.login, auth.safe_next(form.next)), status
    return redirect(auth.safe_next(form.next) or url_for("desk.page"))


@bp.post("/logout")
def log_out() -> Response:
    rt = runtime()
    try:
        with rt.unit_of_work() as uow:
            agent = _agent(uow.session)
            actions.change_state(uow, rt, agent, AgentState.OFFLINE, reason=None)
            signin.end_sessions(agent)  # every browser of this account, not only this one
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
    ("/back/", "后台退换货 RMA review", "back.work"),
    ("/work-orders/", "部门工单 Work orders", "work_orders.inbox"),
    ("/work-orders/callbacks", "工单回电 Callbacks", "work_orders.callback"),
    ("/work-orders/escalated", "升级工单 Escalated work orders", "work_orders.escalated"),
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
        follow = actions.save_wrap_up(uow, rt, _agent(uow.session), form)
        jobs.after_commit(uow, rt, follow)
    return _state_response(rt)


# --- work orders (issue 16): the keyword suggestion, and a work order for an earlier contact


@bp.get("/api/work-orders/suggest")
def suggest_work_order() -> Response:
    text = request.args.get("text", "")[:DESCRIPTION_MAX]
    return jsonify(work_order_screen.suggestion_view(runtime().work_order_rules, text))


@bp.get("/api/knowledge/suggest")
def suggest_articles() -> Response:
    rt, text = runtime(), request.args.get("text", "")[:DESCRIPTION_MAX]
    with rt.session_factory() as db:
        found = work_order_screen.knowledge_suggestions(db, _agent(db), rt.work_order_rules, text)
    return jsonify(articles=found)


@bp.get("/api/knowledge/search")
def search_articles() -> Response:
    rt, query = runtime(), request.args.get("q", "")[:200]
    with rt.session_factory() as db:
        found = work_order_screen.knowledge_search(db, rt.work_order_rules, query)
    return jsonify(articles=found)


@bp.post("/api/work-orders")
def open_work_order() -> Response:
    rt = runtime()
    form = ContactWorkOrderForm.from_json(_body())
    with rt.unit_of_work() as uow:
        work_order = actions.open_for_contact(uow, rt, _agent(uow.session), form)
        view = work_order_screen.opened_view(work_order, rt.work_order_rules)
    return jsonify(view)


@bp.post("/api/orders/<number>/cancel")
def cancel_order(number: str) -> Response:
    rt = runtime()
    with rt.unit_of_work() as uow:
        agent = _agent(uow.session)
        result = cancellations.cancel_at_desk(uow, rt, agent, number[:20], now=rt.clock())
    return jsonify(cancellations.result_view(result))


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


def _attempt_sign_in(rt: Runtime, form: LoginForm) -> Agent | signin.Refusal:
    """Check the sign-in (`queues.signin.attempt`, throttled) and start the session."""
    throttle = signin.SignInThrottle(rt.redis, rt.settings.redis_prefix)
    address = request.remote_addr or "unknown"  # the client's, behind PROXY_COUNT proxies
    with rt.unit_of_work() as uow:
        result = signin.attempt(
            uow.session,
            form.login,
            form.password,
            address=address,
            throttle=throttle,
            now=rt.clock(),
        )
        if isinstance(result, Agent):
            auth.sign_in(result)
    return result


def _login_page(error: str | None, login: str, next_path: str | None) -> str:
    return render_template(
        "desk/login.html", csrf=auth.csrf_token(), error=error, login=login, next=next_path
    )


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
        view["may_cancel_orders"] = rt.permissions.allows(
            "orders.cancel_unshipped", agent.held_posts()
        )
        view["work_orders"] = work_order_screen.desk_part(
            db, agent, rt.work_order_rules, now=rt.clock(), tz=ZoneInfo(rt.settings.timezone)
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
