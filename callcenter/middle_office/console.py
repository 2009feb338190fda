"""The middle office's console (agents: the session; CSRF: `callcenter.security`): the outbound
work list and its actions, as a page and as JSON.

/middle/                          GET   the work list (`middle.work`; the field and decision
                                        routes need `middle.review`: config/permissions.toml)
/middle/api/tasks                 GET   the agent's open tasks as JSON
/middle/tasks/<id>/call           POST  click-to-call: agent first, then the customer
/middle/tasks/<id>/outcome        POST  outcome and notes
/middle/reviews/<id>/fields       POST  complete missing fields
/middle/reviews/<id>/decision     POST  approve or cancel, with a reason
/middle/tasks/<id>/reveal         POST  the task's number in full (`customer.unmask`; audited)
/middle/reviews/<id>/reveal       POST  the order's recipient, phone, address in full (same)

Customers are masked on the page (numbers, names, addresses: core/privacy.py); the reveal
routes show one in full to a post granted `customer.unmask`, each time in the audit log.

A form the page posted gets the page back with a message; a JSON client gets JSON.
"""

from __future__ import annotations

from typing import Any

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
from flask.typing import ResponseReturnValue

from callcenter import access
from callcenter.desk import auth
from callcenter.middle_office import services
from callcenter.middle_office.errors import domain_error
from callcenter.runtime import runtime
from core import privacy
from core.errors import DomainError
from middle_office import review
from middle_office.work_list import review_rows, task_rows
from outbound import attempts, outcomes
from outbound import tasks as outbound_tasks
from outbound.models import OutboundTask

bp = Blueprint("middle_office", __name__, template_folder="templates")


access.require(bp, "middle.work")
access.require(bp, "middle.review", "fields", "decision")
access.require(bp, "customer.unmask", "reveal_task", "reveal_review")


@bp.app_template_filter("mask_number")
def _mask_number(number: str | None) -> str:
    return privacy.mask_number(number)


@bp.app_template_filter("mask_name")
def _mask_name(name: str | None) -> str:
    return privacy.mask_name(name)


@bp.app_template_filter("mask_address")
def _mask_address(address: str | None) -> str:
    return privacy.mask_address(address)


@bp.errorhandler(DomainError)
def _refused(exc: DomainError) -> ResponseReturnValue:
    if _from_page():
        flash(exc.message, "error")
        return redirect(url_for(".work_list"), 303)
    return domain_error(exc)


@bp.get("/middle/")
def work_list() -> str:
    rt = runtime()
    mine = request.args.get("all") is None
    with rt.session_factory() as db:
        rows = task_rows(db, g.staff.id if mine else None)
        reviews = review_rows(db)
    return render_template(
        "middle_office/work_list.html",
        rows=rows,
        reviews=reviews,
        csrf=auth.csrf_token(),
        outcomes=[o.value for o in outcomes.AGENT_OUTCOMES],
        staff=g.staff,
        unmask=access.allowed(g.staff, "customer.unmask"),
        now=rt.clock(),
    )


@bp.get("/middle/api/tasks")
def tasks_json() -> Response:
    with runtime().session_factory() as db:
        return jsonify(tasks=[_task_json(t) for t in outbound_tasks.work_list(db, g.staff.id)])


@bp.post("/middle/tasks/<int:task_id>/call")
def call(task_id: int) -> ResponseReturnValue:
    rt = runtime()
    with rt.unit_of_work() as uow:
        attempt = services.call_task(uow, rt, task_id, agent_id=g.staff.id, now=rt.clock())
    return _done(
        f"Calling task {task_id}: your desk rings first, then the customer.",
        202,
        attempt=attempt.id,
        conference=attempts.conference_name(attempt.id),
    )


@bp.post("/middle/tasks/<int:task_id>/outcome")
def outcome(task_id: int) -> ResponseReturnValue:
    rt, form = runtime(), _form()
    said, notes = str(form.get("outcome", "")), str(form.get("notes", ""))
    with rt.unit_of_work() as uow:
        task = services.save_outcome(
            uow, rt, task_id, **_staff(), outcome=said, notes=notes, now=rt.clock()
        )
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
            **_staff(),
            now=rt.clock(),
            country_code=rt.settings.default_country_code,
        )
    saved = ", ".join(changed) or "nothing changed"
    return _done(f"Review {review_id}: {saved}.", changed=changed)


@bp.post("/middle/reviews/<int:review_id>/decision")
def decision(review_id: int) -> ResponseReturnValue:
    rt, form = runtime(), _form()
    approve, reason = form.get("decision") == "approve", str(form.get("reason", ""))
    with rt.unit_of_work() as uow:
        delivery = services.decide_review(
            uow, rt, review_id, approve=approve, reason=reason, **_staff(), now=rt.clock()
        )
    return _done(
        f"Review {review_id}: {delivery.event}; the order system is told.",
        review=review_id,
        event=delivery.event,
        delivery=delivery.id,
    )


@bp.post("/middle/tasks/<int:task_id>/reveal")
def reveal_task(task_id: int) -> Response:
    rt = runtime()
    with rt.unit_of_work() as uow:
        shown = services.reveal_task(uow, task_id, **_staff(), now=rt.clock())
    return _no_store(jsonify(task=task_id, **shown))


@bp.post("/middle/reviews/<int:review_id>/reveal")
def reveal_review(review_id: int) -> Response:
    rt = runtime()
    with rt.unit_of_work() as uow:
        shown = services.reveal_review(uow, review_id, **_staff(), now=rt.clock())
    return _no_store(jsonify(review=review_id, **shown))


def _no_store(response: Response) -> Response:
    response.cache_control.no_store = True
    return response


def _staff() -> dict[str, Any]:
    """The signed-in agent as the services take them: who acts, and their login (audit)."""
    return {"agent_id": g.staff.id, "actor": g.staff.login}


def _form() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.is_json else None
    return dict(data) if isinstance(data, dict) else request.form.to_dict()


def _from_page() -> bool:
    """A form the work list page posted (not the JSON API): answer with the page again."""
    return not request.is_json and auth.CSRF_FIELD in request.form


def _done(message: str, http_status: int = 200, /, **payload: Any) -> ResponseReturnValue:
    """The page gets itself back with `message` on top; an API client gets `payload`."""
    if _from_page():
        flash(message, "ok")
        return redirect(url_for(".work_list"), 303)
    return jsonify(**payload), http_status


def _task_json(task: OutboundTask) -> dict[str, Any]:
    return {
        "id": task.id,
        "kind": task.kind,
        "status": task.status.value,
        "to": privacy.mask_number(task.to_number),
        "priority": task.priority,
        "next_attempt_at": task.next_attempt_at.isoformat(),
        "attempts": task.attempts,
    }
