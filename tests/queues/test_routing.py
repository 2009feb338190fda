"""The pure routing decisions: priority with aging, eligibility, choosing agents and callers."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from queues.routing import (
    AVAILABLE,
    AgentCandidate,
    PriorityRule,
    WaitingCaller,
    choose_agent,
    choose_caller,
    effective_priority,
    eligible,
    overtake_minutes,
    queue_score,
)

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
TIERS = {"standard": 0, "gold": 40, "vip": 100}
AGING = 10.0  # per minute waited: a VIP's 100-point lead is worth 10 minutes of waiting


def caller(
    entry_id: str = "1",
    *,
    tier: str = "standard",
    route: int = 0,
    at: float = 0.0,
    skill: str = "orders",
    language: str = "zh",
    queue: str = "orders",
) -> WaitingCaller:
    """A caller who joined `at` minutes after T0."""
    return WaitingCaller(
        entry_id=entry_id,
        call_sid=f"CA{entry_id:0>32}",
        queue=queue,
        skill=skill,
        language=language,
        tier=tier,
        route_priority=route,
        enqueued_at=T0 + timedelta(minutes=at),
    )


def agent(
    agent_id: str = "a1",
    *,
    skills: dict[str, int] | None = None,
    languages: tuple[str, ...] = ("zh",),
    state: str = AVAILABLE,
    idle_for: float = 1.0,
) -> AgentCandidate:
    """An agent idle for `idle_for` minutes before T0 + 60 min (the `NOW` of these tests)."""
    return AgentCandidate(
        agent_id=agent_id,
        skills={"orders": 1} if skills is None else skills,
        languages=frozenset(languages),
        state=state,
        idle_since=NOW - timedelta(minutes=idle_for),
    )


NOW = T0 + timedelta(minutes=60)


def order_at(callers: list[WaitingCaller], now: datetime, aging: float) -> list[str]:
    ranked = sorted(
        callers,
        key=lambda c: (
            -effective_priority(c, tier_priority=TIERS, aging_per_minute=aging, now=now),
            c.enqueued_at,
        ),
    )
    return [c.entry_id for c in ranked]


def order_by_score(callers: list[WaitingCaller], aging: float) -> list[str]:
    ranked = sorted(
        callers,
        key=lambda c: (queue_score(c, tier_priority=TIERS, aging_per_minute=aging), c.enqueued_at),
    )
    return [c.entry_id for c in ranked]


@pytest.mark.parametrize(
    ("tier", "route", "joined_min", "now_min", "aging", "expected"),
    [
        ("standard", 0, 0, 0, AGING, 0.0),
        ("vip", 0, 0, 0, AGING, 100.0),
        ("gold", 5, 0, 0, AGING, 45.0),
        ("standard", 0, 0, 3, AGING, 30.0),
        ("vip", 0, 10, 12.5, AGING, 125.0),
        ("gold", -10, 0, 2, 0.5, 31.0),
        ("vip", 0, 0, 30, 0.0, 100.0),
    ],
)
def test_effective_priority_is_tier_plus_route_plus_aging_per_minute_waited(
    tier: str, route: int, joined_min: float, now_min: float, aging: float, expected: float
) -> None:
    c = caller(tier=tier, route=route, at=joined_min)
    now = T0 + timedelta(minutes=now_min)
    got = effective_priority(c, tier_priority=TIERS, aging_per_minute=aging, now=now)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("gap", "aging", "minutes"),
    [(100, 10.0, 10.0), (60, 10.0, 6.0), (100, 2.5, 40.0), (100, 0.0, math.inf), (0, 10.0, 0.0)],
)
def test_overtake_minutes_is_priority_gap_over_aging(
    gap: int, aging: float, minutes: float
) -> None:
    assert overtake_minutes(gap, aging) == minutes


@pytest.mark.parametrize(
    ("vip_joins_after_min", "first"),
    [(0.0, "vip"), (5.0, "vip"), (9.9, "vip"), (10.1, "standard"), (30.0, "standard")],
)
def test_standard_caller_overtakes_a_newer_vip_after_gap_over_aging_minutes(
    vip_joins_after_min: float, first: str
) -> None:
    """VIP (+100) vs standard with aging 10/min: the VIP wins unless 10 minutes younger."""
    std = caller("standard", tier="standard", at=0)
    vip = caller("vip", tier="vip", at=vip_joins_after_min)
    for now_min in (vip_joins_after_min, vip_joins_after_min + 1, 120.0):
        assert order_at([vip, std], T0 + timedelta(minutes=now_min), AGING)[0] == first
    assert order_by_score([vip, std], AGING)[0] == first


def test_without_aging_vips_always_come_first_and_arrival_orders_within_a_tier() -> None:
    callers = [
        caller("s1", at=0),
        caller("g1", tier="gold", at=1),
        caller("v1", tier="vip", at=50),
        caller("s2", at=2),
        caller("v2", tier="vip", at=51),
    ]
    assert order_at(callers, NOW, 0.0) == ["v1", "v2", "g1", "s1", "s2"]
    assert order_by_score(callers, 0.0) == ["v1", "v2", "g1", "s1", "s2"]


def test_vips_first_among_callers_who_joined_together() -> None:
    callers = [caller("s", at=0), caller("g", tier="gold", at=0.1), caller("v", tier="vip", at=0.2)]
    assert order_at(callers, T0 + timedelta(minutes=1), AGING) == ["v", "g", "s"]


@pytest.mark.parametrize("aging", [0.0, 0.5, AGING, 37.5])
def test_the_score_fixed_at_enqueue_orders_as_effective_priority_does_at_any_time(
    aging: float,
) -> None:
    rnd = random.Random(aging)
    callers = [
        caller(
            str(i),
            tier=rnd.choice(list(TIERS)),
            route=rnd.choice([0, 0, 5, 20]),
            at=rnd.uniform(0, 45),
        )
        for i in range(60)
    ]
    expected = order_by_score(callers, aging)
    for now_min in (45.0, 46.0, 90.0, 600.0, 10_000.0):
        assert order_at(callers, T0 + timedelta(minutes=now_min), aging) == expected


def test_queue_score_is_the_same_for_the_same_caller_every_time() -> None:
    c = caller(tier="gold", route=5, at=7.25)
    scores = {queue_score(replace(c), tier_priority=TIERS, aging_per_minute=AGING) for _ in "abc"}
    assert len(scores) == 1


@pytest.mark.parametrize(
    "bad",
    [
        lambda: effective_priority(
            caller(tier="platinum"), tier_priority=TIERS, aging_per_minute=1, now=NOW
        ),
        lambda: queue_score(caller(tier="platinum"), tier_priority=TIERS, aging_per_minute=1),
        lambda: PriorityRule(TIERS, -1.0),
        lambda: replace(caller(), enqueued_at=datetime(2026, 1, 1)),  # noqa: DTZ001
        lambda: choose_agent([agent()], caller(), datetime(2026, 1, 1)),  # noqa: DTZ001
    ],
    ids=["unknown-tier", "unknown-tier-score", "negative-aging", "naive-enqueue", "naive-now"],
)
def test_bad_input_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        bad()  # type: ignore[operator]


def test_priority_rule_computes_the_same_values_as_the_functions() -> None:
    rule = PriorityRule(TIERS, AGING)
    c = caller(tier="vip", route=3, at=4)
    assert rule.effective(c, NOW) == effective_priority(
        c, tier_priority=TIERS, aging_per_minute=AGING, now=NOW
    )
    assert rule.score(c) == queue_score(c, tier_priority=TIERS, aging_per_minute=AGING)


@pytest.mark.parametrize(
    ("candidate", "wanted", "expected"),
    [
        (agent(), caller(), True),
        (agent(state="on_call"), caller(), False),
        (agent(state="wrap_up"), caller(), False),
        (agent(skills={"returns": 3}), caller(), False),
        (agent(skills={"orders": 0}), caller(), False),
        (agent(languages=("en",)), caller(), False),
        (agent(languages=("en", "zh")), caller(language="en"), True),
        (agent(skills={"orders": 1, "returns": 2}), caller(skill="returns"), True),
    ],
    ids=[
        "match",
        "on-call",
        "wrap-up",
        "other-skill",
        "level-zero",
        "other-language",
        "bilingual",
        "second-skill",
    ],
)
def test_eligible_needs_available_state_skill_and_language(
    candidate: AgentCandidate, wanted: WaitingCaller, expected: bool
) -> None:
    assert eligible(candidate, wanted) is expected


@pytest.mark.parametrize(
    ("agents", "wanted", "chosen"),
    [
        ([agent("a", idle_for=1), agent("b", idle_for=5), agent("c", idle_for=3)], caller(), "b"),
        (
            [agent("a", idle_for=9, state="break"), agent("b", idle_for=5)],
            caller(),
            "b",
        ),
        (
            [agent("a", idle_for=9, languages=("en",)), agent("b", idle_for=2)],
            caller(),
            "b",
        ),
        (
            [agent("a", idle_for=9, skills={"returns": 5}), agent("b", idle_for=2)],
            caller(),
            "b",
        ),
        (
            [
                agent("a", idle_for=5, skills={"orders": 1}),
                agent("b", idle_for=5, skills={"orders": 3}),
                agent("c", idle_for=5, skills={"orders": 2}),
            ],
            caller(),
            "b",
        ),
        (
            [agent("c", idle_for=5), agent("a", idle_for=5), agent("b", idle_for=5)],
            caller(),
            "a",
        ),
        (
            [agent("z", idle_for=5, skills={"orders": 2}), agent("a", idle_for=5)],
            caller(),
            "z",
        ),
        ([agent("a", languages=("en",)), agent("b", skills={"returns": 1})], caller(), None),
        ([], caller(), None),
    ],
    ids=[
        "longest-idle",
        "skips-unavailable",
        "skips-language-mismatch",
        "skips-skill-mismatch",
        "tie-higher-level",
        "tie-smallest-id",
        "level-before-id",
        "nobody-eligible",
        "nobody-at-all",
    ],
)
def test_choose_agent_picks_longest_idle_eligible_with_level_then_id_tie_breaks(
    agents: list[AgentCandidate], wanted: WaitingCaller, chosen: str | None
) -> None:
    got = choose_agent(agents, wanted, NOW)
    assert (got.agent_id if got else None) == chosen
    got_reversed = choose_agent(list(reversed(agents)), wanted, NOW)
    assert (got_reversed.agent_id if got_reversed else None) == chosen


@pytest.mark.parametrize(
    ("callers", "free", "chosen"),
    [
        ([caller("1"), caller("2")], agent(), "1"),
        ([caller("1", language="en"), caller("2")], agent(), "2"),
        ([caller("1", skill="returns"), caller("2", skill="orders")], agent(), "2"),
        (
            [caller("1", skill="returns", queue="after-sales"), caller("2")],
            agent(skills={"orders": 1, "returns": 1}),
            "1",
        ),
        ([caller("1", language="en"), caller("2", skill="returns")], agent(), None),
        ([caller("1")], agent(state="reserved"), None),
        ([], agent(), None),
    ],
    ids=[
        "first-in-order",
        "skips-language",
        "skips-skill",
        "across-queues",
        "none-eligible",
        "agent-not-available",
        "empty",
    ],
)
def test_choose_caller_takes_the_first_eligible_caller_in_priority_order(
    callers: list[WaitingCaller], free: AgentCandidate, chosen: str | None
) -> None:
    got = choose_caller(callers, free)
    assert (got.entry_id if got else None) == chosen
