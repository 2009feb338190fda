"""Quality inspections: the first moves the RMA to review, repeats change nothing, a different
result replaces it only while in review, and an unknown RMA is named."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from back_office import inspections, states
from back_office.models import Inspection
from core.audit import AuditEvent
from core.models import Rma, RmaStatus
from tests.back_office.test_intake import add_order, ingest, rma
from tests.conftest import NOW

AT = (NOW - timedelta(hours=1)).isoformat()


@pytest.fixture
def filed(session: Session) -> Rma:
    order = add_order(session)
    result = ingest(session, rma("R-0001", order.number))
    found = session.get(Rma, result.rma_id)
    assert found is not None
    return found


def inspect(session: Session, number: str = "R-0001", **body: Any) -> inspections.Recorded:
    payload = {"passed": True, "notes": "完好", "inspector": "仓库-李", "inspected_at": AT}
    payload.update(body)
    _, result = inspections.parse_inspection(payload)
    return inspections.record_inspection(session, number, result, source="api", now=NOW)


def audits(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_every_bad_field_of_an_inspection_is_named() -> None:
    with pytest.raises(inspections.InvalidInspection) as caught:
        inspections.parse_inspection(
            {"passed": "perhaps", "inspected_at": "noon", "inspector": "x" * 61, "grade": "A"}
        )
    assert caught.value.code == "invalid-inspection"
    assert set(caught.value.details["fields"]) == {"passed", "inspected_at", "inspector", "grade"}


def test_a_csv_row_names_its_rma_and_says_pass_or_fail() -> None:
    number, result = inspections.parse_inspection(
        {"rma": "R-0001", "passed": "fail", "notes": "划痕"}, with_number=True
    )
    assert (number, result.passed, result.notes, result.inspected_at) == (
        "R-0001",
        False,
        "划痕",
        None,
    )
    with pytest.raises(inspections.InvalidInspection) as caught:
        inspections.parse_inspection({"passed": "pass"}, with_number=True)
    assert list(caught.value.details["fields"]) == ["rma"]


def test_the_first_inspection_moves_the_rma_to_review(session: Session, filed: Rma) -> None:
    result = inspect(session)
    assert (result.outcome, result.status, result.passed) == ("created", "in_review", True)
    assert filed.status is RmaStatus.IN_REVIEW
    row = session.scalars(select(Inspection)).one()
    assert (row.inspector, row.inspected_at, row.source) == (
        "仓库-李",
        NOW - timedelta(hours=1),
        "api",
    )
    [audit] = audits(session, "rma.inspection_created")
    assert audit.data["before"] == {"status": "awaiting_inspection", "inspection": None}
    assert audit.data["after"]["status"] == "in_review"


def test_the_same_inspection_again_changes_nothing(session: Session, filed: Rma) -> None:
    inspect(session)
    assert inspect(session).outcome == "unchanged"
    # without a time of its own, the same result is still the same
    assert inspect(session, inspected_at=None).outcome == "unchanged"
    assert session.scalar(select(func.count()).select_from(Inspection)) == 1
    assert audits(session, "rma.inspection_replaced") == []


def test_a_different_result_in_review_replaces_it_with_before_and_after(
    session: Session, filed: Rma
) -> None:
    inspect(session)
    result = inspect(session, passed=False, notes="内衬有污渍")
    assert (result.outcome, result.passed, result.status) == ("replaced", False, "in_review")
    row = session.scalars(select(Inspection)).one()
    assert (row.passed, row.notes) == (False, "内衬有污渍")
    [audit] = audits(session, "rma.inspection_replaced")
    assert audit.data["before"]["inspection"]["passed"] is True
    assert audit.data["after"]["inspection"]["passed"] is False


def test_after_a_decision_a_different_result_is_refused_and_a_repeat_is_not(
    session: Session, filed: Rma
) -> None:
    inspect(session)
    states.move(session, filed, "approve", now=NOW)
    assert inspect(session).outcome == "unchanged"
    with pytest.raises(states.IllegalMove) as caught:
        inspect(session, passed=False)
    assert caught.value.details["status"] == "approved"
    assert session.scalars(select(Inspection)).one().passed is True


def test_an_unknown_rma_is_refused(session: Session) -> None:
    with pytest.raises(states.UnknownRma):
        inspect(session, "R-9999")
    assert session.scalar(select(func.count()).select_from(Inspection)) == 0


def test_two_first_inspections_at_once_both_succeed(
    live_session_factory: sessionmaker[Session], engine: Engine
) -> None:
    """The second to commit meets the first's inspection at its insert and replaces it."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): the race cannot happen")
    with live_session_factory.begin() as s:
        ingest(s, rma("R-0001", add_order(s).number))
    fired: list[inspections.Recorded] = []
    with live_session_factory() as first, live_session_factory() as second:

        @event.listens_for(second, "before_flush")
        def _first_commits_meanwhile(*_: object) -> None:
            if not fired:
                fired.append(inspect(first))
                first.commit()

        result = inspect(second, passed=False)
        second.commit()
    assert [r.outcome for r in fired] == ["created"]
    assert (result.outcome, result.status, result.passed) == ("replaced", "in_review", False)
    with live_session_factory() as s:
        assert s.scalars(select(Inspection)).one().passed is False
