"""The partner systems' RMA API over HTTP: each caller's token, 201/200 for created/updated or
unchanged, 422 naming each bad field with nothing stored, 404 and 409."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from back_office.models import CatalogueItem, Inspection, RmaIntake
from callcenter.app import create_app
from callcenter.runtime import Runtime
from core.models import Rma
from tests.back_office.test_intake import add_order, rma

RMA_TOKEN = "rma-token-0123456789abcdef"
FINANCE_TOKEN = "finance-token-0123456789abcdef"
LOGISTICS_TOKEN = "logistics-token-0123456789abcdef"
AS = {
    "order_system": {"Authorization": f"Bearer {RMA_TOKEN}"},
    "finance": {"Authorization": f"Bearer {FINANCE_TOKEN}"},
    "logistics": {"Authorization": f"Bearer {LOGISTICS_TOKEN}"},
}


def partner_client(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session]
) -> FlaskClient:
    """A client of the app with every partner system's token set."""
    rt = make_runtime(
        session_factory,
        rma_api_token=RMA_TOKEN,
        finance_api_token=FINANCE_TOKEN,
        logistics_api_token=LOGISTICS_TOKEN,
    )
    return create_app(runtime=rt).test_client()


@pytest.fixture
def api(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session], redis: Redis
) -> FlaskClient:
    return partner_client(make_runtime, session_factory)


def count(session: Session, model: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_an_rma_is_created_then_unchanged_then_updated(api: FlaskClient, session: Session) -> None:
    order = add_order(session)
    session.commit()
    created = api.post("/api/rmas", json=rma("R-0001", order.number), headers=AS["order_system"])
    assert created.status_code == 201
    assert created.get_json()["status"] == "awaiting_inspection"
    again = api.post("/api/rmas", json=rma("R-0001", order.number), headers=AS["order_system"])
    assert (again.status_code, again.get_json()["outcome"]) == (200, "unchanged")
    changed = api.post(
        "/api/rmas", json=rma("R-0001", order.number, quantity=2), headers=AS["order_system"]
    )
    assert (changed.status_code, changed.get_json()["outcome"]) == (200, "updated")
    assert count(session, Rma) == 1


def test_a_bad_rma_gets_422_naming_each_field_and_nothing_is_stored(
    api: FlaskClient, session: Session
) -> None:
    order = add_order(session)
    session.commit()
    body = rma("R-0001", order.number, sku="BAG-9", quantity=0, kind="exchange")
    response = api.post("/api/rmas", json=body, headers=AS["order_system"])
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid-rma"
    assert set(error["details"]["fields"]) == {"quantity", "replacement_sku"}
    # the database's own checks come once the request itself is sound
    body = rma("R-0001", order.number, sku="BAG-9", quantity=9)
    response = api.post("/api/rmas", json=body, headers=AS["order_system"])
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]["fields"]) == {"sku"}
    not_json = api.post("/api/rmas", data="number=R-1", headers=AS["order_system"])
    assert not_json.status_code == 422
    assert (count(session, Rma), count(session, RmaIntake)) == (0, 0)


def test_an_inspection_moves_the_rma_and_repeats_are_200(
    api: FlaskClient, session: Session
) -> None:
    order = add_order(session)
    session.commit()
    api.post("/api/rmas", json=rma("R-0001", order.number), headers=AS["order_system"])
    url = "/api/rmas/R-0001/inspection"
    body = {"passed": False, "notes": "鞋面划痕", "inspector": "李"}
    first = api.post(url, json=body, headers=AS["order_system"])
    assert (first.status_code, first.get_json()["status"]) == (201, "in_review")
    again = api.post(url, json=body, headers=AS["order_system"])
    assert (again.status_code, again.get_json()["outcome"]) == (200, "unchanged")
    bad = api.post(url, json={"passed": "maybe", "rma": "R-0001"}, headers=AS["order_system"])
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]["fields"]) == {"passed", "rma"}
    missing = api.post("/api/rmas/R-9999/inspection", json=body, headers=AS["order_system"])
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (404, "rma-not-found")
    assert count(session, Inspection) == 1


def test_the_catalogue_is_a_list_stored_whole_or_not_at_all(
    api: FlaskClient, session: Session
) -> None:
    items = [
        {"sku": "SHO-1", "name": "跑鞋", "category": "shoes", "stock": 3},
        {"sku": "LIP-1", "name": "口红", "category": "cosmetics", "stock": 0},
    ]
    bad = api.put("/api/catalogue", json=[*items, {"sku": "X"}], headers=AS["order_system"])
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]["fields"]) == {
        "[2].name",
        "[2].category",
        "[2].stock",
    }
    assert count(session, CatalogueItem) == 0
    first = api.put("/api/catalogue", json=items, headers=AS["order_system"])
    assert first.get_json() == {"created": 2, "updated": 0, "unchanged": 0}
    again = api.put("/api/catalogue", json=items, headers=AS["order_system"])
    assert (again.status_code, again.get_json()["unchanged"]) == (200, 2)


REQUESTS = [
    ("post", "/api/rmas", "order_system"),
    ("post", "/api/rmas/R-0001/inspection", "order_system"),
    ("put", "/api/catalogue", "order_system"),
    ("post", "/api/rmas/R-0001/refunded", "finance"),
    ("post", "/api/rmas/R-0001/shipped", "logistics"),
]


@pytest.mark.parametrize(("method", "url", "caller"), REQUESTS)
def test_each_endpoint_takes_only_its_callers_token(
    api: FlaskClient, method: str, url: str, caller: str
) -> None:
    for other, headers in AS.items():
        response = api.open(url, method=method.upper(), json={}, headers=headers)
        if other == caller:
            assert response.status_code in (404, 422), (other, response.status_code)
        else:
            assert response.status_code == 401, other
            assert response.get_json()["error"]["code"] == "unauthorised"
    wrong = {"Authorization": "Bearer " + "x" * 30}
    assert api.open(url, method=method.upper(), json={}, headers=wrong).status_code == 401
    assert api.open(url, method=method.upper(), json={}).status_code == 401


@pytest.mark.parametrize(("method", "url", "caller"), REQUESTS)
def test_an_empty_token_refuses_every_request(
    make_runtime: Callable[..., Runtime],
    session_factory: sessionmaker[Session],
    redis: Redis,
    method: str,
    url: str,
    caller: str,
) -> None:
    client = create_app(runtime=make_runtime(session_factory)).test_client()
    for headers in ({"Authorization": "Bearer "}, {"Authorization": "Bearer x"}, {}):
        assert client.open(url, method=method.upper(), json={}, headers=headers).status_code == 401
