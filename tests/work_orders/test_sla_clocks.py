"""The SLA clocks are pure functions of the timeline and `now`: business hours across a
weekend and a holiday, a pause and a resume, the warning at 80 %, the breach, and events out of
order that never turn a clock back. The SLA policy file: every problem named with its line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.commands.sla import sla_check
from config.hours import BusinessHours, parse_hours
from config.settings import DEFAULT_SLA_POLICY
from work_orders.sla import ClockState, Event, clocks, next_check, open_spans
from work_orders.sla_policy import SlaPolicy, SlaPolicyError, load_sla_policies

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOURS = BusinessHours(parse_hours("mon-fri 09:00-18:00"), frozenset({date(2026, 11, 25)}), SHANGHAI)
ALL = SlaPolicy()  # 2 h feedback, 24 h resolution, all hours, warning at 80 %
BUSINESS = SlaPolicy(business_hours=True)
H = timedelta(hours=1)
M = timedelta(minutes=1)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in Shanghai in November 2026 (the 23rd is a Monday), as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


T0 = local(23, 11)  # Monday 11:00


def created(at: datetime, status: str = "open") -> Event:
    return Event("created", at, {"status": status})


def moved(event: str, before: str, after: str, at: datetime) -> Event:
    return Event("status", at, {"event": event, "before": before, "after": after})


def passed(at: datetime) -> Event:
    return moved("pass", "open", "with_department", at)


def test_a_new_work_order_runs_both_clocks_from_its_creation() -> None:
    """Right after opening: both running, due in 2 h and 24 h, nothing elapsed."""
    c = clocks([created(T0), passed(T0)], ALL, HOURS, now=T0)

    assert (c.feedback.state, c.resolution.state) == (ClockState.RUNNING, ClockState.RUNNING)
    assert c.feedback.due_at == T0 + 2 * H and c.resolution.due_at == T0 + 24 * H
    assert c.feedback.warn_at == T0 + 96 * M  # 80 % of 2 h
    assert c.feedback.elapsed == timedelta(0) and c.feedback.remaining == 2 * H
    assert c.state is ClockState.RUNNING and next_check(c) == T0 + 96 * M


def test_the_warning_comes_at_80_percent_and_the_breach_at_the_target() -> None:
    """95 min: running; 96 min: warning; 2 h: breached, and the remaining time goes negative."""
    events = [created(T0), passed(T0)]

    at = {m: clocks(events, ALL, HOURS, now=T0 + m * M).feedback for m in (95, 96, 120, 150)}

    assert at[95].state is ClockState.RUNNING and not at[95].warned
    assert at[96].state is ClockState.WARNING and at[96].remaining == 24 * M
    assert at[120].state is ClockState.BREACHED and at[120].breached
    assert at[150].remaining == -30 * M and at[150].due_at == T0 + 2 * H


def test_a_share_from_the_policy_moves_the_warning() -> None:
    """A warning share of 0.5 warns after an hour."""
    clock = clocks([created(T0)], SlaPolicy(warning_share=0.5), HOURS, now=T0 + H).feedback

    assert clock.state is ClockState.WARNING and clock.warn_at == T0 + H


def test_business_hours_skip_the_weekend() -> None:
    """Opened Friday 17:00: one business hour on Friday, the second on Monday at 10:00."""
    friday = local(27, 17)
    events = [created(friday), passed(friday)]

    on_saturday = clocks(events, BUSINESS, HOURS, now=local(28, 12)).feedback
    on_monday = clocks(events, BUSINESS, HOURS, now=local(30, 10)).feedback

    assert on_saturday.elapsed == H and on_saturday.due_at == local(30, 10)
    assert on_saturday.state is ClockState.RUNNING
    assert on_monday.state is ClockState.BREACHED and on_monday.elapsed == 2 * H
    every_hour = clocks(events, ALL, HOURS, now=local(28, 12)).feedback
    assert every_hour.state is ClockState.BREACHED and every_hour.due_at == friday + 2 * H


def test_business_hours_skip_a_holiday() -> None:
    """Opened Tuesday 17:30 before Wednesday's holiday: due Thursday 10:30."""
    tuesday = local(24, 17, 30)

    clock = clocks([created(tuesday)], BUSINESS, HOURS, now=local(25, 15)).feedback

    assert clock.elapsed == 30 * M and clock.due_at == local(26, 10, 30)
    assert clock.warn_at == local(26, 10, 6)  # 96 business minutes


def test_a_resolution_over_several_days_counts_only_opening_hours() -> None:
    """24 business hours from Monday 11:00: 7 h Monday, 9 h Tuesday, Wednesday a holiday,
    8 h on Thursday: due Thursday 17:00."""
    assert clocks([created(T0)], BUSINESS, HOURS, now=T0).resolution.due_at == local(26, 17)


def test_waiting_on_the_customer_pauses_both_clocks_and_the_answer_resumes_them() -> None:
    """Claimed at 30 min (feedback met), asked at 1 h, answered at 5 h: 4 h not counted."""
    events = [
        created(T0),
        passed(T0),
        moved("claim", "with_department", "in_progress", T0 + 30 * M),
        moved("ask_customer", "in_progress", "waiting_on_customer", T0 + H),
        moved("customer_replied", "waiting_on_customer", "in_progress", T0 + 5 * H),
    ]

    paused = clocks(events, ALL, HOURS, now=T0 + 3 * H)
    resumed = clocks(events, ALL, HOURS, now=T0 + 6 * H)

    assert paused.feedback.state is ClockState.MET and paused.feedback.met_at == T0 + 30 * M
    assert paused.resolution.state is ClockState.PAUSED and paused.resolution.due_at is None
    assert paused.resolution.elapsed == H and paused.state is ClockState.PAUSED
    assert next_check(paused) is None  # nothing can happen until an event comes
    assert resumed.resolution.state is ClockState.RUNNING
    assert resumed.resolution.elapsed == 2 * H
    assert resumed.resolution.due_at == T0 + 28 * H


def test_a_claim_is_feedback() -> None:
    """Claimed after 10 min: the feedback clock stops there, met in time."""
    events = [
        created(T0),
        moved("pass", "open", "with_department", T0),
        moved("claim", "with_department", "in_progress", T0 + 10 * M),
    ]

    clock = clocks(events, ALL, HOURS, now=T0 + 3 * H).feedback

    assert clock.state is ClockState.MET and clock.elapsed == 10 * M and not clock.breached


def test_the_close_meets_resolution_and_a_reopen_continues_it() -> None:
    """Closed at 3 h, reopened at 10 h: the 7 h closed do not count."""
    events = [
        created(T0),
        passed(T0),
        Event("reply", T0 + H, {"text": "we send a new one"}),
        moved("reply", "with_department", "answered", T0 + H),
        moved("close", "answered", "closed", T0 + 3 * H),
        moved("reopen", "closed", "with_department", T0 + 10 * H),
    ]

    closed = clocks(events, ALL, HOURS, now=T0 + 5 * H)
    reopened = clocks(events, ALL, HOURS, now=T0 + 12 * H)

    assert closed.state is ClockState.MET and closed.resolution.met_at == T0 + 3 * H
    assert reopened.feedback.state is ClockState.MET
    assert reopened.resolution.state is ClockState.RUNNING
    assert reopened.resolution.elapsed == 5 * H
    assert reopened.resolution.due_at == T0 + 31 * H


def callback(at: datetime, *, reached: bool) -> Event:
    return Event("call", at, {"role": "callback", "reached": reached})


@pytest.mark.parametrize(
    ("policy", "elapsed"), [(ALL, 6 * H), (SlaPolicy(unreached_pauses=True), 3 * H)]
)
def test_an_unreached_callback_counts_or_pauses_as_the_policy_says(
    policy: SlaPolicy, elapsed: timedelta
) -> None:
    """Answered at 1 h, the callback misses the customer at 2 h and reaches them at 5 h: the
    3 h between count under "counts", not under "pauses"."""
    events = [
        created(T0),
        passed(T0),
        moved("reply", "with_department", "answered", T0 + H),
        callback(T0 + 2 * H, reached=False),
        callback(T0 + 5 * H, reached=True),
    ]

    clock = clocks(events, policy, HOURS, now=T0 + 6 * H).resolution

    assert clock.elapsed == elapsed and clock.state is ClockState.RUNNING
    missed = clocks(events, policy, HOURS, now=T0 + 4 * H).resolution
    assert missed.state is (ClockState.PAUSED if policy.unreached_pauses else ClockState.RUNNING)


def test_a_work_order_resolved_on_the_call_has_met_both_clocks() -> None:
    """Opened closed: nothing runs, nothing is ever due."""
    c = clocks([created(T0, "closed")], ALL, HOURS, now=T0 + 30 * H)

    assert c.state is ClockState.MET and next_check(c) is None


def test_a_note_is_not_feedback() -> None:
    """An internal note does not meet the first-feedback clock."""
    events = [created(T0), passed(T0), Event("note", T0 + M, {"text": "checking stock"})]

    assert clocks(events, ALL, HOURS, now=T0 + 3 * H).feedback.state is ClockState.BREACHED


def test_a_recorded_breach_is_never_withdrawn() -> None:
    """The sweep's "sla_breach" keeps the clock breached, even if a late event moves time."""
    events = [
        created(T0),
        passed(T0),
        Event("sla_breach", T0 + 2 * H, {"clock": "feedback"}),
        moved("ask_customer", "with_department", "waiting_on_customer", T0 + 30 * M),
    ]

    clock = clocks(events, ALL, HOURS, now=T0 + 3 * H).feedback

    assert clock.breached and clock.breach_recorded
    assert clock.met_at is not None  # the late question still met it (after the breach)


def test_an_event_dated_before_one_recorded_ahead_counts_from_that_event() -> None:
    """A reply dated 20 min but recorded after the claim at 1 h: feedback met at 1 h."""
    events = [
        created(T0),
        passed(T0),
        Event("note", T0 + H, {"text": "looking"}),
        Event("reply", T0 + 20 * M, {"text": "late copy from the department's system"}),
    ]

    clock = clocks(events, ALL, HOURS, now=T0 + 3 * H).feedback

    assert clock.met_at == T0 + H and clock.elapsed == H


MOVES = [
    ("pass", "open", "with_department"),
    ("claim", "with_department", "in_progress"),
    ("ask_customer", "in_progress", "waiting_on_customer"),
    ("customer_replied", "waiting_on_customer", "in_progress"),
    ("reply", "in_progress", "answered"),
    ("close", "answered", "closed"),
    ("reopen", "closed", "with_department"),
]


@st.composite
def timelines(draw: st.DrawFn) -> list[Event]:
    """A created event, then any moves and replies at any times (out of order too)."""
    events: list[Event] = [created(T0)]
    for _ in range(draw(st.integers(0, 8))):
        at = T0 + draw(st.integers(-120, 3000)) * M
        if draw(st.booleans()):
            event, before, after = draw(st.sampled_from(MOVES))
            events.append(moved(event, before, after, at))
        else:
            events.append(Event(draw(st.sampled_from(["reply", "note"])), at, {}))
    return events


@settings(max_examples=150, deadline=None)
@given(
    timelines(),
    st.sampled_from([ALL, BUSINESS]),
    st.lists(st.integers(0, 4000), min_size=2, max_size=6),
)
def test_a_clock_never_goes_backwards(
    events: list[Event], policy: SlaPolicy, minutes: list[int]
) -> None:
    """For any timeline: elapsed never shrinks as time passes, a breach stays a breach, and a
    late event never changes the time counted before the events recorded ahead of it."""
    seen: dict[str, tuple[timedelta, bool]] = {}
    for now in sorted(T0 + m * M for m in minutes):
        for clock in clocks(events, policy, HOURS, now=now):
            before = seen.get(clock.name, (timedelta(0), False))
            assert clock.elapsed >= before[0]
            assert clock.breached or not before[1]
            assert clock.remaining == clock.target - clock.elapsed
            seen[clock.name] = (clock.elapsed, clock.breached)
    effective = max(e.at for e in events)
    late = moved("ask_customer", "in_progress", "waiting_on_customer", T0 - H)
    for a, b in zip(
        clocks(events, policy, HOURS, now=effective),
        clocks([*events, late], policy, HOURS, now=effective),
        strict=True,
    ):
        assert a.elapsed == b.elapsed


def test_open_spans_follow_the_calendar() -> None:
    """Monday to the next Monday: five days minus the holiday, 9 h each."""
    spans = list(open_spans(HOURS, local(23, 0), local(30, 0)))

    assert len(spans) == 4 and spans[0] == (local(23, 9), local(23, 18))
    assert sum((b - a for a, b in spans), timedelta(0)) == 36 * H


# The policy file ---------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sla.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_policy_has_the_handbooks_defaults() -> None:
    """2 h first feedback, 24 h resolution, warning at 80 %, and the per-category overrides."""
    policies = load_sla_policies(DEFAULT_SLA_POLICY)

    assert policies.for_work_order("usage_question", 0) == SlaPolicy()
    assert policies.for_work_order("complaint", 0).first_feedback == H
    assert policies.for_work_order("complaint", 2).warning_share == 0.6
    assert policies.for_work_order("invoice", 1).business_hours


def test_tables_merge_from_the_most_general_to_the_most_specific(tmp_path: Path) -> None:
    """default, priority, category, category and priority: each sets only its own keys."""
    path = write(
        tmp_path,
        """
[default]
first_feedback_hours = 2
resolution_hours = 24
hours = "all"
warning_share = 0.8
[priority.2]
first_feedback_hours = 1
[category.refund]
resolution_hours = 48
hours = "business"
[category.refund.priority.2]
warning_share = 0.5
""",
    )
    policies = load_sla_policies(path)

    assert policies.for_work_order("refund", 2) == SlaPolicy(H, 48 * H, True, 0.5)
    assert policies.for_work_order("refund", 0) == SlaPolicy(2 * H, 48 * H, True, 0.8)
    assert policies.for_work_order("other", 2) == SlaPolicy(H, 24 * H, False, 0.8)


def test_every_problem_is_named_with_its_line(tmp_path: Path) -> None:
    """Unknown tables and keys, bad numbers, hours and shares, an unknown category."""
    path = write(
        tmp_path,
        """[default]
first_feedback_hours = 2
resolution_hours = 24
hours = "all"
[priority.vip]
warning_share = 0.5
[category.refund]
first_feedback_hours = -1
hours = "weekdays"
warning_share = 1.5
colour = "red"
unreached_callback = "sometimes"
[category.gadgets]
resolution_hours = 1
[extra]
""",
    )
    with pytest.raises(SlaPolicyError) as refused:
        load_sla_policies(path, known_categories=["refund", "invoice"])

    problems = [p.removeprefix(f"{path}:") for p in refused.value.problems]
    assert problems == [
        "1: [default] needs warning_share",
        "5: priority 'vip' is not a whole number (0 new, 1 returning, 2 VIP)",
        "8: first_feedback_hours must be more than 0 and at most 8784",
        '9: hours must be "all" or "business", got \'weekdays\'',
        "10: warning_share must be a share between 0 and 1 (0.8: at 80 %), got 1.5",
        "11: unknown key 'colour' in [category.refund] (expected first_feedback_hours, "
        "resolution_hours, hours, warning_share, unreached_callback)",
        "12: unreached_callback must be \"counts\" or \"pauses\", got 'sometimes'",
        "13: unknown category 'gadgets' (known: refund, invoice)",
        "15: unknown table 'extra' (expected [default], [priority.N], [category.NAME] and "
        "[category.NAME.priority.N])",
    ]


def test_a_file_that_is_not_toml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(SlaPolicyError) as refused:
        load_sla_policies(write(tmp_path, "[default]\nfirst_feedback_hours = = 2\n"))
    assert refused.value.problems[0].startswith(f"{tmp_path / 'sla.toml'}:2: ")


def test_the_check_command_prints_the_policies_or_every_problem(tmp_path: Path) -> None:
    """`callcenter work-orders sla-check [PATH]`: exit 0 with a summary, 1 with the problems."""
    runner = CliRunner()
    good = runner.invoke(sla_check, [str(DEFAULT_SLA_POLICY)])
    bad = runner.invoke(sla_check, [str(write(tmp_path, "[default]\nhours = 3\n"))])

    assert good.exit_code == 0, good.output
    assert "complaint: first feedback 1 h, resolution 24 h, all hours" in good.output
    assert bad.exit_code == 1
    assert f"{tmp_path / 'sla.toml'}:2: hours must be" in bad.output
