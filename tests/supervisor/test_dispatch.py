"""Dispatch actions through the JSON API: each changes the floor as asked and is audited."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import Runtime
from core.audit import AuditEvent
from queues import connect
from queues.models import Agent, AgentState, Post, QueuedCall, QueuedCallStatus
from queues.services import waiting_caller
from tests.supervisor.conftest import CSRF, RecordingTelephony

H = {"X-CSRF-Token": CSRF}


def _on_list(runtime: Runtime, factory: sessionmaker[Session], entry_id: int) -> None:
    with factory() as s:
        entry = s.get(QueuedCall, entry_id)
        assert entry is not None
        runtime.waiting_list.add(waiting_caller(entry))


def _audited(factory: sessionmaker[Session]) -> list[str]:
    with factory() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_move_keeps_arrival_and_priority_and_sends_the_caller_to_the_new_queue(
    app: Flask,
    runtime: Runtime,
    session_factory: sessionmaker[Session],
    supervisor: FlaskClient,
    make_entry: Callable[..., int],
    telephony: RecordingTelephony,
) -> None:
    entry_id = make_entry("presales", waited_s=90)
    _on_list(runtime, session_factory, entry_id)
    response = supervisor.post(
        f"/supervisor/api/entries/{entry_id}/move", json={"queue": "orders"}, headers=H
    )
    assert response.status_code == 200, response.json
    new_id = response.json["entry_id"]  # type: ignore[index]
    with session_factory() as s:
        old, new = s.get(QueuedCall, entry_id), s.get(QueuedCall, new_id)
        assert old is not None and new is not None
        assert (old.status, old.reason) == (QueuedCallStatus.OVERFLOWED, "overflow:orders")
        assert (new.status, new.queue, new.enqueued_at) == (
            QueuedCallStatus.WAITING,
            "orders",
            old.enqueued_at,
        )
        assert new.route_priority == old.route_priority
    assert runtime.waiting_list.waiting(str(entry_id)) is None
    assert runtime.waiting_list.snapshot("orders")[0].entry_id == str(new_id)
    name, args = telephony.requests[0]
    assert name == "redirect_call" and str(args["url"]).endswith(
        "/twilio/voice/queue/exit?queue=presales"
    )
    assert _audited(session_factory) == ["supervisor.move"]
    again = supervisor.post(
        f"/supervisor/api/entries/{entry_id}/move", json={"queue": "orders"}, headers=H
    )
    assert again.status_code == 409


def test_raising_priority_moves_the_caller_ahead(
    runtime: Runtime,
    session_factory: sessionmaker[Session],
    supervisor: FlaskClient,
    make_entry: Callable[..., int],
) -> None:
    first, second = make_entry(waited_s=60), make_entry(waited_s=30)
    for entry_id in (first, second):
        _on_list(runtime, session_factory, entry_id)
    assert [c.entry_id for c in runtime.waiting_list.snapshot("general")] == [
        str(first),
        str(second),
    ]
    response = supervisor.post(
        f"/supervisor/api/entries/{second}/priority", json={"by": 200}, headers=H
    )
    assert response.json == {"priority": 200}
    assert [c.entry_id for c in runtime.waiting_list.snapshot("general")] == [
        str(second),
        str(first),
    ]
    assert _audited(session_factory) == ["supervisor.priority"]


def test_handing_a_caller_to_a_chosen_agent_reserves_and_rings_that_agent(
    runtime: Runtime,
    session_factory: sessionmaker[Session],
    supervisor: FlaskClient,
    make_entry: Callable[..., int],
    make_agent: Callable[..., int],
    telephony: RecordingTelephony,
) -> None:
    first, chosen = make_agent("chen.jing"), make_agent("zhao.min")
    entry_id = make_entry(waited_s=10)
    with session_factory.begin() as s:
        for agent_id in (first, chosen):
            agent = s.get(Agent, agent_id)
            assert agent is not None
            agent.state = AgentState.AVAILABLE
            runtime.waiting_list.agent_available(connect.candidate(agent))
    _on_list(runtime, session_factory, entry_id)
    response = supervisor.post(
        f"/supervisor/api/entries/{entry_id}/assign", json={"agent_id": chosen}, headers=H
    )
    assert response.status_code == 200, response.json
    with session_factory() as s:
        entry = s.get(QueuedCall, entry_id)
        assert entry is not None and entry.agent_id == chosen
        assert entry.status is QueuedCallStatus.ASSIGNED and entry.agent_call_sid
        assert s.get(Agent, chosen).state is AgentState.RESERVED  # type: ignore[union-attr]
    assert [r[0] for r in telephony.requests] == ["place_call"]
    busy = supervisor.post(
        f"/supervisor/api/entries/{entry_id}/assign", json={"agent_id": first}, headers=H
    )
    assert busy.status_code == 409


def test_state_and_skills_changes_and_a_support_group_pulled_and_released(
    runtime: Runtime,
    session_factory: sessionmaker[Session],
    supervisor: FlaskClient,
    make_agent: Callable[..., int],
) -> None:
    agent_id = make_agent("li.na", state=AgentState.AVAILABLE)
    back = make_agent("wu.fang", posts=(Post.BACK_OFFICE,), skills={"aftersales": 4})
    r = supervisor.post(
        f"/supervisor/api/agents/{agent_id}/state",
        json={"state": "break", "reason": "meeting"},
        headers=H,
    )
    assert r.json == {"state": "break"}
    r = supervisor.post(
        f"/supervisor/api/agents/{agent_id}/skills",
        json={"skills": {"orders": 4, "general": 2}},
        headers=H,
    )
    assert r.json == {"skills": {"general": 2, "orders": 4}}
    bad = supervisor.post(
        f"/supervisor/api/agents/{agent_id}/skills", json={"skills": {"x": 9}}, headers=H
    )
    assert bad.status_code == 409
    r = supervisor.post(
        "/supervisor/api/support/backoffice/pull", json={"queue": "complaints"}, headers=H
    )
    assert r.json == {"agents": [back]}
    with session_factory() as s:
        assert s.get(Agent, back).skill_levels() == {"aftersales": 4, "complaints": 1}  # type: ignore[union-attr]
    r = supervisor.post("/supervisor/api/support/backoffice/release", json={}, headers=H)
    assert r.json == {"agents": [back]}
    with session_factory() as s:
        assert s.get(Agent, back).skill_levels() == {"aftersales": 4}  # type: ignore[union-attr]
    assert _audited(session_factory) == [
        "supervisor.state",
        "supervisor.skills",
        "supervisor.support.pull",
        "supervisor.support.release",
    ]
