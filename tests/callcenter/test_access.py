"""The permission guard of staff pages, on the desk's sign-in session."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Blueprint, Flask, g, jsonify
from sqlalchemy.orm import Session, sessionmaker

from callcenter.access import require
from callcenter.app import create_app
from callcenter.desk.auth import AGENT_KEY, CSRF_KEY, EPOCH_KEY
from callcenter.runtime import Runtime
from queues.models import Post, Role
from queues.passwords import hash_password
from tests.builders import add_agent


@pytest.fixture
def app(
    live_session_factory: sessionmaker[Session], make_runtime: Callable[..., Runtime], redis: object
) -> Flask:
    bp = Blueprint("wall", __name__, url_prefix="/wall")
    require(bp, "wallboard.read")  # supervisor, team lead, manager

    @bp.get("/")
    def page() -> str:
        return f"hello {g.staff.login}"

    @bp.post("/api/act")
    def act() -> object:
        return jsonify(ok=True)

    app = create_app(runtime=make_runtime(live_session_factory))
    app.register_blueprint(bp)
    return app


def account(factory: sessionmaker[Session], login: str, *roles: Role, active: bool = True) -> int:
    with factory.begin() as s:
        agent = add_agent(
            s,
            login,
            display_name=login,
            posts=[Post.FRONT_DESK] if not roles else [],
            skills={"general": 3} if not roles else {},
            roles=roles,
        )
        agent.password_hash = hash_password("pw")
        agent.active = active
        return agent.id


def signed_in(app: Flask, factory: sessionmaker[Session], agent_id: int) -> object:
    client = app.test_client()
    with factory() as s:
        from queues.models import Agent

        agent = s.get(Agent, agent_id)
        assert agent is not None
        epoch = agent.session_epoch
    with client.session_transaction() as sess:
        sess[AGENT_KEY], sess[EPOCH_KEY], sess[CSRF_KEY] = agent_id, epoch, "tok"
    return client


def test_the_permission_table_decides_who_reaches_a_staff_page(
    app: Flask, live_session_factory: sessionmaker[Session]
) -> None:
    anonymous = app.test_client()
    assert anonymous.get("/wall/").status_code == 302
    assert anonymous.post("/wall/api/act").status_code == 401
    agent = signed_in(app, live_session_factory, account(live_session_factory, "plain"))
    assert agent.get("/wall/").status_code == 403  # type: ignore[attr-defined]
    sup_id = account(live_session_factory, "sup", Role.SUPERVISOR)
    sup = signed_in(app, live_session_factory, sup_id)
    assert sup.get("/wall/").get_data(as_text=True) == "hello sup"  # type: ignore[attr-defined]
    boss = signed_in(app, live_session_factory, account(live_session_factory, "boss", Role.MANAGER))
    assert boss.get("/wall/").status_code == 200  # type: ignore[attr-defined]
    qc = signed_in(app, live_session_factory, account(live_session_factory, "qc", Role.QC))
    assert qc.get("/wall/").status_code == 403  # type: ignore[attr-defined]
    # POSTs need the CSRF token; a disabled account is signed out.
    assert sup.post("/wall/api/act").status_code == 403  # type: ignore[attr-defined]
    ok = sup.post("/wall/api/act", headers={"X-CSRF-Token": "tok"})  # type: ignore[attr-defined]
    assert ok.status_code == 200
    gone = signed_in(
        app, live_session_factory, account(live_session_factory, "gone", Role.SUPERVISOR)
    )
    with live_session_factory.begin() as s:
        from queues.models import Agent

        s.get(Agent, gone_id := _id(s, "gone")).active = False  # type: ignore[union-attr]
    assert gone_id and gone.get("/wall/").status_code == 302  # type: ignore[attr-defined]


def _id(s: Session, login: str) -> int:
    from sqlalchemy import select

    from queues.models import Agent

    found = s.scalar(select(Agent.id).where(Agent.login == login))
    assert found is not None
    return found
