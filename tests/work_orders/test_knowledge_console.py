"""The knowledge base's console and JSON through the Flask test client: a team lead writes an
article in both languages and edits it (a new version, history kept, earlier versions readable),
a stale edit and a bad form come back with what was typed (409 and 422), the front desk reads
and searches but may not write, and the desk's suggestions come from the keyword rules and from
the IVR path of a real call through the voice webhooks."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from callcenter.desk.auth import AGENT_KEY, CSRF_KEY, EPOCH_KEY
from callcenter.runtime import Runtime
from callcenter.seed import DEMO_ARTICLES, seed_knowledge_base
from core.models import Customer, CustomerPhone
from queues.models import Role
from queues.passwords import hash_password
from tests.builders import add_agent
from tests.conftest import NOW, call_params, new_call_sid
from work_orders.knowledge_models import ArticleVersion

CSRF = "tok"


@pytest.fixture
def staff(session_factory: sessionmaker[Session]) -> dict[str, tuple[int, str]]:
    with session_factory.begin() as s:
        made = {
            "li.na": add_agent(s, "li.na", team="front-a"),
            "zhou.lead": add_agent(s, "zhou.lead", posts=[], roles=[Role.TEAM_LEAD]),
            "the.manager": add_agent(s, "the.manager", posts=[], roles=[Role.MANAGER]),
        }
        for agent in made.values():
            agent.password_hash = hash_password("pw")
        s.flush()
        return {login: (a.id, a.session_epoch) for login, a in made.items()}


@pytest.fixture
def as_(app: Flask, staff: dict[str, tuple[int, str]]) -> Callable[[str], FlaskClient]:
    def make(login: str) -> FlaskClient:
        client = app.test_client()
        agent_id, epoch = staff[login]
        with client.session_transaction() as sess:
            sess[AGENT_KEY], sess[EPOCH_KEY], sess[CSRF_KEY] = agent_id, epoch, CSRF
        return client

    return make


def fields(**changes: str) -> dict[str, str]:
    return {
        "csrf_token": CSRF,
        "slug": "cracked-screen",
        "category": "product_quality",
        "title_zh": "屏幕碎裂",
        "title_en": "A cracked screen",
        "answer_zh": "签收七天内屏幕碎裂，拍照后换新。",
        "answer_en": "A screen cracked within 7 days of delivery is replaced after photos.",
        "wording_zh": "非常抱歉，请您拍照发给我们，我们马上为您换新。",
        "wording_en": "I am sorry: send us a photo and we replace it at once.",
        "policy_links": "退换货政策 Return policy | https://help.example.test/returns",
        "ivr_nodes": "returns aftersales_agent",
        "keywords": "碎屏 broken",
        **changes,
    }


def versions(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(ArticleVersion)) or 0


def test_a_team_lead_writes_an_article_and_everyone_reads_it_in_both_languages(
    as_: Callable[[str], FlaskClient],
) -> None:
    lead = as_("zhou.lead")
    assert lead.get("/knowledge/new").status_code == 200

    created = lead.post("/knowledge/articles", data=fields())
    page = as_("li.na").get("/knowledge/articles/cracked-screen")
    html = page.get_data(as_text=True)

    assert created.status_code == 303
    assert created.headers["Location"].endswith("/knowledge/articles/cracked-screen")
    assert page.status_code == 200
    for text in ("屏幕碎裂", "A cracked screen", "我们马上为您换新", "send us a photo"):
        assert text in html
    assert 'href="https://help.example.test/returns"' in html
    assert re.search(r'data-version="1".*zhou\.lead', html, re.S)
    assert "编辑 Edit" not in html  # the front desk reads, does not edit


def test_an_edit_is_a_new_version_and_the_earlier_one_stays_readable(
    as_: Callable[[str], FlaskClient], session_factory: sessionmaker[Session]
) -> None:
    lead, manager = as_("zhou.lead"), as_("the.manager")
    lead.post("/knowledge/articles", data=fields())
    form = manager.get("/knowledge/articles/cracked-screen/edit").get_data(as_text=True)
    assert 'name="base_version" value="1"' in form

    saved = manager.post(
        "/knowledge/articles/cracked-screen",
        data=fields(
            base_version="1", wording_en="So sorry: one photo and it is replaced.", note="shorter"
        ),
    )
    again = manager.post(  # a double click: the same text, nothing written
        "/knowledge/articles/cracked-screen",
        data=fields(
            base_version="1", wording_en="So sorry: one photo and it is replaced.", note="shorter"
        ),
    )
    current = as_("li.na").get("/knowledge/api/articles/cracked-screen").get_json()["article"]
    first = as_("li.na").get("/knowledge/api/articles/cracked-screen?version=1").get_json()
    history = as_("li.na").get("/knowledge/articles/cracked-screen").get_data(as_text=True)

    assert saved.status_code == 303 and again.status_code == 303
    assert versions(session_factory) == 2
    assert (current["version"], current["author"], current["note"]) == (2, "the.manager", "shorter")
    assert current["wording"]["en"] == "So sorry: one photo and it is replaced."
    assert (
        first["article"]["wording"]["en"]
        == "I am sorry: send us a photo and we replace it at once."
    )
    assert re.search(r'data-version="2".*the\.manager.*data-version="1".*zhou\.lead', history, re.S)


def test_a_stale_edit_comes_back_with_who_saved_since_and_the_text_kept(
    as_: Callable[[str], FlaskClient], session_factory: sessionmaker[Session]
) -> None:
    as_("zhou.lead").post("/knowledge/articles", data=fields())
    as_("the.manager").post(
        "/knowledge/articles/cracked-screen", data=fields(base_version="1", answer_en="Newer.")
    )

    stale = as_("zhou.lead").post(
        "/knowledge/articles/cracked-screen", data=fields(base_version="1", answer_en="Mine.")
    )
    html = stale.get_data(as_text=True)

    assert stale.status_code == 409
    assert "the.manager saved version 2" in html and ">Mine.</textarea>" in html
    assert versions(session_factory) == 2


def test_a_bad_form_comes_back_422_beside_each_field_and_nothing_is_stored(
    as_: Callable[[str], FlaskClient], session_factory: sessionmaker[Session]
) -> None:
    page = as_("zhou.lead").post(
        "/knowledge/articles", data=fields(category="weather", wording_zh="", ivr_nodes="nowhere")
    )
    api = as_("zhou.lead").post(
        "/knowledge/articles", json={"slug": "x"}, headers={"X-CSRF-Token": CSRF}
    )
    html = page.get_data(as_text=True)

    assert page.status_code == 422
    for name in ("category", "wording_zh", "ivr_nodes"):
        assert f'id="{name}-error"' in html
    assert 'value="A cracked screen"' in html
    assert api.status_code == 422
    assert {"title_zh", "answer_en", "category"} <= api.get_json()["error"]["details"].keys()
    assert versions(session_factory) == 0


def test_the_front_desk_reads_and_searches_but_may_not_write(
    as_: Callable[[str], FlaskClient],
) -> None:
    as_("zhou.lead").post("/knowledge/articles", data=fields())
    desk = as_("li.na")

    found = desk.get("/knowledge/api/articles?q=ＢＲＯＫＥＮ").get_json()["articles"]
    listed = desk.get("/knowledge/?q=碎屏").get_data(as_text=True)
    refused = desk.post("/knowledge/articles", data=fields(slug="mine"))

    assert [a["slug"] for a in found] == ["cracked-screen"]
    assert 'data-slug="cracked-screen"' in listed
    assert refused.status_code == 403
    assert desk.get("/knowledge/articles/none-such").status_code == 404


def _through_the_ivr(signed_post: Callable[..., TestResponse], sid: str) -> None:
    """A known caller: Mandarin (1), returns and exchanges (3), a new request (2): to the
    after-sales queue."""
    params = call_params(sid)
    assert signed_post("/twilio/voice/incoming", params).status_code == 200
    for node, digits in (("language", "1"), ("main", "3"), ("returns", "2")):
        answer = signed_post(f"/twilio/voice/menu/{node}", params | {"Digits": digits})
        assert answer.status_code == 200, node


@pytest.fixture
def seeded(app: Flask, session_factory: sessionmaker[Session]) -> None:
    rt: Runtime = app.extensions["callcenter"]
    with session_factory.begin() as s:
        wang = Customer(name="王芳", account_number="60000001")
        wang.phones.append(CustomerPhone(e164="+8613800138000"))
        s.add(wang)
        made = seed_knowledge_base(
            s, categories=rt.work_order_rules.categories, menu_nodes=rt.menus.nodes, now=NOW
        )
        assert made == len(DEMO_ARTICLES)
        again = seed_knowledge_base(
            s, categories=rt.work_order_rules.categories, menu_nodes=rt.menus.nodes, now=NOW
        )
        assert again == 0


def suggested(client: FlaskClient, query: str) -> dict[str, Any]:
    response = client.get(f"/knowledge/api/suggestions?{query}")
    assert response.status_code == 200
    return dict(response.get_json())


def test_suggestions_follow_the_callers_ivr_choice_and_the_keyword_rules(
    as_: Callable[[str], FlaskClient],
    seeded: None,
    signed_post: Callable[..., TestResponse],
) -> None:
    sid = new_call_sid()
    _through_the_ivr(signed_post, sid)
    desk = as_("li.na")

    by_ivr = suggested(desk, f"call_sid={sid}")
    by_rules = suggested(desk, "text=我的手机屏幕碎了")
    both = suggested(desk, f"call_sid={sid}&text=我的手机屏幕碎了")
    nothing = suggested(desk, "text=你好")

    assert by_ivr["ivr_path"][-2:] == ["returns", "aftersales_agent"]
    assert [s["slug"] for s in by_ivr["suggestions"]][:2] == [
        "cracked-screen-on-arrival",
        "damaged-parcel",
    ]
    assert by_rules["categories"] == ["product_quality"]
    assert [s["slug"] for s in by_rules["suggestions"]] == ["cracked-screen-on-arrival"]
    top = both["suggestions"][0]
    assert top["slug"] == "cracked-screen-on-arrival"
    assert top["reasons"] == ["rules:product_quality", "ivr:aftersales_agent", "ivr:returns"]
    assert nothing["suggestions"] == [] and nothing["categories"] == []
