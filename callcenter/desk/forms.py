"""The desk's request bodies, parsed once into frozen dataclasses; bad input raises Invalid."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import DomainError
from queues.models import AgentState, Post
from work_orders.desk import DESCRIPTION_MAX, Outcome, WorkOrderInput

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
    """{"disposition": one of the queue file's, "notes": up to 2,000 characters,
    "work_order": the call's work order (`work_order_input`)}."""

    disposition: str
    notes: str
    work_order: WorkOrderInput

    @classmethod
    def from_json(cls, body: Mapping[str, Any], dispositions: tuple[str, ...]) -> WrapUpForm:
        disposition, notes = body.get("disposition"), body.get("notes", "")
        if disposition not in dispositions:
            raise Invalid("choose a disposition", field="disposition", allowed=list(dispositions))
        if not isinstance(notes, str) or len(notes) > NOTES_MAX:
            raise Invalid(f"notes are text of at most {NOTES_MAX} characters", field="notes")
        return cls(str(disposition), notes, work_order_input(body.get("work_order")))


# --- the work order (the wrap-up's, and the screen pop's for an earlier contact) -------------

WORK_ORDER_TEXT = {"category": 40, "subcategory": 40, "department": 40, "order": 20, "rma": 20}


def work_order_input(body: object) -> WorkOrderInput:
    """{"category", "subcategory" (optional), "department", "description", "outcome":
    "resolved" | "pass", "order" and "rma" (optional numbers)}: the shapes; the references
    are checked by `work_orders.desk.check`. Invalid names the field ("category")."""
    if not isinstance(body, Mapping):
        raise Invalid("fill in the work order", field="work_order")
    values: dict[str, str | None] = {}
    for name, longest in WORK_ORDER_TEXT.items():
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > longest):
            raise Invalid(f"{name} is text of at most {longest} characters", field=name)
        values[name] = (value.strip() or None) if isinstance(value, str) else None
    description = body.get("description")
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        raise Invalid(
            f"description is text of at most {DESCRIPTION_MAX} characters",
            field="description",
        )
    try:
        outcome = Outcome(body.get("outcome"))
    except ValueError:
        allowed = [o.value for o in Outcome]
        raise Invalid("choose resolved or pass", field="outcome", allowed=allowed) from None
    return WorkOrderInput(
        category=values["category"] or "",
        subcategory=values["subcategory"],
        department=values["department"] or "",
        description=description,
        outcome=outcome,
        order=values["order"],
        rma=values["rma"],
    )


@dataclass(frozen=True, slots=True)
class ContactWorkOrderForm:
    """The screen pop's work order for an earlier contact: {"contact": the earlier call's id,
    and the work order's fields (`work_order_input`) at the top level}."""

    contact: int
    work_order: WorkOrderInput

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ContactWorkOrderForm:
        contact = body.get("contact")
        if not isinstance(contact, int) or isinstance(contact, bool) or contact < 1:
            raise Invalid("choose the earlier contact", field="contact")
        return cls(contact, work_order_input(body))


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
