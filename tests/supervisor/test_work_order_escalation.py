"""A work order's SLA breach reaches the floor supervisor's wallboard as an alert, once, and
clears when the work order is closed."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.jobs.alerts import run_alerts
from callcenter.jobs.work_orders import run_sweep
from callcenter.runtime import Runtime
from supervision.models import Alert, AlertKind
from tests.conftest import NOW
from work_orders import states, timeline

H = timedelta(hours=1)


def test_an_escalated_work_order_shows_on_the_wallboard_until_it_is_closed(
    runtime: Runtime,
    session_factory: sessionmaker[Session],
    supervisor: FlaskClient,
) -> None:
    """Nobody answers for 2 h: the sweep escalates, the alerts duty raises one alert that the
    wallboard lists; repeated runs add nothing; the close clears it."""
    with session_factory.begin() as s:
        wo = timeline.open_work_order(
            s,
            client_key="wrap-up:9",
            category="product_quality",
            description="cracked screen",
            author_id=None,
            author="li.na",
            now=NOW,
            department="aftersales-a",
        ).work_order
        states.move(s, wo, "pass", author_id=None, author="li.na", now=NOW)
        number = wo.number
    runtime.clock = lambda: NOW + 2 * H + timedelta(seconds=1)

    assert run_sweep(runtime).escalated == [number]
    first = run_alerts(runtime)
    assert run_sweep(runtime).escalated == [] and run_alerts(runtime).raised == []

    runtime.redis.delete(f"{runtime.settings.redis_prefix}wallboard:snapshot")
    shown = supervisor.get("/supervisor/api/snapshot").get_json()["alerts"]
    assert [(a["kind"], a["subject"], a["holding"]) for a in shown] == [
        ("work_order_escalated", number, True)
    ]
    assert [a["id"] for a in shown] == first.raised
    assert "breached its SLA" in shown[0]["message"]

    with session_factory.begin() as s:
        found = s.scalars(select(type(wo)).where(type(wo).number == number)).one()
        states.move(s, found, "reply", author_id=None, author="gao.yan", now=runtime.clock())
        states.move(s, found, "close", author_id=None, author="li.na", now=runtime.clock())
    assert run_alerts(runtime).cleared == first.raised
    with session_factory() as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.kind is AlertKind.WORK_ORDER_ESCALATED and alert.open_key is None
