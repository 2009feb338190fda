"""The knowledge base: checked forms (422 naming each field), stable slugs, every edit a new
version with its author and time (a stale edit refused, a repeat writing nothing), search on
normalised text, and suggestions from the keyword rules' categories and the caller's IVR path."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Call, CallDirection, CallEvent, CallStatus
from tests.conftest import NOW
from work_orders import knowledge
from work_orders.knowledge_models import ArticleVersion

CATEGORIES = {"product_quality", "usage_question", "refund", "complaint", "logistics_delay"}
NODES = {"main", "returns", "rma_status", "aftersales_agent", "complaints_agent", "order_status"}
LATER = NOW + timedelta(hours=1)


def form(**changes: Any) -> dict[str, Any]:
    return {
        "category": "refund",
        "title_zh": "七天无理由退货",
        "title_en": "Returns within 7 days",
        "answer_zh": "签收后七天内，吊牌完好可退货，运费由我们承担。",
        "answer_en": "Within 7 days of delivery, with the tags on, an item can be returned.",
        "wording_zh": "您好，您的商品在签收七天内，吊牌完好即可为您办理退货。",
        "wording_en": "Your item can be returned within 7 days of delivery if the tags are on.",
        "policy_links": "退货政策 Return policy | https://help.example.test/returns\n/back/",
        "ivr_nodes": "returns, rma_status",
        "keywords": "退款 refund money back",
        **changes,
    }


def checked(**changes: Any) -> knowledge.ArticleIn:
    return knowledge.check(form(**changes), categories=CATEGORIES, menu_nodes=NODES)


def create(session: Session, slug: str = "return-7-days", **changes: Any) -> knowledge.Saved:
    return knowledge.create_article(
        session, slug, checked(**changes), author_id=None, author="zhou.lead", now=NOW
    )


def test_a_checked_form_keeps_both_languages_links_and_ivr_nodes() -> None:
    given = checked()

    assert given.policy_links == (
        knowledge.Link("退货政策 Return policy", "https://help.example.test/returns"),
        knowledge.Link("/back/", "/back/"),
    )
    assert given.ivr_nodes == ("returns", "rma_status")
    assert given.title_en == "Returns within 7 days"


def test_a_bad_form_names_each_bad_field_and_nothing_else() -> None:
    with pytest.raises(knowledge.InvalidArticle) as refused:
        knowledge.check(
            form(
                category="weather",
                wording_en="  ",
                policy_links="ok | https://a.test/x\nclick here | javascript:alert(1)",
                ivr_nodes="returns nowhere",
                title_zh="长" * 201,
            ),
            categories=CATEGORIES,
            menu_nodes=NODES,
        )

    assert refused.value.code == "invalid-article"
    assert set(refused.value.details) == {
        "category",
        "wording_en",
        "policy_links",
        "ivr_nodes",
        "title_zh",
    }
    assert "line 2" in refused.value.details["policy_links"]
    assert "nowhere" in refused.value.details["ivr_nodes"]


@pytest.mark.parametrize("slug", ["Return", "-x", "x-", "退货", "a b", "a" * 61, ""])
def test_a_slug_is_lower_case_letters_digits_and_hyphens(session: Session, slug: str) -> None:
    with pytest.raises(knowledge.InvalidArticle) as refused:
        create(session, slug)
    assert "slug" in refused.value.details


def test_every_edit_is_a_new_version_with_its_author_and_time_and_history_is_kept(
    session: Session,
) -> None:
    first = create(session)
    edited = knowledge.edit_article(
        session,
        "return-7-days",
        checked(answer_en="Within 7 days of delivery, unworn and with the tags on.", note="unworn"),
        base_version=1,
        author_id=None,
        author="the.manager",
        now=LATER,
    )

    assert first.created and edited.created
    article = knowledge.find(session, "return-7-days")
    assert article.id == first.article.id and article.current_version == 2
    current = knowledge.current_version(session, article)
    assert current.answer_en.startswith("Within 7 days of delivery, unworn")
    assert [(v.version, v.author, v.at, v.note) for v in knowledge.history(session, article)] == [
        (2, "the.manager", LATER, "unworn"),
        (1, "zhou.lead", NOW, ""),
    ]
    assert knowledge.version_of(session, article, 1).answer_en.startswith("Within 7 days of")
    assert "unworn" in article.search_text


def test_an_edit_from_an_older_version_is_refused_naming_who_saved_since(
    session: Session,
) -> None:
    create(session)
    knowledge.edit_article(
        session,
        "return-7-days",
        checked(note="a"),
        base_version=1,
        author_id=None,
        author="the.manager",
        now=LATER,
    )  # same text: nothing written
    knowledge.edit_article(
        session,
        "return-7-days",
        checked(answer_zh="新的回答"),
        base_version=1,
        author_id=None,
        author="the.manager",
        now=LATER,
    )

    with pytest.raises(knowledge.StaleEdit) as refused:
        knowledge.edit_article(
            session,
            "return-7-days",
            checked(answer_zh="另一个回答"),
            base_version=1,
            author_id=None,
            author="zhou.lead",
            now=LATER,
        )

    assert refused.value.details["author"] == "the.manager"
    assert refused.value.details["current_version"] == 2
    assert session.scalar(select(func.count()).select_from(ArticleVersion)) == 2


def test_saving_the_same_text_again_writes_nothing(session: Session) -> None:
    create(session)
    again = create(session)
    edited = knowledge.edit_article(
        session, "return-7-days", checked(), base_version=1, author_id=None, author="x", now=LATER
    )

    assert not again.created and not edited.created
    assert edited.version.version == 1
    assert session.scalar(select(func.count()).select_from(ArticleVersion)) == 1


def test_a_new_article_may_not_take_a_slug_in_use(session: Session) -> None:
    create(session)
    with pytest.raises(knowledge.ArticleExists):
        create(session, answer_en="something else entirely")


def test_an_unknown_article_or_version_is_not_found(session: Session) -> None:
    create(session)
    with pytest.raises(knowledge.ArticleNotFound):
        knowledge.find(session, "nothing-here")
    with pytest.raises(knowledge.ArticleNotFound):
        knowledge.version_of(session, knowledge.find(session, "return-7-days"), 9)


def test_search_needs_every_word_and_folds_width_and_case(session: Session) -> None:
    create(session)
    create(
        session,
        "cracked-screen",
        category="product_quality",
        title_zh="屏幕碎裂",
        title_en="A cracked screen",
        answer_zh="收到商品屏幕碎裂，请拍照上传，我们为您换新。",
        answer_en="If the screen arrived cracked, send a photo and we replace the item.",
        wording_zh="很抱歉给您带来不便，请您拍照上传，我们马上为您换新。",
        wording_en="I am sorry about the screen: send us a photo and we replace it at once.",
        keywords="碎屏 broken",
        ivr_nodes="aftersales_agent",
    )

    def slugs(query: str, **kw: Any) -> list[str]:
        return [a.slug for a in knowledge.search(session, query, **kw)]

    assert slugs("") == ["cracked-screen", "return-7-days"]
    assert slugs("碎屏") == ["cracked-screen"]
    assert slugs("ＣＲＡＣＫＥＤ　Screen") == ["cracked-screen"]  # full-width, upper case
    assert slugs("returned tags") == ["return-7-days"]
    assert slugs("returned screen") == []
    assert slugs("100%") == []  # LIKE's wildcards are escaped
    assert slugs("7", category="product_quality") == []
    assert knowledge.normalise("  Ｒｅｆｕｎｄ\u3000ＭＯＮＥＹ ") == "refund money"


def _call_through(session: Session, steps: list[dict[str, str]]) -> int:
    call = Call(
        sid="CA" + "7" * 32,
        direction=CallDirection.INBOUND,
        status=CallStatus.IN_PROGRESS,
        from_number="+8613800138000",
    )
    session.add(call)
    session.flush()
    for n, data in enumerate(steps):
        session.add(
            CallEvent(
                call_id=call.id, call_sid=call.sid, kind="ivr", dedupe_key=f"ivr:{n}", data=data
            )
        )
    session.add(CallEvent(call_id=call.id, call_sid=call.sid, kind="enqueued", data={}))
    session.flush()
    return call.id


def test_the_ivr_path_is_read_from_the_calls_ivr_events(session: Session) -> None:
    call_id = _call_through(
        session,
        [
            {"outcome": "Ask", "node": "language"},
            {"outcome": "Ask", "node": "main", "answered_at": "identify"},
            {"outcome": "Ask", "node": "returns", "answered_at": "main", "digits": "3"},
            {"outcome": "Transfer", "node": "aftersales_agent", "answered_at": "returns"},
        ],
    )

    assert knowledge.ivr_path(session, call_id) == [
        "language",
        "identify",
        "main",
        "returns",
        "aftersales_agent",
    ]


def test_suggestions_come_from_the_rules_categories_and_the_ivr_path_both_first(
    session: Session,
) -> None:
    create(session)  # refund; ivr: returns, rma_status
    create(
        session,
        "cracked-screen",
        category="product_quality",
        title_en="A cracked screen",
        ivr_nodes="aftersales_agent",
    )
    create(session, "complaint-apology", category="complaint", ivr_nodes="complaints_agent")
    create(session, "how-to-use", category="usage_question", ivr_nodes="")
    path = ["language", "main", "returns", "aftersales_agent"]

    by_ivr = knowledge.suggest(session, ivr_nodes=path)
    by_rules = knowledge.suggest(session, categories=["usage_question", "complaint"])
    both = knowledge.suggest(session, categories=["refund"], ivr_nodes=path)

    assert [(s.article.slug, s.reasons) for s in by_ivr] == [
        ("cracked-screen", ("ivr:aftersales_agent",)),  # the deepest node first
        ("return-7-days", ("ivr:returns",)),
    ]
    assert [s.article.slug for s in by_rules] == ["how-to-use", "complaint-apology"]
    assert [(s.article.slug, s.reasons) for s in both] == [
        ("return-7-days", ("rules:refund", "ivr:returns")),
        ("cracked-screen", ("ivr:aftersales_agent",)),
    ]
    assert knowledge.suggest(session) == []
