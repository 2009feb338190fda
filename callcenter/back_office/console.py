"""The back office's console (agents: the session; CSRF: `callcenter.security`): the RMA review
work list, one RMA's review form, and the back office's status calls.

/back/                            GET   the work list (`back.work`; deciding needs
                                        `back.review`: config/permissions.toml)
/back/rmas/<id>                   GET   one RMA: checklist, inspection, order line, the form
/back/rmas/<id>/approve           POST  approve (a return: SKU and refund in fen; an exchange:
                                        SKU and replacement SKU)
/back/rmas/<id>/reject            POST  reject with a reason from the list and notes
/back/rmas/<id>/convert           POST  an exchange out of stock becomes a return
/back/rmas/<id>/call              POST  "call the customer": the RMA's status call
/back/tasks/<id>/call             POST  click-to-call a status call (the outbound engine)
/back/tasks/<id>/outcome          POST  the call's outcome and notes

A form the page posted gets a page back with a message on top (a decision another agent made
first: who and when, in local time); a JSON client gets JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from callcenter import access
from callcenter.back_office import services
from callcenter.back_office.errors import domain_error
from callcenter.desk import auth
from callcenter.desk.labels import RMA_KINDS, RMA_STATUSES
from callcenter.middle_office import services as outbound_services
from callcenter.runtime import runtime
from core.errors import DomainError
from outbound import outcomes

bp = Blueprint("back_office", __name__, template_folder="templates")

access.require(bp, "back.work")
access.require(bp, "back.review", "approve", "reject", "convert")


@bp.app_template_filter("local_time")
def _local_time(moment: Any) -> str:
    return services.local(moment, runtime().settings.timezone)


@bp.app_template_filter("yuan")
def _yuan(fen: int | None) -> str:
    return "" if fen is None else f"{fen // 100}.{fen % 100:02d}"


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "kinds": RMA_KINDS,
        "statuses": RMA_STATUSES,
        "rules": services.RULE_LABELS,
        "reasons": services.REASON_LABELS,
        "reject_reasons": services.REJECT_LABELS,
        "outcomes": [o.value for o in outcomes.AGENT_OUTCOMES],
        "csrf": auth.csrf_token(),
        "timezone": runtime().settings.timezone,
    }


@bp.errorhandler(DomainError)
def _refused(exc: DomainError) -> ResponseReturnValue:
    if _from_page():
        flash(services.explain(exc, runtime().settings.timezone), "error")
        return redirect(_back_to(), 303)
    return domain_error(exc)


@bp.get("/back/")
def work_list() -> str:
    rt = runtime()
    mine = request.args.get("all") is None
    with rt.session_factory() as db:
        page = services.work_list_page(db, rt, g.staff.id if mine else None)
        return render_template("back_office/work_list.html", staff=g.staff, mine=mine, **page)


@bp.get("/back/rmas/<int:rma_id>")
def rma_page(rma_id: int) -> str:
    rt = runtime()
    with rt.session_factory() as db:
        page = services.rma_page(db, rt, rma_id)
        return render_template("back_office/rma.html", staff=g.staff, **page)


@bp.post("/back/rmas/<int:rma_id>/approve")
def approve(rma_id: int) -> ResponseReturnValue:
    rt = runtime()
    with rt.unit_of_work() as uow:
        done = services.approve(uow, rt, rma_id, _form(), _staff(), rt.clock())
    word = "finance" if done.delivery and done.delivery.target == "finance" else "logistics"
    return _done(f"已批准 Approved {done.rma}: handed to {word}.", rma=done.rma, status=done.status)


@bp.post("/back/rmas/<int:rma_id>/reject")
def reject(rma_id: int) -> ResponseReturnValue:
    rt = runtime()
    with rt.unit_of_work() as uow:
        done = services.reject(uow, rt, rma_id, _form(), _staff(), rt.clock())
    task = done.task.id if done.task else None
    return _done(f"已驳回 Rejected {done.rma}: a status call is planned.", rma=done.rma, task=task)


@bp.post("/back/rmas/<int:rma_id>/convert")
def convert(rma_id: int) -> ResponseReturnValue:
    rt = runtime()
    with rt.unit_of_work() as uow:
        done = services.convert(uow, rma_id, _form(), _staff(), rt.clock())
    msg = f"已改为退货 {done.rma} is now a return: approve it with the refund."
    return _done(msg, rma=done.rma)


@bp.post("/back/rmas/<int:rma_id>/call")
def call_customer(rma_id: int) -> ResponseReturnValue:
    rt = runtime()
    with rt.unit_of_work() as uow:
        task = services.call_customer(uow, rt, rma_id, _form(), _staff(), rt.clock())
        status = task.status.value
    return _done(f"已安排回电 Status call {task.id} is {status}.", task=task.id, status=status)


@bp.post("/back/tasks/<int:task_id>/call")
def call(task_id: int) -> ResponseReturnValue:
    rt = runtime()
    with rt.unit_of_work() as uow:
        attempt = outbound_services.call_task(uow, rt, task_id, agent_id=g.staff.id, now=rt.clock())
    msg = f"正在呼叫 Calling task {task_id}: your desk rings first, then the customer."
    return _done(msg, 202, attempt=attempt.id)


@bp.post("/back/tasks/<int:task_id>/outcome")
def outcome(task_id: int) -> ResponseReturnValue:
    rt, form = runtime(), _form()
    said, notes, who = str(form.get("outcome", "")), str(form.get("notes", "")), _staff()
    with rt.unit_of_work() as uow:
        task = outbound_services.save_outcome(
            uow,
            rt,
            task_id,
            agent_id=who.agent_id,
            actor=who.actor,
            outcome=said,
            notes=notes,
            now=rt.clock(),
        )
        status = task.status.value
    return _done(f"已保存 Task {task_id}: outcome saved, the task is {status}.", status=status)


def _staff() -> services.Staff:
    """The signed-in agent as the services take them: who acts, and their login (audit)."""
    return services.Staff(g.staff.id, g.staff.login)


def _form() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.is_json else None
    return dict(data) if isinstance(data, dict) else request.form.to_dict()


def _from_page() -> bool:
    """A form a page posted (not the JSON API): answer with a page again."""
    return not request.is_json and auth.CSRF_FIELD in request.form


def _back_to() -> str:
    """The page a form came from: the RMA's own page for an RMA's form, else the work list."""
    rma_id = (request.view_args or {}).get("rma_id")
    return url_for(".rma_page", rma_id=rma_id) if rma_id else url_for(".work_list")


def _done(message: str, http_status: int = 200, /, **payload: Any) -> ResponseReturnValue:
    """The page gets the work list back with `message` on top; an API client gets `payload`."""
    if _from_page():
        flash(message, "ok")
        return redirect(url_for(".work_list"), 303)
    return jsonify(**payload), http_status
