"""The complaint console through the Flask app: each step as JSON and as a page's form, who may
take it, and the refusals (422 naming fields, 409 naming the stage, 404)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.desk.auth import AGENT_KEY, CSRF_KEY, EPOCH_KEY
from core.models import Rma
from outbound.models import OutboundTask
from queues.models import Post, Role
from tests.builders import add_agent
from tests.work_orders.test_complaints import complaint_order
from work_orders.models import WorkOrder

CSRF = "tok"
JSON = {"X-CSRF-Token": CSRF, "Accept": "application/json"}


@pytest.fixture
def staff(app: Flask, session_factory: sessionmaker[Session]) -> Callable[..., FlaskClient]:
    def make(login: str, role: Role | None = None) -> FlaskClient:
        with session_factory.begin() as s:
            agent = add_agent(
                s,
                login,
                posts=[] if role else [Post.FRONT_DESK],
                roles=[role] if role else [],
                team="front-a",
            )
            agent.password_hash = f"not-a-real-hash-{login}"  # signed in by the test session
            agent_id, epoch = agent.id, agent.session_epoch
        client = app.test_client()
        with client.session_transaction() as sess:
            sess[AGENT_KEY], sess[EPOCH_KEY], sess[CSRF_KEY] = agent_id, epoch, CSRF
        return client

    return make


@pytest.fixture
def wo_id(session_factory: sessionmaker[Session]) -> int:
    with session_factory.begin() as s:
        return complaint_order(s).id


def test_the_whole_flow_as_json(
    staff: Callable[..., FlaskClient], wo_id: int, session_factory: sessionmaker[Session]
) -> None:
    """Received and classified by the desk, a refund decided by the lead (filed as an RMA when
    carried out), closed with a follow-up call, rated 2: reopened."""
    desk, lead = staff("li.na"), staff("zhou.lead", Role.TEAM_LEAD)
    base = f"/complaints/{wo_id}"

    got = desk.post(f"{base}/receive", json={"severity": "high"}, headers=JSON)
    assert got.status_code == 200 and got.get_json()["stage"] == "classified"
    assert desk.post(f"{base}/decide", json={"remedy": "apology"}, headers=JSON).status_code == 403
    refund = {"remedy": "refund", "remedy_details": {"sku": "SHO-1", "quantity": 1}}
    assert lead.post(f"{base}/decide", json=refund, headers=JSON).get_json()["remedy"] == "refund"
    carried = desk.post(f"{base}/carry_out", json={}, headers=JSON).get_json()
    closed = desk.post(f"{base}/close", json={}, headers=JSON).get_json()
    rated = desk.post(f"{base}/follow_up", json={"rating": 2, "notes": "慢"}, headers=JSON)

    assert carried["stage"] == "carried_out" and carried["rma_id"] is not None
    assert closed["stage"] == "closed" and closed["follow_up_task_id"] is not None
    assert rated.get_json()["stage"] == "reopened"
    assert rated.get_json()["status"] == "with_department"
    with session_factory() as s:
        wo = s.get(WorkOrder, wo_id)
        assert wo is not None and wo.rma_id is not None
        rma = s.get(Rma, wo.rma_id)
        assert rma is not None and rma.number == f"{wo.number}-R"
        task = s.scalar(select(OutboundTask).where(OutboundTask.id == closed["follow_up_task_id"]))
        assert task is not None and task.kind == "complaint_follow_up"


def test_refusals_name_the_field_the_stage_or_the_work_order(
    staff: Callable[..., FlaskClient], wo_id: int
) -> None:
    desk, lead = staff("li.na"), staff("zhou.lead", Role.TEAM_LEAD)
    base = f"/complaints/{wo_id}"

    bad_severity = desk.post(f"{base}/receive", json={"severity": "huge"}, headers=JSON)
    desk.post(f"{base}/receive", json={}, headers=JSON)
    too_early = lead.post(f"{base}/decide", json={"remedy": "apology"}, headers=JSON)
    desk.post(f"{base}/classify", json={"severity": "low"}, headers=JSON)
    bad_coupon = lead.post(
        f"{base}/decide", json={"remedy": "coupon", "remedy_details": {}}, headers=JSON
    )
    unknown = desk.post("/complaints/999999/receive", json={}, headers=JSON)

    assert bad_severity.status_code == 422
    assert bad_severity.get_json()["error"]["details"]["fields"] == {
        "severity": "one of: low, medium, high, critical"
    }
    assert too_early.status_code == 409
    assert too_early.get_json()["error"]["details"]["stage"] == "received"
    assert bad_coupon.status_code == 422
    assert set(bad_coupon.get_json()["error"]["details"]["fields"]) == {"amount_fen"}
    assert unknown.status_code == 404


def test_the_page_and_its_forms(staff: Callable[..., FlaskClient], wo_id: int) -> None:
    """A form posts with the CSRF token and comes back to the page with the message on top;
    a refused form says what to correct."""
    lead = staff("zhou.lead", Role.TEAM_LEAD)
    base = f"/complaints/{wo_id}"

    received = lead.post(f"{base}/receive", data={"csrf_token": CSRF, "severity": "critical"})
    refused = lead.post(f"{base}/decide", data={"csrf_token": CSRF, "remedy": "coupon"})
    page = lead.get(base).get_data(as_text=True)
    listing = lead.get("/complaints/").get_data(as_text=True)

    assert received.status_code == 303 and received.headers["Location"].endswith(base)
    assert refused.status_code == 303
    assert "Please correct" in page and "amount_fen" in page
    assert 'data-kind="complaint_received"' in page and 'data-kind="complaint_classified"' in page
    assert "紧急 Critical" in page and "确定补救 Decide the remedy" in page
    assert 'data-work-order="' in listing and "紧急 Critical" in listing
