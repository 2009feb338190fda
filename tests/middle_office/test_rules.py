"""The review rules, the retry schedule, calling hours and assignment: pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from middle_office.rules import OrderFacts, Reason, Thresholds, checklist, review_reasons
from outbound.models import Outcome, TaskStatus
from outbound.policy import Policy
from outbound.scheduling import Candidate, choose_assignee, next_calling_time, schedule_after

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 11:00 in Shanghai


def facts(number: str = "N1", **changes: object) -> OrderFacts:
    base: dict[str, object] = {
        "number": number,
        "amount_fen": 19_900,
        "payment_type": "prepaid",
        "placed_at": T0,
        "phone": "+8613800138000",
        "province": "上海",
        "city": "上海",
        "address": "南京西路 1 号",
        "invoice_requested": False,
        "invoice_title": None,
        "items": (("SKU-1", 1),),
    }
    base.update(changes)
    return OrderFacts(**base)  # type: ignore[arg-type]


def reasons(order: OrderFacts, history: tuple[OrderFacts, ...] = ()) -> list[str]:
    return [f.reason.value for f in review_reasons(order, history, Thresholds())]


def test_a_complete_ordinary_order_trips_no_rule() -> None:
    assert reasons(facts()) == []


@pytest.mark.parametrize(
    ("amount_fen", "expected"), [(200_000, []), (200_001, ["amount_over_limit"])]
)
def test_amount_rule_is_strictly_above_the_threshold(amount_fen: int, expected: list[str]) -> None:
    assert reasons(facts(amount_fen=amount_fen)) == expected


def test_missing_address_phone_and_invoice_title_are_each_named() -> None:
    order = facts(address=" ", phone=None, invoice_requested=True, invoice_title="")
    found = review_reasons(order, (), Thresholds())
    assert [f.reason for f in found] == [
        Reason.MISSING_ADDRESS,
        Reason.MISSING_PHONE,
        Reason.MISSING_INVOICE_TITLE,
    ]
    assert found[0].detail == {"fields": ["address"]}


def test_an_invoice_title_is_only_needed_when_an_invoice_is_asked_for() -> None:
    assert reasons(facts(invoice_requested=False, invoice_title=None)) == []


def test_the_later_of_two_identical_orders_is_a_duplicate_of_the_earlier() -> None:
    first = facts("N1", placed_at=T0)
    second = facts("N2", placed_at=T0 + timedelta(seconds=95))
    assert reasons(first, (second,)) == []
    found = review_reasons(second, (first,), Thresholds())
    assert [(f.reason, f.detail) for f in found] == [(Reason.DUPLICATE_ORDER, {"of": "N1"})]


def test_identical_orders_outside_the_window_or_cancelled_are_not_duplicates() -> None:
    second = facts("N2", placed_at=T0 + timedelta(hours=2))
    assert reasons(second, (facts("N1"),)) == []
    assert (
        reasons(facts("N2", placed_at=T0 + timedelta(seconds=5)), (facts("N1", cancelled=True),))
        == []
    )


def test_many_orders_in_the_window_trip_the_burst_rule_at_the_threshold() -> None:
    history = tuple(
        facts(f"N{i}", placed_at=T0 + timedelta(minutes=10 * i), items=((f"S{i}", 1),))
        for i in range(3)
    )
    third = facts("N9", placed_at=T0 + timedelta(minutes=25), items=(("X", 1),))
    assert reasons(third, history[:2]) == []
    fourth = facts("N9", placed_at=T0 + timedelta(minutes=40), items=(("X", 1),))
    found = review_reasons(fourth, history, Thresholds())
    assert [f.reason for f in found] == [Reason.MANY_ORDERS]
    assert found[0].detail["count"] == 4


def test_a_city_the_customer_never_ordered_to_is_unusual() -> None:
    before = facts("N1", placed_at=T0 - timedelta(days=30))
    beijing = facts("N2", province="北京", city="北京市", address="长安街 1 号")
    assert reasons(beijing, (before,)) == ["unusual_address"]
    assert reasons(facts("N2", address="淮海中路 2 号"), (before,)) == []
    assert reasons(beijing) == []  # no history: nothing is usual yet


def test_checklists_differ_for_prepaid_and_cash_on_delivery() -> None:
    prepaid = [c.code for c in checklist("prepaid", ["amount_over_limit"])]
    cod = [c.code for c in checklist("cod", ["amount_over_limit"])]
    assert prepaid == ["payment_received", "payer_matches", "amount_confirmed"]
    assert cod == ["customer_confirmed", "cod_area", "cod_limit", "amount_confirmed"]


POLICY = Policy()
SHANGHAI = POLICY.calling_hours("Asia/Shanghai")


def test_next_calling_time_is_now_inside_hours_and_the_next_opening_outside() -> None:
    assert next_calling_time(SHANGHAI, T0) == T0
    late = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai
    assert next_calling_time(SHANGHAI, late) == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def test_holidays_are_skipped_by_calling_hours() -> None:
    from datetime import date

    policy = Policy(holidays=frozenset({date(2026, 11, 24)}))
    late = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)
    hours = policy.calling_hours("Asia/Shanghai")
    assert next_calling_time(hours, late) == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def test_calling_hours_are_read_in_the_customers_time_zone() -> None:
    policy = Policy(timezones=(("1", "America/New_York"), ("86", "Asia/Shanghai")))
    assert policy.timezone_for("+12125550100") == "America/New_York"
    hours = policy.calling_hours(policy.timezone_for("+12125550100"))
    assert not hours.is_open(T0)  # 22:00 on Sunday in New York
    assert next_calling_time(hours, T0) == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("outcome", "attempts", "status", "wait"),
    [
        (Outcome.REACHED_RESOLVED, 1, TaskStatus.DONE, None),
        (Outcome.WRONG_NUMBER, 1, TaskStatus.FAILED, None),
        (Outcome.REFUSED, 1, TaskStatus.FAILED, None),
        (Outcome.NO_ANSWER, 1, TaskStatus.PENDING, timedelta(minutes=15)),
        (Outcome.BUSY, 2, TaskStatus.PENDING, timedelta(hours=1)),
        (Outcome.REACHED_MISSING_INFO, 3, TaskStatus.PENDING, timedelta(hours=4)),
        (Outcome.NO_ANSWER, 4, TaskStatus.FAILED, None),
        (Outcome.AGENT_UNREACHABLE, 4, TaskStatus.PENDING, timedelta(minutes=1)),
    ],
)
def test_schedule_after_an_outcome(
    outcome: Outcome, attempts: int, status: TaskStatus, wait: timedelta | None
) -> None:
    at = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai: 4 h later is open too
    follow = schedule_after(
        outcome, attempts, now=at, max_attempts=4, backoff=POLICY.backoff, hours=SHANGHAI
    )
    assert follow.status is status
    assert follow.at == (at + wait if wait else None)


def test_a_retry_that_would_fall_after_hours_moves_to_the_next_opening() -> None:
    at = datetime(2026, 11, 23, 12, 50, tzinfo=UTC)  # 20:50 in Shanghai
    follow = schedule_after(
        Outcome.NO_ANSWER, 1, now=at, max_attempts=4, backoff=POLICY.backoff, hours=SHANGHAI
    )
    assert follow.at == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def agent(agent_id: int, **changes: object) -> Candidate:
    base: dict[str, object] = {
        "agent_id": agent_id,
        "posts": frozenset({"middle_office"}),
        "skills": {"orders": 3},
        "languages": frozenset({"zh"}),
        "state": "available",
        "open_tasks": 0,
    }
    base.update(changes)
    return Candidate(**base)  # type: ignore[arg-type]


def test_assignment_needs_post_skill_and_language_then_takes_the_lightest_load() -> None:
    agents = [
        agent(1, posts=frozenset({"front_desk"})),
        agent(2, skills={"general": 3}),
        agent(3, languages=frozenset({"en"})),
        agent(4, open_tasks=5),
        agent(5, open_tasks=2),
        agent(6, open_tasks=2, skills={"orders": 5}),
        agent(7, open_tasks=0, state="offline"),
    ]
    assert choose_assignee("middle_office", "orders", "zh", agents) == 6
    assert choose_assignee("middle_office", "orders", "en", agents) == 3
    assert choose_assignee("back_office", "orders", "zh", agents) is None


def test_assignment_prefers_an_agent_working_the_post_now_over_one_who_rotated_away() -> None:
    agents = [
        agent(1, posts=frozenset({"middle_office", "front_desk"}), working="front_desk"),
        agent(2, open_tasks=3, working="middle_office"),
    ]
    assert choose_assignee("middle_office", "orders", "zh", agents) == 2
    # Nobody works it now: those who hold it still get the task, waiting for their switch.
    assert choose_assignee("middle_office", "orders", "zh", agents[:1]) == 1
