"""Work orders' console through the Flask test client: a department's inbox (its own group,
oldest first, both languages, local time, nonces), a work order's page and its actions (CSRF,
once per the page's client key, a refusal said on the page or as JSON), and the front desk's
callbacks with the department's answer (click-to-call through the engine; the outcome form
names a missing field)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from callcenter.app import create_app
from callcenter.runtime import Runtime
from outbound.models import OutboundAttempt, OutboundTask
from queues.models import Agent, AgentState, Post, Role
from queues.passwords import hash_password
from tests.builders import add_agent
from tests.middle_office.conftest import RecordingTelephony
from tests.work_orders.passing import agent, department_user, passed
from work_orders import states
from work_orders.models import WorkOrder, WorkOrderEvent, WorkOrderStatus

PASSWORD = "correct horse battery"


@pytest.fixture
def rt(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session], redis: object
) -> Runtime:
    return make_runtime(session_factory, telephony=RecordingTelephony())


@pytest.fixture
def ids(session_factory: sessionmaker[Session]) -> dict[str, int]:
    """li.na (front-a, available) owns two work orders: one with after-sales A, one with
    logistics; gao.yan is after-sales A, he.jing a team lead."""
    with session_factory.begin() as s:
        owner = agent(s, "li.na", "front-a")
        gao = department_user(s)
        lead = add_agent(s, "he.jing", team="front-b", roles=[Role.TEAM_LEAD])
        for account in (owner, gao, lead):
            account.password_hash = hash_password(PASSWORD)
        return {
            "a": passed(s, owner).id,
            "logistics": passed(s, owner, department="logistics").id,
            "li.na": owner.id,
        }


def signed_in(rt: Runtime, login: str) -> FlaskClient:
    client = create_app(runtime=rt).test_client()
    page = client.get("/desk/login").get_data(as_text=True)
    client.post(
        "/desk/login", data={"login": login, "password": PASSWORD, "csrf_token": token(page)}
    )
    return client


def token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def number(session_factory: sessionmaker[Session], wo_id: int) -> str:
    with session_factory() as s:
        wo = s.get(WorkOrder, wo_id)
        assert wo is not None
        return wo.number


def test_a_department_sees_its_own_group_and_a_team_lead_every_group(
    rt: Runtime, ids: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    gao = signed_in(rt, "gao.yan")
    response = gao.get("/work-orders/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'data-work-order="{number(session_factory, ids["a"])}"' in html
    assert number(session_factory, ids["logistics"]) not in html
    assert "部门工单" in html and "Inbox · aftersales-a" in html
    assert "2026-11-23 11:00" in html  # opened at 03:00 UTC, shown in Shanghai time
    nonce = re.search(r'<style nonce="([^"]+)"', html)
    assert nonce is not None
    assert f"'nonce-{nonce.group(1)}'" in response.headers["Content-Security-Policy"]
    assert gao.get(f"/work-orders/{ids['logistics']}").status_code == 403
    lead = signed_in(rt, "he.jing").get("/work-orders/").get_data(as_text=True)
    assert number(session_factory, ids["logistics"]) in lead
    assert signed_in(rt, "li.na").get("/work-orders/").status_code == 403
    assert 'href="/work-orders/"' in gao.get("/desk/").get_data(as_text=True)


def test_claim_then_reply_from_the_page_once_however_often_it_is_posted(
    rt: Runtime, ids: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    gao = signed_in(rt, "gao.yan")
    url = f"/work-orders/{ids['a']}"
    page = gao.get(url).get_data(as_text=True)
    assert 'id="form-claim"' in page and 'id="form-reply"' in page
    key = re.search(r'name="client_key" value="(page-\d+-claim-\d+)"', page)
    assert key is not None
    claim = {"csrf_token": token(page), "client_key": key.group(1)}
    assert gao.post(f"{url}/claim", data=claim).status_code == 303
    assert gao.post(f"{url}/claim", data=claim).status_code == 303  # a double click
    page = gao.get(url).get_data(as_text=True)
    assert "认领 Claim: " in page and 'data-status="in_progress"' in page
    reply = {"csrf_token": token(page), "client_key": "page-r-1", "text": "补发新屏 new screen"}
    assert gao.post(f"{url}/reply", data=reply).status_code == 303
    assert gao.post(f"{url}/reply", data=reply).status_code == 303
    page = gao.get(url).get_data(as_text=True)
    assert "补发新屏 new screen" in page and 'data-status="answered"' in page
    with session_factory() as s:
        kinds = s.scalars(
            select(WorkOrderEvent.kind).where(WorkOrderEvent.work_order_id == ids["a"])
        ).all()
        assert kinds.count("claim") == 1 and kinds.count("reply") == 1
        assert s.scalar(select(func.count()).select_from(OutboundTask)) == 1


def test_without_the_csrf_token_nothing_happens(rt: Runtime, ids: dict[str, int]) -> None:
    gao = signed_in(rt, "gao.yan")
    refused = gao.post(f"/work-orders/{ids['a']}/claim", data={"client_key": "x"})
    assert refused.status_code in (400, 403)
    page = gao.get(f"/work-orders/{ids['a']}").get_data(as_text=True)
    assert 'data-status="with_department"' in page


def test_a_reply_to_a_closed_work_order_is_said_on_the_page_and_409_as_json(
    rt: Runtime, ids: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    gao = signed_in(rt, "gao.yan")
    url = f"/work-orders/{ids['a']}"
    page = gao.get(url).get_data(as_text=True)
    with session_factory.begin() as s:
        wo = s.get(WorkOrder, ids["a"])
        assert wo is not None
        states.move(s, wo, "reply", author_id=None, author="x", now=wo.created_at)
        states.move(s, wo, "close", author_id=None, author="x", now=wo.created_at)
    late = gao.post(f"{url}/reply", data={"csrf_token": token(page), "text": "late"})
    assert late.status_code == 303 and late.headers["Location"].endswith(url)
    again = gao.get(url).get_data(as_text=True)
    assert "已关闭 Closed" in again and 'role="alert"' in again
    as_json = gao.post(f"{url}/reply", json={"text": "late"}, headers={"X-CSRF-Token": token(page)})
    assert as_json.status_code == 409
    assert as_json.get_json()["error"]["details"]["status"] == "closed"
    empty = gao.post(
        f"/work-orders/{ids['a']}/note", json={"text": " "}, headers={"X-CSRF-Token": token(page)}
    )
    assert empty.status_code == 422
    assert empty.get_json()["error"]["details"]["fields"] == {"text": "required"}


def test_the_owner_sees_the_callback_with_the_answer_and_calls_through_the_engine(
    rt: Runtime, ids: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    gao = signed_in(rt, "gao.yan")
    page = gao.get(f"/work-orders/{ids['a']}").get_data(as_text=True)
    gao.post(
        f"/work-orders/{ids['a']}/reply",
        data={"csrf_token": token(page), "text": "明天补发 sent tomorrow"},
    )
    li = signed_in(rt, "li.na")
    listing = li.get("/work-orders/callbacks")
    html = listing.get_data(as_text=True)
    assert listing.status_code == 200
    assert "明天补发 sent tomorrow" in html and "gao.yan" in html
    assert "+8613800138000" not in html  # the number is masked
    with session_factory() as s:
        task = s.scalars(select(OutboundTask)).one()
    assert f'data-task="{task.id}"' in html
    assert 'href="/work-orders/callbacks"' in li.get("/desk/").get_data(as_text=True)
    assert gao.get("/work-orders/callbacks").status_code == 403
    called = li.post(f"/work-orders/callbacks/{task.id}/call", data={"csrf_token": token(html)})
    assert called.status_code == 303
    with session_factory() as s:
        attempt = s.scalars(select(OutboundAttempt)).one()
        assert (attempt.task_id, attempt.agent_id) == (task.id, ids["li.na"])
    missing = li.post(
        f"/work-orders/callbacks/{task.id}/outcome",
        json={"outcome": "reached_resolved"},
        headers={"X-CSRF-Token": token(html)},
    )
    assert missing.status_code == 422
    assert set(missing.get_json()["error"]["details"]["fields"]) == {"satisfied"}
    with session_factory() as s:
        assert s.get(WorkOrder, ids["a"]).status is WorkOrderStatus.ANSWERED  # type: ignore[union-attr]


def test_a_front_desk_agent_away_has_the_callback_go_to_their_team(
    rt: Runtime, ids: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as s:
        s.execute(update(Agent).where(Agent.id == ids["li.na"]).values(state=AgentState.OFFLINE))
        mate = add_agent(s, "wang.wei", team="front-a", posts=[Post.FRONT_DESK])
        mate.password_hash = hash_password(PASSWORD)
        mate_id = mate.id
    gao = signed_in(rt, "gao.yan")
    page = gao.get(f"/work-orders/{ids['a']}").get_data(as_text=True)
    gao.post(f"/work-orders/{ids['a']}/reply", data={"csrf_token": token(page), "text": "ok"})
    wang = signed_in(rt, "wang.wei").get("/work-orders/callbacks").get_data(as_text=True)
    assert "ok" in wang and number(session_factory, ids["a"]) in wang
    with session_factory() as s:
        assert s.scalars(select(OutboundTask.agent_id)).one() == mate_id


def test_time_left_and_the_team_leads_list_of_escalated_work_orders(
    rt: Runtime, ids: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    from datetime import timedelta

    from callcenter.jobs.work_orders import run_sweep
    from tests.conftest import NOW

    run_sweep(rt)  # the new work orders' clocks: first feedback due in 2 h
    inbox = signed_in(rt, "gao.yan").get("/work-orders/").get_data(as_text=True)
    assert "2 h 00 min" in inbox and 'data-sla="running"' in inbox
    rt.clock = lambda: NOW + timedelta(hours=2, seconds=1)
    assert number(session_factory, ids["a"]) in run_sweep(rt).escalated
    lead = signed_in(rt, "he.jing")
    listing = lead.get("/work-orders/escalated").get_data(as_text=True)
    assert f'data-work-order="{number(session_factory, ids["a"])}"' in listing
    assert "升级工单" in listing and "sla-breached" in listing and "-0 h 00 min" in listing
    assert signed_in(rt, "gao.yan").get("/work-orders/escalated").status_code == 403
    inbox = signed_in(rt, "gao.yan").get("/work-orders/").get_data(as_text=True)
    assert 'class="sla sla-breached"' in inbox
