"""The desk in headless Chromium, on a whole centre in real time: sign in, go available, see a
VIP caller's screen pop ring, answer through the local phone network, hang up, wrap up.

Screenshots of every step go to $CALLCENTER_SCREENSHOTS (default: the test's tmp folder).
Needs the system's chromium and the `playwright` package; skipped without either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import Runtime
from callcenter.seed import DEMO_VIP_NAME, DEMO_VIP_PHONE, DEMO_VIP_SHIPPED_ORDER
from phone_network.clock import RealClock
from phone_network.parties import Answering
from queues.models import Agent, AgentState, QueuedCallStatus
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
        twilio_account_sid="",  # the local phone network: the desk answers through it
        business_hours="mon-sun 00:00-24:00",  # open whenever the test runs
    ) as c:
        yield c


@pytest.fixture
def shots(tmp_path: Path) -> Callable[[Page, str], None]:
    return screenshots(tmp_path)


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium_page(1280, 900) as p:
        yield p


def test_an_agent_takes_a_vip_call_at_the_desk(
    centre: Centre, page: Page, shots: Callable[[Page, str], None]
) -> None:
    agent_id = centre.agent("li.na", answering=Answering(mode="manual", talk=None), available=False)
    with centre.factory.begin() as s:
        agent = s.get(Agent, agent_id)
        assert agent is not None
        agent.password_hash = _password_hash()
    base = centre.runtime.settings.public_base_url

    page.goto(f"{base}/desk/login")
    page.fill("#login", "li.na")
    page.fill("#password", PASSWORD)
    shots(page, "01-login")
    page.click("button[type=submit]")
    expect(page.locator("#state")).to_have_attribute("data-state", "offline", timeout=WAIT_MS)
    shots(page, "02-offline")

    page.click("#go-available")
    expect(page.locator("#state")).to_have_attribute("data-state", "available", timeout=WAIT_MS)
    shots(page, "03-available")

    leg = centre.call(DEMO_VIP_PHONE, "press 1", "press 0", max_hold=120)
    expect(page.locator("#call")).to_have_attribute("data-phase", "ringing", timeout=WAIT_MS)
    expect(page.locator("#customer-name")).to_have_text(DEMO_VIP_NAME)
    expect(page.locator("#vip")).to_be_visible()
    expect(page.locator("#orders")).to_contain_text(DEMO_VIP_SHIPPED_ORDER)
    expect(page.locator("#ivr")).to_contain_text("main")
    expect(page.locator("#answer")).to_be_enabled(timeout=WAIT_MS)  # the agent's leg rings
    shots(page, "04-ringing")

    page.click("#answer")
    expect(page.locator("#state")).to_have_attribute("data-state", "on_call", timeout=WAIT_MS)
    expect(page.locator("#call")).to_have_attribute("data-phase", "talking")
    shots(page, "05-on-call")

    page.click("#hangup")
    expect(page.locator("#wrap-up")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#state")).to_have_attribute("data-state", "wrap_up")
    expect(page.locator("#go-available")).to_be_disabled()  # wrap-up ends by saving it
    page.select_option("#disposition", "follow_up")
    page.fill("#notes", "客户询问物流进度，已告知预计明天送达。")
    page.fill("#wo-description", "客户询问物流进度，已告知预计明天送达。")  # the call's work order
    expect(page.locator("#wo-category")).to_have_value("logistics_delay", timeout=WAIT_MS)
    shots(page, "06-wrap-up")

    page.click("#save-wrap-up")
    expect(page.locator("#state")).to_have_attribute("data-state", "available", timeout=WAIT_MS)
    expect(page.locator("#call")).to_be_hidden()
    shots(page, "07-available-again")

    (entry,) = centre.entries(leg)
    assert entry.status is QueuedCallStatus.CONNECTED and entry.agent_id == agent_id
    assert entry.disposition == "follow_up"
    assert entry.notes == "客户询问物流进度，已告知预计明天送达。"
    assert entry.talk_ended_at is not None and entry.wrapped_up_at is not None
    states = [s for s, _ in centre.agent_states(agent_id)]
    assert states == ["offline", "available", "reserved", "on_call", "wrap_up", "available"]
    assert centre.agent_row(agent_id).state is AgentState.AVAILABLE
