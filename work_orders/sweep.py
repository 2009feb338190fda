"""The SLA sweep: raise each clock's warning and breach once, and escalate a breach once.

The clocks themselves are pure (`work_orders.sla`); this module keeps their snapshot in the
work order's columns (`feedback_due_at`, `resolution_due_at`, `sla_state`, `next_check_at`,
`clocks_at`) so that the sweep reads only the work orders whose next check is due, however many
are open.

- `refresh_clocks(session, work_order, now=..., sla=...)` recomputes the snapshot from the
  timeline. Every service that adds an event to a work order calls it afterwards; without an
  `Sla` (the policies and the calendar) it marks the work order due for the sweep's next run.
- `sweep(session, sla, now=...)` takes the due work orders, writes a "sla_warning" or
  "sla_breach" event per clock (dedupe keys "sla_warning:<clock>", "sla_breach:<clock>": once,
  even from two processes at once, by the timeline's unique key), escalates a breach (a
  compare-and-set on `escalated_at`, and an "escalated" event, once per clock) and refreshes the
  snapshot. The supervisor's wallboard shows an escalated work order that is not closed
  (`supervision.alerts`). Services flush and never commit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from config.hours import BusinessHours
from work_orders import timeline
from work_orders.models import WorkOrder, WorkOrderEvent
from work_orders.sla import Clocks, ClockState, EventLike, clocks, next_check
from work_orders.sla_policy import SlaPolicies
from work_orders.states import FINAL

SYSTEM = "system"
#: How many due work orders one sweep takes (the next run takes the rest).
BATCH = 500


@dataclass(frozen=True, slots=True)
class Sla:
    """What the clocks need besides the timeline: the policies and the centre's calendar."""

    policies: SlaPolicies
    hours: BusinessHours


@dataclass
class SweepRun:
    checked: int = 0
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (number, clock)
    breaches: list[tuple[str, str]] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)  # numbers escalated by this run


def clocks_of(work_order: WorkOrder, events: list[EventLike], sla: Sla, *, now: datetime) -> Clocks:
    """The work order's clocks at `now` from its `events` (in the order recorded; pure)."""
    policy = sla.policies.for_work_order(work_order.category, work_order.priority)
    return clocks(events, policy, sla.hours, now=now)


def events_of(session: Session, work_order_ids: list[int]) -> dict[int, list[EventLike]]:
    """The timelines of several work orders, each in the order recorded. Read-only."""
    found: dict[int, list[EventLike]] = defaultdict(list)
    for event in session.scalars(
        select(WorkOrderEvent)
        .where(WorkOrderEvent.work_order_id.in_(work_order_ids))
        .order_by(WorkOrderEvent.work_order_id, WorkOrderEvent.id)
    ):
        found[event.work_order_id].append(event)
    return found


def refresh_clocks(
    session: Session, work_order: WorkOrder, *, now: datetime, sla: Sla | None = None
) -> Clocks | None:
    """Recompute the work order's SLA snapshot from its timeline after an event was added
    (with `sla`), or mark it due for the sweep's next run (without); the clocks, or None.
    Flushes."""
    session.flush()
    if sla is None:
        session.execute(
            update(WorkOrder)
            .where(WorkOrder.id == work_order.id)
            .values(next_check_at=now)
            .execution_options(synchronize_session=False)
        )
        session.refresh(work_order)
        return None
    events = events_of(session, [work_order.id])[work_order.id]
    found = clocks_of(work_order, events, sla, now=now)
    _write_snapshots(session, [(work_order, found, None)], now=now, compare=False)
    return found


SNAPSHOT = ("feedback_due_at", "resolution_due_at", "sla_state", "next_check_at", "clocks_at")


def _write_snapshots(
    session: Session,
    found: list[tuple[WorkOrder, Clocks, datetime | None]],
    *,
    now: datetime,
    compare: bool,
) -> None:
    """Store the snapshots in one statement (executemany). With `compare`, a row is written
    only if its `next_check_at` still holds the value read (the third item): a transaction
    that added an event since has the last word. The objects' snapshot attributes are expired
    (read again on use)."""
    if not found:
        return
    table = cast(Table, WorkOrder.__table__)
    query = update(table).where(table.c.id == bindparam("wo_id"))
    if compare:
        query = query.where(table.c.next_check_at == bindparam("expected"))
    session.execute(
        query.values({name: bindparam(name) for name in SNAPSHOT}),
        [
            {
                "wo_id": work_order.id,
                "expected": expected,
                "feedback_due_at": clocks_.feedback.due_at,
                "resolution_due_at": clocks_.resolution.due_at,
                "sla_state": clocks_.state.value,
                "next_check_at": next_check(clocks_),
                "clocks_at": now,
            }
            for work_order, clocks_, expected in found
        ],
    )
    for work_order, _, _ in found:
        session.expire(work_order, list(SNAPSHOT))


def sweep(session: Session, sla: Sla, *, now: datetime, batch: int = BATCH) -> SweepRun:
    """Check the work orders whose next check is due at `now`: record each warning and breach
    once, escalate each breach once, and refresh their snapshots. Idempotent; safe in several
    processes at once. Flushes."""
    run = SweepRun()
    due = list(
        session.scalars(
            select(WorkOrder)
            .where(WorkOrder.next_check_at <= now)
            .order_by(WorkOrder.next_check_at, WorkOrder.id)
            .limit(batch)
        )
    )
    timelines = events_of(session, [w.id for w in due])
    snapshots: list[tuple[WorkOrder, Clocks, datetime | None]] = []
    for work_order in due:
        run.checked += 1
        expected = work_order.next_check_at
        events = timelines[work_order.id]
        found = clocks_of(work_order, events, sla, now=now)
        added = _record(session, work_order, found, run, now=now)
        if added:
            events = events + added
            found = clocks_of(work_order, events, sla, now=now)
        snapshots.append((work_order, found, expected))
    _write_snapshots(session, snapshots, now=now, compare=True)
    return run


def _record(
    session: Session, work_order: WorkOrder, found: Clocks, run: SweepRun, *, now: datetime
) -> list[EventLike]:
    """Write the warnings and breaches the timeline lacks, and escalate a breach; the events
    this transaction wrote (a copy another process wrote first is not among them)."""
    added: list[EventLike] = []
    for clock in found:
        if clock.state is ClockState.MET or clock.breach_recorded:
            continue
        if clock.breached:
            kind = "sla_breach"
        elif clock.warned and not clock.warning_recorded:
            kind = "sla_warning"
        else:
            continue
        event = timeline.add_event(
            session,
            work_order,
            kind,
            author_id=None,
            author=SYSTEM,
            now=now,
            dedupe_key=f"{kind}:{clock.name}",
            clock=clock.name,
            due_at=clock.due_at.isoformat() if clock.due_at else None,
            target_s=int(clock.target.total_seconds()),
            elapsed_s=int(clock.elapsed.total_seconds()),
        )
        if event is None:
            continue  # another process recorded it first
        added.append(event)
        if kind == "sla_warning":
            run.warnings.append((work_order.number, clock.name))
            continue
        run.breaches.append((work_order.number, clock.name))
        escalation = escalate(session, work_order, clock=clock.name, now=now)
        if escalation is not None:
            added.append(escalation)
            run.escalated.append(work_order.number)
    return added


def escalate(
    session: Session, work_order: WorkOrder, *, clock: str, now: datetime
) -> WorkOrderEvent | None:
    """Escalate a breach of `clock` once: an "escalated" event, and the work order on the
    team lead's list (`escalated_at`, set by its first escalation: a compare-and-set). The
    event, or None if this breach had escalated already. Flushes."""
    event = timeline.add_event(
        session,
        work_order,
        "escalated",
        author_id=None,
        author=SYSTEM,
        now=now,
        dedupe_key=f"escalated:{clock}",
        clock=clock,
        to="team_lead",
    )
    if event is None:
        return None
    session.execute(
        update(WorkOrder)
        .where(WorkOrder.id == work_order.id, WorkOrder.escalated_at.is_(None))
        .values(escalated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(work_order)
    return event


def escalated(session: Session, *, limit: int = 200) -> list[WorkOrder]:
    """The team lead's list: escalated work orders not closed yet, earliest escalation first.
    Read-only."""
    return list(
        session.scalars(
            select(WorkOrder)
            .where(WorkOrder.escalated_at.is_not(None), WorkOrder.status.not_in(FINAL))
            .order_by(WorkOrder.escalated_at, WorkOrder.id)
            .limit(limit)
        )
    )
