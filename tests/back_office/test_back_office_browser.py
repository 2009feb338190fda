"""The back office's work list in headless Chromium, on the demo centre: a back-office agent
opens the work list from the desk, reviews a return, edits the refund (typed in CNY, sent in
fen) and approves; a second agent who had the same RMA open approves too and is told clearly
who was first and when (local time).

Screenshots go to $CALLCENTER_SCREENSHOTS (default: the test's tmp folder). Needs the system's
chromium and the `playwright` package; skipped without either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import Runtime
from core.models import Rma, RmaStatus
from core.webhooks import WebhookDelivery
from phone_network.clock import RealClock
from queues.models import Agent
from tests.back_office.reviewing import back_office_agent, in_review, stock_catalogue
from tests.browser import BROWSER_MARKS, Page, chromium_page, expect, screenshots
from tests.centre import Centre, running_centre
from tests.desk.conftest import PASSWORD, _password_hash

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


def test_review_approve_with_an_edited_refund_and_the_second_agent_sees_who_was_first(
    centre: Centre, shots: Callable[[Page, str], None]
) -> None:
    with centre.factory.begin() as s:
        for login, name in (("wu.fang", "吴芳"), ("xu.tao", "徐涛")):  # as in the demo
            back_office_agent(s, login, name).password_hash = _password_hash()
        stock_catalogue(s, (("SHO-1", "shoes", 5),))
        rma = in_review(s)  # a quality return of one SHO-1 (399.00 CNY), inspection passed
        rma_id, number = rma.id, rma.number
    base = centre.runtime.settings.public_base_url
    with chromium_page(1400, 1000) as first:
        browser = first.context.browser
        assert browser is not None
        other = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
        second = other.new_page()  # another agent, another browser session (English locale)
        sign_in(first, base, "wu.fang")
        first.click("text=后台退换货 RMA review")  # the desk links the back office's page
        expect(first.locator("#reviews")).to_be_visible(timeout=WAIT_MS)
        row = first.locator(f'tr[data-rma="{number}"]')
        expect(row).to_contain_text("质检通过 Inspection passed")
        expect(first.locator("#reviews tbody tr")).not_to_have_count(1)  # the demo's too
        shots(first, "01-work-list")

        sign_in(second, base, "xu.tao")
        second.goto(f"{base}/back/rmas/{rma_id}")  # the second agent has it open as well
        expect(second.locator("#approve")).to_be_visible(timeout=WAIT_MS)

        row.locator("a").first.click()
        expect(first.locator("#refund-yuan")).to_have_value("399.00", timeout=WAIT_MS)
        shots(first, "02-review")
        first.fill("#sku", "SHO-1")
        first.fill("#refund-yuan", "350.5")
        expect(first.locator("#refund-fen")).to_have_value("35050")
        first.click("#approve")
        expect(first.locator("p.flash-ok")).to_contain_text(f"已批准 Approved {number}")
        expect(first.locator(f'#reviews tr[data-rma="{number}"]')).to_have_count(0)
        shots(first, "03-approved")

        second.fill("#sku", "SHO-1")
        second.click("#approve")
        alert = second.locator("p.alert[role=alert]")
        expect(alert).to_contain_text("Already approved by 吴芳 at", timeout=WAIT_MS)
        expect(alert).to_contain_text("已被 吴芳 于")
        expect(second.locator("#rma-status")).to_have_attribute("data-status", "approved")
        expect(second.locator("#approve")).to_have_count(0)
        shots(second, "04-second-agent-409")
        second.goto(f"{base}/back/")
        shots(second, "05-work-list-en-locale")
        other.close()

    with centre.factory() as s:
        found = s.get(Rma, rma_id)
        assert found is not None
        assert (found.status, found.refund_amount_fen) == (RmaStatus.APPROVED, 35_050)
        assert found.decided_by == s.scalar(select(Agent.id).where(Agent.login == "wu.fang"))
        deliveries = s.scalars(select(WebhookDelivery).where(WebhookDelivery.target == "finance"))
        assert [d.payload["refund_amount_fen"] for d in deliveries] == [35_050]
