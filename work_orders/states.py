"""The work order's state machine, written down once: which event moves it from which states.

    opened ─▶ open ─pass─▶ with_department ─claim─▶ in_progress ─reply─▶ answered ─close─▶ closed
    opened resolved on the call ─▶ closed
    in_progress ─ask_customer─▶ waiting_on_customer ─customer_replied─▶ in_progress
    answered | closed ─reopen─▶ with_department       (the customer is not satisfied)

A department may answer without claiming first (`reply` from with_department), and a work
order still with the agent who opened it may be closed by them (`close` from open).

`move` is a compare-and-set on the status, and writes the status change into the timeline
(`timeline.add_event`, kind "status", with before and after) in the same transaction: of two
people moving the same work order at once, one moves it and the other gets `IllegalMove`
naming the state it is in now. An illegal move changes nothing. Services flush, never commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.db import rowcount
from core.errors import DomainError
from work_orders import timeline
from work_orders.models import WorkOrder, WorkOrderStatus

S = WorkOrderStatus

#: event → (the states it may start from, the state it leads to)
MOVES: dict[str, tuple[frozenset[WorkOrderStatus], WorkOrderStatus]] = {
    "pass": (frozenset({S.OPEN}), S.WITH_DEPARTMENT),
    "claim": (frozenset({S.WITH_DEPARTMENT}), S.IN_PROGRESS),
    "ask_customer": (frozenset({S.IN_PROGRESS}), S.WAITING_ON_CUSTOMER),
    "customer_replied": (frozenset({S.WAITING_ON_CUSTOMER}), S.IN_PROGRESS),
    "reply": (frozenset({S.WITH_DEPARTMENT, S.IN_PROGRESS, S.WAITING_ON_CUSTOMER}), S.ANSWERED),
    "close": (frozenset({S.OPEN, S.ANSWERED}), S.CLOSED),
    "reopen": (frozenset({S.ANSWERED, S.CLOSED}), S.WITH_DEPARTMENT),
}

#: Statuses that pause the SLA clocks (the customer has the next move).
PAUSED = frozenset({S.WAITING_ON_CUSTOMER})
#: Statuses of a work order nobody needs to act on.
FINAL = frozenset({S.CLOSED})


class IllegalMove(DomainError):
    """The event is not allowed from the work order's current state (HTTP 409); `details`
    names the current state and the events allowed from it."""

    code = "work-order-illegal-move"


class UnknownWorkOrder(DomainError):
    code = "work-order-not-found"


def target(event: str, current: WorkOrderStatus) -> WorkOrderStatus | None:
    """Where `event` takes a work order in state `current`; None if it may not (pure)."""
    move = MOVES.get(event)
    if move is None or current not in move[0]:
        return None
    return move[1]


def allowed(current: WorkOrderStatus) -> list[str]:
    """The events that may happen next to a work order in state `current` (pure)."""
    return [event for event in MOVES if target(event, current) is not None]


def refusal(work_order: WorkOrder, event: str) -> IllegalMove:
    """The IllegalMove of `event` on `work_order` as it is now (to raise)."""
    return IllegalMove(
        f"work order {work_order.number} is {work_order.status.value}: it cannot be {event}",
        work_order=work_order.number,
        event=event,
        status=work_order.status.value,
        allowed=allowed(work_order.status),
    )


def move(
    session: Session,
    work_order: WorkOrder,
    event: str,
    *,
    author_id: int | None,
    author: str,
    now: datetime,
    dedupe_key: str | None = None,
    note: str | None = None,
    **values: Any,
) -> WorkOrderStatus:
    """Apply `event` (with any other column `values`) as a compare-and-set, and add its
    "status" event to the timeline (with `note`, if any); the state it came from. Raises
    IllegalMove, naming the current state (re-read), when the state does not allow it or
    another transaction moved it first. Flushes."""
    session.flush()
    before = work_order.status
    to = target(event, before)
    if to is None:
        raise refusal(work_order, event)
    if to is S.CLOSED:
        values.setdefault("closed_at", now)
    elif before is S.CLOSED:
        values.setdefault("closed_at", None)
    moved = rowcount(
        session.execute(
            update(WorkOrder)
            .where(WorkOrder.id == work_order.id, WorkOrder.status == before)
            .values(status=to, updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
    )
    session.refresh(work_order)
    if moved != 1:
        raise refusal(work_order, event)
    data: dict[str, Any] = {"event": event, "before": before.value, "after": to.value}
    if note:
        data["note"] = note
    timeline.add_event(
        session,
        work_order,
        "status",
        author_id=author_id,
        author=author,
        now=now,
        dedupe_key=dedupe_key,
        **data,
    )
    return before
