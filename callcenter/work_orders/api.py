"""The departments' own systems' work-order API, behind one Bearer token
(CALLCENTER_WORK_ORDER_API_TOKEN; empty refuses every request):

GET  /api/work-orders?department=<group>[&status=<status>]   the group's work orders,
                                                             oldest first
GET  /api/work-orders/<number>                               one, with its timeline
POST /api/work-orders/<number>/reply    {"text"}                       answer (the callback
                                                                       to the customer follows)
POST /api/work-orders/<number>/ask      {"question"}                   ask the customer
POST /api/work-orders/<number>/resolve  {"text", "resolution_code"}    a final answer

Each POST may carry "author" (who, for the timeline; default "api:<department>") and is
idempotent by a client key (the `Idempotency-Key` header or a "client_key" field): the same
key gives the same answer (with `Idempotent-Replayed: true`) and acts once. Errors are the
JSON shape of `callcenter.work_orders.errors`: 422 naming each bad field, 404, 409 on a work
order whose state does not allow it (a closed one).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from callcenter.middle_office.errors import refuse_without_bearer
from callcenter.runtime import runtime
from callcenter.work_orders import services
from callcenter.work_orders.errors import domain_error
from core.errors import DomainError
from work_orders import department

bp = Blueprint("work_order_api", __name__)
bp.register_error_handler(DomainError, domain_error)

#: The actions an external system may take.
API_ACTIONS = "reply,ask,resolve"


@bp.before_request
def _require_token() -> tuple[Response, int] | None:
    token: str = runtime().settings.work_order_api_token
    return refuse_without_bearer(token)


@bp.get("/api/work-orders")
def work_orders() -> tuple[Response, int]:
    rt = runtime()
    team, statuses = services.list_query(request.args)
    with rt.session_factory() as db:
        rows = department.inbox(db, team, statuses=statuses)
        return jsonify(work_orders=[services.work_order_json(w) for w in rows]), 200


@bp.get("/api/work-orders/<number>")
def work_order(number: str) -> tuple[Response, int]:
    rt = runtime()
    with rt.session_factory() as db:
        return jsonify(services.detail_json(db, department.load(db, number, None))), 200


@bp.post(f"/api/work-orders/<number>/<any({API_ACTIONS}):action>")
def act(number: str, action: str) -> tuple[Response, int]:
    rt = runtime()
    body = services.api_body(request.get_json(silent=True))
    key = request.headers.get("Idempotency-Key")
    with rt.unit_of_work() as uow:
        done = services.act(
            uow, rt, number, action, body, services.api_actor(uow.session, number, body), key=key
        )
        answer = jsonify(services.done_json(done))
    answer.headers["Idempotent-Replayed"] = "true" if done.replayed else "false"
    return answer, 200
