"""The daily CSV export of a partner system's deliveries (`core.webhooks`): those to one target
not yet acknowledged nor exported, one row each, then stamped exported so that tomorrow's file
does not repeat them. The order system's decisions (`middle-office export`) and the back
office's hand-offs to finance and logistics (`rma export`) are the same export, by target."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from callcenter.runtime import Runtime
from core.webhooks import DeliveryStatus, WebhookDelivery


def export_deliveries(rt: Runtime, path: Path, *, target: str, columns: Sequence[str]) -> int:
    """Write `target`'s deliveries not delivered nor exported yet to `path` (columns: delivery,
    event, each of `columns` read from the payload, and the whole payload as JSON) and stamp
    them exported, in one transaction; how many were written."""
    with rt.unit_of_work() as uow:
        rows = uow.session.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.target == target,
                WebhookDelivery.status != DeliveryStatus.DELIVERED,
                WebhookDelivery.exported_at.is_(None),
            )
            .order_by(WebhookDelivery.id)
        ).all()
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["delivery", "event", *columns, "data"])
            for d in rows:
                writer.writerow(
                    [
                        d.id,
                        d.event,
                        *(d.payload.get(c) for c in columns),
                        json.dumps(d.payload, ensure_ascii=False),
                    ]
                )
                d.exported_at = rt.clock()
    return len(rows)
