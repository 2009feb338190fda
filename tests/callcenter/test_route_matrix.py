"""Every route of the app × every post (and no session), against config/permissions.toml.

The permission table is the only source of truth: a staff route must name a permission of the
table (`callcenter.access.require`), and each post gets exactly what the table grants it.
Routes outside the staff guard are named here, each with why, and checked as such.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.routing import AnyConverter, IntegerConverter, PathConverter, Rule
from werkzeug.test import TestResponse

from callcenter import access
from callcenter.desk.auth import AGENT_KEY, CSRF_KEY, EPOCH_KEY
from config.permissions import DEFAULT_PERMISSIONS, Permissions, load_permissions
from queues.models import Agent, Post, Role
from queues.passwords import hash_password
from tests.builders import add_agent

CSRF = "tok"
#: Routes anyone may open: the sign-in form, static files, the health check, hold music.
PUBLIC = frozenset(
    {
        "desk.login_form",
        "desk.log_in",
        "desk.static",
        "static",
        "health.healthz",
        "media.hold_music_wav",
    }
)
#: Twilio's webhooks: no session, a valid X-Twilio-Signature instead (403 without one).
WEBHOOK_BLUEPRINTS = ("voice.", "outbound_calls.")
#: The partner systems' APIs (orders, RMAs, inspections, the catalogue, finance's and
#: logistics' confirmations, the departments' work orders): a bearer token instead of a
#: session (401 without one).
MACHINE_APIS = frozenset(
    {
        "order_api.orders",
        "rma_api.rmas",
        "rma_api.inspection",
        "rma_api.catalogue_items",
        "rma_api.refunded",
        "rma_api.shipped",
        "work_order_api.work_orders",
        "work_order_api.work_order",
        "work_order_api.act",
    }
)
#: Prometheus' scrape: loopback or CALLCENTER_METRICS_TOKEN, no session (403 from elsewhere).
SCRAPES = frozenset({"metrics.metrics"})
#: Routes whose success is a redirect to the sign-in page.
SIGNS_OUT = frozenset({"desk.log_out"})
#: Every post of the table, as an account holding it alone.
POSTS = [p.value for p in Post] + [r.value for r in Role]


def table() -> Permissions:
    return load_permissions(DEFAULT_PERMISSIONS)


def requests_of(app: Flask) -> Iterator[tuple[str, str, str]]:
    """(endpoint, method, url) for every rule and method of the app."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule)):
        url = rule.build(_values(rule), append_unknown=False)[1]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def _values(rule: Rule) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, IntegerConverter):
            values[name] = 1
        elif isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        elif isinstance(converter, PathConverter):
            values[name] = "none.js"
        else:
            values[name] = "x"
    return values


def staff_requests(app: Flask) -> list[tuple[str, str, str]]:
    return [
        r
        for r in requests_of(app)
        if r[0] not in PUBLIC
        and r[0] not in MACHINE_APIS
        and r[0] not in SCRAPES
        and not r[0].startswith(WEBHOOK_BLUEPRINTS)
    ]


def call(client: FlaskClient, method: str, url: str) -> TestResponse:
    if url.endswith("/stream"):  # an endless stream: only the status line matters
        response = client.open(url, method=method, buffered=False)
        response.close()
        return response
    headers = {"X-CSRF-Token": CSRF, "Accept": "application/json"}
    return client.open(url, method=method, json={}, headers=headers)


def refused(response: TestResponse) -> bool:
    """Refused by the permission guard (not by a link check or the domain)."""
    body = response.get_json(silent=True) or {}
    return response.status_code == 403 and body.get("error", {}).get("code") == "forbidden"


def signed_out(response: TestResponse) -> bool:
    location = response.headers.get("Location", "")
    return response.status_code == 401 or (
        response.status_code == 302 and "/desk/login" in location
    )


@pytest.fixture
def client_of(app: Flask, session_factory: sessionmaker[Session]) -> Callable[[str], FlaskClient]:
    """A fresh signed-in client of an account holding only `post` (a new one per request, as
    signing out or a refused CSRF must not leak into the next request)."""
    ids: dict[str, tuple[int, str]] = {}

    def account(post: str) -> tuple[int, str]:
        if post not in ids:
            with session_factory.begin() as s:
                rotating = post in {p.value for p in Post}
                agent = add_agent(
                    s,
                    f"matrix.{post}",
                    posts=[Post(post)] if rotating else [],
                    skills={"general": 3} if rotating else {},
                    roles=[] if rotating else [Role(post)],
                    team="front-a",
                )
                agent.password_hash = hash_password("pw")
                s.flush()
                ids[post] = (agent.id, agent.session_epoch)
        return ids[post]

    def make(post: str) -> FlaskClient:
        agent_id, _ = account(post)
        with session_factory() as s:  # signing out (desk.log_out) moves the epoch on
            found = s.get(Agent, agent_id)
            assert found is not None
            epoch = found.session_epoch
        client = app.test_client()
        with client.session_transaction() as sess:
            sess[AGENT_KEY], sess[EPOCH_KEY], sess[CSRF_KEY] = agent_id, epoch, CSRF
        return client

    return make


def test_every_staff_route_names_a_permission_of_the_table(app: Flask) -> None:
    permissions = table()
    missing = [
        endpoint
        for endpoint, _, _ in staff_requests(app)
        if (access.permission_for(endpoint) or "") not in permissions.permissions
    ]
    assert missing == [], "routes with no permission in config/permissions.toml"
    assert len({e for e, _, _ in staff_requests(app)}) >= 35


def test_public_routes_and_webhooks_are_the_named_ones(app: Flask) -> None:
    anonymous = app.test_client()
    for endpoint, method, url in requests_of(app):
        if endpoint in PUBLIC:
            assert access.permission_for(endpoint) is None, endpoint
            continue
        if endpoint.startswith(WEBHOOK_BLUEPRINTS):
            assert anonymous.open(url, method=method, data={}).status_code == 403, endpoint
        elif endpoint in MACHINE_APIS:
            assert anonymous.open(url, method=method, json={}).status_code == 401, endpoint
        elif endpoint in SCRAPES:
            remote = {"REMOTE_ADDR": "203.0.113.9"}
            assert anonymous.open(url, method=method, environ_base=remote).status_code == 403


def test_without_a_session_every_staff_route_is_refused(app: Flask) -> None:
    anonymous = app.test_client()
    for endpoint, method, url in staff_requests(app):
        assert signed_out(call(anonymous, method, url)), (endpoint, method)


@pytest.mark.parametrize("post", POSTS)
def test_each_post_reaches_exactly_what_the_table_grants(
    app: Flask, client_of: Callable[[str], FlaskClient], post: str
) -> None:
    permissions = table()
    wrong = []
    for endpoint, method, url in staff_requests(app):
        needed = access.permission_for(endpoint)
        assert needed is not None
        granted = permissions.allows(needed, {post})
        response = call(client_of(post), method, url)
        kept_out = refused(response) or (signed_out(response) and endpoint not in SIGNS_OUT)
        if granted == kept_out:
            wrong.append((endpoint, method, needed, response.status_code))
    assert wrong == []


def test_a_rotating_agent_has_the_permissions_of_the_post_worked_now(
    app: Flask, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as s:
        agent = add_agent(s, "rota", posts=[Post.MIDDLE_OFFICE, Post.FRONT_DESK])
        agent.password_hash = hash_password("pw")
        s.flush()
        agent_id, epoch = agent.id, agent.session_epoch
    client = app.test_client()
    with client.session_transaction() as sess:
        sess[AGENT_KEY], sess[EPOCH_KEY], sess[CSRF_KEY] = agent_id, epoch, CSRF
    assert refused(call(client, "GET", "/middle/api/tasks"))  # works the front desk now
    with session_factory.begin() as s:
        found = s.get(Agent, agent_id)
        assert found is not None
        found.current_post = Post.MIDDLE_OFFICE
    assert call(client, "GET", "/middle/api/tasks").status_code == 200


def test_the_app_refuses_to_start_when_a_route_names_an_unknown_permission(app: Flask) -> None:
    from flask import Blueprint

    bp = Blueprint("matrix_probe", __name__, url_prefix="/probe")
    access.require(bp, "probe.nothing")

    @bp.get("/")
    def probe() -> str:
        return "x"

    app.register_blueprint(bp)
    with pytest.raises(ValueError, match=r"matrix_probe\.probe: 'probe\.nothing'"):
        access.check_declared(app, table())


def test_the_back_office_console_is_for_its_agents_their_team_leads_and_the_manager(
    app: Flask, client_of: Callable[[str], FlaskClient]
) -> None:
    back = [(e, m, u) for e, m, u in staff_requests(app) if e.startswith("back_office.")]
    assert {e for e, _, _ in back} >= {"back_office.work_list", "back_office.approve"}
    for post in POSTS:
        reached = [not refused(call(client_of(post), m, u)) for _, m, u in back]
        expected = post in {"back_office", "team_lead", "manager"}
        assert reached == [expected] * len(back), post


def test_complaints_are_recorded_by_the_front_desk_and_remedies_decided_by_leads(
    app: Flask, client_of: Callable[[str], FlaskClient]
) -> None:
    """Reading: front desk, team leads, supervisors, the manager; recording the steps: front
    desk, team leads, the manager; deciding a remedy: team leads and the manager."""
    routes = [(e, m, u) for e, m, u in staff_requests(app) if e.startswith("complaints.")]
    assert {e for e, _, _ in routes} == {
        "complaints.complaints",
        "complaints.complaint",
        "complaints.step",
        "complaints.decide",
    }
    may = {
        "complaints.complaints": {"front_desk", "team_lead", "supervisor", "manager"},
        "complaints.complaint": {"front_desk", "team_lead", "supervisor", "manager"},
        "complaints.step": {"front_desk", "team_lead", "manager"},
        "complaints.decide": {"team_lead", "manager"},
    }
    for post in POSTS:
        for endpoint, method, url in routes:
            reached = not refused(call(client_of(post), method, url))
            assert reached == (post in may[endpoint]), (post, endpoint)


def test_work_order_search_is_for_the_front_desk_team_leads_the_manager_and_departments(
    app: Flask, client_of: Callable[[str], FlaskClient]
) -> None:
    found = [
        (e, m, u)
        for e, m, u in staff_requests(app)
        if e.startswith("work_order_search.") and e != "work_order_search.export"
    ]
    assert {e for e, _, _ in found} == {
        "work_order_search.search_page",
        "work_order_search.api_search",
    }
    for post in POSTS:
        reached = [not refused(call(client_of(post), m, u)) for _, m, u in found]
        expected = post in {"front_desk", "team_lead", "manager", "department"}
        assert reached == [expected] * len(found), post
    assert access.permission_for("work_order_search.export") == "export.customer_data"


def test_the_knowledge_base_is_read_at_every_desk_and_written_by_team_leads_and_the_manager(
    app: Flask, client_of: Callable[[str], FlaskClient]
) -> None:
    kb = [(e, m, u) for e, m, u in staff_requests(app) if e.startswith("knowledge.")]
    writes = {"knowledge.new_form", "knowledge.create", "knowledge.edit_form", "knowledge.save"}
    assert writes < {e for e, _, _ in kb}
    for post in POSTS:
        for endpoint, method, url in kb:
            expected = post in {"team_lead", "manager"} if endpoint in writes else True
            assert (not refused(call(client_of(post), method, url))) == expected, (post, endpoint)
