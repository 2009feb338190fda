"""The middle office's HTTP errors: one JSON shape, and the status of each domain error code."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Response, jsonify, request

from core.errors import DomainError

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


def error(code: str, message: str, status: int, **details: Any) -> tuple[Response, int]:
    """`{"error": {"code", "message", "details"}}` with its HTTP status."""
    return jsonify(error={"code": code, "message": message, "details": details}), status


def domain_error(exc: DomainError) -> tuple[Response, int]:
    """A refused domain operation as JSON, with the status of its code (400 if unlisted)."""
    return jsonify(error=exc.as_dict()), STATUS.get(exc.code, 400)


def refuse_without_bearer(token: str) -> tuple[Response, int] | None:
    """A 401 unless the request's `Authorization: Bearer` is `token` (compared in constant
    time); an empty `token` refuses every request. Every partner API's `before_request`."""
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token or not hmac.compare_digest(sent.encode(), token.encode()):
        return error("unauthorised", "a valid Bearer token is required", 401)
    return None
