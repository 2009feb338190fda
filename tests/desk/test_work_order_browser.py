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
        return earlier.id


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
        shots(page, "01-pop-zh")

        # The earlier contact: a usage question, answered now.
        contact.click()
        page.fill("#contact-wo-description", USAGE)
        suggestion = page.locator("#contact-wo-suggestion")
        expect(suggestion).to_contain_text("建议 Suggested", timeout=WAIT_MS)
        expect(page.locator("#contact-wo-category")).to_have_value("usage_question")
        expect(page.locator("#contact-wo-department")).to_have_value("aftersales-b")
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
        page.select_option("#wo-department", "aftersales-b")
        page.check('input[name="wo-outcome"][value="pass"]')
        shots(page, "03-wrap-up-zh")
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
            shots(page, "04-earlier-contact-form-en")
            page.click("#hangup")
            expect(page.locator("#wrap-up")).to_be_visible(timeout=WAIT_MS)
            page.fill("#wo-description", "cracked screen on arrival")
            expect(page.locator("#wo-category")).to_have_value("product_quality", timeout=WAIT_MS)
            shots(page, "05-wrap-up-en")
        finally:
            context.close()
