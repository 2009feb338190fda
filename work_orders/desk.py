"""The front desk's work orders: one per handled call, opened by the wrap-up, and one for an
earlier contact of the caller, opened from the screen pop; and what the screen pop lists.

The agent fills in the category, sub-category, department, the description and the order or
RMA it is about, and chooses "resolved on this call" (the work order is opened closed,
`resolved_on_contact`) or "pass to department" (opened, then moved on by `states.move`). The
keyword rules' suggestion is computed here again from the description, so that whether the
agent overrode it (`suggestion_overridden`) does not depend on what the browser says.

Idempotent by construction: the client key is derived from the queue entry (the wrap-up) or
from the earlier call (the screen pop), so a double-clicked or repeated submission finds the
work order the first one opened. Everything is checked before anything is written; bad input
raises `InvalidWorkOrder` naming each bad field. Services flush and never commit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import DomainError
from core.models import Call, CallDirection, Customer, Order, Rma
from queues.models import Agent, QueuedCall
from work_orders import rules as keyword_rules
from work_orders import states, timeline
from work_orders.models import WorkOrder, WorkOrderCall, WorkOrderStatus
from work_orders.rules import WorkOrderRules

DESCRIPTION_MAX = 2000
#: How far back the screen pop looks for recent (closed) work orders and earlier contacts.
RECENT = timedelta(days=30)
RECENT_SHOWN = 5
CONTACTS_SHOWN = 5
#: The resolution code of a work order closed on the call that opened it.
RESOLVED_ON_CALL = "resolved_on_contact"


class Outcome(enum.StrEnum):
    """What the agent decided at the end of the contact."""

    RESOLVED = "resolved"  # resolved on this call: the work order is opened closed
    PASS = "pass"  # noqa: S105 - pass to the department: opened, then passed on


class InvalidWorkOrder(DomainError):
    """A work order the desk cannot open (HTTP 422); `details["fields"]` names each bad field
    with the reason, `details["field"]` the first of them."""

    code = "invalid-work-order"

    def __init__(self, fields: dict[str, str]) -> None:
        first = next(iter(fields))
        super().__init__(f"{fields[first]} ({first})", field=first, fields=fields)


@dataclass(frozen=True, slots=True)
class WorkOrderInput:
    """What the agent filled in (shapes checked by the form; references checked here)."""

    category: str
    subcategory: str | None
    department: str
    description: str
    outcome: Outcome
    order: str | None = None  # the order's number, one of the caller's
    rma: str | None = None  # the RMA's number, one of the caller's


@dataclass(frozen=True, slots=True)
class Checked:
    """A `WorkOrderInput` with its references resolved, ready to open."""

    customer: Customer | None
    order_id: int | None
    rma_id: int | None
    suggested_category: str | None
    suggested_department: str | None
    overridden: bool


def check(
    session: Session, rules: WorkOrderRules, form: WorkOrderInput, customer: Customer | None
) -> Checked:
    """Resolve and check every reference of `form` for a contact of `customer`: the category,
    sub-category and department (`rules.validate`), the order and RMA (the customer's). Raises
    InvalidWorkOrder naming every bad field; reads only."""
    errors = keyword_rules.validate(form.category, form.subcategory, form.department, rules)
    if not form.department:
        errors["department"] = "required"
    if not form.description.strip():
        errors["description"] = "describe the customer's question"
    elif len(form.description) > DESCRIPTION_MAX:
        errors["description"] = f"at most {DESCRIPTION_MAX} characters"
    order_id = rma_id = None
    if form.order:
        order = session.scalar(select(Order).where(Order.number == form.order))
        if order is None or customer is None or order.customer_id != customer.id:
            errors["order"] = f"order {form.order} is not one of the caller's"
        else:
            order_id = order.id
    if form.rma:
        rma = session.scalar(select(Rma).where(Rma.number == form.rma))
        if rma is None or customer is None or rma.customer_id != customer.id:
            errors["rma"] = f"RMA {form.rma} is not one of the caller's"
        else:
            rma_id = rma.id
            order_id = order_id or rma.order_id
    if errors:
        raise InvalidWorkOrder(errors)
    suggestion = suggested(form.description, rules)
    suggested_category = suggestion.category if suggestion else None
    suggested_department = suggestion.department if suggestion else None
    overridden = suggestion is not None and (
        (form.category, form.department) != (suggested_category, suggested_department)
    )
    return Checked(customer, order_id, rma_id, suggested_category, suggested_department, overridden)


def suggested(text: str, rules: WorkOrderRules) -> keyword_rules.Suggestion | None:
    """The keyword rules' suggestion for `text`; None when no keyword matched (the rules'
    fallback category is no suggestion: choosing otherwise overrides nothing). Pure."""
    found = keyword_rules.suggest(text, rules)
    return found if found.score > 0 else None


def entry_key(entry_id: int) -> str:
    """The client key of the work order of a handled call (its queue entry)."""
    return f"desk:entry:{entry_id}"


def contact_key(call_id: int) -> str:
    """The client key of a work order opened from the screen pop for an earlier call."""
    return f"desk:contact:{call_id}"


def open_for_call(
    session: Session,
    rules: WorkOrderRules,
    form: WorkOrderInput,
    *,
    entry: QueuedCall,
    agent: Agent,
    disposition: str,
    now: datetime,
) -> timeline.Opened:
    """The wrap-up's work order for the call of `entry` that `agent` handled: opened once per
    entry, linked to the call (role "opened"), closed at once when resolved on the call
    (`resolved_on_contact`) or passed to the department. The wrap-up's `disposition` goes into
    its timeline beside the category (the call's contact reason). Flushes."""
    call = session.get(Call, entry.call_id)
    customer = session.get(Customer, call.customer_id) if call and call.customer_id else None
    checked = check(session, rules, form, customer)
    opened = _open(
        session,
        form,
        checked,
        client_key=entry_key(entry.id),
        call_id=entry.call_id,
        on_contact=True,
        agent=agent,
        now=now,
    )
    if opened.created:
        timeline.add_event(
            session,
            opened.work_order,
            "wrap_up",
            author_id=agent.id,
            author=agent.login,
            now=now,
            dedupe_key=f"{entry_key(entry.id)}:wrap-up",
            disposition=disposition,
            category=form.category,
            queue=entry.queue,
        )
    return opened


def open_for_contact(
    session: Session,
    rules: WorkOrderRules,
    form: WorkOrderInput,
    *,
    call_id: int,
    customer: Customer | None,
    current_call_id: int | None,
    agent: Agent,
    now: datetime,
) -> timeline.Opened:
    """A work order for an earlier call (`call_id`) of the caller in hand (`customer`), opened
    from the screen pop and not tied to the current call: once per earlier call (a call that
    has a work order already gives that one back). Resolved means closed now, not on the
    contact (`resolved_on_contact` stays False). Flushes."""
    if customer is None:
        raise InvalidWorkOrder({"customer": "the caller is not identified"})
    call = session.get(Call, call_id)
    if call is None or call.customer_id != customer.id or call.id == current_call_id:
        raise InvalidWorkOrder({"contact": "not an earlier call of the caller"})
    linked = session.scalar(
        select(WorkOrder)
        .join(WorkOrderCall, WorkOrderCall.work_order_id == WorkOrder.id)
        .where(WorkOrderCall.call_id == call_id, WorkOrderCall.role == "opened")
        .limit(1)
    )
    if linked is not None:
        return timeline.Opened(linked, False)
    checked = check(session, rules, form, customer)
    return _open(
        session,
        form,
        checked,
        client_key=contact_key(call_id),
        call_id=call_id,
        on_contact=False,
        agent=agent,
        now=now,
    )


def _open(
    session: Session,
    form: WorkOrderInput,
    checked: Checked,
    *,
    client_key: str,
    call_id: int,
    on_contact: bool,
    agent: Agent,
    now: datetime,
) -> timeline.Opened:
    resolved = form.outcome is Outcome.RESOLVED
    customer = checked.customer
    opened = timeline.open_work_order(
        session,
        client_key=client_key,
        category=form.category,
        description=form.description.strip(),
        author_id=agent.id,
        author=agent.login,
        now=now,
        status=WorkOrderStatus.CLOSED if resolved else WorkOrderStatus.OPEN,
        call_id=call_id,
        customer_id=customer.id if customer else None,
        order_id=checked.order_id,
        rma_id=checked.rma_id,
        subcategory=form.subcategory,
        department=form.department,
        priority=timeline.priority_for(customer.tier if customer else None),
        owner_id=agent.id,
        owner_team=agent.team,
        suggested_category=checked.suggested_category,
        suggested_department=checked.suggested_department,
        suggestion_overridden=checked.overridden,
        resolution_code=RESOLVED_ON_CALL if resolved else None,
        resolved_on_contact=resolved and on_contact,
    )
    if opened.created and not resolved:
        states.move(
            session,
            opened.work_order,
            "pass",
            author_id=agent.id,
            author=agent.login,
            now=now,
            dedupe_key=f"{client_key}:pass",
        )
    return opened


# --- what the screen pop lists ------------------------------------------------------------------


def caller_work_orders(session: Session, customer_id: int, *, now: datetime) -> list[WorkOrder]:
    """The caller's open work orders (all of them, oldest first) and then the ones closed in
    the last `RECENT` (newest first, up to `RECENT_SHOWN`). Reads only."""
    open_ = session.scalars(
        select(WorkOrder)
        .where(WorkOrder.customer_id == customer_id, WorkOrder.status != WorkOrderStatus.CLOSED)
        .order_by(WorkOrder.created_at, WorkOrder.id)
    ).all()
    closed = session.scalars(
        select(WorkOrder)
        .where(
            WorkOrder.customer_id == customer_id,
            WorkOrder.status == WorkOrderStatus.CLOSED,
            WorkOrder.created_at >= now - RECENT,
        )
        .order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc())
        .limit(RECENT_SHOWN)
    ).all()
    return [*open_, *closed]


def earlier_contacts(
    session: Session, customer_id: int, *, current_call_id: int | None, now: datetime
) -> list[Call]:
    """The caller's inbound calls of the last `RECENT` before this one that no work order was
    opened for (newest first): those the screen pop offers to open one for. Reads only."""
    has_work_order = select(WorkOrderCall.call_id).where(WorkOrderCall.role == "opened")
    query = (
        select(Call)
        .where(
            Call.customer_id == customer_id,
            Call.direction == CallDirection.INBOUND,
            Call.started_at >= now - RECENT,
            Call.id.not_in(has_work_order),
        )
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(CONTACTS_SHOWN)
    )
    if current_call_id is not None:
        query = query.where(Call.id != current_call_id)
    return list(session.scalars(query))
