"""Fixtures of the report tests: an app whose clock reads the end of the scripted day, and
signed-in staff clients by role."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from callcenter.app import create_app
from callcenter.desk.auth import AGENT_KEY, CSRF_KEY, EPOCH_KEY
from callcenter.runtime import Runtime
from queues.models import Agent, Post, Role
from tests.builders import add_agent

#: When the reports are asked for: Tuesday 24 November 2026, 20:00 in Shanghai (UTC+8).
REPORT_NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def app(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session], redis: Redis
) -> Flask:
    return create_app(runtime=make_runtime(session_factory, now=lambda: REPORT_NOW))


@pytest.fixture
def staff_client(app: Flask, session_factory: sessionmaker[Session]) -> Callable[..., FlaskClient]:
    """A client signed in as a new account holding `roles` (none: a plain front-desk agent)."""

    def make(login: str, *roles: Role) -> FlaskClient:
        with session_factory.begin() as s:
            agent = add_agent(
                s,
                login,
                display_name=login,
                posts=[] if roles else [Post.FRONT_DESK],
                skills={} if roles else {"general": 3},
                now=REPORT_NOW,
                roles=roles,
            )
            agent.password_hash = f"not-a-real-hash-{login}"  # signs in through the test session
            agent_id, epoch = agent.id, agent.session_epoch
        client = app.test_client()
        with client.session_transaction() as sess:
            sess[AGENT_KEY], sess[EPOCH_KEY], sess[CSRF_KEY] = agent_id, epoch, "tok"
        return client

    return make


def agent_id(session: Session, login: str) -> int:
    from sqlalchemy import select

    found = session.scalar(select(Agent.id).where(Agent.login == login))
    assert found is not None
    return found
