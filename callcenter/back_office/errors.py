"""The back office's HTTP errors: the middle office's JSON shape, and the status of each of the
back office's domain error codes (a code not listed here falls back to the middle office's)."""

from __future__ import annotations

from flask import Response, jsonify

from callcenter.middle_office.errors import STATUS as MIDDLE_OFFICE_STATUS
from core.errors import DomainError

STATUS = {
    **MIDDLE_OFFICE_STATUS,
    "illegal-move": 409,  # names the RMA's current state (and who decided it)
    "confirmation-mismatch": 409,
    "rma-not-found": 404,
    # Cancelling an unshipped order (back_office.cancellations).
    "order-shipped": 409,  # it has shipped: request a return (an RMA) instead
    "order-cancelled": 409,  # cancelled some other way: no refund of ours to repeat
    "order-not-found": 404,
    "invalid-rma": 422,  # names each bad field; nothing stored
    "invalid-inspection": 422,
    "invalid-catalogue": 422,
    "invalid-decision": 422,  # the review's form: names each bad field; nothing changed
    "not-approvable": 409,  # names every rule of the checklist not met
    "out-of-stock": 409,  # the exchange's replacement: offers convert_to_return
    "wrong-kind": 409,
    "nobody-to-call": 409,
}


def domain_error(exc: DomainError) -> tuple[Response, int]:
    """A refused domain operation as JSON, with the status of its code (400 if unlisted)."""
    return jsonify(error=exc.as_dict()), STATUS.get(exc.code, 400)
