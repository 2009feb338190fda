"""The staff pages with inline scripts and styles in headless Chromium, under the app's
Content-Security-Policy: the browser reports no violation, and the player's inline script runs
(it draws the waveform). Chromium's requests are answered by the Flask test client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from queues.models import Post, Role
from recordings.models import Recording
from tests.browser import BROWSER_MARKS, Page, chromium_page
from tests.recordings.test_replay import account, recording, rt, signed_in  # noqa: F401

pytestmark = BROWSER_MARKS
BASE = "http://cc.test"


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium_page(1200, 800) as p:
        yield p


def serve_from(page: Page, client: FlaskClient) -> list[str]:
    """Answer the page's requests with `client`; the console's errors (CSP reports) collected."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    def handle(route: Any) -> None:
        request = route.request
        path = request.url.removeprefix(BASE)
        with client.open(path, method=request.method, headers=dict(request.headers)) as response:
            route.fulfill(
                status=response.status_code,
                headers=dict(response.headers),
                body=response.get_data(),
            )

    page.route(f"{BASE}/**", handle)
    return errors


def test_the_staff_pages_run_under_their_csp(
    app: Flask,
    session: Session,
    page: Page,
    recording: Recording,  # noqa: F811
) -> None:
    manager = account(session, "feng.min", Role.MANAGER)
    manager.posts.append(Post.MIDDLE_OFFICE)
    session.commit()
    errors = serve_from(page, signed_in(app, manager))
    for path in ("/recordings/", "/reports/", "/middle/", f"/recordings/{recording.id}"):
        response = page.goto(BASE + path)
        assert response is not None and response.status == 200, path
    drawn = page.evaluate(
        "() => { const c = document.getElementById('wave');"
        " return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v); }"
    )
    assert drawn, "the player's inline script did not run"
    assert [e for e in errors if "Content Security Policy" in e] == []
