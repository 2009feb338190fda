"""Reading the fields of a request from a partner system (the order system, the warehouse, the
catalogue): each reader returns the value or notes what is wrong with it under the field's name,
so that a parser can name every bad field at once. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.errors import DomainError

Errors = dict[str, str]

TRUE = frozenset({"1", "true", "yes", "y", "pass", "passed"})
FALSE = frozenset({"0", "false", "no", "n", "fail", "failed"})


def text(
    raw: Mapping[str, Any], name: str, errors: Errors, limit: int, *, required: bool
) -> str | None:
    """A string of at most `limit` characters, stripped; None when absent or blank."""
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[name] = "required"
        return None
    if not isinstance(value, str):
        errors[name] = "must be a string"
        return None
    value = value.strip()
    if len(value) > limit or "\x00" in value:
        errors[name] = f"at most {limit} characters"
        return None
    return value


def whole(raw: Mapping[str, Any], name: str, errors: Errors, *, low: int, high: int) -> int:
    """A whole number from `low` to `high` (a string of digits is one too)."""
    value = raw.get(name)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        errors[name] = "required, a whole number" if value is None else "must be a whole number"
        return 0
    if not low <= value <= high:
        errors[name] = f"must be from {low} to {high}"
    return value


def flag(raw: Mapping[str, Any], name: str, errors: Errors, *, default: bool | None) -> bool:
    """true or false (in a CSV cell also 1/0, yes/no, pass/fail); `default` when absent, or
    required when it is None."""
    value = raw.get(name)
    if value is None or value == "":
        if default is None:
            errors[name] = "required, true or false"
            return False
        return default
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    if not isinstance(value, bool):
        errors[name] = "must be true or false"
        return False
    return value


def moment(raw: Mapping[str, Any], name: str, errors: Errors) -> datetime | None:
    """An optional ISO 8601 date and time with a UTC offset."""
    value = raw.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors[name] = "must be ISO 8601 with a UTC offset"
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        errors[name] = "not an ISO 8601 date and time"
        return None
    if parsed.tzinfo is None:
        errors[name] = "needs a UTC offset"
        return None
    return parsed


def unknown(raw: Mapping[str, Any], known: tuple[str, ...], errors: Errors) -> None:
    """Name every field that is not one of `known` (a typo must not be silently dropped)."""
    for name in sorted(str(k) for k in set(raw) - set(known)):
        errors[name[:40]] = "unknown field"


class InvalidFields(DomainError):
    """A request with bad fields; `details.fields` names each one (HTTP 422)."""

    code = "invalid-fields"


def one_text(raw: Any, name: str, limit: int) -> str:
    """The one required text field `name` of a small request (a confirmation's reference or
    tracking number); raises InvalidFields naming it, or any other field sent (pure)."""
    if not isinstance(raw, dict):
        raise InvalidFields("the body must be a JSON object", fields={"": "not an object"})
    errors: Errors = {}
    value = text(raw, name, errors, limit, required=True)
    unknown(raw, (name,), errors)
    if errors:
        raise InvalidFields(f"{len(errors)} bad field(s)", fields=errors)
    assert value is not None
    return value
