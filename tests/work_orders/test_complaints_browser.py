"""The complaint page in headless Chromium, on a running centre: a team lead receives a
complaint with its severity, decides a coupon, carries it out and closes it (the follow-up
call planned); a refused step says what to correct.

Screenshots go to $CALLCENTER_SCREENSHOTS (default: the test's tmp folder). Needs the system's
chromium and the `playwright` package; skipped without either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import Runtime
from phone_network.clock import RealClock
from queues.models import Role
from tests.browser import BROWSER_MARKS, Page, chromium_page, expect, screenshots
from tests.builders import add_agent
from tests.centre import Centre, running_centre
from tests.desk.conftest import PASSWORD, _password_hash
from tests.work_orders.test_complaints import complaint_order

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


def test_a_team_lead_takes_a_complaint_through_its_steps(
    centre: Centre, shots: Callable[[Page, str], None]
) -> None:
    with centre.factory.begin() as s:
        lead = add_agent(s, "qin.hui", posts=[], roles=[Role.TEAM_LEAD], team="front-a")
        lead.password_hash = _password_hash()
        wo = complaint_order(s, phone="+8613900000777")
        wo_id, number = wo.id, wo.number
    base = centre.runtime.settings.public_base_url
    with chromium_page(1300, 1000) as page:
        page.goto(f"{base}/desk/login")
        page.fill("#login", "qin.hui")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#agent-name")).to_be_visible(timeout=WAIT_MS)
        page.goto(f"{base}/complaints/")
        row = page.locator(f'tr[data-work-order="{number}"]')
        expect(row).to_contain_text("待受理 not received", timeout=WAIT_MS)
        shots(page, "01-list")

        row.locator("a").click()
        page.select_option("select[name=severity]", "high")
        page.click("text=受理 Receive >> nth=-1")
        expect(page.locator("p.flash-ok")).to_contain_text("Complaint received")
        expect(page.locator("#stage")).to_have_attribute("data-stage", "classified")

        page.select_option("select[name=remedy]", "coupon")
        page.click("text=确定 Decide")
        expect(page.locator("p.alert[role=alert]")).to_contain_text("amount_fen")
        shots(page, "02-refused")
        page.select_option("select[name=remedy]", "coupon")
        page.fill("input[name=amount_fen]", "2000")
        page.click("text=确定 Decide")
        expect(page.locator("#remedy")).to_contain_text("amount_fen: 2000")

        page.fill("input[name=reference]", "CPN-2000")
        page.click("text=已执行 Carried out")
        page.click("text=结案并安排回访 Close and plan the follow-up call")
        expect(page.locator("#stage")).to_have_attribute("data-stage", "closed")
        expect(page.locator("#status")).to_have_text("closed")
        expect(page.locator("#follow-up")).to_contain_text("pending")
        expect(
            page.locator('#timeline li[data-kind="complaint_remedy_carried_out"]')
        ).to_have_count(1)
        shots(page, "03-closed")
    assert wo_id
