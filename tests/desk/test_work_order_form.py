"""The desk's work-order form through the Flask test client: the wrap-up opens one work order
per handled call (a repeat opens none), bad fields are 422 naming the field and save nothing,
the suggestion and the agent's override, resolved → closed, pass → with the department; the
screen pop lists the caller's work orders and opens one for an earlier contact."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.models import Call, CallDirection, CallStatus, Customer
from queues.models import QueuedCall
from tests.conftest import NOW
from tests.desk.conftest import CALLER, Desk, vip_call
from work_orders import knowledge
from work_orders.models import WorkOrder, WorkOrderCall, WorkOrderStatus

CRACKED = "手机碎屏了，要求维修"


def work_order(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "description": CRACKED,
        "category": "product_quality",
        "subcategory": None,
        "department": "aftersales-a",
        "order": "2000000001",
        "rma": None,
        "outcome": "pass",
    }
    body.update(changes)
    return body


def wrap_up(**changes: object) -> dict[str, object]:
    return {"disposition": "follow_up", "notes": "", "work_order": work_order(**changes)}


def work_orders(desk: Desk) -> list[WorkOrder]:
    with desk.factory() as s:
        return list(s.scalars(select(WorkOrder).order_by(WorkOrder.id)))


def test_the_wrap_up_opens_the_calls_work_order_and_passes_it_on(desk: Desk) -> None:
    desk.sign_in()
    entry_id = vip_call(desk.factory, desk.agent_id, answered=True, ended=True)

    status, view = desk.post("/desk/api/wrap-up", wrap_up())

    assert status == 200 and view["agent"]["state"] == "available"
    (wo,) = work_orders(desk)
    assert wo.status is WorkOrderStatus.WITH_DEPARTMENT and wo.department == "aftersales-a"
    assert wo.description == CRACKED and wo.order_id is not None and wo.priority == 2  # VIP
    assert wo.owner_id == desk.agent_id and not wo.suggestion_overridden
    with desk.factory() as s:
        entry = s.get(QueuedCall, entry_id)
        assert entry is not None and entry.disposition == "follow_up"  # kept on the entry
        link = s.get(WorkOrderCall, (wo.id, entry.call_id))
        assert link is not None and link.role == "opened"


def test_resolved_on_the_call_is_closed_at_once(desk: Desk) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=True, ended=True)

    status, _ = desk.post("/desk/api/wrap-up", wrap_up(outcome="resolved"))

    (wo,) = work_orders(desk)
    assert status == 200 and wo.status is WorkOrderStatus.CLOSED and wo.resolved_on_contact


def test_a_repeated_wrap_up_opens_one_work_order(desk: Desk) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=True, ended=True)

    first, _ = desk.post("/desk/api/wrap-up", wrap_up())
    again, answer = desk.post("/desk/api/wrap-up", wrap_up())

    assert first == 200 and again == 409 and answer["error"]["code"] == "nothing-to-wrap-up"
    assert len(work_orders(desk)) == 1


def test_the_agents_override_is_recorded(desk: Desk) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=True, ended=True)

    desk.post("/desk/api/wrap-up", wrap_up(department="aftersales-b"))

    (wo,) = work_orders(desk)
    assert wo.suggestion_overridden and wo.suggested_department == "aftersales-a"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"category": "weather"}, "category"),
        ({"department": "marketing"}, "department"),
        ({"order": "2099999999"}, "order"),
        ({"description": ""}, "description"),
        ({"description": 7}, "description"),
        ({"outcome": "later"}, "outcome"),
        ({"category": ["x"]}, "category"),
    ],
)
def test_a_bad_work_order_is_422_naming_the_field_and_saves_nothing(
    desk: Desk, changes: dict[str, object], field: str
) -> None:
    desk.sign_in()
    entry_id = vip_call(desk.factory, desk.agent_id, answered=True, ended=True)

    status, answer = desk.post("/desk/api/wrap-up", wrap_up(**changes))

    assert status == 422 and answer["error"]["details"]["field"] == field, answer
    assert work_orders(desk) == []
    assert desk.state()["agent"]["state"] == "wrap_up"
    with desk.factory() as s:
        entry = s.get(QueuedCall, entry_id)
        assert entry is not None and entry.wrapped_up_at is None and entry.disposition is None


def test_a_wrap_up_without_its_work_order_is_422(desk: Desk) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=True, ended=True)

    status, answer = desk.post("/desk/api/wrap-up", {"disposition": "resolved", "notes": ""})

    assert status == 422 and answer["error"]["details"]["field"] == "work_order"


def test_the_suggestion_follows_the_description(desk: Desk) -> None:
    desk.sign_in()

    def suggest(text: str) -> dict:
        response = desk.client.get("/desk/api/work-orders/suggest", query_string={"text": text})
        assert response.status_code == 200
        return response.get_json()

    cracked, usage, nothing = suggest(CRACKED), suggest("How do I use the app?"), suggest("你好")
    assert (cracked["category"], cracked["department"]) == ("product_quality", "aftersales-a")
    assert (usage["category"], usage["department"]) == ("usage_question", "aftersales-b")
    assert nothing["category"] is None and nothing["department"] is None


def test_the_state_carries_the_forms_choices(desk: Desk) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=True, ended=True)

    part = desk.state()["work_orders"]

    codes = {c["code"] for c in part["options"]["categories"]}
    assert {"product_quality", "usage_question", "invoice", "refund", "complaint"} <= codes
    assert {"aftersales-a", "aftersales-b", "logistics"} <= {
        d["code"] for d in part["options"]["departments"]
    }
    assert [o["code"] for o in part["options"]["outcomes"]] == ["resolved", "pass"]


# --- the screen pop ----------------------------------------------------------------------------


def earlier_call(desk: Desk, days: int = 2) -> int:
    with desk.factory.begin() as s:
        customer = s.scalars(select(Customer).where(Customer.name == "王芳")).one()
        call = Call(
            sid=f"CA{days:032d}",
            direction=CallDirection.INBOUND,
            caller_e164=CALLER,
            status=CallStatus.COMPLETED,
            customer_id=customer.id,
            started_at=NOW - timedelta(days=days),
        )
        s.add(call)
        s.flush()
        return call.id


def test_the_pop_lists_the_callers_work_orders_and_opens_one_for_an_earlier_contact(
    desk: Desk,
) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=True, ended=False)
    contact = earlier_call(desk)
    part = desk.state()["work_orders"]
    assert part["caller"] == [] and [c["call_id"] for c in part["contacts"]] == [contact]

    body = {**work_order(outcome="pass"), "contact": contact}
    status, opened = desk.post("/desk/api/work-orders", body)
    again, same = desk.post("/desk/api/work-orders", body)

    assert status == again == 200 and opened["number"] == same["number"]
    assert opened["status"] == "with_department"
    part = desk.state()["work_orders"]
    (row,) = part["caller"]
    assert row["number"] == opened["number"] and row["status"] == "with_department"
    assert row["category"] == "product_quality" and row["department"] == "aftersales-a"
    assert row["sla"]["state"] == "running" and row["sla"]["left"].endswith("left")  # computed
    assert part["contacts"] == []
    (wo,) = work_orders(desk)
    assert not wo.resolved_on_contact
    with desk.factory() as s:
        calls = s.scalars(select(WorkOrderCall.call_id).where(WorkOrderCall.work_order_id == wo.id))
        assert list(calls) == [contact]  # not tied to the call in hand


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contact": "x"}, "contact"),
        ({"contact": 999_999}, "contact"),
        ({"contact": None, "category": "weather"}, "contact"),
    ],
)
def test_a_bad_earlier_contact_is_422(desk: Desk, body: dict[str, object], field: str) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=True, ended=False)

    status, answer = desk.post("/desk/api/work-orders", {**work_order(), **body})

    assert status == 422 and answer["error"]["details"]["field"] == field
    with desk.factory() as s:
        assert s.scalar(select(func.count()).select_from(WorkOrder)) == 0


def test_an_earlier_contact_needs_a_caller_in_hand(desk: Desk) -> None:
    desk.sign_in()

    status, answer = desk.post("/desk/api/work-orders", {**work_order(), "contact": 1})

    assert status == 409 and answer["error"]["code"] == "no-caller-in-hand"


# --- the knowledge base beside the form ---------------------------------------------------------


def add_articles(desk: Desk) -> None:
    """A refund article, and a cracked-screen one that names the IVR's "agent" node (the VIP
    caller of `vip_call` went language → identify, main → agent)."""
    with desk.factory.begin() as s:
        for slug, category, nodes in (
            ("refund-7-days", "refund", ()),
            ("cracked-screen", "product_quality", ("agent",)),
        ):
            given = knowledge.ArticleIn(
                category=category,
                ivr_nodes=nodes,
                policy_links=(knowledge.Link("退货政策 Returns", "/policy/returns"),),
                **{
                    f"{name}_{lang}": f"{name} {lang} {slug}"
                    for name in ("title", "answer", "wording")
                    for lang in ("zh", "en")
                },
            )
            knowledge.create_article(s, slug, given, author_id=None, author="zhou.lead", now=NOW)


def articles(desk: Desk, path: str, **query: str) -> list[dict]:
    response = desk.client.get(f"/desk/api/knowledge/{path}", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["articles"]


def test_articles_are_suggested_by_the_ivr_path_and_by_the_description(desk: Desk) -> None:
    desk.sign_in()
    vip_call(desk.factory, desk.agent_id, answered=True, ended=True)
    add_articles(desk)

    by_ivr = articles(desk, "suggest", text="")
    by_both = articles(desk, "suggest", text="我要退款")

    assert [a["slug"] for a in by_ivr] == ["cracked-screen"]
    assert by_ivr[0]["reasons"] == ["语音导航 IVR: agent"]
    assert by_ivr[0]["wording"] == {
        "zh": "wording zh cracked-screen",
        "en": "wording en cracked-screen",
    }
    assert by_ivr[0]["links"] == [{"title": "退货政策 Returns", "url": "/policy/returns"}]
    assert [a["slug"] for a in by_both] == ["cracked-screen", "refund-7-days"]
    assert by_both[1]["reasons"] == ["关键词 keywords: 退款 Refund"]


def test_articles_are_searched(desk: Desk) -> None:
    desk.sign_in()
    add_articles(desk)

    assert [a["slug"] for a in articles(desk, "search", q="ANSWER refund-7")] == ["refund-7-days"]
    assert articles(desk, "search", q="nothing-like-this") == []
    assert len(articles(desk, "search", q="")) == 2
