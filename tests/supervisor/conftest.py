"""Fixtures of the supervisor tests: staff accounts signed in, queue entries, agents."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from callcenter.app import create_app
from callcenter.desk.auth import AGENT_KEY, CSRF_KEY, EPOCH_KEY
from callcenter.runtime import Runtime
from core.models import Call, CallDirection, CallStatus, Language
from queues.models import Agent, AgentState, Post, QueuedCall, QueuedCallStatus, Role
from tests.builders import add_agent
from tests.conftest import NOW

CSRF = "tok"


@pytest.fixture
def runtime(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session], redis: Redis
) -> Runtime:
    return make_runtime(
        session_factory,
        jobs_async=False,
        supervisor_support_groups="backoffice=post:back_office",
    )


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    return create_app(runtime=runtime)


@pytest.fixture
def make_agent(session_factory: sessionmaker[Session]) -> Callable[..., int]:
    def make(
        login: str,
        *roles: Role,
        skills: dict[str, int] | None = None,
        posts: tuple[Post, ...] = (Post.FRONT_DESK,),
        state: AgentState = AgentState.OFFLINE,
        since: datetime = NOW,
        reason: str | None = None,
    ) -> int:
        with session_factory.begin() as s:
            agent = add_agent(
                s,
                login,
                posts=list(posts),
                skills=skills if skills is not None else {"general": 3},
                languages=[Language.ZH, Language.EN],
                roles=roles,
            )
            agent.state, agent.state_since, agent.state_reason = state, since, reason
            agent.password_hash = "scrypt:not-a-real-hash"  # signs in through the test session
            return agent.id

    return make


@pytest.fixture
def signed_in(app: Flask, session_factory: sessionmaker[Session]) -> Callable[[int], FlaskClient]:
    def sign(agent_id: int) -> FlaskClient:
        client = app.test_client()
        with session_factory() as s:
            agent = s.get(Agent, agent_id)
            assert agent is not None
            epoch = agent.session_epoch
        with client.session_transaction() as sess:
            sess[AGENT_KEY], sess[EPOCH_KEY], sess[CSRF_KEY] = agent_id, epoch, CSRF
        return client

    return sign


@pytest.fixture
def supervisor(
    make_agent: Callable[..., int], signed_in: Callable[[int], FlaskClient]
) -> FlaskClient:
    return signed_in(make_agent("ma.chao", Role.SUPERVISOR))


@pytest.fixture
def make_entry(session_factory: sessionmaker[Session]) -> Callable[..., int]:
    def make(
        queue: str = "general",
        *,
        waited_s: float = 30,
        status: QueuedCallStatus = QueuedCallStatus.WAITING,
        vip: bool = False,
        tier: str = "new",
        answered_after_s: float | None = None,
        now: datetime = NOW,
        agent_id: int | None = None,
    ) -> int:
        with session_factory.begin() as s:
            sid = "CA" + secrets.token_hex(16)
            call = Call(sid=sid, direction=CallDirection.INBOUND, status=CallStatus.IN_PROGRESS)
            s.add(call)
            s.flush()
            enqueued = now - timedelta(seconds=waited_s)
            entry = QueuedCall(
                call_id=call.id,
                call_sid=sid,
                queue=queue,
                skill="general",
                language="zh",
                tier=tier,
                vip=vip,
                enqueued_at=enqueued,
                status=status,
                agent_id=agent_id,
            )
            if answered_after_s is not None:
                entry.answered_at = enqueued + timedelta(seconds=answered_after_s)
            if status is QueuedCallStatus.ABANDONED:
                entry.left_at = now
            s.add(entry)
            s.flush()
            return entry.id

    return make


class RecordingTelephony:
    """The REST edge, faked: records every request and answers with made-up SIDs."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, object]]] = []

    def _log(self, name: str, **kwargs: object) -> str:
        self.requests.append((name, kwargs))
        return "CA" + secrets.token_hex(16)

    def place_call(self, **kwargs: object) -> object:
        from core.telephony import PlacedCall

        return PlacedCall(self._log("place_call", **kwargs), "queued", None)

    def redirect_call(self, call_sid: str, url: str) -> None:
        self._log("redirect_call", call_sid=call_sid, url=url)

    def hang_up(self, call_sid: str) -> None:
        self._log("hang_up", call_sid=call_sid)

    def add_participant(self, conference: str, **kwargs: object) -> str:
        return self._log("add_participant", conference=conference, **kwargs)

    def update_participant(self, conference_sid: str, call_sid: str, **kwargs: object) -> None:
        self._log("update_participant", conference_sid=conference_sid, call_sid=call_sid, **kwargs)

    def end_conference(self, conference_sid: str) -> None:
        self._log("end_conference", conference_sid=conference_sid)

    def find_conference(self, friendly_name: str) -> str | None:
        self._log("find_conference", friendly_name=friendly_name)
        return "CF" + "0" * 32


@pytest.fixture
def telephony(runtime: Runtime) -> RecordingTelephony:
    fake = RecordingTelephony()
    runtime.telephony_factory = lambda: fake  # type: ignore[assignment,return-value]
    return fake
