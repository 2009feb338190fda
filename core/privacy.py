"""Customer data by need to know: masks for names and addresses (numbers: `phones.mask`), and
the audit entries of every unmasking and every export of customer data.

Staff pages show customers masked; a post granted `customer.unmask` (config/permissions.toml)
may ask to see one customer's data in full, and each such showing is written to the audit log
(`customer.unmask`), as is each export (`export.customer_data`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.audit import record as audit
from core.phones import mask as mask_number

__all__ = ["mask_address", "mask_name", "mask_number", "note_export", "note_unmask"]


def mask_name(name: str | None) -> str:
    """The first character, the rest starred: 李娜 → 李*, Emily Zhou → E*********."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def mask_address(address: str | None) -> str:
    """The first four characters (a district, not a door), then an ellipsis."""
    if not address:
        return ""
    return address[:4] + "…" if len(address) > 4 else "*" * len(address)


def note_unmask(
    session: Session,
    *,
    actor_id: int,
    actor: str,
    subject_type: str,
    subject_id: str | int,
    fields: list[str],
    now: datetime,
) -> None:
    """Audit one showing of a customer's data in full (flushes, never commits)."""
    audit(
        session,
        actor_id=actor_id,
        actor=actor,
        action="customer.unmask",
        subject_type=subject_type,
        subject_id=subject_id,
        now=now,
        fields=fields,
    )


def note_export(
    session: Session,
    *,
    actor_id: int,
    actor: str,
    what: str,
    rows: int,
    unmasked: bool,
    now: datetime,
    **filters: Any,
) -> None:
    """Audit one export of customer data: what, how many rows, masked or not, with which
    filters (flushes, never commits)."""
    audit(
        session,
        actor_id=actor_id,
        actor=actor,
        action="export.customer_data",
        subject_type="export",
        subject_id=what,
        now=now,
        rows=rows,
        unmasked=unmasked,
        filters=filters,
    )
