"""The complaint console (agents: the session; CSRF: `callcenter.security`): the complaint work
orders and one complaint's steps, each a form (a page) or a JSON request (the API).

/complaints/                                  GET   complaint work orders, newest first
/complaints/<wo>                              GET   one complaint: facts, timeline, the steps
/complaints/<wo>/<step>                       POST  receive, classify, carry_out, close,
                                                    follow_up (`complaints.record`)
/complaints/<wo>/decide                       POST  decide the remedy (`complaints.decide`:
                                                    team leads and the manager)

Steps and their rules: `work_orders.complaints`; the RMA of a refund or replacement:
`callcenter.work_orders.complaints`. A refused step gets 422 naming each bad field, 409 naming
the stage it is in, 404 for an unknown work order.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from callcenter import access
from callcenter.back_office.errors import STATUS as BACK_OFFICE_STATUS
from callcenter.back_office.services import local
from callcenter.desk import auth
from callcenter.runtime import runtime
from callcenter.work_orders import complaints as services
from core.errors import DomainError
from work_orders.complaints import Author

bp = Blueprint("complaints", __name__, template_folder="templates")
access.require(bp, "complaints.read")
access.require(bp, "complaints.record", "step")
access.require(bp, "complaints.decide", "decide")
STEP = f"any({', '.join(services.STEPS)})"
STATUS = {
    **BACK_OFFICE_STATUS,  # the RMA's intake (invalid-rma 422, ...)
    "invalid-complaint": 422,
    "complaint-step-refused": 409,
    "complaint-not-found": 404,
    "work-order-not-found": 404,
    "work-order-illegal-move": 409,
}


@bp.errorhandler(DomainError)
def _refused(exc: DomainError) -> ResponseReturnValue:
    if _from_page():
        flash(_explain(exc), "error")
        return redirect(url_for(".complaint", work_order_id=_work_order_id()), 303)
    return jsonify(error=exc.as_dict()), STATUS.get(exc.code, 400)


@bp.get("/complaints/")
def complaints() -> str:
    with runtime().session_factory() as db:
        rows = services.list_rows(db)
        return render_template("complaints/list.html", rows=rows, **_labels())


@bp.get("/complaints/<int:work_order_id>")
def complaint(work_order_id: int) -> ResponseReturnValue:
    with runtime().session_factory() as db:
        page = services.page(db, work_order_id)
        if request.accept_mimetypes.best == "application/json":
            return jsonify(services.as_json(page["wo"], page["complaint"]))
        return render_template("complaints/complaint.html", **page, **_labels())


@bp.post(f"/complaints/<int:work_order_id>/<{STEP}:step>")
def step(work_order_id: int, step: str) -> ResponseReturnValue:
    rt = runtime()
    with rt.unit_of_work() as uow:
        done = services.STEPS[step](uow, rt, work_order_id, _form(), _author(), rt.clock())
        body = services.as_json(done.work_order, done)
    return _done(services.DONE[step], work_order_id, body)


@bp.post("/complaints/<int:work_order_id>/decide")
def decide(work_order_id: int) -> ResponseReturnValue:
    rt = runtime()
    with rt.unit_of_work() as uow:
        done = services.decide(uow, work_order_id, _form(), _author(), rt.clock())
        body = services.as_json(done.work_order, done)
    return _done(services.DONE["decide"], work_order_id, body)


def _author() -> Author:
    return Author(g.staff.id, g.staff.login)


def _form() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.is_json else None
    return dict(data) if isinstance(data, dict) else request.form.to_dict()


def _from_page() -> bool:
    return not request.is_json and auth.CSRF_FIELD in request.form


def _work_order_id() -> int:
    return int((request.view_args or {}).get("work_order_id", 0))


def _explain(exc: DomainError) -> str:
    bad = exc.details.get("fields")
    if isinstance(bad, dict):
        return "请更正 Please correct — " + "; ".join(f"{k}: {v}" for k, v in bad.items())
    return exc.message


def _done(message: str, work_order_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    if _from_page():
        flash(message, "ok")
        return redirect(url_for(".complaint", work_order_id=work_order_id), 303)
    return jsonify(body)


def _labels() -> dict[str, Any]:
    rt = runtime()
    return {
        "staff": g.staff,
        "csrf": auth.csrf_token(),
        "timezone": rt.settings.timezone,
        "local": lambda moment: local(moment, rt.settings.timezone),
        "severities": services.SEVERITY_LABELS,
        "remedies": services.REMEDY_LABELS,
        "stages": services.STAGE_LABELS,
        "may_decide": access.allowed(g.staff, "complaints.decide"),
        "may_record": access.allowed(g.staff, "complaints.record"),
    }
