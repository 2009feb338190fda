"""Every route of the reports blueprint: signed out, a plain agent, and each allowed role."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import AnyConverter, Rule

from queues.models import Role

ALLOWED = (Role.SUPERVISOR, Role.TEAM_LEAD, Role.MANAGER)


def report_urls(app: Flask) -> list[str]:
    """A URL for every `reports.` rule, each value of an `any(...)` part; another kind of
    argument fails here, so a new route cannot slip past the check."""
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("reports."):
            continue
        assert "GET" in (rule.methods or set()), rule
        urls += [rule.build(values, append_unknown=False)[1] for values in _values(rule)]
    return urls


def _values(rule: Rule) -> list[dict[str, str]]:
    combos: list[dict[str, str]] = [{}]
    for name, converter in rule._converters.items():
        assert isinstance(converter, AnyConverter), f"{rule}: teach report_urls about {name}"
        combos = [c | {name: item} for c in combos for item in sorted(converter.items)]
    return combos


def test_every_route_is_listed(app: Flask) -> None:
    urls = report_urls(app)
    assert "/reports/" in urls
    for kind in ("queues", "agents", "teams"):
        assert f"/reports/api/{kind}" in urls
        assert f"/reports/api/{kind}.csv" in urls
    for kind in ("days", "agents"):  # the back office's
        assert f"/reports/api/back_office/{kind}" in urls
        assert f"/reports/api/back_office/{kind}.csv" in urls
    for kind in ("centre", "agents", "teams", "categories"):  # first-contact resolution
        assert f"/reports/api/fcr/{kind}" in urls
        assert f"/reports/api/fcr/{kind}.csv" in urls
    for kind in ("categories", "dispositions", "agents", "teams", "queues"):  # contact reasons
        assert f"/reports/api/contact_reasons/{kind}" in urls
        assert f"/reports/api/contact_reasons/{kind}.csv" in urls
    assert len(urls) == 29


def test_signed_out_requests_are_refused(app: Flask) -> None:
    anonymous = app.test_client()
    for url in report_urls(app):
        response = anonymous.get(url)
        if "/api/" in url:
            assert response.status_code == 401, url
        else:
            assert response.status_code == 302, url
            assert "/desk/login" in response.headers["Location"]


@pytest.mark.parametrize("roles", [(), (Role.QC,)], ids=["plain-agent", "qc"])
def test_accounts_without_a_reporting_role_get_403(
    app: Flask, staff_client: Callable[..., FlaskClient], roles: tuple[Role, ...]
) -> None:
    client = staff_client("someone", *roles)
    for url in report_urls(app):
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("role", ALLOWED)
def test_each_reporting_role_reaches_every_route(
    app: Flask, staff_client: Callable[..., FlaskClient], role: Role
) -> None:
    client = staff_client(f"staff-{role.value}", role)
    for url in report_urls(app):
        response = client.get(url)
        assert response.status_code == 200, url
        if url.endswith(".csv"):
            assert response.mimetype == "text/csv"
        elif "/api/" in url:
            assert response.is_json
