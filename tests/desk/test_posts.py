"""A rotating agent switches the post they work at the desk: queues, work lists, audit."""

from __future__ import annotations

from sqlalchemy import select

from core.audit import AuditEvent
from queues.models import Agent, AgentPost, AgentState, Post
from queues.routing import inbound_skills
from tests.desk.conftest import Desk, move


def rotate(desk: Desk, *posts: Post) -> None:
    with desk.factory.begin() as s:
        agent = s.get(Agent, desk.agent_id)
        assert agent is not None
        agent.post_rows.extend(AgentPost(post=p) for p in posts)
        agent.skills[0].skill = "orders"  # a skill the middle office and an inbound queue share


def switches(desk: Desk) -> list[dict[str, object]]:
    with desk.factory() as s:
        events = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "agent.switch_post")
            .order_by(AuditEvent.id)
        )
        return [{"actor": e.actor, "subject": e.subject_id, **e.data} for e in events]


def test_a_rotating_agent_takes_inbound_callers_only_while_working_the_front_desk() -> None:
    both = {"front_desk", "middle_office"}
    assert inbound_skills("front_desk", both, {"orders": 3}) == {"orders": 3}
    assert inbound_skills("middle_office", both, {"orders": 3}) == {}
    assert inbound_skills("back_office", {"front_desk", "back_office"}, {"aftersales": 4}) == {}
    assert inbound_skills(None, set(), {"general": 5}) == {"general": 5}  # staff who take calls
    # An outbound-only agent keeps their skills: a supervisor's support pull lends them some.
    assert inbound_skills("back_office", {"back_office"}, {"general": 3}) == {"general": 3}


def test_switching_post_changes_the_queues_taken_and_is_audited(desk: Desk) -> None:
    rotate(desk, Post.MIDDLE_OFFICE)
    assert desk.sign_in() == 302
    status, _ = desk.post("/desk/api/state", {"to": "available"})
    assert status == 200
    pool = desk.client.application.extensions["callcenter"].waiting_list
    assert pool.agent(str(desk.agent_id)).skills == {"orders": 3}  # front desk: the first held
    assert desk.state()["agent"]["post"] == "front_desk"

    status, body = desk.post("/desk/post", {"post": "middle_office"})
    assert status == 200 and body["agent"]["post"] == "middle_office"
    assert body["agent"]["posts"] == ["front_desk", "middle_office"]
    assert pool.agent(str(desk.agent_id)).skills == {}  # no inbound caller is offered now
    page = desk.client.get("/desk/").get_data(as_text=True)
    assert 'href="/middle/"' in page  # the middle office's work list is theirs now
    assert desk.client.get("/middle/api/tasks").status_code == 200

    assert desk.post("/desk/post", {"post": "middle_office"})[0] == 200  # a double click
    assert desk.post("/desk/post", {"post": "front_desk"})[0] == 200
    assert pool.agent(str(desk.agent_id)).skills == {"orders": 3}
    assert desk.client.get("/middle/api/tasks").status_code == 403
    assert switches(desk) == [
        {
            "actor": "li.na",
            "subject": str(desk.agent_id),
            "before": "front_desk",
            "after": "middle_office",
            "state": "available",
        },
        {
            "actor": "li.na",
            "subject": str(desk.agent_id),
            "before": "middle_office",
            "after": "front_desk",
            "state": "available",
        },
    ]


def test_the_page_form_switches_and_returns_to_the_desk(desk: Desk) -> None:
    rotate(desk, Post.BACK_OFFICE)
    desk.sign_in()
    page = desk.client.get("/desk/").get_data(as_text=True)
    assert 'name="post"' in page and "后台 Back office" in page
    response = desk.client.post(
        "/desk/post", data={"post": "back_office", "csrf_token": desk.csrf()}
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/desk/")
    assert desk.state()["agent"]["post"] == "back_office"


def test_a_post_not_held_or_unknown_or_during_a_call_is_refused(desk: Desk) -> None:
    rotate(desk, Post.MIDDLE_OFFICE)
    desk.sign_in()
    status, body = desk.post("/desk/post", {"post": "back_office"})
    assert status == 409 and body["error"]["code"] == "post-not-held"
    status, body = desk.post("/desk/post", {"post": "manager"})
    assert status == 422 and body["error"]["details"]["field"] == "post"
    desk.post("/desk/api/state", {"to": "available"})
    move(desk.factory, desk.agent_id, AgentState.RESERVED, call_sid="CA" + "1" * 32)
    status, body = desk.post("/desk/post", {"post": "middle_office"})
    assert status == 409 and body["error"]["code"] == "transition-not-allowed"
    assert desk.state()["agent"]["post"] == "front_desk"
    assert switches(desk) == []


def test_a_single_post_agent_sees_no_switch(desk: Desk) -> None:
    desk.sign_in()
    assert 'name="post"' not in desk.client.get("/desk/").get_data(as_text=True)
    status, body = desk.post("/desk/post", {"post": "front_desk"})
    assert status == 200 and switches(desk) == []  # already worked: nothing to audit
