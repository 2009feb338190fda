"""The department inbox in headless Chromium, on the demo centre: after-sales A's user opens
the inbox from the desk (their group only, time left), opens a work order, claims it, asks the
customer, records the answer and replies; the timeline shows each step with its author in local
time, and the owning front-desk agent's callback list shows the answer.

Screenshots go to $CALLCENTER_SCREENSHOTS (default: the test's tmp folder). Needs the system's
chromium and the `playwright` package; skipped without either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from callcenter.jobs.work_orders import run_sweep
from callcenter.runtime import Runtime
from phone_network.clock import RealClock
from queues.models import AgentState, Role
from tests.browser import BROWSER_MARKS, Page, chromium_page, expect, screenshots
from tests.builders import add_agent
from tests.centre import Centre, running_centre
from tests.desk.conftest import PASSWORD, _password_hash
from tests.work_orders.passing import agent, customer, passed
from work_orders.models import WorkOrder, WorkOrderStatus

pytestmark = BROWSER_MARKS
WAIT_MS = 20_000


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
        twilio_account_sid="",
        business_hours="mon-sun 00:00-24:00",
    ) as c:
        yield c


@pytest.fixture
def shots(tmp_path: Path) -> Callable[[Page, str], None]:
    return screenshots(tmp_path)


def sign_in(page: Page, base: str, login: str) -> None:
    page.goto(f"{base}/desk/login")
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#agent-name")).to_be_visible(timeout=WAIT_MS)


def test_a_department_works_a_work_order_from_its_inbox_and_the_owner_sees_the_answer(
    centre: Centre, shots: Callable[[Page, str], None]
) -> None:
    now = centre.clock.now()
    with centre.factory.begin() as s:
        owner = agent(s, "qin.yu", "front-a", state=AgentState.AVAILABLE)
        owner.password_hash = _password_hash()
        dept = add_agent(
            s,
            "gao.yan2",
            display_name="高岩",
            team="aftersales-a",
            posts=[],
            skills={},
            roles=[Role.DEPARTMENT],
        )
        dept.password_hash = _password_hash()
        who = customer(s, "+8613900001111")
        mine = passed(s, owner, who=who, now=now)
        theirs = passed(s, owner, department="logistics", who=who, now=now)
        number, other = mine.number, theirs.number
        mine_id = mine.id
    run_sweep(centre.runtime)  # the clocks' snapshot: first feedback due in 2 h
    base = centre.runtime.settings.public_base_url
    with chromium_page(1400, 1000) as page:
        sign_in(page, base, "gao.yan2")
        page.click("text=部门工单 Work orders")  # the desk links the inbox
        row = page.locator(f'tr[data-work-order="{number}"]')
        expect(row).to_be_visible(timeout=WAIT_MS)
        expect(row.locator("td.sla")).to_contain_text("1 h 5")  # just under two hours left
        expect(page.locator(f'tr[data-work-order="{other}"]')).to_have_count(0)
        expect(page.locator("h1")).to_contain_text("aftersales-a")
        shots(page, "01-inbox")

        row.locator("a").first.click()
        expect(page.locator("#wo-status")).to_have_attribute("data-status", "with_department")
        page.click("#form-claim button")
        expect(page.locator("p.flash-ok")).to_contain_text(f"认领 Claim: {number}")
        expect(page.locator("#wo-status")).to_have_attribute("data-status", "in_progress")
        page.fill("#form-ask textarea", "请拍一张屏幕的照片 Please send a photo of the screen")
        page.click("#form-ask button")
        expect(page.locator("#wo-status")).to_have_attribute(
            "data-status", "waiting_on_customer", timeout=WAIT_MS
        )
        page.fill("#form-answer textarea", "照片已发到邮箱 photo sent by e-mail")
        page.click("#form-answer button")
        expect(page.locator("#wo-status")).to_have_attribute("data-status", "in_progress")
        shots(page, "02-work-order")
        page.fill("#form-reply textarea", "已安排换屏 A new screen is on its way")
        page.click("#form-reply button")
        expect(page.locator("#wo-status")).to_have_attribute("data-status", "answered")
        timeline = page.locator("#timeline")
        expect(timeline.locator('li[data-kind="reply"]')).to_contain_text("A new screen is on")
        expect(timeline.locator('li[data-kind="reply"]')).to_contain_text("gao.yan2")
        expect(timeline.locator('li[data-kind="question"]')).to_have_count(1)
        expect(timeline.locator('li[data-kind="callback"]')).to_contain_text("已安排 planned")
        expect(page.locator("#form-reply")).to_have_count(0)  # answered: no second reply
        shots(page, "03-answered")

        browser = page.context.browser
        assert browser is not None
        other_context = browser.new_context(viewport={"width": 1400, "height": 900})
        desk = other_context.new_page()
        sign_in(desk, base, "qin.yu")
        desk.click("text=工单回电 Callbacks")
        callback = desk.locator(f'tr[data-work-order="{number}"]')
        expect(callback).to_contain_text("已安排换屏 A new screen is on its way", timeout=WAIT_MS)
        expect(callback.locator("button", has_text="呼叫 Call")).to_be_visible()
        shots(desk, "04-owner-callbacks")
        other_context.close()

    with centre.factory() as s:
        found = s.get(WorkOrder, mine_id)
        assert found is not None and found.status is WorkOrderStatus.ANSWERED
