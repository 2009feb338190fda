"""Work orders' console (the session; CSRF: `callcenter.security`): the departments' inbox and a
work order's page with its actions, and the front desk's callbacks.

/work-orders/                          GET   the inbox: the group's work orders by status,
                                             oldest first (`work_orders.inbox`: a department
                                             user sees their own group, a team lead and the
                                             manager every group)
/work-orders/<id>                      GET   one work order: facts, timeline, the actions
/work-orders/<id>/<action>             POST  claim, reply, ask, answer, resolve, note
                                             (`work_orders.answer`; once per client key)
/work-orders/escalated                 GET   the team lead's list: escalated by an SLA breach,
                                             not closed (`work_orders.escalated`)
/work-orders/callbacks                 GET   the front desk's work-order callbacks with the
                                             department's answer (`work_orders.callback`)
/work-orders/callbacks/<task>/call     POST  click-to-call (the outbound engine)
/work-orders/callbacks/<task>/outcome  POST  the call's outcome: satisfied → closed with a
                                             resolution code; not satisfied → reopened

A form the page posted gets a page back with a message on top; a JSON client gets JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from callcenter import access
from callcenter.desk import auth
from callcenter.runtime import runtime
from callcenter.work_orders import services
from callcenter.work_orders.errors import domain_error
from core.errors import DomainError
from work_orders.department import Actor

bp = Blueprint("work_orders", __name__, template_folder="templates")

access.require(bp, "work_orders.inbox")
access.require(bp, "work_orders.answer", "act")
access.require(bp, "work_orders.callback", "callbacks", "call", "outcome")
access.require(bp, "work_orders.escalated", "escalated")

ACTIONS = ",".join(services.ACTIONS)


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "status_labels": services.STATUS_LABELS,
        "event_labels": services.EVENT_LABELS,
        "action_labels": services.ACTION_LABELS,
        "outcomes": services.outcome_choices(),
        "csrf": auth.csrf_token(),
        "timezone": runtime().settings.timezone,
        "local": lambda moment: services.event_time(moment, runtime().settings.timezone),
        "time_left": services.time_left,
        "sla_classes": services.SLA_CLASSES,
    }


@bp.errorhandler(DomainError)
def _refused(exc: DomainError) -> ResponseReturnValue:
    if _from_page():
        flash(services.explain(exc, runtime().settings.timezone), "error")
        return redirect(_back_to(), 303)
    return domain_error(exc)


@bp.get("/work-orders/")
def inbox() -> str:
    rt = runtime()
    with rt.session_factory() as db:
        page = services.inbox_page(db, rt, access.team_only("work_orders.inbox"))
        return render_template("work_orders/inbox.html", staff=g.staff, **page)


@bp.get("/work-orders/<int:work_order_id>")
def work_order(work_order_id: int) -> str:
    rt, team = runtime(), access.team_only("work_orders.inbox")
    with rt.session_factory() as db:
        page = services.work_order_page(db, rt, work_order_id, team)
        return render_template("work_orders/work_order.html", staff=g.staff, **page)


@bp.post(f"/work-orders/<int:work_order_id>/<any({ACTIONS}):action>")
def act(work_order_id: int, action: str) -> ResponseReturnValue:
    rt, form = runtime(), _form()
    with rt.unit_of_work() as uow:
        done = services.act(uow, rt, work_order_id, action, form, _actor("work_orders.answer"))
        body = services.done_json(done)
    label = services.ACTION_LABELS[action]
    return _done(
        f"{label}: {done.work_order.number}",
        url_for(".work_order", work_order_id=work_order_id),
        **body,
    )


@bp.get("/work-orders/escalated")
def escalated() -> str:
    rt = runtime()
    with rt.session_factory() as db:
        page = services.escalated_page(db, rt)
        return render_template("work_orders/escalated.html", staff=g.staff, **page)


@bp.get("/work-orders/callbacks")
def callbacks() -> str:
    rt = runtime()
    mine = request.args.get("all") is None
    with rt.session_factory() as db:
        page = services.callbacks_page(db, rt, g.staff.id if mine else None)
        return render_template("work_orders/callbacks.html", staff=g.staff, mine=mine, **page)


@bp.post("/work-orders/callbacks/<int:task_id>/call")
def call(task_id: int) -> ResponseReturnValue:
    rt = runtime()
    with rt.unit_of_work() as uow:
        attempt = services.call_callback(uow, rt, task_id, agent_id=g.staff.id)
    msg = f"正在呼叫 Calling (task {task_id}): your desk rings first, then the customer."
    return _done(msg, url_for(".callbacks"), 202, attempt=attempt)


@bp.post("/work-orders/callbacks/<int:task_id>/outcome")
def outcome(task_id: int) -> ResponseReturnValue:
    rt = runtime()
    with rt.unit_of_work() as uow:
        settled = services.callback_outcome(uow, rt, task_id, _form(), _actor(None))
        task, wo = settled.task.status.value, settled.work_order_status
    status = wo.value if wo else None
    msg = f"已保存 Saved: the call is {task}, the work order {status or '-'}."
    return _done(msg, url_for(".callbacks"), task=task, work_order_status=status)


def _actor(permission: str | None) -> Actor:
    """The signed-in account as the services take it, limited to its team where its grant of
    `permission` is."""
    team = access.team_only(permission) if permission else None
    return Actor(g.staff.id, g.staff.login, team)


def _form() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.is_json else None
    return dict(data) if isinstance(data, dict) else request.form.to_dict()


def _from_page() -> bool:
    """A form a page posted (not the JSON API): answer with a page again."""
    return not request.is_json and auth.CSRF_FIELD in request.form


def _back_to() -> str:
    work_order_id = (request.view_args or {}).get("work_order_id")
    if work_order_id:
        return url_for(".work_order", work_order_id=work_order_id)
    return url_for(".callbacks") if "/callbacks" in request.path else url_for(".inbox")


def _done(
    message: str, page: str, http_status: int = 200, /, **payload: Any
) -> ResponseReturnValue:
    """The page gets `page` back with `message` on top; a JSON client gets `payload`."""
    if _from_page():
        flash(message, "ok")
        return redirect(page, 303)
    return jsonify(**payload), http_status
