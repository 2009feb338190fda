"""Finance's and logistics' confirmations through the API: the RMA moves on once, the same
confirmation again is 200 with changed=false, a contradicting one is 409 and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from back_office import handoffs, inspections, states
from callcenter.runtime import Runtime
from core.audit import AuditEvent
from core.models import Rma, RmaStatus
from tests.back_office.test_api import AS, partner_client
from tests.back_office.test_intake import add_order, ingest, rma
from tests.conftest import NOW


@pytest.fixture
def api(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session], redis: Redis
) -> FlaskClient:
    return partner_client(make_runtime, session_factory)


def approved(session: Session, number: str, **changes: object) -> Rma:
    """An RMA inspected, approved and handed off (its webhook queued), committed."""
    order = add_order(session)
    found = session.get(Rma, ingest(session, rma(number, order.number, **changes)).rma_id)
    assert found is not None
    _, result = inspections.parse_inspection({"passed": True})
    inspections.record_inspection(session, number, result, source="api", now=NOW)
    states.move(session, found, "approve", now=NOW, decided_at=NOW, refund_amount_fen=39_900)
    handoffs.hand_off(session, found, now=NOW)
    session.commit()
    return found


def test_refunded_moves_a_return_on_once(api: FlaskClient, session: Session) -> None:
    found = approved(session, "R-0001")
    url = "/api/rmas/R-0001/refunded"
    first = api.post(url, json={"reference": "FIN-778"}, headers=AS["finance"])
    assert first.status_code == 200
    assert first.get_json() == {"rma": "R-0001", "status": "refunded", "changed": True}
    again = api.post(url, json={"reference": "FIN-778"}, headers=AS["finance"])
    assert (again.status_code, again.get_json()["changed"]) == (200, False)
    other = api.post(url, json={"reference": "FIN-999"}, headers=AS["finance"])
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "confirmation-mismatch"
    session.refresh(found)
    assert (found.status, found.finance_reference) == (RmaStatus.REFUNDED, "FIN-778")
    audits = session.scalars(select(AuditEvent).where(AuditEvent.action == "rma.refunded")).all()
    assert [a.data["before"] for a in audits] == ["approved"]


def test_shipped_moves_an_exchange_on_once(api: FlaskClient, session: Session) -> None:
    found = approved(session, "X-0001", kind="exchange", replacement_sku="SHO-2")
    url = "/api/rmas/X-0001/shipped"
    first = api.post(url, json={"tracking": "SF1234567890"}, headers=AS["logistics"])
    assert first.get_json() == {"rma": "X-0001", "status": "replacement_shipped", "changed": True}
    again = api.post(url, json={"tracking": "SF1234567890"}, headers=AS["logistics"])
    assert (again.status_code, again.get_json()["changed"]) == (200, False)
    other = api.post(url, json={"tracking": "SF0000000000"}, headers=AS["logistics"])
    assert other.status_code == 409
    session.refresh(found)
    assert (found.status, found.tracking_number) == (RmaStatus.REPLACEMENT_SHIPPED, "SF1234567890")


def test_a_confirmation_of_the_wrong_kind_or_state_is_409(
    api: FlaskClient, session: Session
) -> None:
    approved(session, "X-0001", kind="exchange", replacement_sku="SHO-2")
    wrong_kind = api.post(
        "/api/rmas/X-0001/refunded", json={"reference": "FIN-1"}, headers=AS["finance"]
    )
    assert wrong_kind.status_code == 409
    assert wrong_kind.get_json()["error"]["details"]["status"] == "approved"
    order = add_order(session)
    ingest(session, rma("R-0002", order.number))
    session.commit()
    undecided = api.post(
        "/api/rmas/R-0002/refunded", json={"reference": "FIN-2"}, headers=AS["finance"]
    )
    assert undecided.status_code == 409
    assert (
        session.scalars(select(Rma).where(Rma.number == "R-0002")).one().finance_reference is None
    )


def test_a_bad_or_unknown_confirmation_is_named(api: FlaskClient, session: Session) -> None:
    bad = api.post("/api/rmas/R-0001/refunded", json={"ref": "x"}, headers=AS["finance"])
    assert bad.status_code == 422
    assert bad.get_json()["error"]["details"]["fields"] == {
        "reference": "required",
        "ref": "unknown field",
    }
    unknown = api.post(
        "/api/rmas/R-0404/shipped", json={"tracking": "SF1"}, headers=AS["logistics"]
    )
    assert (unknown.status_code, unknown.get_json()["error"]["code"]) == (404, "rma-not-found")
