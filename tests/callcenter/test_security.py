"""The console's protections in one place (`callcenter.security`): CSRF on every state-changing
staff route, security headers on every page, and the request size limit."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.routing import AnyConverter, BaseConverter, IntegerConverter, Rule
from werkzeug.test import TestResponse

from callcenter.desk.auth import AGENT_KEY, CSRF_KEY, EPOCH_KEY
from callcenter.security import MAX_BODY_BYTES, SIGNED_ELSEWHERE, STATE_CHANGING
from core.models import Call
from queues.models import Post, Role
from tests.builders import add_agent
from tests.conftest import call_params, new_call_sid

CSRF = "the-token"


@pytest.fixture
def manager(app: Flask, session: Session) -> FlaskClient:
    """The centre's manager, holding every post and role: no route refuses them by role."""
    agent = add_agent(
        session,
        "feng.min",
        display_name="冯敏",
        posts=list(Post),
        skills={"general": 3},
        roles=list(Role),
    )
    agent.password_hash = "signs in through the test session"
    session.commit()
    client = app.test_client()
    with client.session_transaction() as sess:
        sess[AGENT_KEY], sess[EPOCH_KEY], sess[CSRF_KEY] = agent.id, agent.session_epoch, CSRF
    return client


def routes(app: Flask, methods: frozenset[str]) -> Iterator[tuple[Rule, str, str]]:
    """(rule, method, a URL of it) for every rule answering one of `methods`."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted((rule.methods or set()) & methods):
            values = {name: _sample(rule._converters[name]) for name in rule.arguments}
            with app.test_request_context():
                yield rule, method, url_for(rule.endpoint, **values)


def _sample(converter: BaseConverter) -> object:
    if isinstance(converter, IntegerConverter):
        return 1
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)[0]
    return "x"


def send(client: FlaskClient, method: str, url: str, **kwargs: object) -> TestResponse:
    return client.open(url, method=method, **kwargs)


def test_every_state_changing_staff_route_needs_the_csrf_token(
    app: Flask, manager: FlaskClient
) -> None:
    seen: set[str] = set()
    for rule, method, url in routes(app, STATE_CHANGING):
        blueprint = rule.endpoint.rpartition(".")[0]
        if blueprint in SIGNED_ELSEWHERE:
            continue
        seen.add(blueprint)
        for kwargs in ({}, {"json": {}}, {"headers": {"X-CSRF-Token": "wrong"}}):
            response = send(manager, method, url, **kwargs)
            assert response.status_code == 403, (method, url, kwargs, response.status_code)
        form = send(manager, method, url, data={"csrf_token": "wrong"})
        assert form.status_code == 403, (method, url)
    assert {"desk", "middle_office", "supervisor", "recordings"} <= seen


def test_the_routes_without_the_token_authenticate_every_request_otherwise(
    app: Flask, client: FlaskClient
) -> None:
    """Twilio's webhooks need its signature, the order API its Bearer token."""
    seen = set()
    for rule, method, url in routes(app, STATE_CHANGING):
        blueprint = rule.endpoint.rpartition(".")[0]
        if blueprint in SIGNED_ELSEWHERE:
            seen.add(blueprint)
            assert send(client, method, url, data={"x": "1"}).status_code in (401, 403), url
    assert seen == SIGNED_ELSEWHERE


def test_an_anonymous_post_gets_what_a_get_would(app: Flask, client: FlaskClient) -> None:
    assert client.post("/supervisor/api/entries/1/move", json={}).status_code == 401
    page = client.post("/recordings/1/legal-hold", data={"hold": "1"})
    assert page.status_code == 302 and page.location.startswith("/desk/login")


def pages(app: Flask) -> Iterator[str]:
    """Every console GET route without arguments (not the event stream, static files, media)."""
    for rule, _method, url in routes(app, frozenset({"GET"})):
        blueprint = rule.endpoint.rpartition(".")[0]
        if rule.arguments or blueprint in SIGNED_ELSEWHERE | {"media", "health"}:
            continue
        if rule.endpoint in ("supervisor.stream",) or rule.endpoint.endswith("static"):
            continue
        yield url


def test_every_console_page_sends_the_security_headers(app: Flask, manager: FlaskClient) -> None:
    urls = list(pages(app))
    assert {
        "/desk/",
        "/desk/login",
        "/supervisor/",
        "/reports/",
        "/recordings/",
        "/middle/",
    } <= set(urls)
    for url in urls:
        response = manager.get(url)
        assert response.status_code < 500, url  # 409: no Twilio API key for a voice token
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp, url
        assert "script-src 'self'" in csp and "default-src 'self'" in csp, url
        assert headers["X-Frame-Options"] == "DENY", url
        assert headers["X-Content-Type-Options"] == "nosniff", url
        assert headers["Referrer-Policy"] == "same-origin", url
        assert "no-store" in headers["Cache-Control"], url


def test_inline_scripts_and_styles_carry_the_responses_nonce(
    app: Flask, manager: FlaskClient
) -> None:
    for url in pages(app):
        response = manager.get(url)
        html = response.get_data(as_text=True)
        inline = re.findall(r"<(script|style)(?![^>]*\ssrc=)([^>]*)>", html)
        nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
        for _tag, attrs in inline:
            assert nonce and f'nonce="{nonce.group(1)}"' in attrs, (url, attrs)


def test_static_files_and_hold_music_may_be_cached(app: Flask, client: FlaskClient) -> None:
    with client.get("/desk/static/desk.css") as css:
        assert css.status_code == 200 and "no-store" not in css.headers.get("Cache-Control", "")
    music = client.get("/media/hold-music.wav")
    assert "no-store" not in music.headers["Cache-Control"]


def test_a_too_big_signed_webhook_is_413_and_changes_nothing(
    signed_post: Callable[..., TestResponse], session: Session
) -> None:
    sid = new_call_sid()
    params = call_params(sid, Padding="x" * MAX_BODY_BYTES)
    response = signed_post("/twilio/voice/incoming", params)
    assert response.status_code == 413
    assert session.scalar(select(Call).where(Call.sid == sid)) is None
    fits = signed_post("/twilio/voice/incoming", call_params(sid))
    assert fits.status_code == 200 and session.scalar(select(Call).where(Call.sid == sid))


def test_a_too_big_console_form_is_413(manager: FlaskClient) -> None:
    response = manager.post(
        "/recordings/1/legal-hold", data={"csrf_token": CSRF, "hold": "x" * MAX_BODY_BYTES}
    )
    assert response.status_code == 413
