"""Finding work orders: by number, the customer's phone, order number, RMA number, status,
department and breach state, a page at a time, newest first; and the same rows for a CSV
export.

- **Filters** come from a form or query string (`parse_filters`), each checked: a phone is
  normalised to E.164 with `core.phones.to_e164` (so 138-0013-8000, 013800138000 and
  +86 138 0013 8000 find the same customer), a number, order or RMA number is matched exactly
  (full-width digits and letters are folded first), a status must be one of the state
  machine's, a breach state one of `BREACH` (warning and breached: the SLA snapshot's
  `sla_state`; escalated or not: `escalated_at`). A bad field raises `InvalidSearch` (HTTP
  422) naming each; an empty form finds everything. All filters given must hold (AND).
- **Scope.** `team` limits the rows to the work orders that concern one team: passed to it
  as a department (`department`) or owned by its agents (`owner_team`). A department user sees
  only their own group's, and a team lead exporting with a "team" grant only their agents'
  (config/permissions.toml), whatever the form says.
- **Paging** is keyset on the id, newest first: a page is `id < after`, `after` being the
  last id of the page before (`Page.next_after`). Rows opened while someone pages do not shift
  the pages they are reading, and no row is skipped or shown twice.
- **Indexes** (migration 0017): (status, id), (department, id), (owner_team, id) and
  (sla_state, id) serve a status, department, team or breach filter in id order (0015 indexes
  escalated_at); number, order_id, rma_id and customer_id
  already have one, and a phone goes through customer_phones.e164 (unique).

Read-only: nothing here writes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, selectinload

from core.errors import DomainError
from core.models import Customer, CustomerPhone, Order, Rma
from core.phones import to_e164
from work_orders.models import WorkOrder, WorkOrderStatus
from work_orders.sla import ClockState

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
#: The most rows one export writes (a filter narrows a bigger one).
EXPORT_LIMIT = 20_000
FIELDS = ("number", "phone", "order", "rma", "status", "department", "breach")
#: The breach states one may look for: the SLA snapshot's worst clock (`sla_state`, which the
#: sweep writes: work_orders.sweep) or whether a breach escalated it (`escalated_at`).
BREACH = {
    "warning": "a clock past its warning share",
    "breached": "a clock past its target",
    "escalated": "escalated to the team lead (once, at the breach)",
    "not_escalated": "never escalated",
}


class InvalidSearch(DomainError):
    """A search form with bad fields (HTTP 422); `details` names each with the reason."""

    code = "invalid-search"


@dataclass(frozen=True, slots=True)
class Filters:
    """What to find; None: any."""

    number: str | None = None
    phone: str | None = None  # E.164
    order: str | None = None
    rma: str | None = None
    status: WorkOrderStatus | None = None
    department: str | None = None
    breach: str | None = None  # a key of BREACH

    def given(self) -> dict[str, str]:
        """The filters set, as text (for links to the next page and for the export's audit)."""
        return {name: str(value) for name in FIELDS if (value := getattr(self, name)) is not None}


@dataclass(frozen=True, slots=True)
class Row:
    """One work order as lists and exports show it (customer data unmasked: mask to show)."""

    id: int
    number: str
    status: str
    category: str
    subcategory: str | None
    department: str | None
    priority: int
    customer_name: str
    customer_phone: str
    order: str
    rma: str
    description: str
    owner_team: str
    #: The SLA snapshot (work_orders.sweep): the worst clock's state, the due times, and
    #: when a breach escalated it.
    sla_state: str | None
    feedback_due_at: datetime | None
    resolution_due_at: datetime | None
    escalated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    #: The `after` of the next page; None on the last.
    next_after: int | None


def _fold(value: Any) -> str:
    return unicodedata.normalize("NFKC", str(value or "")).strip()


def parse_filters(form: Mapping[str, Any], *, country_code: str) -> Filters:
    """The search form checked (pure): empty fields are no filter; a phone is normalised to
    E.164 (`country_code` is the centre's); a status must be a work order status. Raises
    `InvalidSearch` naming each bad field."""
    text = {name: _fold(form.get(name)) for name in FIELDS}
    bad: dict[str, str] = {}
    phone = None
    if text["phone"]:
        phone = to_e164(text["phone"], country_code)
        if phone is None:
            bad["phone"] = f"{text['phone']!r} is not a phone number"
    status = None
    if text["status"]:
        try:
            status = WorkOrderStatus(text["status"])
        except ValueError:
            known = ", ".join(s.value for s in WorkOrderStatus)
            bad["status"] = f"unknown status {text['status']!r}; one of {known}"
    if text["breach"] and text["breach"] not in BREACH:
        bad["breach"] = f"unknown breach state {text['breach']!r}; one of {', '.join(BREACH)}"
    for name in ("number", "order", "rma", "department"):
        if len(text[name]) > 40:
            bad[name] = "at most 40 characters"
    if bad:
        raise InvalidSearch("the search has bad fields: " + ", ".join(sorted(bad)), **bad)
    return Filters(
        number=text["number"].upper() or None,
        phone=phone,
        order=text["order"] or None,
        rma=text["rma"] or None,
        status=status,
        department=text["department"] or None,
        breach=text["breach"] or None,
    )


def parse_paging(form: Mapping[str, Any]) -> tuple[int | None, int]:
    """`after` and `limit` from the form (pure): bad or missing values fall back to the first
    page and `PAGE_SIZE`; the limit is kept within 1..MAX_PAGE_SIZE."""
    after = _fold(form.get("after"))
    limit = _fold(form.get("limit"))
    size = int(limit) if limit.isdigit() else PAGE_SIZE
    return (int(after) if after.isdigit() else None), max(1, min(size, MAX_PAGE_SIZE))


def query(filters: Filters, *, team: str | None = None) -> Select[WorkOrder]:
    """The SELECT of the work orders `filters` find (only those concerning `team`, if given),
    newest first (pure: builds, does not run)."""
    stmt = select(WorkOrder)
    if filters.number:
        stmt = stmt.where(WorkOrder.number == filters.number)
    if filters.phone:
        owners = select(CustomerPhone.customer_id).where(CustomerPhone.e164 == filters.phone)
        stmt = stmt.where(WorkOrder.customer_id.in_(owners))
    if filters.order:
        stmt = stmt.where(
            WorkOrder.order_id.in_(select(Order.id).where(Order.number == filters.order))
        )
    if filters.rma:
        stmt = stmt.where(WorkOrder.rma_id.in_(select(Rma.id).where(Rma.number == filters.rma)))
    if filters.status is not None:
        stmt = stmt.where(WorkOrder.status == filters.status)
    if filters.department:
        stmt = stmt.where(WorkOrder.department == filters.department)
    if filters.breach in (ClockState.WARNING, ClockState.BREACHED):
        stmt = stmt.where(WorkOrder.sla_state == filters.breach)
    elif filters.breach == "escalated":
        stmt = stmt.where(WorkOrder.escalated_at.is_not(None))
    elif filters.breach == "not_escalated":
        stmt = stmt.where(WorkOrder.escalated_at.is_(None))
    if team is not None:
        stmt = stmt.where(or_(WorkOrder.department == team, WorkOrder.owner_team == team))
    return stmt.order_by(WorkOrder.id.desc())


def search(
    session: Session,
    filters: Filters,
    *,
    team: str | None = None,
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """One page of the work orders `filters` find, newest first, starting after the id
    `after` (keyset paging). Read-only."""
    stmt = query(filters, team=team)
    if after is not None:
        stmt = stmt.where(WorkOrder.id < after)
    found = _load(session, stmt.limit(limit + 1))
    more = len(found) > limit
    rows = found[:limit]
    return Page(rows, rows[-1].id if more and rows else None)


def export_rows(
    session: Session, filters: Filters, *, team: str | None = None, limit: int = EXPORT_LIMIT
) -> Iterator[Row]:
    """Every row `filters` find (at most `limit`), newest first, read a page at a time.
    Read-only."""
    after, left = None, limit
    while left > 0:
        page = search(session, filters, team=team, after=after, limit=min(left, 500))
        yield from page.rows
        left -= len(page.rows)
        if page.next_after is None:
            return
        after = page.next_after


def _load(session: Session, stmt: Select[WorkOrder]) -> list[Row]:
    stmt = stmt.options(
        selectinload(WorkOrder.customer).selectinload(Customer.phones),
        selectinload(WorkOrder.order),
        selectinload(WorkOrder.rma),
    )
    return [_row(wo) for wo in session.scalars(stmt)]


def _row(wo: WorkOrder) -> Row:
    customer = wo.customer
    phones = sorted(customer.phones, key=lambda p: p.id) if customer else []
    return Row(
        id=wo.id,
        number=wo.number,
        status=wo.status.value,
        category=wo.category,
        subcategory=wo.subcategory,
        department=wo.department,
        priority=wo.priority,
        customer_name=customer.name if customer else "",
        customer_phone=phones[0].e164 if phones else "",
        order=wo.order.number if wo.order else "",
        rma=wo.rma.number if wo.rma else "",
        description=wo.description,
        owner_team=wo.owner_team,
        sla_state=wo.sla_state,
        feedback_due_at=wo.feedback_due_at,
        resolution_due_at=wo.resolution_due_at,
        escalated_at=wo.escalated_at,
        created_at=wo.created_at,
        updated_at=wo.updated_at,
        closed_at=wo.closed_at,
    )
