"""The SLA sweep: the clocks' snapshot in columns, each warning and breach recorded once, each
breach escalated once (also from two processes at once), and only due work orders read."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.jobs.work_orders import run_sweep
from callcenter.runtime import Runtime
from config.hours import BusinessHours, parse_hours
from tests.conftest import NOW
from work_orders import states, sweep, timeline
from work_orders.models import WorkOrder, WorkOrderEvent
from work_orders.sla_policy import SlaPolicies

H = timedelta(hours=1)
M = timedelta(minutes=1)
SLA = sweep.Sla(
    SlaPolicies(),
    BusinessHours(parse_hours("mon-fri 09:00-18:00"), frozenset(), ZoneInfo("Asia/Shanghai")),
)


def open_one(session: Session, key: str, category: str = "product_quality") -> WorkOrder:
    wo = timeline.open_work_order(
        session,
        client_key=key,
        category=category,
        description="屏幕碎了 cracked screen",
        author_id=None,
        author="li.na",
        now=NOW,
        department="aftersales-a",
    ).work_order
    states.move(session, wo, "pass", author_id=None, author="li.na", now=NOW)
    return wo


def kinds(session: Session, wo: WorkOrder) -> list[str]:
    return [
        e.kind
        for e in session.scalars(
            select(WorkOrderEvent)
            .where(WorkOrderEvent.work_order_id == wo.id)
            .order_by(WorkOrderEvent.id)
        )
    ]


def test_a_new_work_order_is_due_at_once_and_gets_its_snapshot(session: Session) -> None:
    """Opened: checked at once; then due 2 h and 24 h, next check at the 80 % warning."""
    wo = open_one(session, "k1")
    assert wo.next_check_at == NOW and wo.clocks_at is None

    run = sweep.sweep(session, SLA, now=NOW)

    assert run.checked == 1 and not run.warnings and not run.breaches
    assert (wo.feedback_due_at, wo.resolution_due_at) == (NOW + 2 * H, NOW + 24 * H)
    assert (wo.sla_state, wo.next_check_at, wo.clocks_at) == ("running", NOW + 96 * M, NOW)


def test_a_warning_then_a_breach_each_recorded_once_and_escalated_once(
    session: Session,
) -> None:
    """However often the sweep runs: one warning, one breach, one escalation per clock."""
    wo = open_one(session, "k1")
    sweep.sweep(session, SLA, now=NOW)

    warned = sweep.sweep(session, SLA, now=NOW + 100 * M)
    again = sweep.sweep(session, SLA, now=NOW + 101 * M)
    assert warned.warnings == [(wo.number, "feedback")] and again.checked == 0
    assert wo.sla_state == "warning" and wo.next_check_at == NOW + 2 * H

    breached = sweep.sweep(session, SLA, now=NOW + 2 * H)
    for minutes in (121, 130, 500):
        sweep.sweep(session, SLA, now=NOW + minutes * M)

    assert breached.breaches == [(wo.number, "feedback")]
    assert breached.escalated == [wo.number] and wo.escalated_at == NOW + 2 * H
    assert wo.sla_state == "breached"
    assert kinds(session, wo) == [
        "created",
        "status",
        "sla_warning",
        "sla_breach",
        "escalated",
    ]  # the resolution clock warns at 19.2 h, after the last sweep
    assert sweep.escalated(session) == [wo]
    escalation = session.scalars(
        select(WorkOrderEvent).where(WorkOrderEvent.kind == "escalated")
    ).one()
    assert (escalation.author, escalation.data) == (
        "system",
        {"clock": "feedback", "to": "team_lead"},
    )


def test_a_late_sweep_records_the_breach_without_a_warning_first(session: Session) -> None:
    """The sweep did not run for 3 h: the breach is recorded, the warning skipped."""
    wo = open_one(session, "k1")

    run = sweep.sweep(session, SLA, now=NOW + 3 * H)

    assert run.breaches == [(wo.number, "feedback")] and not run.warnings
    assert "sla_warning" not in kinds(session, wo)


def test_the_resolution_breach_escalates_again_but_the_list_keeps_the_first_time(
    session: Session,
) -> None:
    """Both clocks breach: two escalation events, `escalated_at` the first one's time."""
    wo = open_one(session, "k1")
    sweep.sweep(session, SLA, now=NOW + 3 * H)
    sweep.sweep(session, SLA, now=NOW + 25 * H)

    assert kinds(session, wo).count("escalated") == 2
    assert wo.escalated_at == NOW + 3 * H and wo.next_check_at is None


def test_the_sweep_reads_only_work_orders_whose_check_is_due(session: Session) -> None:
    """Three open, one due: one checked."""
    for key in ("a", "b", "c"):
        open_one(session, key)
    sweep.sweep(session, SLA, now=NOW)
    first = session.scalars(select(WorkOrder).order_by(WorkOrder.id)).first()
    assert first is not None
    states.move(session, first, "claim", author_id=None, author="gao.yan", now=NOW + 10 * M)
    sweep.refresh_clocks(session, first, now=NOW + 10 * M)  # no policies here: due at once

    run = sweep.sweep(session, SLA, now=NOW + 11 * M)

    assert run.checked == 1
    assert first.sla_state == "running" and first.feedback_due_at is None  # feedback met
    assert first.next_check_at == NOW + int(24 * 0.8 * 60) * M  # resolution's warning


def test_refresh_with_the_policies_recomputes_at_once(session: Session) -> None:
    """A service that has the policies recomputes the snapshot right after its event."""
    wo = open_one(session, "k1")
    states.move(session, wo, "claim", author_id=None, author="gao.yan", now=NOW + M)
    states.move(session, wo, "ask_customer", author_id=None, author="gao.yan", now=NOW + 2 * M)

    found = sweep.refresh_clocks(session, wo, now=NOW + 3 * M, sla=SLA)

    assert found is not None and found.state.value == "paused"
    assert (wo.sla_state, wo.next_check_at, wo.resolution_due_at) == ("paused", None, None)
    assert sweep.sweep(session, SLA, now=NOW + 30 * H).checked == 0  # paused: nothing due


def test_a_closed_work_order_is_never_escalated(session: Session) -> None:
    """Closed before its due time: met, no check left, no escalation at any later sweep."""
    wo = open_one(session, "k1")
    states.move(session, wo, "reply", author_id=None, author="gao.yan", now=NOW + H)
    states.move(session, wo, "close", author_id=None, author="li.na", now=NOW + H)
    sweep.refresh_clocks(session, wo, now=NOW + H, sla=SLA)

    assert (wo.sla_state, wo.next_check_at) == ("met", None)
    assert sweep.sweep(session, SLA, now=NOW + 48 * H).checked == 0
    assert wo.escalated_at is None


def test_the_policy_of_the_category_and_business_hours_apply(session: Session) -> None:
    """An invoice under a business-hours policy opened Monday 11:00 is due at 13:00 local."""
    policies = SlaPolicies(by_category={"invoice": {"business_hours": True}})
    wo = open_one(session, "k1", category="invoice")

    sweep.sweep(session, sweep.Sla(policies, SLA.hours), now=NOW)

    assert wo.feedback_due_at == NOW + 2 * H  # Monday 11:00 is within opening hours
    assert wo.resolution_due_at is not None and wo.resolution_due_at > NOW + 24 * H


def test_the_job_sweeps_in_batches_until_nothing_is_due(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session]
) -> None:
    """The cron duty's entry point: several batches in one run, each its own transaction."""
    with session_factory.begin() as s:
        for n in range(5):
            open_one(s, f"k{n}")
    rt = make_runtime(session_factory, now=lambda: NOW + 3 * H)

    run = run_sweep(rt, batch=2)

    assert run.checked == 5 and len(run.escalated) == 5
    assert run_sweep(rt, batch=2).checked == 0
    with session_factory() as s:
        assert s.scalar(select(func.count()).where(WorkOrder.escalated_at.is_not(None))) == 5


def test_the_duty_is_on_the_cron() -> None:
    """`callcenter cron` runs the sweep every 15 s."""
    from callcenter.stack import DUTIES

    duty = next(d for d in DUTIES if d.name == "work-order-sla")
    assert duty.every_s == 15 and duty.load() is not None


def _skip_on_sqlite(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): the race cannot happen")


def test_two_sweeps_interleaved_record_and_escalate_once(
    live_session_factory: sessionmaker[Session], engine: Engine
) -> None:
    """The second sweep has read the due work order when the first commits its breach: the
    second's copy of the breach and of the escalation are dropped, its snapshot too."""
    _skip_on_sqlite(engine)
    with live_session_factory.begin() as s:
        number = open_one(s, "k1").number
    fired: list[sweep.SweepRun] = []
    with live_session_factory() as first, live_session_factory() as second:

        @event.listens_for(second, "before_flush")
        def _first_sweeps_meanwhile(*_: object) -> None:
            if not fired:
                fired.append(sweep.sweep(first, SLA, now=NOW + 3 * H))
                first.commit()

        late = sweep.sweep(second, SLA, now=NOW + 3 * H)
        second.commit()
    assert fired[0].escalated == [number]
    assert late.checked == 1 and late.breaches == [] and late.escalated == []
    with live_session_factory() as s:
        wo = s.scalars(select(WorkOrder)).one()
        assert kinds(s, wo).count("sla_breach") == 1 and kinds(s, wo).count("escalated") == 1
        assert wo.escalated_at == NOW + 3 * H and wo.sla_state == "breached"


def test_two_sweeps_in_two_threads_escalate_each_breach_once(
    live_session_factory: sessionmaker[Session], engine: Engine
) -> None:
    """Twenty overdue work orders, two sweeps started together: twenty escalations in all."""
    _skip_on_sqlite(engine)
    with live_session_factory.begin() as s:
        for n in range(20):
            open_one(s, f"k{n}")
    start = threading.Barrier(2)
    runs: list[sweep.SweepRun] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with live_session_factory() as s:
                start.wait()
                runs.append(sweep.sweep(s, SLA, now=NOW + 3 * H))
                s.commit()
        except BaseException as exc:  # noqa: BLE001  (reported by the test below)
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sum(len(r.escalated) for r in runs) == 20
    with live_session_factory() as s:
        count = s.scalar(select(func.count()).where(WorkOrderEvent.kind == "escalated"))
        assert count == 20
        assert s.scalar(select(func.count()).where(WorkOrder.escalated_at.is_(None))) == 0


def test_holidays_reach_the_sweep_through_the_calendar(session: Session) -> None:
    """A business-hours policy on a holiday: nothing counts, the due time moves a day."""
    hours = BusinessHours(SLA.hours.spans, frozenset({date(2026, 11, 23)}), SLA.hours.tz)
    policies = SlaPolicies(by_category={"invoice": {"business_hours": True}})
    wo = open_one(session, "k1", category="invoice")

    sweep.sweep(session, sweep.Sla(policies, hours), now=NOW)

    assert wo.feedback_due_at == NOW + 24 * H  # Tuesday 11:00 (opens 09:00, 2 h counted)
