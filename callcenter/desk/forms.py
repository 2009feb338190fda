"""The desk's request bodies, parsed once into frozen dataclasses; bad input raises Invalid."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import DomainError
from queues.models import AgentState, Post

NOTES_MAX = 2000
DESK_STATES = (AgentState.AVAILABLE, AgentState.BREAK, AgentState.OFFLINE)


class Invalid(DomainError):
    """A request body the desk cannot use (422)."""

    code = "invalid-request"


@dataclass(frozen=True, slots=True)
class LoginForm:
    login: str
    password: str
    next: str  # where to go back to: checked by `auth.safe_next` before use

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> LoginForm:
        return cls(
            form.get("login", "").strip().lower()[:40],
            form.get("password", "")[:200],
            form.get("next", "")[:2000],
        )


@dataclass(frozen=True, slots=True)
class StateForm:
    """{"to": "available" | "break" | "offline", "reason": str | null, "from": state shown}."""

    to: AgentState
    reason: str | None
    expected: AgentState | None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> StateForm:
        to = _state(body.get("to"), "to")
        if to not in DESK_STATES:
            raise Invalid(
                "the desk sets available, break or offline", to=to.value, allowed=_values()
            )
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise Invalid("reason must be a string", field="reason")
        shown = body.get("from")
        return cls(to, reason or None, None if shown is None else _state(shown, "from"))


@dataclass(frozen=True, slots=True)
class WrapUpForm:
    """{"disposition": one of the queue file's, "notes": up to 2,000 characters}."""

    disposition: str
    notes: str

    @classmethod
    def from_json(cls, body: Mapping[str, Any], dispositions: tuple[str, ...]) -> WrapUpForm:
        disposition, notes = body.get("disposition"), body.get("notes", "")
        if disposition not in dispositions:
            raise Invalid("choose a disposition", field="disposition", allowed=list(dispositions))
        if not isinstance(notes, str) or len(notes) > NOTES_MAX:
            raise Invalid(f"notes are text of at most {NOTES_MAX} characters", field="notes")
        return cls(str(disposition), notes)


@dataclass(frozen=True, slots=True)
class PostForm:
    post: Post

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> PostForm:
        """`post`: one of the rotating posts (front_desk, middle_office, back_office)."""
        value = body.get("post")
        try:
            return cls(Post(value))
        except ValueError:
            allowed = [p.value for p in Post]
            raise Invalid("post must be a rotating post", field="post", allowed=allowed) from None


def _state(value: object, field: str) -> AgentState:
    try:
        return AgentState(value)
    except ValueError:
        raise Invalid(f"{field} must be an agent state", field=field, value=value) from None


def _values() -> list[str]:
    return [s.value for s in DESK_STATES]
