"""First-contact resolution (FCR), as `docs/METRICS.md` defines it.

A **contact** is a work order opened on a handled call (linked to it with the role "opened":
the wrap-up opens one per call). It counts as **resolved at first contact** when

1. its work order was closed on that call (`resolved_on_contact`), and
2. the same customer did not contact the centre again within the window (default 7 days,
   `CALLCENTER_FCR_WINDOW_DAYS`) after it about the same order, or about the same category:
   another contact `o` of the same customer with `c.at < o.at <= c.at + window` and
   (`o.order == c.order`, both known) or `o.category == c.category`.

A caller the centre could not identify (no customer) cannot be seen calling again: their
contact counts on condition 1 alone. A contact whose window has not ended at `now` may still
lose its FCR: `window_open` counts those, so a report of the last days says how final it is.

    fcr_percent = 100 × resolved at first contact / contacts      (one decimal; None if 0)

Rows per agent (the work order's owner, who took the call), team (`owner_team`) and category,
and one for the centre. Read-only queries turn rows into plain `Contact` records; the rest is
pure and takes `now`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.models import Agent
from reports.back_office import Period, local_period
from work_orders.models import WorkOrder, WorkOrderCall

DEFAULT_WINDOW = timedelta(days=7)
KINDS = ("centre", "agents", "teams", "categories")
ALL = "all"


@dataclass(frozen=True, slots=True)
class Contact:
    """What FCR needs of one contact (a work order opened on a call)."""

    work_order_id: int
    at: datetime
    customer_id: int | None
    order_id: int | None
    category: str
    agent: str  # the login of the agent who took the call ("" if unknown)
    team: str
    resolved_on_contact: bool


@dataclass(frozen=True, slots=True)
class FcrFigures:
    contacts: int
    resolved_on_contact: int  # closed on the call
    repeated: int  # closed on the call, but the customer came back within the window
    resolved_first_contact: int  # resolved_on_contact - repeated
    fcr_percent: float | None
    window_open: int  # contacts whose window has not ended at `now` (their FCR may change)


# --- pure ---------------------------------------------------------------------------------------


def came_back(contact: Contact, later: Contact, window: timedelta) -> bool:
    """Whether `later` is the same customer contacting again about the same order or category
    within the window after `contact` (pure)."""
    if contact.customer_id is None or later.customer_id != contact.customer_id:
        return False
    if not contact.at < later.at <= contact.at + window:
        return False
    same_order = contact.order_id is not None and later.order_id == contact.order_id
    return same_order or later.category == contact.category


def repeated_ids(contacts: Sequence[Contact], window: timedelta) -> set[int]:
    """The work orders whose customer came back within the window (pure). `contacts` must
    include every contact up to the window's end after the last one reported."""
    by_customer: dict[int, list[Contact]] = defaultdict(list)
    for c in contacts:
        if c.customer_id is not None:
            by_customer[c.customer_id].append(c)
    found: set[int] = set()
    for theirs in by_customer.values():
        theirs.sort(key=lambda c: (c.at, c.work_order_id))
        for i, c in enumerate(theirs):
            for later in theirs[i + 1 :]:
                if later.at > c.at + window:
                    break
                if came_back(c, later, window):
                    found.add(c.work_order_id)
                    break
    return found


def percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 1)


def figures(
    contacts: Sequence[Contact], repeated: set[int], *, now: datetime, window: timedelta
) -> FcrFigures:
    """FCR of `contacts`, given the ids of those the customer came back about (pure)."""
    closed = [c for c in contacts if c.resolved_on_contact]
    again = sum(1 for c in closed if c.work_order_id in repeated)
    resolved = len(closed) - again
    return FcrFigures(
        contacts=len(contacts),
        resolved_on_contact=len(closed),
        repeated=again,
        resolved_first_contact=resolved,
        fcr_percent=percent(resolved, len(contacts)),
        window_open=sum(1 for c in contacts if c.at + window > now),
    )


KEYS: dict[str, tuple[str, Callable[[Contact], str]]] = {
    "centre": ("centre", lambda c: ALL),
    "agents": ("agent", lambda c: c.agent),
    "teams": ("team", lambda c: c.team),
    "categories": ("category", lambda c: c.category),
}


def rows(
    kind: str,
    contacts: Sequence[Contact],
    everything: Sequence[Contact],
    *,
    period: Period,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
) -> list[dict[str, Any]]:
    """One row per agent, team or category (or the centre) of the contacts in `period`;
    `everything` adds the later contacts that may be repeats (pure)."""
    column, key = KEYS[kind]
    repeated = repeated_ids(everything, window)
    groups: dict[str, list[Contact]] = defaultdict(list)
    for c in contacts:
        if period.holds(c.at):
            groups[key(c)].append(c)
    return [
        {column: name, **asdict(figures(group, repeated, now=now, window=window))}
        for name, group in sorted(groups.items())
    ]


# --- reads --------------------------------------------------------------------------------------


def load_contacts(session: Session, start: datetime, end: datetime) -> list[Contact]:
    """Every contact (a work order opened on a call) from `start` to `end`. Read-only."""
    opened_on_call = (
        select(WorkOrderCall.work_order_id).where(WorkOrderCall.role == "opened").scalar_subquery()
    )
    found = session.execute(
        select(
            WorkOrder.id,
            WorkOrder.created_at,
            WorkOrder.customer_id,
            WorkOrder.order_id,
            WorkOrder.category,
            Agent.login,
            WorkOrder.owner_team,
            WorkOrder.resolved_on_contact,
        )
        .outerjoin(Agent, Agent.id == WorkOrder.owner_id)
        .where(
            WorkOrder.created_at >= start,
            WorkOrder.created_at < end,
            WorkOrder.id.in_(opened_on_call),
        )
    ).all()
    return [
        Contact(wo_id, _utc(at), customer, order, category, login or "", team, resolved)
        for wo_id, at, customer, order, category, login, team, resolved in found
    ]


def fcr_report(
    session: Session,
    kind: str,
    *,
    first: date,
    last: date,
    tz: ZoneInfo,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
    team: str | None = None,
) -> list[dict[str, Any]]:
    """FCR rows of `kind` (centre, agents, teams, categories) for the contacts of local days
    `first` to `last`; `team` limits them to that team's agents (a team lead's view).
    Read-only."""
    period = local_period(first, last, tz)
    everything = load_contacts(session, period.start, period.end + window)
    mine = [c for c in everything if team is None or c.team == team]
    return rows(kind, mine, everything, period=period, now=now, window=window)


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo("UTC"))


def columns(kind: str) -> list[str]:
    return [KEYS[kind][0], *FcrFigures.__dataclass_fields__]


COLUMNS: Mapping[str, list[str]] = {kind: columns(kind) for kind in KINDS}
