"""Quality inspection of a returned item, as the warehouse records it (JSON API, CSV import).

One current result per RMA. The first one takes the RMA out of "awaiting inspection" onto the
review work list (`inspected`); the same result again changes nothing; a different result
replaces it while the RMA is in review (audited with before and after), and is refused once
the RMA is decided. Services flush; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from back_office import fields, states
from back_office.handoffs import find
from back_office.intake import refused_change
from back_office.models import Inspection
from core.audit import record
from core.errors import DomainError
from core.models import Rma, RmaStatus

FIELDS = ("rma", "passed", "notes", "inspector", "inspected_at")


class InvalidInspection(DomainError):
    """The inspection cannot be stored; `details.fields` names each bad field."""

    code = "invalid-inspection"


@dataclass(frozen=True, slots=True)
class InspectionIn:
    """A validated inspection result. Without `inspected_at`, it is recorded when received."""

    passed: bool
    notes: str
    inspector: str
    inspected_at: datetime | None


def parse_inspection(raw: Any, *, with_number: bool = False) -> tuple[str, InspectionIn]:
    """Validate one inspection payload (the RMA number in its `rma` field if `with_number`,
    as in a CSV row; the API has it in the path); raise InvalidInspection naming every bad
    field (pure). Returns the number ("" without one) and the result."""
    if not isinstance(raw, dict):
        raise InvalidInspection("the body must be a JSON object", fields={"": "not an object"})
    errors: fields.Errors = {}
    number = fields.text(raw, "rma", errors, 20, required=with_number) if with_number else ""
    passed = fields.flag(raw, "passed", errors, default=None)
    notes = fields.text(raw, "notes", errors, 2000, required=False)
    inspector = fields.text(raw, "inspector", errors, 60, required=False)
    inspected_at = fields.moment(raw, "inspected_at", errors)
    fields.unknown(raw, FIELDS if with_number else FIELDS[1:], errors)
    if errors:
        raise InvalidInspection(f"{len(errors)} bad field(s)", fields=errors)
    return number or "", InspectionIn(passed, notes or "", inspector or "", inspected_at)


@dataclass(frozen=True, slots=True)
class Recorded:
    rma: str
    status: str  # the RMA's state
    outcome: str  # created, replaced, unchanged
    passed: bool


def record_inspection(
    session: Session,
    number: str,
    result: InspectionIn,
    *,
    source: str,
    now: datetime,
    actor: str = "warehouse",
) -> Recorded:
    """Record the inspection of RMA `number`. Flushes, never commits.

    Idempotent: the same result again returns `unchanged` (whatever the RMA's state). The first
    result moves the RMA `inspected` (awaiting_inspection → in_review); a different one replaces
    it while the RMA is in review; once decided, a different one raises IllegalMove (409).
    UnknownRma (404) for an unknown number. Every change is audited with before and after.
    Two first results at once: the one that commits second finds the other's at its insert (a
    savepoint catches the unique constraint) and is judged again against it.
    """
    try:
        return _record(session, number, result, source=source, now=now, actor=actor)
    except _Raced:
        return _record(session, number, result, source=source, now=now, actor=actor, again=True)


class _Raced(Exception):
    """Another transaction committed the RMA's first inspection first."""


def _record(
    session: Session,
    number: str,
    result: InspectionIn,
    *,
    source: str,
    now: datetime,
    actor: str,
    again: bool = False,
) -> Recorded:
    rma = find(session, number)
    if again:  # the other transaction moved it meanwhile: read its state afresh
        session.refresh(rma)
    found = session.scalar(select(Inspection).where(Inspection.rma_id == rma.id))
    if found is not None and _same(found, result):
        return Recorded(rma.number, rma.status.value, "unchanged", found.passed)
    if rma.status not in (RmaStatus.AWAITING_INSPECTION, RmaStatus.IN_REVIEW):
        raise refused_change(rma, "its inspection")
    before = _snapshot(found, rma)
    outcome = "created" if found is None else "replaced"
    if found is None:
        found = Inspection(rma_id=rma.id)
    found.passed = result.passed
    found.notes = result.notes
    found.inspector = result.inspector
    found.inspected_at = result.inspected_at or now
    found.source = source
    found.recorded_at = now
    try:
        with session.begin_nested():
            session.add(found)
            session.flush()
    except IntegrityError as exc:
        raise _Raced from exc
    if rma.status is RmaStatus.AWAITING_INSPECTION:
        states.move(session, rma, "inspected", now=now)
    record(
        session,
        actor_id=None,
        actor=actor,
        action=f"rma.inspection_{outcome}",
        subject_type="rma",
        subject_id=rma.number,
        now=now,
        source=source,
        before=before,
        after=_snapshot(found, rma),
    )
    return Recorded(rma.number, rma.status.value, outcome, found.passed)


def inspection_of(session: Session, rma: Rma) -> Inspection | None:
    """The RMA's current inspection result, if the warehouse has recorded one."""
    return session.scalar(select(Inspection).where(Inspection.rma_id == rma.id))


def _same(found: Inspection, result: InspectionIn) -> bool:
    return (
        found.passed == result.passed
        and found.notes == result.notes
        and found.inspector == result.inspector
        and (result.inspected_at is None or found.inspected_at == result.inspected_at)
    )


def _snapshot(found: Inspection | None, rma: Rma) -> dict[str, Any] | None:
    if found is None:
        return {"status": rma.status.value, "inspection": None}
    return {
        "status": rma.status.value,
        "inspection": {
            "passed": found.passed,
            "notes": found.notes,
            "inspector": found.inspector,
            "inspected_at": found.inspected_at.isoformat(),
        },
    }
