"""The wallboard in headless Chromium on a whole centre in real time: figures update live as
callers arrive, an alert appears when a caller waits past the threshold (and is acknowledged),
and a dispatch action moves a caller to another queue.

Screenshots go to $CALLCENTER_SCREENSHOTS (default: the test's tmp folder). Needs the system's
chromium and the `playwright` package; skipped without either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from callcenter.jobs.alerts import run_alerts
from callcenter.runtime import Runtime
from callcenter.seed import DEMO_NEW_PHONE, DEMO_RETURNING_PHONE
from phone_network.clock import RealClock
from queues.models import AgentState, QueuedCallStatus, Role
from tests.browser import BROWSER_MARKS, Page, chromium_page, expect, screenshots
from tests.builders import add_agent
from tests.centre import Centre, running_centre
from tests.desk.conftest import PASSWORD, _password_hash

pytestmark = BROWSER_MARKS
WAIT_MS = 30_000
CALLERS = (DEMO_RETURNING_PHONE, DEMO_NEW_PHONE)  # identified by number: straight to the menu


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
        supervisor_alert_wait_s=4,  # small, so the test sees an alert within seconds
        wallboard_refresh_ms=500,
        wallboard_history_every_s=2,
    ) as c:
        yield c


@pytest.fixture
def shots(tmp_path: Path) -> Callable[[Page, str], None]:
    return screenshots(tmp_path)


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium_page(1400, 1000) as p:
        yield p
    _streams_ended()


def _streams_ended(timeout_s: float = 10.0) -> None:
    """Wait until the server has noticed the closed browser and ended its event streams, so
    none writes to Redis after the test has cleaned it up."""
    from callcenter.supervisor import views

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        held = [views._streams.acquire(blocking=False) for _ in range(views.MAX_STREAMS)]
        for got in held:
            if got:
                views._streams.release()
        if all(held):
            return
        time.sleep(0.05)


@pytest.fixture
def alert_tick(centre: Centre) -> Iterator[None]:
    """The periodic tick's alert step, every second (as `jobs.tick` would call it)."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(1.0):
            with centre.app.app_context():
                run_alerts(centre.runtime)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


def _sign_in(centre: Centre, page: Page) -> None:
    with centre.factory.begin() as s:
        sup = add_agent(
            s,
            "floor.sup",
            display_name="Floor Sup",
            posts=[],
            skills={},
            now=centre.clock.now(),
            roles=[Role.SUPERVISOR],
        )
        sup.password_hash = _password_hash()
    base = centre.runtime.settings.public_base_url
    page.goto(f"{base}/desk/login")
    page.fill("#login", "floor.sup")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{base}/supervisor/")


def test_the_wallboard_updates_live_alerts_and_moves_a_caller(
    centre: Centre, page: Page, shots: Callable[[Page, str], None], alert_tick: None
) -> None:
    on_break = centre.agent("li.na", available=False)
    centre.set_state(on_break, AgentState.BREAK, reason="lunch")
    _sign_in(centre, page)
    expect(page.locator("#total-waiting")).to_have_text("0", timeout=WAIT_MS)
    expect(page.locator("#agents tbody tr")).to_have_count(1)
    shots(page, "01-empty")

    legs = [centre.call(CALLERS[0], "press 1", "press 0", max_hold=120)]
    expect(page.locator("#total-waiting")).to_have_text("1", timeout=WAIT_MS)  # live, no reload
    legs.append(centre.call(CALLERS[1], "press 1", "press 0", max_hold=120))
    expect(page.locator("#total-waiting")).to_have_text("2", timeout=WAIT_MS)
    shots(page, "02-two-waiting")

    alert = page.locator("#alerts li[data-kind=longest_wait]")
    expect(alert.first).to_be_visible(timeout=WAIT_MS)
    expect(alert.first).to_contain_text("has waited")
    shots(page, "03-alert")

    first = centre.entries(legs[0])[-1]
    row = page.locator(f"#waiting tr[data-entry='{first.id}']")
    target = "orders" if first.queue != "orders" else "general"
    row.locator("select.move-to").select_option(target)
    row.locator("button.move").click()
    expect(page.locator("#message")).to_contain_text("done", timeout=WAIT_MS)
    moved = page.locator(f"#waiting tr[data-queue='{target}']")
    expect(moved).to_have_count(1, timeout=WAIT_MS)
    entries = centre.entries(legs[0])
    assert entries[0].status is QueuedCallStatus.OVERFLOWED
    assert entries[-1].queue == target and entries[-1].enqueued_at == first.enqueued_at
    expect(page.locator(f"#queues tr[data-queue='{target}'] td.waiting")).to_have_text("1")
    page.wait_for_timeout(2500)  # a few more chart samples
    shots(page, "04-moved")

    shown = page.locator("#alerts li").count()
    page.locator("#alerts li button.ack").first.click()
    expect(page.locator("#message")).to_contain_text("done", timeout=WAIT_MS)
    expect(page.locator("#alerts li")).to_have_count(shown - 1, timeout=WAIT_MS)
    shots(page, "05-acknowledged")
    for leg in legs:
        centre.network.hang_up(leg.sid)
