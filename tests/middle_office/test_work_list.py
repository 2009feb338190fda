"""The outbound work list as its page uses it: forms post, the page comes back with what
happened on top (an API client still gets JSON)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from callcenter.app import create_app
from outbound import tasks
from outbound.policy import Policy
from queues.models import Actor, AgentState, Post
from queues.passwords import hash_password
from queues.presence import change_state
from tests.builders import add_agent
from tests.conftest import NOW
from tests.middle_office.conftest import RecordingTelephony

PASSWORD = "correct horse battery"


@pytest.fixture
def page(
    make_runtime: Callable[..., Any],
    session_factory: sessionmaker[Session],
    redis: object,
    telephony: RecordingTelephony,
) -> tuple[FlaskClient, int, int]:
    """huang.li signed in on the work list, with one order-review call task; (client, agent,
    task)."""
    rt = make_runtime(session_factory, telephony=telephony, jobs_async=False, outbound_cps=50)
    app = create_app(runtime=rt)
    with session_factory.begin() as s:
        agent = add_agent(
            s, "huang.li", display_name="黄丽", posts=[Post.MIDDLE_OFFICE], skills={"orders": 4}
        )
        agent.password_hash = hash_password(PASSWORD)
        task = tasks.create_task(
            s,
            kind="order_review",
            subject_id=1,
            to_number="+8613900139000",
            language="zh",
            skill="orders",
            now=NOW,
            policy=Policy(),
        )
        agent_id, task_id = agent.id, task.id
    client = app.test_client()
    login = client.get("/desk/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
    client.post(
        "/desk/login", data={"login": "huang.li", "password": PASSWORD, "csrf_token": token}
    )
    return client, agent_id, task_id


def form_token(client: FlaskClient) -> str:
    html = client.get("/middle/").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def test_a_refused_call_comes_back_to_the_page_with_the_reason(
    page: tuple[FlaskClient, int, int], telephony: RecordingTelephony
) -> None:
    client, _, task_id = page
    response = client.post(f"/middle/tasks/{task_id}/call", data={"csrf_token": form_token(client)})
    assert response.status_code == 303 and response.headers["Location"].endswith("/middle/")
    html = client.get("/middle/").get_data(as_text=True)
    assert 'class="flash error"' in html and "set yourself available at the desk" in html
    assert telephony.placed == []


def test_a_call_from_the_page_rings_the_agent_and_says_so(
    page: tuple[FlaskClient, int, int],
    session_factory: sessionmaker[Session],
    telephony: RecordingTelephony,
) -> None:
    client, agent_id, task_id = page
    with session_factory.begin() as s:
        change_state(s, agent_id, AgentState.AVAILABLE, reason=None, actor=Actor.AGENT, now=NOW)
    response = client.post(f"/middle/tasks/{task_id}/call", data={"csrf_token": form_token(client)})
    assert response.status_code == 303
    html = client.get("/middle/").get_data(as_text=True)
    assert 'class="flash ok"' in html and f"Calling task {task_id}" in html
    assert [p["to"] for p in telephony.placed] == ["client:agent_huang_li"]


def test_an_api_client_still_gets_json(page: tuple[FlaskClient, int, int]) -> None:
    client, _, task_id = page
    html = client.get("/middle/").get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    response = client.post(f"/middle/tasks/{task_id}/call", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "agent-not-available"


def test_the_page_masks_the_number_and_showing_it_is_audited(
    page: tuple[FlaskClient, int, int], session_factory: sessionmaker[Session]
) -> None:
    from sqlalchemy import select

    from core.audit import AuditEvent

    client, agent_id, task_id = page
    html = client.get("/middle/?all=1").get_data(as_text=True)
    assert "+8613900139000" not in html and "+86*********00" in html
    assert "Show number" in html  # the middle office holds customer.unmask
    listed = client.get("/middle/api/tasks").get_json()["tasks"]
    assert all(t["to"] == "+86*********00" for t in listed)
    shown = client.post(f"/middle/tasks/{task_id}/reveal", data={"csrf_token": form_token(client)})
    assert shown.status_code == 200 and shown.get_json()["to_number"] == "+8613900139000"
    assert shown.headers["Cache-Control"] == "no-store"
    missing = client.post(
        "/middle/tasks/999999/reveal", json={}, headers={"X-CSRF-Token": form_token(client)}
    )
    assert missing.status_code == 404  # a page form would get the page back with the reason
    with session_factory() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "customer.unmask")).all()
        assert [(e.actor_id, e.subject_type, e.subject_id, e.data) for e in events] == [
            (agent_id, "outbound_task", str(task_id), {"fields": ["to_number"]})
        ]
