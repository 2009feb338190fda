"""The order system's API: POST /api/orders, behind its Bearer token (ORDER_API_TOKEN)."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, Response, jsonify, request

from callcenter.middle_office.errors import domain_error, refuse_without_bearer
from callcenter.runtime import runtime
from core.errors import DomainError
from middle_office import intake
from middle_office.policy import ReviewPolicy

bp = Blueprint("order_api", __name__)
bp.register_error_handler(DomainError, domain_error)


@bp.before_request
def _require_token() -> tuple[Response, int] | None:
    token = runtime().settings.order_api_token
    return refuse_without_bearer(token)


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
