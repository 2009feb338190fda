"""The one shape of a refused operation: a stable `code` slug, a message, and plain details.

Domain exceptions subclass `DomainError` and carry no HTTP status: the API and console map
codes to statuses at their edges (wazo-calld's error_id/message/details, minus the status).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refused or failed operation; `code` is a stable slug, `details` plain data."""

    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        """The JSON API's error body: {"code", "message", "details"}."""
        return {"code": self.code, "message": self.message, "details": self.details}
