"""The partner systems' RMA API, each caller behind its own Bearer token:

- the order system and the warehouse (RMA_API_TOKEN): POST /api/rmas, POST
  /api/rmas/<number>/inspection, PUT /api/catalogue;
- finance (FINANCE_API_TOKEN): POST /api/rmas/<number>/refunded {"reference"};
- logistics (LOGISTICS_API_TOKEN): POST /api/rmas/<number>/shipped {"tracking"}.

An empty token refuses every request of its caller. Errors are the JSON shape of
`callcenter.back_office.errors`: 422 naming each bad field, 404, 409.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, Response, jsonify, request

from back_office import catalogue, fields, inspections, intake
from callcenter.back_office import partners
from callcenter.back_office.errors import domain_error
from callcenter.middle_office.errors import refuse_without_bearer
from callcenter.runtime import runtime
from core.errors import DomainError
from outbound.policy import Policy

bp = Blueprint("rma_api", __name__)
bp.register_error_handler(DomainError, domain_error)

#: The setting holding each endpoint's token (an endpoint not listed is refused).
TOKENS = {
    "rma_api.rmas": "rma_api_token",
    "rma_api.inspection": "rma_api_token",
    "rma_api.catalogue_items": "rma_api_token",
    "rma_api.refunded": "finance_api_token",
    "rma_api.shipped": "logistics_api_token",
}


@bp.before_request
def _require_token() -> tuple[Response, int] | None:
    setting = TOKENS.get(request.endpoint or "")
    token: str = getattr(runtime().settings, setting) if setting else ""
    return refuse_without_bearer(token)


@bp.post("/api/rmas")
def rmas() -> tuple[Response, int]:
    rt = runtime()
    data = intake.parse_rma(request.get_json(silent=True))
    with rt.unit_of_work() as uow:
        result = partners.file_rma(uow, data, now=rt.clock())
    return jsonify(asdict(result)), 201 if result.outcome == "created" else 200


@bp.post("/api/rmas/<number>/inspection")
def inspection(number: str) -> tuple[Response, int]:
    rt = runtime()
    _, result = inspections.parse_inspection(request.get_json(silent=True))
    with rt.unit_of_work() as uow:
        recorded = partners.record_inspection(uow, number, result, now=rt.clock())
    return jsonify(asdict(recorded)), 201 if recorded.outcome == "created" else 200


@bp.put("/api/catalogue")
def catalogue_items() -> tuple[Response, int]:
    rt = runtime()
    items = catalogue.parse_items(request.get_json(silent=True))
    with rt.unit_of_work() as uow:
        counts = partners.update_catalogue(uow, items, now=rt.clock())
    return jsonify(asdict(counts)), 200


@bp.post("/api/rmas/<number>/refunded")
def refunded(number: str) -> tuple[Response, int]:
    rt = runtime()
    reference = fields.one_text(request.get_json(silent=True), "reference", 60)
    policy = Policy.from_settings(rt.settings)
    with rt.unit_of_work() as uow:
        done = partners.confirm(uow, number, reference=reference, now=rt.clock(), policy=policy)
    return jsonify(asdict(done)), 200


@bp.post("/api/rmas/<number>/shipped")
def shipped(number: str) -> tuple[Response, int]:
    rt = runtime()
    tracking = fields.one_text(request.get_json(silent=True), "tracking", 40)
    policy = Policy.from_settings(rt.settings)
    with rt.unit_of_work() as uow:
        done = partners.confirm(uow, number, tracking=tracking, now=rt.clock(), policy=policy)
    return jsonify(asdict(done)), 200
