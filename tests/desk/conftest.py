"""Fixtures of the desk tests: an app whose agent can sign in, and a call in the agent's hands."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from callcenter.app import create_app
from callcenter.runtime import Runtime
from core.calls import log_event
from core.models import (
    Call,
    CallDirection,
    CallStatus,
    Customer,
    CustomerPhone,
    Language,
    Order,
    OrderStatus,
    PaymentType,
    Rma,
    RmaKind,
    RmaStatus,
    Tier,
)
from queues.models import Actor, AgentState, QueuedCall, QueuedCallStatus
from queues.passwords import hash_password
from queues.presence import change_state
from tests.builders import add_agent
from tests.conftest import NOW

PASSWORD = "correct horse battery"
CALLER = "+8613800138000"


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)  # scrypt takes a while: once per run


@dataclass
class Desk:
    """A signed-out browser on the desk, and the agent it signs in as."""

    client: FlaskClient
    agent_id: int
    factory: sessionmaker[Session]

    def sign_in(self, login: str = "li.na", password: str = PASSWORD) -> int:
        page = self.client.get("/desk/login")
        token = csrf_of(page.get_data(as_text=True))
        response = self.client.post(
            "/desk/login", data={"login": login, "password": password, "csrf_token": token}
        )
        return response.status_code

    def csrf(self) -> str:
        return csrf_of(self.client.get("/desk/").get_data(as_text=True))

    def post(self, path: str, body: object, *, csrf: str | None = None) -> tuple[int, dict]:
        token = self.csrf() if csrf is None else csrf
        response = self.client.post(path, json=body, headers={"X-CSRF-Token": token})
        return response.status_code, response.get_json()

    def state(self) -> dict:
        response = self.client.get("/desk/api/state")
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'data-csrf="([^"]+)"', html
    )
    assert found, html[:500]
    return found.group(1)


@pytest.fixture
def desk_app(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session], redis: Redis
) -> Callable[..., Flask]:
    """An app on the test database; keyword arguments change its settings."""

    def make(**settings: object) -> Flask:
        return create_app(runtime=make_runtime(session_factory, **settings))

    return make


@pytest.fixture
def make_desk(
    desk_app: Callable[..., Flask], session_factory: sessionmaker[Session]
) -> Callable[..., Desk]:
    def make(**settings: object) -> Desk:
        app = desk_app(**settings)
        with session_factory.begin() as s:
            agent = add_agent(s, "li.na", display_name="李娜", languages=[Language.ZH, Language.EN])
            agent.password_hash = _password_hash()
            agent_id = agent.id
        return Desk(app.test_client(), agent_id, session_factory)

    return make


@pytest.fixture
def desk(make_desk: Callable[..., Desk]) -> Desk:
    """Twilio mode (the test settings carry an account SID), plain http so the cookie flows."""
    return make_desk(public_base_url="http://desk.example.test")


def move(factory: sessionmaker[Session], agent_id: int, *path: AgentState, call_sid: str) -> None:
    """Walk the agent through system state changes (as the router and callbacks would)."""
    with factory.begin() as s:
        for i, to in enumerate(path):
            change_state(
                s,
                agent_id,
                to,
                reason=None,
                actor=Actor.SYSTEM if to is not AgentState.AVAILABLE else Actor.AGENT,
                now=NOW + timedelta(seconds=i + 1),
                call_sid=call_sid if to is AgentState.RESERVED else None,
            )


def vip_call(factory: sessionmaker[Session], agent_id: int, *, answered: bool, ended: bool) -> int:
    """王芳 (VIP) called, went through the IVR, waited 12 s and was given to the agent."""
    with factory.begin() as s:
        customer = Customer(name="王芳", account_number="60000001", tier=Tier.VIP)
        customer.phones.append(CustomerPhone(e164=CALLER))
        s.add(customer)
        s.flush()
        orders = [
            Order(
                number=f"20000000{i:02d}",
                customer_id=customer.id,
                amount_fen=129_900 + i,
                payment_type=PaymentType.PREPAID,
                status=OrderStatus.SHIPPED if i == 7 else OrderStatus.DELIVERED,
                placed_at=NOW - timedelta(days=10 - i),
            )
            for i in range(1, 8)
        ]
        s.add_all(orders)
        s.flush()
        for number, status in (("R1", RmaStatus.IN_REVIEW), ("R2", RmaStatus.CLOSED)):
            s.add(
                Rma(
                    number=number,
                    order_id=orders[0].id,
                    customer_id=customer.id,
                    kind=RmaKind.RETURN,
                    status=status,
                    sku="SKU-1",
                )
            )
        call = Call(
            sid="CA" + "1" * 32,
            direction=CallDirection.INBOUND,
            caller_e164=CALLER,
            status=CallStatus.IN_PROGRESS,
            customer_id=customer.id,
            vip=True,
            language=Language.ZH,
        )
        s.add(call)
        s.flush()
        log_event(s, call, "ivr", now=NOW, dedupe_key="a", answered_at="language", digits="1",
                  node="identify", outcome="Ask")  # fmt: skip
        log_event(s, call, "ivr", now=NOW, dedupe_key="b", answered_at="main", digits="0",
                  node="agent", outcome="Transfer")  # fmt: skip
        entry = QueuedCall(
            call_id=call.id,
            call_sid=call.sid,
            queue="vip",
            skill="general",
            language="zh",
            tier="vip",
            vip=True,
            enqueued_at=NOW - timedelta(seconds=12),
            status=QueuedCallStatus.CONNECTED if answered else QueuedCallStatus.ASSIGNED,
            assignment_id="as-1",
            agent_id=agent_id,
            agent_call_sid="CA" + "2" * 32,
            assigned_at=NOW,
            answered_at=NOW if answered else None,
            wait_s=12 if answered else None,
            talk_ended_at=NOW + timedelta(seconds=60) if ended else None,
        )
        s.add(entry)
        s.flush()
        entry_id, sid = entry.id, call.sid
    path = [AgentState.AVAILABLE, AgentState.RESERVED]
    if answered:
        path.append(AgentState.ON_CALL)
    if ended:
        path.append(AgentState.WRAP_UP)
    move(factory, agent_id, *path, call_sid=sid)
    return entry_id
