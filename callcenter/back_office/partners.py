"""What the partner systems' API does past parsing (the order system's RMAs, the warehouse's
inspections, the catalogue, finance's and logistics' confirmations): one domain call in the
request's unit of work. No Flask here; each function takes the unit of work and `now`."""

from __future__ import annotations

from datetime import datetime

from back_office import catalogue, handoffs, inspections, intake
from core.db import UnitOfWork
from outbound.policy import Policy


def file_rma(uow: UnitOfWork, data: intake.RmaIn, *, now: datetime) -> intake.IngestResult:
    """Create or update an RMA (`intake.ingest`; idempotent by number)."""
    return intake.ingest(uow.session, data, source="api", now=now)


def record_inspection(
    uow: UnitOfWork, number: str, result: inspections.InspectionIn, *, now: datetime
) -> inspections.Recorded:
    """The warehouse's inspection of RMA `number` (`inspections.record_inspection`)."""
    return inspections.record_inspection(uow.session, number, result, source="api", now=now)


def update_catalogue(
    uow: UnitOfWork, items: list[catalogue.ItemIn], *, now: datetime
) -> catalogue.Upserted:
    """Upsert catalogue items (`catalogue.upsert_items`; idempotent by SKU)."""
    return catalogue.upsert_items(uow.session, items, now=now)


def confirm(
    uow: UnitOfWork,
    number: str,
    *,
    reference: str | None = None,
    tracking: str | None = None,
    now: datetime,
    policy: Policy,
) -> handoffs.Confirmed:
    """Finance's refund (`reference`) or logistics' shipment (`tracking`) of RMA `number`
    (`handoffs.confirm_refunded` / `confirm_shipped`; the same confirmation twice changes
    nothing, a contradicting one is refused). The customer's notice call follows the
    engine's calling `policy` (attempts, backoff, hours)."""
    if reference is not None:
        return handoffs.confirm_refunded(
            uow.session, number, reference=reference, now=now, policy=policy
        )
    assert tracking is not None
    return handoffs.confirm_shipped(uow.session, number, tracking=tracking, now=now, policy=policy)
