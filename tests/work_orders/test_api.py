"""The departments' systems' work-order API over HTTP: the Bearer token (an empty setting
refuses), a group's list and one work order with its timeline, reply / ask / resolve, the same
client key acting once with the same answer, 422 naming each bad field, 404, 409 on a closed
work order."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.app import create_app
from callcenter.runtime import Runtime
from outbound.models import OutboundTask
from tests.work_orders.passing import agent, passed
from work_orders import states
from work_orders.models import WorkOrder, WorkOrderEvent

TOKEN = "work-order-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session], redis: Redis
) -> FlaskClient:
    rt = make_runtime(session_factory, work_order_api_token=TOKEN)
    return create_app(runtime=rt).test_client()


@pytest.fixture
def numbers(session_factory: sessionmaker[Session]) -> dict[str, str]:
    with session_factory.begin() as s:
        owner = agent(s, "li.na", "front-a")
        a = passed(s, owner)
        b = passed(s, owner, department="logistics")
        return {"a": a.number, "b": b.number}


def count(session_factory: sessionmaker[Session], model: type) -> int:
    with session_factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_without_the_token_everything_is_refused_and_an_empty_setting_refuses_all(
    api: FlaskClient,
    numbers: dict[str, str],
    make_runtime: Callable[..., Runtime],
    session_factory: sessionmaker[Session],
) -> None:
    assert api.get("/api/work-orders?department=aftersales-a").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (
        api.post(
            f"/api/work-orders/{numbers['a']}/reply", json={"text": "x"}, headers=wrong
        ).status_code
        == 401
    )
    closed = create_app(runtime=make_runtime(session_factory)).test_client()
    assert (
        closed.get(
            "/api/work-orders?department=x", headers={"Authorization": "Bearer "}
        ).status_code
        == 401
    )


def test_a_groups_list_and_one_work_order_with_its_timeline(
    api: FlaskClient, numbers: dict[str, str]
) -> None:
    listed = api.get("/api/work-orders?department=aftersales-a", headers=AUTH)
    assert listed.status_code == 200
    assert [w["number"] for w in listed.get_json()["work_orders"]] == [numbers["a"]]
    one = api.get(f"/api/work-orders/{numbers['b']}", headers=AUTH).get_json()
    assert (one["department"], one["status"]) == ("logistics", "with_department")
    assert [e["kind"] for e in one["timeline"]] == ["created", "status"]
    assert "reply" in one["allowed"] and "claim" in one["allowed"]
    assert api.get("/api/work-orders/WO000000999999", headers=AUTH).status_code == 404


def test_reply_once_per_idempotency_key_with_the_same_answer(
    api: FlaskClient, numbers: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    url = f"/api/work-orders/{numbers['a']}/reply"
    headers = {**AUTH, "Idempotency-Key": "erp-7781"}
    first = api.post(
        url, json={"text": "补发新屏 a new screen", "author": "erp:zhang"}, headers=headers
    )
    again = api.post(
        url, json={"text": "补发新屏 a new screen", "author": "erp:zhang"}, headers=headers
    )
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == (
        "false",
        "true",
    )
    assert first.get_json()["work_order"]["status"] == "answered"
    with session_factory() as s:
        replies = s.scalars(select(WorkOrderEvent).where(WorkOrderEvent.kind == "reply")).all()
        assert [(r.author, r.data["text"]) for r in replies] == [
            ("erp:zhang", "补发新屏 a new screen")
        ]
    assert count(session_factory, OutboundTask) == 1
    body = {"text": "在途 on its way", "client_key": "erp-1"}
    by_field = api.post(f"/api/work-orders/{numbers['b']}/reply", json=body, headers=AUTH)
    repeat = api.post(f"/api/work-orders/{numbers['b']}/reply", json=body, headers=AUTH)
    assert by_field.get_json() == repeat.get_json()
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert count(session_factory, OutboundTask) == 2


def test_ask_then_resolve_with_a_code(
    api: FlaskClient, numbers: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as s:
        wo = s.scalar(select(WorkOrder).where(WorkOrder.number == numbers["a"]))
        assert wo is not None
        states.move(s, wo, "claim", author_id=None, author="api", now=wo.created_at)
    asked = api.post(
        f"/api/work-orders/{numbers['a']}/ask", json={"question": "照片?"}, headers=AUTH
    )
    assert asked.get_json()["work_order"]["status"] == "waiting_on_customer"
    done = api.post(
        f"/api/work-orders/{numbers['a']}/resolve",
        json={"text": "已换新", "resolution_code": "replaced"},
        headers=AUTH,
    )
    assert done.status_code == 200
    assert (done.get_json()["action"], done.get_json()["work_order"]["status"]) == (
        "resolve",
        "answered",
    )
    one = api.get(f"/api/work-orders/{numbers['a']}", headers=AUTH).get_json()
    assert one["timeline"][-2]["author"] == "api:aftersales-a"


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        ("reply", {"text": ""}, {"text": "required"}),
        ("reply", {"text": 3}, {"text": "must be text"}),
        ("reply", ["text"], {"body": "a JSON object is required"}),
        ("resolve", {"text": "ok"}, {"resolution_code": "required"}),
        (
            "reply",
            {"text": "ok", "client_key": "k" * 101},
            {"client_key": "at most 100 characters"},
        ),
    ],
)
def test_bad_fields_are_named_and_nothing_changes(
    api: FlaskClient,
    numbers: dict[str, str],
    session_factory: sessionmaker[Session],
    path: str,
    body: object,
    fields: dict[str, str],
) -> None:
    before = count(session_factory, WorkOrderEvent)
    refused = api.post(f"/api/work-orders/{numbers['a']}/{path}", json=body, headers=AUTH)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["details"]["fields"] == fields
    assert count(session_factory, WorkOrderEvent) == before


def test_the_list_names_a_missing_department_and_a_bad_status(api: FlaskClient) -> None:
    refused = api.get("/api/work-orders?status=lost", headers=AUTH)
    assert refused.status_code == 422
    assert set(refused.get_json()["error"]["details"]["fields"]) == {"department", "status"}


def test_a_reply_to_a_closed_work_order_is_409_naming_its_state(
    api: FlaskClient, numbers: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    url = f"/api/work-orders/{numbers['a']}/reply"
    api.post(url, json={"text": "answer"}, headers=AUTH)
    with session_factory.begin() as s:
        wo = s.scalar(select(WorkOrder).where(WorkOrder.number == numbers["a"]))
        assert wo is not None
        states.move(s, wo, "close", author_id=None, author="li.na", now=wo.created_at)
    refused = api.post(url, json={"text": "again"}, headers=AUTH)
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert (error["code"], error["details"]["status"]) == ("work-order-illegal-move", "closed")
