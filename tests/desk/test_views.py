"""The desk through Flask's test client: sign-in, sessions, CSRF, state changes, the screen
pop, answer and hang-up refusals, wrap-up, and the voice token."""

from __future__ import annotations

from collections.abc import Callable

import jwt
import pytest
from sqlalchemy import select

from callcenter.desk.actions import voice_token
from config.settings import Settings
from core.phones import mask
from outbound import attempts, legs, tasks
from outbound.policy import Policy
from queues.models import AgentEvent, AgentState, QueuedCall
from tests.conftest import NOW
from tests.desk.conftest import CALLER, Desk, csrf_of, vip_call

#: The call's work order, which every wrap-up carries (tests/desk/test_work_order_form.py).
WORK_ORDER = {
    "description": "客户要求明天回电",
    "category": "logistics_delay",
    "department": "logistics",
    "outcome": "pass",
}
API_KEY = "SK" + "0123456789abcdef" * 2
API_SECRET = "fake-api-secret-" + "x" * 16


def test_the_right_password_signs_the_agent_in(desk: Desk) -> None:
    assert desk.sign_in() == 302
    page = desk.client.get("/desk/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "李娜" in html and 'data-mode="twilio"' in html
    assert desk.state()["agent"]["state"] == "offline"


@pytest.mark.parametrize(("login", "password"), [("li.na", "wrong"), ("nobody", "x" * 10)])
def test_a_wrong_login_or_password_is_refused(desk: Desk, login: str, password: str) -> None:
    assert desk.sign_in(login, password) == 401
    assert desk.client.get("/desk/api/state").status_code == 401


def test_the_session_cookie_is_httponly_and_samesite_lax(desk: Desk) -> None:
    desk.client.get("/desk/login")
    cookie = desk.client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_the_cookie_is_secure_when_the_site_is_https(make_desk: Callable[..., Desk]) -> None:
    desk = make_desk(public_base_url="https://desk.example.test")
    response = desk.client.get("/desk/login", base_url="https://desk.example.test")
    assert "Secure" in response.headers["Set-Cookie"]


@pytest.mark.parametrize("path", ["/desk/", "/desk/api/state", "/desk/api/token"])
def test_every_desk_route_needs_a_signed_in_agent(desk: Desk, path: str) -> None:
    response = desk.client.get(path)
    if path.startswith("/desk/api/"):
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "not-signed-in"
    else:
        assert response.status_code == 302 and response.location.endswith("/desk/login")


def test_api_posts_without_a_session_answer_401(desk: Desk) -> None:
    token = csrf_of(desk.client.get("/desk/login").get_data(as_text=True))
    status, body = desk.post("/desk/api/state", {"to": "available"}, csrf=token)
    assert status == 401 and body["error"]["code"] == "not-signed-in"


def test_a_disabled_account_is_signed_out(desk: Desk) -> None:
    desk.sign_in()
    with desk.factory.begin() as s:
        from queues.models import Agent

        agent = s.get(Agent, desk.agent_id)
        assert agent is not None
        agent.active = False
    assert desk.client.get("/desk/api/state").status_code == 401


def test_a_login_without_the_csrf_token_is_refused(desk: Desk) -> None:
    desk.client.get("/desk/login")
    response = desk.client.post("/desk/login", data={"login": "li.na", "password": "x"})
    assert response.status_code == 403
    assert desk.client.get("/desk/api/state").status_code == 401


@pytest.mark.parametrize("token", ["", "not-the-token"])
def test_an_api_post_without_the_right_csrf_token_is_refused(desk: Desk, token: str) -> None:
    desk.sign_in()
    status, body = desk.post("/desk/api/state", {"to": "available"}, csrf=token)
    assert status == 403 and body["error"]["code"] == "csrf-failed"
    assert desk.state()["agent"]["state"] == "offline"


def test_the_agent_changes_state_and_each_change_is_logged(desk: Desk) -> None:
    desk.sign_in()
    status, view = desk.post("/desk/api/state", {"to": "available", "from": "offline"})
    assert status == 200 and view["agent"]["state"] == "available"
    assert view["monitored"] is None  # nobody listens (the wallboard's monitor sets it)
    status, view = desk.post("/desk/api/state", {"to": "break", "reason": "lunch"})
    assert status == 200 and view["agent"]["state"] == "break"
    assert view["agent"]["reason_label"].startswith("午餐")
    with desk.factory() as s:
        events = s.scalars(select(AgentEvent).where(AgentEvent.agent_id == desk.agent_id))
        assert [(e.to_state.value, e.actor.value) for e in events][1:] == [
            ("available", "agent"),
            ("break", "agent"),
        ]


def test_break_reasons_offered_leave_out_missed(desk: Desk) -> None:
    desk.sign_in()
    codes = [c["code"] for c in desk.state()["options"]["break_reasons"]]
    assert codes and "missed" not in codes and "lunch" in codes


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"to": "break", "reason": "missed"}, "invalid-reason"),  # the system's reason only
        ({"to": "break", "reason": "nap"}, "invalid-reason"),
        ({"to": "available", "from": "break"}, "agent-state-conflict"),  # a stale desk
    ],
)
def test_a_change_the_state_machine_refuses_is_409(desk: Desk, body: dict, code: str) -> None:
    desk.sign_in()
    status, answer = desk.post("/desk/api/state", body)
    assert status == 409 and answer["error"]["code"] == code
    assert answer["error"]["message"]


def test_an_agent_whose_phone_rings_cannot_go_on_break(desk: Desk) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=False, ended=False)
    status, answer = desk.post("/desk/api/state", {"to": "break", "reason": "lunch"})
    assert status == 409 and answer["error"]["code"] == "actor-not-allowed"
    assert desk.state()["agent"]["state"] == "reserved"


@pytest.mark.parametrize(
    "body", [{"to": "on_call"}, {"to": "sleeping"}, {}, {"to": "break", "reason": 5}, []]
)
def test_a_state_body_the_desk_cannot_use_is_422(desk: Desk, body: object) -> None:
    desk.sign_in()
    status, answer = desk.post("/desk/api/state", body)
    assert status == 422 and answer["error"]["code"] == "invalid-request"


def test_the_screen_pop_shows_customer_orders_rmas_and_ivr_path(desk: Desk) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=False, ended=False)
    call = desk.state()["call"]
    assert call["phase"] == "ringing" and call["leg_ready"] is True
    assert call["vip"] is True and call["queue"] == "vip" and call["wait_s"] == 12
    assert call["number"] == "+86*********00" and CALLER not in str(call)
    customer = call["customer"]
    assert customer["name"] == "王芳" and customer["tier"] == "vip"
    assert [o["number"] for o in customer["orders"]] == [
        f"20000000{i:02d}" for i in (7, 6, 5, 4, 3)
    ]
    assert customer["orders"][0]["amount"] == "¥1,299.07"
    assert customer["orders"][0]["status_label"].startswith("已发货")
    assert customer["orders"][0]["date"] == "2026-11-20"  # placed 3 days before, Shanghai date
    assert [r["number"] for r in customer["open_rmas"]] == ["R1"]  # R2 is closed
    assert [(s["at"], s["input"], s["to"]) for s in call["ivr_path"]] == [
        ("language", "1", "identify"),
        ("main", "0", "agent"),
    ]


def test_answer_with_real_twilio_is_left_to_the_browser(desk: Desk) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=False, ended=False)
    status, answer = desk.post("/desk/api/answer", {})
    assert status == 409 and answer["error"]["code"] == "answer-in-browser"


def test_answer_with_nothing_ringing_is_409(make_desk: Callable[..., Desk]) -> None:
    desk = make_desk(public_base_url="http://desk.example.test", twilio_account_sid="")
    desk.sign_in()
    status, answer = desk.post("/desk/api/answer", {})
    assert status == 409 and answer["error"]["code"] == "not-ringing"


def test_hang_up_off_a_call_is_409(desk: Desk) -> None:
    desk.sign_in()
    status, answer = desk.post("/desk/api/hangup", {})
    assert status == 409 and answer["error"]["code"] == "not-on-call"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"disposition": "bribed", "notes": ""}, "disposition"),
        ({"notes": "no disposition"}, "disposition"),
        ({"disposition": "resolved", "notes": "x" * 2001}, "notes"),
        ({"disposition": "resolved", "notes": 42}, "notes"),
    ],
)
def test_a_wrap_up_the_desk_cannot_use_is_422(desk: Desk, body: dict, field: str) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=True, ended=True)
    status, answer = desk.post("/desk/api/wrap-up", body)
    assert status == 422 and answer["error"]["details"]["field"] == field
    assert desk.state()["agent"]["state"] == "wrap_up"


def test_wrap_up_without_a_call_is_409(desk: Desk) -> None:
    desk.sign_in()
    status, answer = desk.post(
        "/desk/api/wrap-up", {"disposition": "resolved", "notes": "", "work_order": WORK_ORDER}
    )
    assert status == 409 and answer["error"]["code"] == "nothing-to-wrap-up"


def test_wrap_up_is_refused_while_still_talking(desk: Desk) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=True, ended=False)
    assert desk.state()["call"]["phase"] == "talking"
    status, answer = desk.post(
        "/desk/api/wrap-up", {"disposition": "resolved", "notes": "", "work_order": WORK_ORDER}
    )
    assert status == 409 and answer["error"]["code"] == "nothing-to-wrap-up"


def test_wrap_up_saves_disposition_and_notes_and_frees_the_agent(desk: Desk) -> None:
    desk.sign_in()
    entry_id = vip_call(desk.factory, desk.agent_id, answered=True, ended=True)
    assert desk.state()["call"]["phase"] == "wrap_up"
    body = {"disposition": "follow_up", "notes": "  客户要求明天回电  ", "work_order": WORK_ORDER}
    status, view = desk.post("/desk/api/wrap-up", body)
    assert status == 200 and view["agent"]["state"] == "available" and view["call"] is None
    with desk.factory() as s:
        entry = s.get(QueuedCall, entry_id)
        assert entry is not None
        assert (entry.disposition, entry.notes) == ("follow_up", "客户要求明天回电")


def test_leaving_wrap_up_unsaved_is_refused(desk: Desk) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=True, ended=True)
    status, answer = desk.post("/desk/api/state", {"to": "available"})
    assert status == 409 and answer["error"]["code"] == "wrap-up-first"


def test_sign_out_takes_the_agent_offline(desk: Desk) -> None:
    desk.sign_in()
    desk.post("/desk/api/state", {"to": "available"})
    response = desk.client.post("/desk/logout", data={"csrf_token": desk.csrf()})
    assert response.status_code == 302 and response.location.endswith("/desk/login")
    assert desk.client.get("/desk/api/state").status_code == 401
    with desk.factory() as s:
        from queues.models import Agent

        agent = s.get(Agent, desk.agent_id)
        assert agent is not None and agent.state is AgentState.OFFLINE


def test_sign_out_during_a_call_keeps_the_agent_signed_in(desk: Desk) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=True, ended=False)
    response = desk.client.post("/desk/logout", data={"csrf_token": desk.csrf()})
    assert response.status_code == 302 and response.location.endswith("/desk/")
    assert "Cannot sign out" in desk.client.get("/desk/").get_data(as_text=True)
    assert desk.state()["agent"]["state"] == "on_call"


def test_the_token_route_gives_a_voice_token_for_the_agents_identity(
    make_desk: Callable[..., Desk],
) -> None:
    desk = make_desk(
        public_base_url="http://desk.example.test",
        twilio_api_key=API_KEY,
        twilio_api_secret=API_SECRET,
    )
    desk.sign_in()
    response = desk.client.get("/desk/api/token")
    body = response.get_json()
    assert response.status_code == 200 and body["mode"] == "twilio"
    claims = jwt.decode(body["token"], API_SECRET, algorithms=["HS256"])
    assert claims["grants"]["identity"] == "agent_li_na" == body["identity"]


def test_the_voice_token_is_signed_short_lived_and_only_for_incoming_calls(
    settings: Settings,
) -> None:
    from dataclasses import replace

    s = replace(settings, twilio_api_key=API_KEY, twilio_api_secret=API_SECRET)
    token = voice_token(s, "agent_li_na")
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, API_SECRET, algorithms=["HS256"])
    assert header["cty"] == "twilio-fpa;v=1"
    assert claims["iss"] == API_KEY and claims["sub"] == s.twilio_account_sid
    assert claims["grants"] == {"identity": "agent_li_na", "voice": {"incoming": {"allow": True}}}
    assert claims["exp"] - claims["nbf"] == s.desk_token_ttl_s == 600
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret-of-32-characters!", algorithms=["HS256"])


def test_without_an_api_key_the_token_route_says_so(desk: Desk) -> None:
    desk.sign_in()
    response = desk.client.get("/desk/api/token")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "voice-token-unavailable"


def test_with_the_local_network_the_token_route_says_local(
    make_desk: Callable[..., Desk],
) -> None:
    desk = make_desk(public_base_url="http://desk.example.test", twilio_account_sid="")
    desk.sign_in()
    assert desk.client.get("/desk/api/token").get_json() == {"mode": "local"}
    assert 'data-mode="local"' in desk.client.get("/desk/").get_data(as_text=True)


def test_desk_pages_forbid_inline_scripts_and_framing(desk: Desk) -> None:
    response = desk.client.get("/desk/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["Cache-Control"] == "no-store"


def test_the_desk_links_to_the_staff_pages_the_account_may_open() -> None:
    from callcenter.desk.views import staff_links
    from config.permissions import DEFAULT_PERMISSIONS, load_permissions
    from queues.models import Agent, AgentPost, AgentRole, Post, Role

    table = load_permissions(DEFAULT_PERMISSIONS)

    def account(posts: tuple[Post, ...], roles: tuple[Role, ...]) -> Agent:
        agent = Agent(login="x", display_name="x", client_identity="agent_x")
        agent.post_rows = [AgentPost(post=p) for p in posts]
        agent.role_rows = [AgentRole(role=r) for r in roles]
        return agent

    def hrefs(agent: Agent) -> list[str]:
        return [href for href, _ in staff_links(agent, table)]

    assert hrefs(account((Post.FRONT_DESK,), ())) == ["/work-orders/callbacks"]
    assert hrefs(account((Post.MIDDLE_OFFICE,), ())) == ["/middle/"]
    rotating = account((Post.MIDDLE_OFFICE, Post.FRONT_DESK), ())
    # works the front desk (the first held) until switched: its work-order callbacks
    assert hrefs(rotating) == ["/work-orders/callbacks"]
    rotating.current_post = Post.MIDDLE_OFFICE
    assert hrefs(rotating) == ["/middle/"]
    assert hrefs(account((), (Role.QC,))) == ["/recordings/"]
    assert hrefs(account((Post.FRONT_DESK,), (Role.SUPERVISOR,))) == [
        "/supervisor/",
        "/reports/",
        "/recordings/",
        "/work-orders/callbacks",
        "/work-orders/escalated",
    ]
    assert hrefs(account((), (Role.MANAGER,))) == [
        "/supervisor/",
        "/reports/",
        "/recordings/",
        "/middle/",
        "/back/",
        "/work-orders/",
        "/work-orders/callbacks",
        "/work-orders/escalated",
    ]
    assert hrefs(account((Post.BACK_OFFICE,), ())) == ["/back/"]
    assert hrefs(account((), (Role.DEPARTMENT,))) == ["/work-orders/"]


def test_an_outbound_call_rings_and_talks_on_the_desk(desk: Desk) -> None:
    """Click-to-call rings the agent's desk first: the desk shows it (the customer's pop, the
    Answer button once the leg exists), then as a call in progress; the outcome is the work
    list's, so no wrap-up form."""
    desk.sign_in()
    desk.post("/desk/api/state", {"to": "available"})
    policy = Policy()
    with desk.factory.begin() as s:
        task = tasks.create_task(
            s,
            kind="order_review",
            subject_id=1,
            to_number=CALLER,
            language="zh",
            skill="general",
            now=NOW,
            policy=policy,
        )
        attempt = attempts.start_attempt(s, task.id, agent_id=desk.agent_id, now=NOW, policy=policy)
        attempt_id = attempt.id
    call = desk.state()["call"]
    assert call["phase"] == "ringing" and call["outbound"]["attempt_id"] == attempt_id
    assert call["leg_ready"] is False and call["number"] == mask(CALLER)
    leg = "CA" + "7" * 32
    with desk.factory.begin() as s:
        legs.claim_agent_dial(s, attempt_id, now=NOW)
        legs.record_agent_call(s, attempt_id, leg)
    assert desk.state()["call"]["leg_ready"] is True
    with desk.factory.begin() as s:
        assert legs.agent_answered(s, attempt_id, leg, now=NOW)
    call = desk.state()["call"]
    assert call["phase"] == "talking" and call["wrapped_up"] is True
    with desk.factory.begin() as s:
        legs.agent_leg_ended(s, attempt_id, "completed", now=NOW, policy=policy)
    view = desk.state()
    assert view["agent"]["state"] == "wrap_up" and view["call"] is None
