"""The middle office through the local phone network: a review worked by phone and approved
(with the signed webhook to the order system), a no-answer retried only within calling hours,
and a number on the do-not-call list never dialled."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import Runtime
from core import webhooks
from core.audit import AuditEvent
from core.models import Order, OrderStatus
from outbound.models import AttemptStatus, OutboundAttempt, OutboundTask, TaskStatus
from phone_network.parties import Answering
from queues.models import AgentState, Post
from recordings.models import Recording, RecordingStatus
from tests.builders import add_agent
from tests.centre import Centre, running_centre
from tests.middle_office.conftest import API_TOKEN, WEBHOOK_SECRET, order

pytestmark = pytest.mark.slow
CUSTOMER = "+8613711112222"
PASSWORD = "correct horse battery"


class OrderSystem:
    """The order system's webhook receiver: a small HTTP server on 127.0.0.1."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/decisions"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def order_system() -> Iterator[OrderSystem]:
    system = OrderSystem()
    yield system
    system.close()


def centre_at(
    start: datetime,
    factory: sessionmaker[Session],
    make_runtime: Callable[..., Runtime],
    order_system: OrderSystem,
) -> Any:
    return running_centre(
        factory,
        make_runtime,
        start=start,
        order_api_token=API_TOKEN,
        order_webhook_url=order_system.url,
        order_webhook_secret=WEBHOOK_SECRET,
        outbound_cps=5,
    )


def middle_office_agent(centre: Centre, answering: Answering) -> int:
    with centre.factory.begin() as s:
        agent = add_agent(
            s,
            "huang.li",
            display_name="黄丽",
            posts=[Post.MIDDLE_OFFICE],
            skills={"orders": 4},
            now=centre.clock.now(),
            password=PASSWORD,
        )
        agent_id, identity = agent.id, agent.client_identity
    centre.network.add_endpoint(f"client:{identity}", answering)
    centre.set_state(agent_id, AgentState.AVAILABLE)  # as from the desk: calls need it
    return agent_id


def signed_in(centre: Centre) -> tuple[FlaskClient, str]:
    client = centre.app.test_client()
    page = client.get("/desk/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/desk/login", data={"login": "huang.li", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    work = client.get("/middle/")
    assert work.status_code == 200
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', work.get_data(as_text=True))
    return client, csrf.group(1)  # type: ignore[union-attr]


def submit(centre: Centre, body: dict[str, Any]) -> dict[str, Any]:
    response = centre.app.test_client().post(
        "/api/orders", json=body, headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def task_of(centre: Centre, review_id: int) -> OutboundTask:
    with centre.factory() as s:
        task = s.scalar(select(OutboundTask).where(OutboundTask.subject_id == review_id))
        assert task is not None
        task.attempt_rows  # noqa: B018  (loaded while the session is open)
        return task


def last_attempt(centre: Centre, task_id: int) -> OutboundAttempt | None:
    with centre.factory() as s:
        return s.scalar(
            select(OutboundAttempt)
            .where(OutboundAttempt.task_id == task_id)
            .order_by(OutboundAttempt.id.desc())
        )


def test_an_agent_completes_a_review_by_phone_and_the_order_system_is_told(
    live_session_factory: sessionmaker[Session],
    make_runtime: Callable[..., Runtime],
    redis: object,
    order_system: OrderSystem,
) -> None:
    start = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 11:00 in Shanghai
    with centre_at(start, live_session_factory, make_runtime, order_system) as centre:
        agent_id = middle_office_agent(centre, Answering(after=1, talk=25))
        centre.network.add_endpoint(CUSTOMER, Answering(after=3, talk=None))
        body = order("MO1001", "MO-ACC-1", at=start, recipient_phone=CUSTOMER, address=None)
        created = submit(centre, body)
        assert created["reasons"] == ["missing_address"]
        task = task_of(centre, created["review_id"])
        assert task.agent_id == agent_id and task.status is TaskStatus.PENDING

        client, csrf = signed_in(centre)
        assert "MO1001" in client.get("/middle/").get_data(as_text=True)
        headers = {"X-CSRF-Token": csrf}
        called = client.post(f"/middle/tasks/{task.id}/call", headers=headers)
        assert called.status_code == 202, called.get_data(as_text=True)
        again = client.post(f"/middle/tasks/{task.id}/call", headers=headers)
        assert again.status_code == 409  # a second click dials nothing

        def ended() -> bool:
            attempt = last_attempt(centre, task.id)
            return attempt is not None and attempt.status is AttemptStatus.ENDED

        centre.wait_for(ended, timeout=60)
        attempt = last_attempt(centre, task.id)
        assert attempt is not None and attempt.agent_call_sid and attempt.customer_call_sid
        legs = centre.network.calls()
        agent_leg = next(c for c in legs if c.sid == attempt.agent_call_sid)
        customer_leg = next(c for c in legs if c.sid == attempt.customer_call_sid)
        assert agent_leg.to.startswith("client:") and customer_leg.to == CUSTOMER
        assert customer_leg.from_ == "+864008001234"
        assert len([c for c in legs if c.to == CUSTOMER]) == 1
        kinds = " ".join(e.kind for e in customer_leg.transcript())
        assert "conference" in kinds, kinds
        said = [e.args[0] for e in agent_leg.transcript() if e.kind == "say"]
        assert said[0].startswith("外呼：订单审核"), said  # the whisper, in the agent's Mandarin
        said = [e.args[0] for e in customer_leg.transcript() if e.kind == "say"]
        assert said[0].startswith("您好，这里是银泰客服"), said
        centre.wait_for(lambda: last_attempt(centre, task.id).recording_sid is not None)  # type: ignore[union-attr]
        # The outbound call's recording goes through the same pipeline as inbound ones.
        sid = last_attempt(centre, task.id).recording_sid  # type: ignore[union-attr]
        with centre.factory() as s:
            rec = s.scalar(select(Recording).where(Recording.sid == sid))
            assert rec is not None and rec.status is RecordingStatus.STORED
            assert rec.queue == "outbound:order_review" and rec.agent_id == attempt.agent_id

        review_id = created["review_id"]
        bad = client.post(
            f"/middle/reviews/{review_id}/fields", json={"recipient_phone": "12"}, headers=headers
        )
        assert bad.status_code == 422
        early = client.post(
            f"/middle/reviews/{review_id}/decision", json={"decision": "approve"}, headers=headers
        )
        assert early.status_code == 409  # the address is still missing
        filled = client.post(
            f"/middle/reviews/{review_id}/fields",
            json={"address": "静安区南京西路 1266 号"},
            headers=headers,
        )
        assert filled.status_code == 200, filled.get_data(as_text=True)
        outcome = client.post(
            f"/middle/tasks/{task.id}/outcome",
            json={"outcome": "reached_resolved", "notes": "地址已补全"},
            headers=headers,
        )
        assert outcome.get_json()["status"] == "done"
        # Presence followed the call (the router offered this agent nobody meanwhile), and
        # saving the outcome ended the wrap-up.
        states = [s for s, _ in centre.agent_states(agent_id)]
        assert states == ["offline", "available", "reserved", "on_call", "wrap_up", "available"]
        decided = client.post(
            f"/middle/reviews/{review_id}/decision",
            json={"decision": "approve", "reason": "address confirmed by phone"},
            headers=headers,
        )
        assert decided.status_code == 200, decided.get_data(as_text=True)

        with centre.factory() as s:
            placed = s.scalar(select(Order).where(Order.number == "MO1001"))
            assert placed is not None and placed.status is OrderStatus.APPROVED
            assert placed.address == "静安区南京西路 1266 号"
            actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        for action in (
            "order.created",
            "outbound.task_created",
            "outbound.attempt_started",
            "review.fields_completed",
            "outbound.outcome",
            "review.approved",
        ):
            assert action in actions
        ((headers_in, raw),) = order_system.received
        signature = headers_in["X-Callcenter-Signature"]
        assert webhooks.verify(
            WEBHOOK_SECRET, signature, raw, now=int(centre.clock.now().timestamp())
        )
        assert b'"event":"order.approved"' in raw and b"MO1001" in raw


def test_no_answer_is_retried_only_within_calling_hours(
    live_session_factory: sessionmaker[Session],
    make_runtime: Callable[..., Runtime],
    redis: object,
    order_system: OrderSystem,
) -> None:
    start = datetime(2026, 11, 23, 12, 50, tzinfo=UTC)  # 20:50 in Shanghai; calls end at 21:00
    with centre_at(start, live_session_factory, make_runtime, order_system) as centre:
        agent_id = middle_office_agent(centre, Answering(after=1, talk=None))
        centre.network.add_endpoint(CUSTOMER, Answering(mode="no-answer"))
        created = submit(
            centre, order("MO2001", "MO-ACC-2", recipient_phone=CUSTOMER, address=None)
        )
        task = task_of(centre, created["review_id"])
        client, csrf = signed_in(centre)
        headers = {"X-CSRF-Token": csrf}
        assert client.post(f"/middle/tasks/{task.id}/call", headers=headers).status_code == 202

        def retried() -> bool:
            again = task_of(centre, created["review_id"])
            return again.attempts == 1 and again.status is TaskStatus.PENDING

        centre.wait_for(retried, timeout=60)
        task = task_of(centre, created["review_id"])
        assert task.last_outcome == "no_answer"
        # 15 minutes later would be 21:0x: the retry waits for 09:00 the next morning.
        assert task.next_attempt_at == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
        attempt = last_attempt(centre, task.id)
        assert attempt is not None and attempt.customer_status == "no-answer"
        agent_leg = centre.network.call(attempt.agent_call_sid)  # type: ignore[arg-type]
        assert agent_leg.wait(timeout=30).status == "completed"  # hung up for the agent
        centre.wait_for(lambda: centre.agent_row(agent_id).state is AgentState.WRAP_UP)
        refused = client.post(f"/middle/tasks/{task.id}/call", headers=headers)
        assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "not-due"
        customer_calls = [c for c in centre.network.calls() if c.to == CUSTOMER]
        assert len(customer_calls) == 1


def test_a_number_on_the_do_not_call_list_is_never_dialled(
    live_session_factory: sessionmaker[Session],
    make_runtime: Callable[..., Runtime],
    redis: object,
    order_system: OrderSystem,
) -> None:
    start = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    with centre_at(start, live_session_factory, make_runtime, order_system) as centre:
        middle_office_agent(centre, Answering(after=1, talk=10))
        centre.network.add_endpoint(CUSTOMER, Answering(after=1, talk=10))
        runner = centre.app.test_cli_runner()
        from callcenter.commands.middle_office import middle_office_group

        added = runner.invoke(middle_office_group, ["dnc-add", CUSTOMER, "--reason", "asked"])
        assert added.exit_code == 0, added.output
        created = submit(
            centre, order("MO3001", "MO-ACC-3", recipient_phone=CUSTOMER, address=None)
        )
        task = task_of(centre, created["review_id"])
        assert task.status is TaskStatus.BLOCKED
        client, csrf = signed_in(centre)
        response = client.post(f"/middle/tasks/{task.id}/call", headers={"X-CSRF-Token": csrf})
        assert response.status_code == 409
        with centre.app.app_context():
            from callcenter.jobs import outbound_tick as jobs

            jobs.tick()
        time.sleep(0.2)
        assert [c for c in centre.network.calls() if c.to == CUSTOMER] == []
        assert last_attempt(centre, task.id) is None
