"""Alerts: raised once while their condition holds, cleared after, kept until acknowledged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import Runtime
from queues.models import Agent, AgentState, Post, QueuedCall, QueuedCallStatus
from supervision import alerts, support
from supervision.models import Alert, AlertKind, SupportPull
from tests.conftest import NOW
from tests.supervisor.conftest import CSRF

T = alerts.Thresholds()


def _kinds(session: Session) -> set[tuple[str, str]]:
    return {(a.kind.value, a.subject) for a in session.scalars(select(Alert))}


def test_each_default_threshold_raises_its_alert(
    runtime: Runtime,
    session: Session,
    make_entry: Callable[..., int],
    make_agent: Callable[..., int],
) -> None:
    make_entry("general", waited_s=121)
    make_entry("orders", waited_s=119)
    make_entry("vip", waited_s=11, vip=True, tier="vip")
    away = make_agent(
        "wu.fang", state=AgentState.BREAK, since=NOW - timedelta(minutes=16), reason="missed"
    )
    make_agent("xu.tao", state=AgentState.BREAK, since=NOW - timedelta(minutes=14), reason="lunch")
    for _ in range(4):  # complaints: 90 % target, 4 of 5 in time = 80 %
        make_entry(
            "complaints", status=QueuedCallStatus.CONNECTED, waited_s=300, answered_after_s=5
        )
    make_entry("complaints", status=QueuedCallStatus.ABANDONED, waited_s=300)
    run = alerts.evaluate_alerts(session, runtime.queues, T, now=NOW)
    assert len(run.raised) == 4
    assert _kinds(session) == {
        ("longest_wait", "general"),
        ("vip_wait", "vip"),
        ("agent_away", str(away)),
        ("service_level", "complaints"),
    }


def test_an_alert_is_not_duplicated_and_stays_until_acknowledged(
    runtime: Runtime,
    session_factory: sessionmaker[Session],
    make_entry: Callable[..., int],
    supervisor: FlaskClient,
) -> None:
    entry = make_entry("general", waited_s=200)
    with session_factory.begin() as s:
        first = alerts.evaluate_alerts(s, runtime.queues, T, now=NOW)
    with session_factory.begin() as s:
        again = alerts.evaluate_alerts(s, runtime.queues, T, now=NOW + timedelta(seconds=2))
        assert again.raised == [] and again.cleared == []
        s.get(QueuedCall, entry).status = QueuedCallStatus.CONNECTED  # type: ignore[union-attr]
    with session_factory.begin() as s:
        cleared = alerts.evaluate_alerts(s, runtime.queues, T, now=NOW + timedelta(seconds=4))
        assert cleared.cleared == first.raised
        assert [a["id"] for a in alerts.shown(s)] == first.raised  # cleared, not acknowledged
        assert alerts.shown(s)[0]["holding"] is False
    response = supervisor.post(
        f"/supervisor/api/alerts/{first.raised[0]}/ack", headers={"X-CSRF-Token": CSRF}
    )
    assert response.status_code == 200
    with session_factory() as s:
        assert alerts.shown(s) == []
        assert s.get(Alert, first.raised[0]).acknowledged_by is not None  # type: ignore[union-attr]
    make_entry("general", waited_s=300)  # the condition comes back: a new alert
    with session_factory.begin() as s:
        assert len(alerts.evaluate_alerts(s, runtime.queues, T, now=NOW).raised) == 1


def test_the_rule_pulls_a_support_group_in_and_releases_it_when_the_alert_clears(
    runtime: Runtime,
    session: Session,
    make_entry: Callable[..., int],
    make_agent: Callable[..., int],
) -> None:
    back = make_agent("wu.fang", posts=(Post.BACK_OFFICE,), skills={"aftersales": 4})
    both = make_agent("sun.hao", posts=(Post.BACK_OFFICE,), skills={"general": 3})
    entry = make_entry("general", waited_s=200)
    group = support.parse_groups("backoffice=post:back_office")["backoffice"]
    run = alerts.evaluate_alerts(session, runtime.queues, T, now=NOW, auto_group=group)
    assert run.followup.publish == [back]  # sun.hao already has the skill: nothing lent
    assert session.get(Agent, back).skill_levels() == {"aftersales": 4, "general": 1}  # type: ignore[union-attr]
    session.get(QueuedCall, entry).status = QueuedCallStatus.CONNECTED  # type: ignore[union-attr]
    run = alerts.evaluate_alerts(session, runtime.queues, T, now=NOW, auto_group=group)
    assert run.followup.publish == [back]
    assert session.get(Agent, back).skill_levels() == {"aftersales": 4}  # type: ignore[union-attr]
    assert session.get(Agent, both).skill_levels() == {"general": 3}  # type: ignore[union-attr]
    assert session.scalars(select(SupportPull.released_at)).all() == [NOW]
    assert AlertKind.LONGEST_WAIT in {a.kind for a in session.scalars(select(Alert))}
