"""The work order search page, its JSON and its CSV export through the Flask test client: a
phone written any way finds the customer's work orders (masked on the page), a bad field comes
back as a 422 beside the field with the form kept, a department user sees only their group's,
pages follow each other, and the export is the team lead's and manager's, audited, masked
unless the viewer may unmask."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.desk.auth import AGENT_KEY, CSRF_KEY, EPOCH_KEY
from core.audit import AuditEvent
from core.models import Customer, CustomerPhone
from queues.models import Post, Role
from queues.passwords import hash_password
from tests.builders import add_agent
from tests.conftest import NOW
from work_orders import timeline

CSRF = "tok"


@pytest.fixture
def staff(session_factory: sessionmaker[Session]) -> dict[str, tuple[int, str]]:
    """A front-desk agent, a logistics department user, a team lead and the manager."""
    with session_factory.begin() as s:
        made = {
            "li.na": add_agent(s, "li.na", team="front-a"),
            "tang.jun": add_agent(
                s, "tang.jun", posts=[], roles=[Role.DEPARTMENT], team="logistics"
            ),
            "zhou.lead": add_agent(
                s, "zhou.lead", posts=[], roles=[Role.TEAM_LEAD], team="front-a"
            ),
            "the.manager": add_agent(
                s, "the.manager", posts=[], roles=[Role.MANAGER], team="floor"
            ),
        }
        for agent in made.values():
            agent.password_hash = hash_password("pw")
        s.flush()
        return {login: (a.id, a.session_epoch) for login, a in made.items()}


@pytest.fixture
def work_orders(session_factory: sessionmaker[Session]) -> list[str]:
    """Sixty work orders of 王芳 (aftersales-a, front-a), then three of nobody's (logistics,
    front-b); their numbers, newest first."""
    with session_factory.begin() as s:
        wang = Customer(name="王芳", account_number="60000001")
        wang.phones.append(CustomerPhone(e164="+8613800138000"))
        s.add(wang)
        s.flush()
        made = []
        for n in range(63):
            mine = n < 60
            made.append(
                timeline.open_work_order(
                    s,
                    client_key=f"k{n}",
                    category="product_quality" if mine else "logistics_delay",
                    description=f"问题 {n}",
                    author_id=None,
                    author="li.na",
                    now=NOW + timedelta(minutes=n),
                    customer_id=wang.id if mine else None,
                    department="aftersales-a" if mine else "logistics",
                    owner_team="front-a" if mine else "front-b",
                ).work_order.number
            )
        return made[::-1]


@pytest.fixture
def as_(app: Flask, staff: dict[str, tuple[int, str]]) -> Callable[[str], FlaskClient]:
    def make(login: str) -> FlaskClient:
        client = app.test_client()
        agent_id, epoch = staff[login]
        with client.session_transaction() as sess:
            sess[AGENT_KEY], sess[EPOCH_KEY], sess[CSRF_KEY] = agent_id, epoch, CSRF
        return client

    return make


def test_a_phone_written_any_way_finds_the_customers_work_orders_masked(
    as_: Callable[[str], FlaskClient], work_orders: list[str]
) -> None:
    response = as_("li.na").get("/work-orders/search?phone=138-0013-8000")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert work_orders[3] in html and work_orders[0] not in html  # logistics ones are not his
    assert "王*" in html and "王芳" not in html and "+86*********00" in html
    assert 'rel="next"' in html  # 60 found, 50 a page
    assert "导出 CSV" not in html  # the front desk does not export


def test_a_bad_field_comes_back_beside_the_field_with_the_form_kept(
    as_: Callable[[str], FlaskClient], work_orders: list[str]
) -> None:
    response = as_("li.na").get("/work-orders/search?phone=call+me&status=lost&order=2000000011")
    html = response.get_data(as_text=True)
    api = as_("li.na").get("/work-orders/api/search?status=lost")

    assert response.status_code == 422
    assert 'id="phone-error"' in html and 'id="status-error"' in html
    assert 'value="2000000011"' in html and 'value="call me"' in html
    assert api.status_code == 422
    assert api.get_json()["error"]["details"].keys() == {"status"}


def test_json_pages_follow_each_other_without_gaps_or_repeats(
    as_: Callable[[str], FlaskClient], work_orders: list[str]
) -> None:
    client, seen, after = as_("zhou.lead"), [], ""
    while True:
        body = client.get(f"/work-orders/api/search?limit=20&after={after}").get_json()
        seen += [row["number"] for row in body["work_orders"]]
        if body["next_after"] is None:
            break
        after = body["next_after"]

    assert seen == work_orders


def test_a_department_user_sees_only_their_groups_work_orders(
    as_: Callable[[str], FlaskClient], work_orders: list[str]
) -> None:
    body = as_("tang.jun").get("/work-orders/api/search?limit=200").get_json()
    other = as_("tang.jun").get("/work-orders/api/search?department=aftersales-a").get_json()

    assert [r["number"] for r in body["work_orders"]] == work_orders[:3]
    assert {r["department"] for r in body["work_orders"]} == {"logistics"}
    assert other["work_orders"] == []


def test_the_export_is_audited_and_masked_for_a_team_lead_of_their_own_team(
    as_: Callable[[str], FlaskClient],
    work_orders: list[str],
    session_factory: sessionmaker[Session],
) -> None:
    response = as_("zhou.lead").get("/work-orders/export.csv?status=open")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))

    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert [r["number"] for r in rows] == work_orders[3:]  # front-a's, not front-b's
    assert {r["customer_name"] for r in rows} == {"王*"}
    assert {r["customer_phone"] for r in rows} == {"+86*********00"}
    with session_factory() as s:
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "export.customer_data"))
        (entry,) = list(audit)
    assert (entry.actor, entry.subject_id) == ("zhou.lead", "work_orders")
    assert entry.data == {"rows": 60, "unmasked": False, "filters": {"status": "open"}}


def test_the_manager_exports_every_team_unmasked_and_the_front_desk_may_not(
    as_: Callable[[str], FlaskClient], work_orders: list[str]
) -> None:
    response = as_("the.manager").get("/work-orders/export.csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    refused = as_("li.na").get("/work-orders/export.csv", headers={"Accept": "application/json"})

    assert len(rows) == 63 and rows[-1]["customer_name"] == "王芳"
    assert rows[-1]["customer_phone"] == "+8613800138000"
    assert refused.status_code == 403


def test_a_rotating_front_desk_agent_reaches_the_page_a_middle_office_one_does_not(
    app: Flask, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as s:
        agent = add_agent(s, "mo", posts=[Post.MIDDLE_OFFICE])
        agent.password_hash = hash_password("pw")
        s.flush()
        ids = (agent.id, agent.session_epoch)
    client = app.test_client()
    with client.session_transaction() as sess:
        sess[AGENT_KEY], sess[EPOCH_KEY], sess[CSRF_KEY] = *ids, CSRF

    assert client.get("/work-orders/search").status_code == 403
