"""The desk's work-order form in headless Chromium, on a real call through the local phone
network: the agent opens a work order for the caller's earlier contact from the screen pop,
then hangs up, types the call's description, sees the keyword suggestion fill the category
and department, sends it to another department and passes it on. Screenshots in a zh-CN and
an en-US browser."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import Runtime
from callcenter.seed import DEMO_VIP_ACCOUNT, DEMO_VIP_PHONE
from core.models import Call, CallDirection, CallStatus, Customer
from phone_network.clock import RealClock
from phone_network.parties import Answering
from queues.models import Agent, AgentState
from tests.browser import BROWSER_MARKS, Page, chromium_page, expect, screenshots
from tests.centre import Centre, running_centre
from tests.desk.conftest import PASSWORD, _password_hash
from work_orders import knowledge
from work_orders.models import WorkOrder, WorkOrderCall, WorkOrderStatus

pytestmark = BROWSER_MARKS
WAIT_MS = 20_000
CRACKED = "客户说用了一周手机碎屏了，希望维修"
USAGE = "How do I use the warranty card?"


@pytest.fixture
def centre(
    live_session_factory: sessionmaker[Session], make_runtime: Callable[..., Runtime], redis: Any
) -> Iterator[Centre]:
    clock = RealClock()
    with running_centre(
        live_session_factory,
        make_runtime,
        start=clock.now(),
        clock=clock,
        twilio_account_sid="",  # the local phone network
        business_hours="mon-sun 00:00-24:00",
    ) as c:
        yield c


def prepare(centre: Centre, login: str) -> int:
    """The agent (a desk password) and 王芳's earlier call of two days ago, without a work
    order; returns that call's id."""
    with centre.factory.begin() as s:
        agent = s.get(
            Agent,
            centre.agent(login, answering=Answering(mode="manual", talk=None), available=False),
        )
        assert agent is not None
        agent.password_hash = _password_hash()
        vip = s.scalars(select(Customer).where(Customer.account_number == DEMO_VIP_ACCOUNT)).one()
        earlier = Call(
            sid="CA" + "e" * 32,
            direction=CallDirection.INBOUND,
            caller_e164=DEMO_VIP_PHONE,
            status=CallStatus.COMPLETED,
            customer_id=vip.id,
            started_at=centre.clock.now() - timedelta(days=2),
        )
        s.add(earlier)
        s.flush()
        for slug, given in ARTICLES.items():
            knowledge.create_article(
                s, slug, given, author_id=None, author="zhou.lead", now=centre.clock.now()
            )
        return earlier.id


def article(category: str, title: tuple[str, str], **texts: str) -> knowledge.ArticleIn:
    return knowledge.ArticleIn(
        category=category,
        title_zh=title[0],
        title_en=title[1],
        answer_zh=texts["answer_zh"],
        answer_en=texts["answer_en"],
        wording_zh=texts["wording_zh"],
        wording_en=texts["wording_en"],
        policy_links=(knowledge.Link("售后政策 After-sales policy", "/policy/after-sales"),),
        ivr_nodes=tuple(texts.get("ivr", "").split()),
    )


#: The knowledge base the agent sees: one article by the IVR path (the caller asked for an
#: agent), one per category the descriptions suggest.
ARTICLES = {
    "greeting-vip": article(
        "other",
        ("VIP 来电问候", "Greeting a VIP caller"),
        answer_zh="核实身份后，先确认客户的订单号。",
        answer_en="Once identified, confirm the customer's order number first.",
        wording_zh="王女士您好，感谢您的耐心等待，请问有什么可以帮您？",
        wording_en="Hello, thank you for waiting. How can I help you today?",
        ivr="agent",
    ),
    "cracked-screen": article(
        "product_quality",
        ("屏幕破裂的处理", "A cracked screen"),
        answer_zh="签收 7 天内的屏幕问题免费换新；超过 7 天转售后 A 组检测维修。",
        answer_en="Within 7 days of delivery a cracked screen is replaced; later, after-sales "
        "group A inspects and repairs it.",
        wording_zh="非常抱歉给您带来不便，我马上为您登记，售后同事会在 2 小时内联系您。",
        wording_en="I am sorry for the trouble. I am recording it now; after-sales will contact "
        "you within 2 hours.",
    ),
    "warranty-card": article(
        "usage_question",
        ("保修卡怎么用", "Using the warranty card"),
        answer_zh="保修卡随商品附赠，维修时出示保修卡和订单号即可。",
        answer_en="The warranty card comes with the product: show it with the order number.",
        wording_zh="保修卡在包装盒内，维修时请出示保修卡和订单号。",
        wording_en="The warranty card is in the box; please show it with your order number.",
    ),
}


def take_call(centre: Centre, page: Page, login: str) -> None:
    base = centre.runtime.settings.public_base_url
    page.goto(f"{base}/desk/login")
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("#go-available")
    expect(page.locator("#state")).to_have_attribute("data-state", "available", timeout=WAIT_MS)
    centre.call(DEMO_VIP_PHONE, "press 1", "press 0", max_hold=120)  # 王芳 asks for an agent
    expect(page.locator("#answer")).to_be_enabled(timeout=WAIT_MS)
    page.click("#answer")
    expect(page.locator("#call")).to_have_attribute("data-phase", "talking", timeout=WAIT_MS)


def test_an_agent_opens_work_orders_for_an_earlier_contact_and_for_the_call(
    centre: Centre, tmp_path: Path
) -> None:
    shots = screenshots(tmp_path)
    earlier_id = prepare(centre, "li.na")
    with chromium_page(1280, 1000) as page:
        take_call(centre, page, "li.na")
        expect(page.locator("#work-orders")).to_contain_text("无工单 None", timeout=WAIT_MS)
        contact = page.locator(f'button.open-contact-work-order[data-call="{earlier_id}"]')
        expect(contact).to_be_visible(timeout=WAIT_MS)
        articles = page.locator("#articles")
        expect(articles.locator("li[data-slug]")).to_have_count(1, timeout=WAIT_MS)
        expect(articles).to_contain_text("VIP 来电问候")  # by the IVR path: asked for an agent
        shots(page, "01-pop-zh")

        # The earlier contact: a usage question, answered now.
        contact.click()
        page.fill("#contact-wo-description", USAGE)
        suggestion = page.locator("#contact-wo-suggestion")
        expect(suggestion).to_contain_text("建议 Suggested", timeout=WAIT_MS)
        expect(page.locator("#contact-wo-category")).to_have_value("usage_question")
        expect(page.locator("#contact-wo-department")).to_have_value("aftersales-b")
        expect(articles.locator('li[data-slug="warranty-card"]')).to_be_visible(timeout=WAIT_MS)
        expect(articles).to_contain_text("保修卡在包装盒内")  # the standard wording, zh and en
        expect(articles).to_contain_text("The warranty card is in the box")
        page.check('input[name="contact-wo-outcome"][value="resolved"]')
        shots(page, "02-earlier-contact-form-zh")
        page.click("#save-contact-work-order")
        expect(page.locator("#contact-result")).to_contain_text("已开", timeout=WAIT_MS)
        expect(page.locator("#work-orders")).to_contain_text("已结单 Closed", timeout=WAIT_MS)
        expect(contact).to_have_count(0, timeout=WAIT_MS)

        # The call itself: the suggestion fills in, the agent sends it to after-sales B.
        page.click("#hangup")
        expect(page.locator("#wrap-up")).to_be_visible(timeout=WAIT_MS)
        page.select_option("#disposition", "follow_up")
        page.fill("#wo-description", CRACKED)
        expect(page.locator("#wo-suggestion")).to_contain_text("建议 Suggested", timeout=WAIT_MS)
        expect(page.locator("#wo-category")).to_have_value("product_quality")
        expect(page.locator("#wo-department")).to_have_value("aftersales-a")
        expect(articles.locator('li[data-slug="cracked-screen"]')).to_be_visible(timeout=WAIT_MS)
        expect(articles.locator('li[data-slug="warranty-card"]')).to_have_count(0)
        page.select_option("#wo-department", "aftersales-b")
        page.check('input[name="wo-outcome"][value="pass"]')
        shots(page, "03-wrap-up-zh")
        page.fill("#knowledge-q", "保修卡")
        page.click("#knowledge-go")
        expect(page.locator("#knowledge-heading")).to_contain_text("Search results")
        expect(articles.locator("li[data-slug]")).to_have_count(1, timeout=WAIT_MS)
        expect(articles.locator("li").first).to_have_attribute("data-slug", "warranty-card")
        shots(page, "04-knowledge-search-zh")
        page.click("#save-wrap-up")
        expect(page.locator("#state")).to_have_attribute("data-state", "available", timeout=WAIT_MS)

    with centre.factory() as s:
        by_call = {
            link.call_id: s.get(WorkOrder, link.work_order_id)
            for link in s.scalars(select(WorkOrderCall))
        }
        earlier = by_call.pop(earlier_id)
        ((call_id, passed),) = by_call.items()
        assert earlier is not None and passed is not None
        assert earlier.status is WorkOrderStatus.CLOSED and earlier.category == "usage_question"
        assert passed.status is WorkOrderStatus.WITH_DEPARTMENT
        assert (passed.category, passed.department) == ("product_quality", "aftersales-b")
        assert passed.suggestion_overridden and passed.suggested_department == "aftersales-a"
        assert passed.description == CRACKED
        call = s.get(Call, call_id)
        assert call is not None and call.sid != "CA" + "e" * 32
        agent = s.scalars(select(Agent).where(Agent.login == "li.na")).one()
        assert agent.state is AgentState.AVAILABLE


def test_the_pop_in_an_english_browser(centre: Centre, tmp_path: Path) -> None:
    """The same pop and form in an en-US browser: the labels carry their English."""
    shots = screenshots(tmp_path)
    prepare(centre, "li.na")
    with chromium_page(1280, 1000) as zh:
        browser = zh.context.browser
        assert browser is not None
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="en-US")
        page = context.new_page()
        try:
            take_call(centre, page, "li.na")
            expect(page.locator("#work-orders-pop")).to_contain_text("The caller's work orders")
            page.locator("button.open-contact-work-order").first.click()
            page.fill("#contact-wo-description", "The parcel is late, where is my delivery?")
            expect(page.locator("#contact-wo-suggestion")).to_contain_text(
                "Suggested", timeout=WAIT_MS
            )
            shots(page, "05-earlier-contact-form-en")
            page.click("#hangup")
            expect(page.locator("#wrap-up")).to_be_visible(timeout=WAIT_MS)
            page.fill("#wo-description", "The screen is cracked and it will not turn on")
            expect(page.locator("#wo-category")).to_have_value("product_quality", timeout=WAIT_MS)
            shots(page, "06-wrap-up-en")
        finally:
            context.close()
