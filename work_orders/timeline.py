"""Opening a work order and writing its timeline.

A work order is opened once per submission: the submitter's `client_key` (the wrap-up form's,
an API client's) finds the work order already opened instead of a second one, even when two
copies race (the insert runs in a savepoint; the loser reads the winner's row). Every event of
its life goes into its timeline (`add_event`): notes, status changes (`states.move` writes
them), department replies, calls, SLA warnings and breaches, escalations; each with its author
and time. An event with a `dedupe_key` is written once. Services flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.models import Tier
from work_orders.models import WorkOrder, WorkOrderCall, WorkOrderEvent, WorkOrderStatus

#: A work order's priority by the customer's tier (an unidentified caller counts as new).
TIER_PRIORITY = {Tier.VIP: 2, Tier.RETURNING: 1, Tier.NEW: 0}


def priority_for(tier: Tier | None) -> int:
    return TIER_PRIORITY[tier or Tier.NEW]


def number_for(work_order_id: int, now: datetime) -> str:
    """A work order's number: "WO", the day it was opened and its id (pure): WO261207000042."""
    return f"WO{now:%y%m%d}{work_order_id:06d}"


@dataclass(frozen=True, slots=True)
class Opened:
    work_order: WorkOrder
    created: bool  # False: the same submission again (its client key)


def find_by_key(session: Session, client_key: str) -> WorkOrder | None:
    return session.scalar(select(WorkOrder).where(WorkOrder.client_key == client_key))


def open_work_order(
    session: Session,
    *,
    client_key: str | None,
    category: str,
    description: str,
    author_id: int | None,
    author: str,
    now: datetime,
    status: WorkOrderStatus = WorkOrderStatus.OPEN,
    call_id: int | None = None,
    **fields: Any,
) -> Opened:
    """Open a work order (once per `client_key`) in `status` (open, or closed when resolved on
    the call), with its "created" event and, if given, its link to the call that opened it.
    `fields` are the other columns (customer_id, order_id, rma_id, subcategory, department,
    priority, owner_id, owner_team, suggested_category, suggested_department,
    suggestion_overridden, resolution_code, resolved_on_contact). Validate them first: this
    stores what it is given. Flushes."""
    if client_key is not None:
        found = find_by_key(session, client_key)
        if found is not None:
            return Opened(found, False)
    work_order = WorkOrder(
        number=f"T{uuid4().hex[:19]}",  # unique until the id gives the real number
        client_key=client_key,
        category=category,
        description=description,
        status=status,
        created_at=now,
        updated_at=now,
        closed_at=now if status is WorkOrderStatus.CLOSED else None,
        **fields,
    )
    try:
        with session.begin_nested():
            session.add(work_order)
            session.flush()
    except IntegrityError:
        if client_key is None:
            raise
        found = find_by_key(session, client_key)  # a copy of the same submission won
        if found is None:
            raise
        return Opened(found, False)
    work_order.number = number_for(work_order.id, now)
    session.flush()
    add_event(
        session,
        work_order,
        "created",
        author_id=author_id,
        author=author,
        now=now,
        status=status.value,
        category=category,
        department=work_order.department,
    )
    if call_id is not None:
        link_call(session, work_order, call_id, role="opened", now=now)
    return Opened(work_order, True)


def add_event(
    session: Session,
    work_order: WorkOrder,
    kind: str,
    *,
    author_id: int | None,
    author: str,
    now: datetime,
    dedupe_key: str | None = None,
    **data: Any,
) -> WorkOrderEvent | None:
    """Append one event to the timeline; None if an event with `dedupe_key` is already there
    (a repeated submission). Flushes."""
    if dedupe_key is not None:
        found = session.scalar(
            select(WorkOrderEvent).where(
                WorkOrderEvent.work_order_id == work_order.id,
                WorkOrderEvent.dedupe_key == dedupe_key,
            )
        )
        if found is not None:
            return None
    event = WorkOrderEvent(
        work_order_id=work_order.id,
        kind=kind[:30],
        at=now,
        author_id=author_id,
        author=author[:60],
        dedupe_key=dedupe_key,
        data=data,
    )
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        if dedupe_key is None:
            raise
        return None  # a copy of the same submission won
    _due_for_a_check(session, work_order, now)
    return event


def _due_for_a_check(session: Session, work_order: WorkOrder, now: datetime) -> None:
    """Every new event makes the work order due for the SLA sweep's next run (its snapshot of
    the clocks may have changed: a pause ended, a reply met a clock), whatever service added
    it; a service that recomputes the snapshot itself (`sweep.refresh_clocks`) overwrites this.
    Never moves a check that is due sooner later."""
    session.execute(
        update(WorkOrder)
        .where(
            WorkOrder.id == work_order.id,
            or_(WorkOrder.next_check_at.is_(None), WorkOrder.next_check_at > now),
        )
        .values(next_check_at=now)
        .execution_options(synchronize_session=False)
    )


def link_call(
    session: Session, work_order: WorkOrder, call_id: int, *, role: str, now: datetime
) -> bool:
    """Link a call to the work order (once); True if it was new. Flushes."""
    if session.get(WorkOrderCall, (work_order.id, call_id)) is not None:
        return False
    session.add(
        WorkOrderCall(work_order_id=work_order.id, call_id=call_id, role=role, linked_at=now)
    )
    session.flush()
    return True


def timeline_of(session: Session, work_order: WorkOrder) -> list[WorkOrderEvent]:
    """Every event of the work order, oldest first. Read-only."""
    return list(
        session.scalars(
            select(WorkOrderEvent)
            .where(WorkOrderEvent.work_order_id == work_order.id)
            .order_by(WorkOrderEvent.at, WorkOrderEvent.id)
        )
    )
