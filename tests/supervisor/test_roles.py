"""Every supervisor route checks the role: no session, a plain agent, and each allowed role."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from queues.models import Role
from tests.supervisor.conftest import CSRF


def _routes(app: Flask) -> list[tuple[str, str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("supervisor."):
            continue
        path = re.sub(
            r"<(?:\w+:)?(\w+)>", lambda m: "backoffice" if m[1] == "group" else "1", rule.rule
        )
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, path))
    return found


def _call(client: FlaskClient, method: str, path: str) -> int:
    if path.endswith("/stream"):  # an endless stream: only the status line matters
        response = client.open(path, method=method, buffered=False)
        status = response.status_code
        response.close()
        return status
    headers = {"X-CSRF-Token": CSRF}
    return client.open(path, method=method, json={}, headers=headers).status_code


def test_every_route_is_in_the_list(app: Flask) -> None:
    endpoints = {e for e, _, _ in _routes(app)}
    assert {"supervisor.wallboard", "supervisor.stream", "supervisor.move"} <= endpoints
    assert len(endpoints) >= 14


def test_without_a_session_every_route_is_refused(app: Flask) -> None:
    client = app.test_client()
    for endpoint, method, path in _routes(app):
        status = client.open(path, method=method, json={}).status_code
        assert status in (302, 401), (endpoint, status)


def test_a_plain_agent_gets_403_everywhere(
    app: Flask, make_agent: Callable[..., int], signed_in: Callable[[int], FlaskClient]
) -> None:
    client = signed_in(make_agent("li.na"))
    qc = signed_in(make_agent("zheng.xue", Role.QC))
    for endpoint, method, path in _routes(app):
        assert _call(client, method, path) == 403, endpoint
        assert _call(qc, method, path) == 403, endpoint


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.TEAM_LEAD, Role.MANAGER])
def test_each_allowed_role_reaches_every_route(
    app: Flask,
    make_agent: Callable[..., int],
    signed_in: Callable[[int], FlaskClient],
    role: Role,
) -> None:
    client = signed_in(make_agent(f"staff.{role.value}", role))
    for endpoint, method, path in _routes(app):
        assert _call(client, method, path) not in (401, 403), endpoint
