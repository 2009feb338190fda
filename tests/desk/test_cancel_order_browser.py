"""The screen pop's "Cancel and refund" in headless Chromium: the agent in a call sees it on
the caller's unshipped order (and "request a return instead" on a shipped one), confirms the
browser's question, and sees the result; the order is cancelled and refunded once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import Runtime
from callcenter.seed import DEMO_VIP_ACCOUNT, DEMO_VIP_PHONE
from core.models import Customer, Order, OrderStatus, PaymentType, Rma
from phone_network.clock import RealClock
from phone_network.parties import Answering
from queues.models import Agent
from tests.browser import BROWSER_MARKS, Page, chromium_page, expect, screenshots
from tests.centre import Centre, running_centre
from tests.desk.conftest import PASSWORD, _password_hash

pytestmark = BROWSER_MARKS
WAIT_MS = 20_000
UNSHIPPED = "2000000099"


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


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium_page(1280, 900) as p:
        yield p


def test_an_agent_cancels_an_unshipped_order_from_the_screen_pop(
    centre: Centre, page: Page, tmp_path: Path
) -> None:
    shots = screenshots(tmp_path)
    agent_id = centre.agent("li.na", answering=Answering(mode="manual", talk=None), available=False)
    with centre.factory.begin() as s:
        agent = s.get(Agent, agent_id)
        assert agent is not None
        agent.password_hash = _password_hash()
        vip = s.scalars(select(Customer).where(Customer.account_number == DEMO_VIP_ACCOUNT)).one()
        s.add(
            Order(
                number=UNSHIPPED,
                customer_id=vip.id,
                amount_fen=58_800,
                payment_type=PaymentType.PREPAID,
                status=OrderStatus.APPROVED,
                placed_at=centre.clock.now() + timedelta(minutes=1),  # the newest: shown first
            )
        )
    base = centre.runtime.settings.public_base_url
    page.goto(f"{base}/desk/login")
    page.fill("#login", "li.na")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("#go-available")
    expect(page.locator("#state")).to_have_attribute("data-state", "available", timeout=WAIT_MS)

    centre.call(DEMO_VIP_PHONE, "press 1", "press 0", max_hold=120)  # 王芳 asks for an agent
    expect(page.locator("#answer")).to_be_enabled(timeout=WAIT_MS)
    page.click("#answer")
    expect(page.locator("#call")).to_have_attribute("data-phase", "talking", timeout=WAIT_MS)
    button = page.locator(f'button.cancel-order[data-order="{UNSHIPPED}"]')
    expect(button).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#orders")).to_contain_text("请改为申请退货")  # on the shipped ones
    shots(page, "01-pop")

    questions: list[str] = []

    def answer(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    button.click()
    result = page.locator("#cancel-result")
    expect(result).to_be_visible(timeout=WAIT_MS)
    expect(result).to_contain_text(f"订单 {UNSHIPPED} 已取消，退款 ¥588.00 已交财务")
    shots(page, "02-cancelled")
    assert questions and UNSHIPPED in questions[0] and "¥588.00" in questions[0]
    expect(button).to_have_count(0, timeout=WAIT_MS)  # the next poll shows it cancelled

    with centre.factory() as s:
        order = s.scalars(select(Order).where(Order.number == UNSHIPPED)).one()
        assert order.status is OrderStatus.CANCELLED
        assert s.scalar(select(func.count()).select_from(Rma).where(Rma.order_id == order.id)) == 1
