"""The pure KPI functions: intervals, outcomes, handle time and state times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from reports.metrics import (
    Entry,
    Interval,
    Outcome,
    StateChange,
    handle_times,
    intervals,
    occupancy,
    outcome,
    queue_figures,
    state_times,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_intervals_cut_the_local_day_and_follow_clock_changes() -> None:
    shanghai = intervals(date(2026, 11, 24), ZoneInfo("Asia/Shanghai"), 15)
    assert len(shanghai) == 96
    assert shanghai[0].start == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    assert (shanghai[0].label, shanghai[-1].label) == ("00:00", "23:45")
    spring = intervals(date(2026, 3, 29), ZoneInfo("Europe/Paris"), 60)  # 23 hours
    assert len(spring) == 23 and spring[2].label == "03:00"
    (day,) = intervals(date(2026, 10, 25), ZoneInfo("Europe/Paris"), None)  # 25 hours
    assert day.end - day.start == timedelta(hours=25) and day.label == "2026-10-25"


def test_outcome_puts_each_entry_in_exactly_one_place() -> None:
    now = s(600)
    base = {"call_sid": "CA1", "queue": "general", "enqueued_at": T0}
    assert (
        outcome(Entry(1, status="overflowed", callback=True, **base), now=now) is Outcome.OVERFLOWED
    )
    assert (
        outcome(Entry(2, status="abandoned", callback=True, left_at=s(1), **base), now=now)
        is Outcome.CALLBACK
    )
    assert (
        outcome(Entry(3, status="abandoned", left_at=s(4.9), **base), now=now)
        is Outcome.SHORT_ABANDON
    )
    assert outcome(Entry(4, status="abandoned", left_at=s(5), **base), now=now) is Outcome.ABANDONED
    assert outcome(Entry(5, status="assigned", **base), now=now) is Outcome.WAITING
    assert (
        outcome(Entry(6, status="voicemail", left_at=s(600), **base), now=now) is Outcome.VOICEMAIL
    )


def test_wrap_up_ends_at_the_agents_next_change_or_now() -> None:
    entry = Entry(
        1, "CA1", "general", "connected", T0, answered_at=s(10), talk_ended_at=s(70), agent_id=7
    )
    into_wrap = StateChange(1, 7, "on_call", "wrap_up", s(70), call_sid="CA1")
    out = StateChange(2, 7, "wrap_up", "available", s(95))
    assert handle_times([entry], [into_wrap, out], now=s(1000))[1].wrap_s == 25
    # still wrapping up at `now`: counts to now
    assert handle_times([entry], [into_wrap], now=s(100))[1].wrap_s == 30
    # straight to offline without wrap-up: none
    gone = StateChange(2, 7, "on_call", "offline", s(70))
    assert handle_times([entry], [gone], now=s(1000))[1].wrap_s == 0
    # no events at all: the desk's save time
    saved = Entry(
        1,
        "CA1",
        "general",
        "connected",
        T0,
        answered_at=s(10),
        talk_ended_at=s(70),
        wrapped_up_at=s(80),
        agent_id=7,
    )
    handle = handle_times([saved], [], now=s(1000))[1]
    assert (handle.talk_s, handle.hold_s, handle.wrap_s, handle.total_s) == (60, 0, 10, 70)


def test_a_conversation_that_never_happened_has_no_handle_time() -> None:
    left = Entry(
        1,
        "CA1",
        "general",
        "abandoned",
        T0,
        answered_at=s(10),
        left_at=s(10),
        talk_ended_at=s(12),
        agent_id=7,
    )
    assert handle_times([left], [], now=s(100)) == {}


def test_state_times_cut_at_the_interval_and_now() -> None:
    events = [
        StateChange(1, 7, None, "offline", s(-3600)),
        StateChange(2, 7, "offline", "available", s(-60)),
        StateChange(3, 7, "available", "on_call", s(30)),
        StateChange(4, 7, "on_call", "break", s(90)),
    ]
    cut = Interval(T0, s(900), "01:00")
    times = state_times(events, cut, now=s(120))
    assert (times.available_s, times.on_call_s, times.break_s) == (30, 60, 30)
    assert occupancy(times) == 66.7
    assert occupancy(state_times(events[:1], cut, now=s(120))) is None


def test_no_entries_give_counts_of_zero_and_no_rates() -> None:
    figures = queue_figures([], answer_within_s={}, handles={}, now=T0)
    assert figures.offered == 0 and figures.service_level is None and figures.aht_s is None
