"""Work orders' HTTP errors: the middle office's JSON shape, and the status of each of the work
orders' domain error codes (a code not listed here falls back to the middle office's)."""

from __future__ import annotations

from flask import Response, jsonify

from callcenter.middle_office.errors import STATUS as MIDDLE_OFFICE_STATUS
from core.errors import DomainError

STATUS = {
    **MIDDLE_OFFICE_STATUS,
    "work-order-illegal-move": 409,  # names the current state (e.g. closed)
    "work-order-not-found": 404,
    "work-order-other-department": 403,  # passed to another department's group
    "invalid-work-order-input": 422,  # names each bad field; nothing changed
    "invalid-callback-outcome": 422,
}


def domain_error(exc: DomainError) -> tuple[Response, int]:
    """A refused domain operation as JSON, with the status of its code (400 if unlisted)."""
    return jsonify(error=exc.as_dict()), STATUS.get(exc.code, 400)
