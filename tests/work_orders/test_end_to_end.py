"""A work order's whole life through the local phone network: a caller's cracked screen is
answered by a front-desk agent and passed to after-sales A; the department replies in the
console; the owning agent finds the callback with the answer on their list and calls; the
customer answers, is satisfied, and the work order closes. Another work order that nobody
answers breaches its 2-hour first-feedback SLA and the floor supervisor's wallboard shows the
escalation."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from callcenter.jobs.alerts import run_alerts
from callcenter.jobs.work_orders import run_sweep
from callcenter.runtime import Runtime
from callcenter.seed import DEMO_VIP_PHONE
from core.models import Call, Customer, CustomerPhone
from outbound.models import AttemptStatus, OutboundAttempt, OutboundTask, TaskStatus
from phone_network.parties import Answering
from queues.models import Agent, AgentState, QueuedCall, QueuedCallStatus, Role
from queues.passwords import hash_password
from tests.builders import add_agent
from tests.centre import Centre, running_centre
from work_orders import states, timeline
from work_orders.models import WorkOrder, WorkOrderCall, WorkOrderEvent, WorkOrderStatus

pytestmark = pytest.mark.slow
START = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 11:00 in Shanghai
PASSWORD = "correct horse battery"
OWNER = "qin.yu"


def signed_in(centre: Centre, login: str, password: str, page: str) -> tuple[FlaskClient, str]:
    """A browser session of `login` on the app, and the CSRF token of `page`."""
    client = centre.app.test_client()
    form = client.get("/desk/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    done = client.post(
        "/desk/login", data={"login": login, "password": password, "csrf_token": token}
    )
    assert done.status_code in (302, 303), done.get_data(as_text=True)
    html = client.get(page).get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert csrf is not None, html[:500]
    return client, csrf.group(1)


def staff(centre: Centre, login: str, team: str, role: Role) -> None:
    """A signed-in-able account of `role` (the department's user, the supervisor, the lead)."""
    with centre.factory.begin() as s:
        add_agent(
            s,
            login,
            team=team,
            posts=[],
            skills={},
            roles=[role],
            password=PASSWORD,
            now=centre.clock.now(),
        )


def front_desk_owner(centre: Centre) -> int:
    """The front-desk agent of team front-a whose browser answers calls (and the callback)."""
    agent_id = centre.agent(OWNER, answering=Answering(after=1, talk=20))
    with centre.factory.begin() as s:
        s.execute(
            update(Agent)
            .where(Agent.id == agent_id)
            .values(team="front-a", password_hash=hash_password(PASSWORD))
        )
    return agent_id


def answered_call(centre: Centre, agent_id: int) -> int:
    """The VIP calls the hotline, and the owner answers and talks; the call's id."""
    leg = centre.call(DEMO_VIP_PHONE, "press 1", "press 0", max_hold=300)

    def connected() -> bool:
        entries = centre.entries(leg)
        return bool(entries) and entries[-1].status is QueuedCallStatus.CONNECTED

    centre.wait_for(connected, timeout=60)
    entry: QueuedCall = centre.entries(leg)[-1]
    assert entry.agent_id == agent_id
    leg.wait(timeout=60)
    with centre.factory() as s:
        call = s.scalar(select(Call).where(Call.sid == leg.sid))
        assert call is not None and call.customer_id is not None
        return call.id


def pass_to_aftersales_a(
    centre: Centre, call_id: int | None, agent_id: int, key: str, text: str
) -> str:
    """The wrap-up's "pass to department" (the desk's form is another helper's work): the
    work order opened for the call and passed, as `timeline` and `states` do it."""
    with centre.factory.begin() as s:
        customer = s.scalar(
            select(Customer).join(CustomerPhone).where(CustomerPhone.e164 == DEMO_VIP_PHONE)
        )
        assert customer is not None
        wo = timeline.open_work_order(
            s,
            client_key=key,
            category="product_quality",
            description=text,
            author_id=agent_id,
            author=OWNER,
            now=centre.clock.now(),
            call_id=call_id,
            customer_id=customer.id,
            department="aftersales-a",
            priority=timeline.priority_for(customer.tier),
            owner_id=agent_id,
            owner_team="front-a",
        ).work_order
        states.move(s, wo, "pass", author_id=agent_id, author=OWNER, now=centre.clock.now())
        return wo.number


def work_order(centre: Centre, number: str) -> WorkOrder:
    with centre.factory() as s:
        found = s.scalar(select(WorkOrder).where(WorkOrder.number == number))
        assert found is not None
        return found


def events(centre: Centre, number: str) -> list[WorkOrderEvent]:
    with centre.factory() as s:
        return list(
            s.scalars(
                select(WorkOrderEvent)
                .join(WorkOrder)
                .where(WorkOrder.number == number)
                .order_by(WorkOrderEvent.id)
            )
        )


def test_passed_answered_called_back_and_closed_while_an_unanswered_one_escalates(
    live_session_factory: sessionmaker[Session],
    make_runtime: Callable[..., Runtime],
    redis: object,
) -> None:
    with running_centre(live_session_factory, make_runtime, start=START) as centre:
        rt = centre.runtime
        owner = front_desk_owner(centre)
        call_id = answered_call(centre, owner)
        number = pass_to_aftersales_a(centre, call_id, owner, "wrap-up:e2e-1", "手机屏幕碎了")
        other = pass_to_aftersales_a(centre, None, owner, "wrap-up:e2e-2", "耳机没声音")
        with centre.factory() as s:
            linked = s.scalars(select(WorkOrderCall.call_id)).all()
            assert linked == [call_id]

        # After-sales A works the inbox in the console.
        staff(centre, "gao.yan2", "aftersales-a", Role.DEPARTMENT)
        gao, csrf = signed_in(centre, "gao.yan2", PASSWORD, "/work-orders/")
        inbox = gao.get("/work-orders/").get_data(as_text=True)
        assert f'data-work-order="{number}"' in inbox and f'data-work-order="{other}"' in inbox
        wo_id = work_order(centre, number).id
        headers = {"X-CSRF-Token": csrf}
        claimed = gao.post(f"/work-orders/{wo_id}/claim", json={}, headers=headers)
        assert claimed.status_code == 200, claimed.get_data(as_text=True)
        answer = "已安排免费换屏，快递明天上门取件"
        replied = gao.post(
            f"/work-orders/{wo_id}/resolve",
            json={"text": answer, "resolution_code": "screen_replaced", "client_key": "r1"},
            headers=headers,
        )
        assert replied.status_code == 200, replied.get_data(as_text=True)
        assert replied.get_json()["work_order"]["status"] == "answered"

        # The owner's callback: on their list with the department's answer; they call.
        centre.network.add_endpoint(DEMO_VIP_PHONE, Answering(after=2, talk=15))
        centre.set_state(owner, AgentState.AVAILABLE)  # ends the inbound call's wrap-up
        qin, csrf = signed_in(centre, OWNER, PASSWORD, "/work-orders/callbacks")
        listing = qin.get("/work-orders/callbacks").get_data(as_text=True)
        assert answer in listing and number in listing
        with centre.factory() as s:
            task = s.scalars(
                select(OutboundTask).where(OutboundTask.kind == "work_order_callback")
            ).one()
            assert (task.kind, task.agent_id, task.to_number) == (
                "work_order_callback",
                owner,
                DEMO_VIP_PHONE,
            )
        headers = {"X-CSRF-Token": csrf}
        called = qin.post(f"/work-orders/callbacks/{task.id}/call", headers=headers)
        assert called.status_code == 202, called.get_data(as_text=True)
        assert (
            qin.post(f"/work-orders/callbacks/{task.id}/call", headers=headers).status_code == 409
        )

        def ended() -> bool:
            with centre.factory() as s:
                attempt = s.scalar(
                    select(OutboundAttempt).where(OutboundAttempt.task_id == task.id)
                )
                return attempt is not None and attempt.status is AttemptStatus.ENDED

        centre.wait_for(ended, timeout=60)
        customer_legs = [c for c in centre.network.calls() if c.to == DEMO_VIP_PHONE]
        assert len(customer_legs) == 1 and customer_legs[0].wait(timeout=30).status == "completed"
        reached = [e for e in events(centre, number) if e.kind == "call"]
        assert [e.data["reached"] for e in reached] == [True]

        settled = qin.post(
            f"/work-orders/callbacks/{task.id}/outcome",
            json={"outcome": "reached_resolved", "satisfied": "yes", "notes": "客户满意"},
            headers=headers,
        )
        assert settled.status_code == 200, settled.get_data(as_text=True)
        assert settled.get_json() == {"task": "done", "work_order_status": "closed"}
        closed = work_order(centre, number)
        assert (closed.status, closed.resolution_code) == (
            WorkOrderStatus.CLOSED,
            "screen_replaced",
        )
        moves = [e.data["event"] for e in events(centre, number) if e.kind == "status"]
        assert moves == ["pass", "claim", "reply", "close"]
        with centre.factory() as s:
            assert s.get(OutboundTask, task.id).status is TaskStatus.DONE  # type: ignore[union-attr]

        # Nobody answers the other one: two hours later its first feedback is breached.
        centre.clock.wait(2 * 3600 + 1, lambda: False)
        assert (centre.clock.now() - START).total_seconds() > 2 * 3600
        swept = run_sweep(rt)
        assert swept.escalated == [other]
        assert run_sweep(rt).escalated == []  # once
        run_alerts(rt)
        rt.redis.delete(f"{rt.settings.redis_prefix}wallboard:snapshot")
        staff(centre, "ma.chao2", "floor", Role.SUPERVISOR)
        supervisor, _ = signed_in(centre, "ma.chao2", PASSWORD, "/supervisor/")
        shown = supervisor.get("/supervisor/api/snapshot").get_json()["alerts"]
        escalations = [a["subject"] for a in shown if a["kind"] == "work_order_escalated"]
        assert escalations == [other]
        assert [e.kind for e in events(centre, other)][-2:] == ["sla_breach", "escalated"]
        staff(centre, "he.jing2", "front-a", Role.TEAM_LEAD)
        lead, _ = signed_in(centre, "he.jing2", PASSWORD, "/work-orders/escalated")
        escalated = lead.get("/work-orders/escalated").get_data(as_text=True)
        assert f'data-work-order="{other}"' in escalated and number not in escalated
