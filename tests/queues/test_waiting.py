"""The Redis waiting list and agent pool: order, atomic claims, races, faults and rebuild."""

from __future__ import annotations

import json
import multiprocessing
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis import Redis

from queues.routing import AVAILABLE, AgentCandidate, PriorityRule, WaitingCaller
from queues.waiting import ClaimOutcome, WaitingList

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
RULE = PriorityRule({"standard": 0, "gold": 40, "vip": 100}, aging_per_minute=10.0)
STRICT = PriorityRule({"standard": 0, "gold": 40, "vip": 100}, aging_per_minute=0.0)
PREFIX = "test:routing:"
SKILLS = ("sales", "orders", "returns")


def caller(
    entry_id: str,
    *,
    tier: str = "standard",
    at: float = 0.0,
    skill: str = "orders",
    language: str = "zh",
    queue: str = "orders",
    route: int = 0,
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
    agent_id: str,
    *,
    skills: dict[str, int] | None = None,
    languages: tuple[str, ...] = ("zh",),
    idle_for: float = 1.0,
) -> AgentCandidate:
    """An available agent idle for `idle_for` minutes before NOW."""
    return AgentCandidate(
        agent_id=agent_id,
        skills={"orders": 1} if skills is None else skills,
        languages=frozenset(languages),
        state=AVAILABLE,
        idle_since=NOW - timedelta(minutes=idle_for),
    )


@pytest.fixture
def make_list(redis: Redis) -> Callable[..., WaitingList]:
    def make(rule: PriorityRule = RULE, prefix: str = PREFIX, **options: Any) -> WaitingList:
        return WaitingList(redis, prefix, rule, **options)

    return make


@pytest.fixture
def waiting(make_list: Callable[..., WaitingList]) -> WaitingList:
    return make_list()


def ids(callers: list[WaitingCaller]) -> list[str]:
    return [c.entry_id for c in callers]


# --- the waiting list -------------------------------------------------------------------


def test_callers_are_kept_in_priority_then_arrival_order(waiting: WaitingList) -> None:
    for c in [
        caller("s1", at=0),
        caller("v1", tier="vip", at=3),
        caller("g1", tier="gold", at=1),
        caller("v2", tier="vip", at=4),
        caller("s2", at=2),
    ]:
        assert waiting.add(c)
    assert ids(waiting.snapshot("orders")) == ["v1", "v2", "g1", "s1", "s2"]
    assert [waiting.position(e) for e in ("v1", "v2", "g1", "s1", "s2")] == [1, 2, 3, 4, 5]
    assert waiting.waiting_count("orders") == 5 and waiting.waiting_count() == 5


def test_a_long_waiting_standard_caller_stays_ahead_of_a_vip_ten_minutes_younger(
    waiting: WaitingList,
) -> None:
    waiting.add(caller("std", at=0))
    waiting.add(caller("vip-late", tier="vip", at=10.5))
    waiting.add(caller("vip-early", tier="vip", at=9.5))
    assert ids(waiting.snapshot("orders")) == ["vip-early", "std", "vip-late"]


def test_equal_scores_keep_arrival_order_whatever_the_entry_ids(
    make_list: Callable[..., WaitingList],
) -> None:
    waiting = make_list(STRICT)
    for n, entry in enumerate(["z", "10", "b", "2", "a"]):
        waiting.add(caller(entry, at=n))
    assert ids(waiting.snapshot("orders")) == ["z", "10", "b", "2", "a"]


def test_adding_an_entry_twice_keeps_its_first_place(waiting: WaitingList) -> None:
    assert waiting.add(caller("1", at=0))
    assert waiting.add(caller("2", at=1))
    assert not waiting.add(caller("1", at=5, tier="vip"))  # a repeated webhook: no change
    assert ids(waiting.snapshot("orders")) == ["1", "2"]
    assert waiting.waiting("1") == caller("1", at=0)


def test_remove_takes_the_caller_out_of_every_index(waiting: WaitingList) -> None:
    waiting.add(caller("1"))
    waiting.add(caller("2", at=1))
    assert waiting.remove("1")
    assert not waiting.remove("1")
    assert ids(waiting.snapshot("orders")) == ["2"]
    assert waiting.position("1") is None and waiting.waiting("1") is None
    waiting.agent_available(agent("a"))
    assert waiting.assign_for_agent("a", NOW).caller.entry_id == "2"  # type: ignore[union-attr]


def test_queues_are_separate_lists_with_their_own_positions(waiting: WaitingList) -> None:
    waiting.add(caller("o1", queue="orders"))
    waiting.add(caller("r1", queue="after-sales", skill="returns", at=1))
    waiting.add(caller("o2", queue="orders", at=2))
    assert ids(waiting.snapshot("orders")) == ["o1", "o2"]
    assert ids(waiting.snapshot("after-sales")) == ["r1"]
    assert waiting.position("r1") == 1 and waiting.position("o2") == 2
    assert ids(waiting.snapshot("orders", limit=1)) == ["o1"]
    assert waiting.snapshot("nobody") == []


def test_prefixes_keep_two_centres_apart_in_one_redis(
    redis: Redis, make_list: Callable[..., WaitingList]
) -> None:
    north, south = make_list(prefix="north:"), make_list(prefix="south:")
    north.add(caller("1"))
    north.agent_available(agent("a"))
    south.add(caller("1", tier="vip"))
    assert south.assign_for_caller("1", NOW) is None
    assert north.assign_for_caller("1", NOW) is not None
    assert ids(south.snapshot("orders")) == ["1"]
    south.clear()
    assert redis.keys("south:*") == [] and redis.keys("north:*") != []


def test_names_that_would_make_keys_ambiguous_are_refused(waiting: WaitingList) -> None:
    with pytest.raises(ValueError, match="skill"):
        waiting.add(caller("1", skill="a:b"))
    with pytest.raises(ValueError, match="skill"):
        waiting.agent_available(agent("a", skills={"a:b": 1}))
    with pytest.raises(ValueError, match="not 'available'"):
        waiting.agent_available(replace(agent("a"), state="break"))


# --- agents -------------------------------------------------------------------------------


def test_an_available_agent_can_be_read_back_and_made_unavailable(waiting: WaitingList) -> None:
    a = agent("a", skills={"orders": 2, "returns": 1}, languages=("zh", "en"), idle_for=3)
    waiting.agent_available(a)
    assert waiting.agent("a") == a
    assert waiting.available_agents() == [a]
    assert waiting.agent_unavailable("a")
    assert not waiting.agent_unavailable("a")
    assert waiting.agent("a") is None
    waiting.add(caller("1"))
    assert waiting.assign_for_caller("1", NOW) is None


def test_making_an_agent_available_again_replaces_their_skills(waiting: WaitingList) -> None:
    waiting.agent_available(agent("a", skills={"orders": 1}))
    waiting.agent_available(agent("a", skills={"returns": 1}))
    waiting.add(caller("1", skill="orders"))
    assert waiting.assign_for_caller("1", NOW) is None
    waiting.add(caller("2", skill="returns", at=1))
    assert waiting.assign_for_caller("2", NOW).agent.agent_id == "a"  # type: ignore[union-attr]


# --- routing steps --------------------------------------------------------------------------


def test_a_caller_goes_to_the_longest_idle_eligible_agent(waiting: WaitingList) -> None:
    waiting.agent_available(agent("fresh", idle_for=1))
    waiting.agent_available(agent("longest", idle_for=9, languages=("en",)))
    waiting.agent_available(agent("other-skill", idle_for=8, skills={"returns": 3}))
    waiting.agent_available(agent("idle", idle_for=5))
    waiting.add(caller("1"))
    done = waiting.assign_for_caller("1", NOW)
    assert done is not None and done.agent.agent_id == "idle"
    assert done.caller == caller("1")
    assert waiting.waiting("1") is None and waiting.agent("idle") is None
    assert waiting.assignment(done.assignment_id) == done


@pytest.mark.parametrize("depth", [1, 2, 5])
@pytest.mark.parametrize(
    ("levels", "chosen"),
    [({"a": 1, "b": 3, "c": 2}, "b"), ({"c": 1, "a": 1, "b": 1}, "a")],
    ids=["higher-level", "smallest-id"],
)
def test_agents_idle_since_the_same_instant_are_split_by_level_then_id(
    make_list: Callable[..., WaitingList], levels: dict[str, int], chosen: str, depth: int
) -> None:
    """However few candidates a read takes, every agent tied with the first is compared."""
    waiting = make_list(read_depth=depth)
    for agent_id, level in levels.items():
        waiting.agent_available(agent(agent_id, skills={"orders": level}, idle_for=4))
    waiting.agent_available(agent("recent", skills={"orders": 9}, idle_for=1))
    waiting.add(caller("1"))
    assert waiting.assign_for_caller("1", NOW).agent.agent_id == chosen  # type: ignore[union-attr]


def test_nobody_is_assigned_on_a_skill_or_language_mismatch(waiting: WaitingList) -> None:
    waiting.agent_available(agent("zh-orders"))
    waiting.add(caller("en", language="en"))
    waiting.add(caller("returns", skill="returns", at=1))
    assert waiting.assign_for_caller("en", NOW) is None
    assert waiting.assign_for_caller("returns", NOW) is None
    assert waiting.assign_for_agent("zh-orders", NOW) is None
    assert waiting.waiting_count() == 2 and waiting.agent("zh-orders") is not None


def test_a_free_agent_takes_the_first_caller_they_may_across_queues(waiting: WaitingList) -> None:
    waiting.add(caller("std-orders", at=0))
    waiting.add(caller("vip-english", tier="vip", language="en", at=1))
    waiting.add(caller("gold-returns", tier="gold", skill="returns", queue="after-sales", at=2))
    waiting.add(caller("vip-sales", tier="vip", skill="sales", queue="pre-sales", at=3))
    waiting.agent_available(agent("a", skills={"orders": 1, "returns": 1}))
    first = waiting.assign_for_agent("a", NOW)
    assert first is not None and first.caller.entry_id == "gold-returns"
    waiting.agent_available(agent("a", skills={"orders": 1, "returns": 1}))
    second = waiting.assign_for_agent("a", NOW)
    assert second is not None and second.caller.entry_id == "std-orders"
    assert ids(waiting.snapshot("orders")) == ["vip-english"]


def test_vips_are_answered_first(waiting: WaitingList) -> None:
    for n in range(6):
        waiting.add(caller(f"s{n}", at=n * 0.1))
    for n in range(3):
        waiting.add(caller(f"v{n}", tier="vip", at=1 + n * 0.1))
    served = []
    for _ in range(9):
        waiting.agent_available(agent("a"))
        served.append(waiting.assign_for_agent("a", NOW).caller.entry_id)  # type: ignore[union-attr]
    assert served == ["v0", "v1", "v2", "s0", "s1", "s2", "s3", "s4", "s5"]


def test_sweep_routes_every_agent_who_has_a_caller(waiting: WaitingList) -> None:
    waiting.add(caller("1", at=0))
    waiting.add(caller("2", at=1))
    waiting.add(caller("3", at=2, language="en"))
    waiting.agent_available(agent("a", idle_for=5))
    waiting.agent_available(agent("b", idle_for=3))
    waiting.agent_available(agent("c", idle_for=9, skills={"returns": 1}))
    made = waiting.sweep(NOW)
    assert [(m.agent.agent_id, m.caller.entry_id) for m in made] == [("a", "1"), ("b", "2")]
    assert ids(waiting.snapshot("orders")) == ["3"]


# --- claims ---------------------------------------------------------------------------------


def test_a_claim_wins_once_and_a_repeat_of_it_changes_nothing(waiting: WaitingList) -> None:
    waiting.add(caller("1"))
    waiting.add(caller("2", at=1))
    waiting.agent_available(agent("a"))
    waiting.agent_available(agent("b"))
    assert waiting.claim_outcome("1", "a", "x1") is ClaimOutcome.WON
    assert waiting.claim_outcome("1", "a", "x1") is ClaimOutcome.ALREADY_WON
    assert waiting.claim_outcome("1", "b", "x2") is ClaimOutcome.CALLER_GONE
    assert waiting.claim_outcome("2", "a", "x3") is ClaimOutcome.AGENT_GONE
    assert waiting.claim_outcome("2", "b", "x1") is ClaimOutcome.ID_TAKEN
    assert waiting.claim("2", "b", "x4")
    assert not waiting.claim("2", "b", "x5")


def test_a_repeated_routing_job_returns_the_same_assignment(waiting: WaitingList) -> None:
    waiting.add(caller("1"))
    waiting.add(caller("2", at=1))
    waiting.agent_available(agent("a"))
    first = waiting.assign_for_caller("1", NOW, assignment_id="route-1")
    waiting.agent_available(agent("a", idle_for=0))
    again = waiting.assign_for_caller("1", NOW, assignment_id="route-1")
    assert first is not None and again == first
    assert waiting.agent("a") is not None and waiting.position("2") == 1


def test_an_assignment_record_expires(redis: Redis, waiting: WaitingList) -> None:
    waiting.add(caller("1"))
    waiting.agent_available(agent("a"))
    done = waiting.assign_for_caller("1", NOW)
    assert done is not None
    assert 0 < redis.ttl(waiting.assignment_key(done.assignment_id)) <= 86_400


# --- faults ---------------------------------------------------------------------------------


def free(
    waiting: WaitingList, agent_id: str, start: threading.Barrier, results: dict[str, object]
) -> None:
    """An agent becomes available: route them, at the same moment as the other thread."""
    start.wait()
    results[agent_id] = waiting.assign_for_agent(agent_id, NOW)


def test_two_agents_freed_at_once_race_for_one_caller_and_exactly_one_wins(
    waiting: WaitingList,
) -> None:
    for round_ in range(30):
        entry = f"c{round_}"
        waiting.add(caller(entry, at=round_))
        waiting.agent_available(agent("a", idle_for=2))
        waiting.agent_available(agent("b", idle_for=2))
        start = threading.Barrier(2)
        results: dict[str, object] = {}
        threads = [
            threading.Thread(target=free, args=(waiting, a, start, results)) for a in ("a", "b")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [a for a, r in results.items() if r is not None]
        assert len(winners) == 1, results
        loser = "b" if winners == ["a"] else "a"
        assert waiting.waiting(entry) is None and waiting.agent(loser) is not None
        waiting.agent_unavailable(loser)


def test_an_agent_made_unavailable_between_read_and_claim_is_skipped_for_the_next(
    make_list: Callable[..., WaitingList],
) -> None:
    seen: list[str] = []

    def agent_goes_on_break(_: WaitingCaller, chosen: AgentCandidate) -> None:
        seen.append(chosen.agent_id)
        if len(seen) == 1:
            waiting.agent_unavailable(chosen.agent_id)

    waiting = make_list(before_claim=agent_goes_on_break)
    waiting.add(caller("1"))
    waiting.agent_available(agent("first", idle_for=9))
    waiting.agent_available(agent("second", idle_for=5))
    done = waiting.assign_for_caller("1", NOW)
    assert seen == ["first", "second"]
    assert done is not None and done.agent.agent_id == "second"
    assert waiting.agent("first") is None and waiting.agent("second") is None


def test_a_claim_after_the_agent_changed_state_fails(waiting: WaitingList) -> None:
    waiting.add(caller("1"))
    waiting.agent_available(agent("a"))
    read = waiting.candidates_for_caller("1")
    assert read is not None and [a.agent_id for a in read[1]] == ["a"]
    waiting.agent_unavailable("a")  # the agent went to break while we decided
    assert waiting.claim_outcome("1", "a", "x") is ClaimOutcome.AGENT_GONE
    assert waiting.position("1") == 1


def test_an_agent_whose_skills_changed_mid_claim_is_not_given_the_caller(
    make_list: Callable[..., WaitingList],
) -> None:
    def skills_change(_: WaitingCaller, chosen: AgentCandidate) -> None:
        if chosen.agent_id == "a":
            waiting.agent_available(agent("a", skills={"returns": 1}, idle_for=9))

    waiting = make_list(before_claim=skills_change)
    waiting.add(caller("1"))
    waiting.agent_available(agent("a", idle_for=9))
    waiting.agent_available(agent("b", idle_for=1))
    done = waiting.assign_for_caller("1", NOW)
    assert done is not None and done.agent.agent_id == "b"
    assert waiting.agent("a") is not None  # still available, with its new skills


def test_an_agent_who_went_away_and_came_back_mid_claim_is_no_longer_longest_idle(
    make_list: Callable[..., WaitingList],
) -> None:
    def break_and_back(_: WaitingCaller, chosen: AgentCandidate) -> None:
        if chosen.agent_id == "a" and chosen.idle_since < NOW - timedelta(minutes=1):
            waiting.agent_unavailable("a")
            waiting.agent_available(agent("a", idle_for=0))

    waiting = make_list(before_claim=break_and_back)
    waiting.add(caller("1"))
    waiting.agent_available(agent("a", idle_for=9))
    waiting.agent_available(agent("b", idle_for=5))
    stale = agent("a", idle_for=9)
    done = waiting.assign_for_caller("1", NOW)
    assert done is not None and done.agent.agent_id == "b"
    waiting.add(caller("2", at=1))
    assert waiting.claim_outcome("2", "a", "x", as_read=stale) is ClaimOutcome.AGENT_CHANGED
    assert waiting.claim_outcome("2", "a", "x", as_read=agent("a", idle_for=0)).won


def test_a_caller_who_hangs_up_during_assignment_is_not_assigned(
    make_list: Callable[..., WaitingList],
) -> None:
    def hang_up(chosen: WaitingCaller, _: AgentCandidate) -> None:
        waiting.remove(chosen.entry_id)

    waiting = make_list(before_claim=hang_up)
    waiting.add(caller("1"))
    waiting.agent_available(agent("a"))
    assert waiting.assign_for_caller("1", NOW) is None
    assert waiting.agent("a") is not None  # the agent stays available


def test_an_agent_whose_caller_hangs_up_during_assignment_gets_the_next_caller(
    make_list: Callable[..., WaitingList],
) -> None:
    hung_up: list[str] = []

    def first_hangs_up(chosen: WaitingCaller, _: AgentCandidate) -> None:
        if not hung_up:
            hung_up.append(chosen.entry_id)
            waiting.remove(chosen.entry_id)

    waiting = make_list(before_claim=first_hangs_up)
    waiting.add(caller("1", at=0))
    waiting.add(caller("2", at=1))
    waiting.agent_available(agent("a"))
    done = waiting.assign_for_agent("a", NOW)
    assert hung_up == ["1"] and done is not None and done.caller.entry_id == "2"


def test_a_claim_after_the_caller_hung_up_fails(waiting: WaitingList) -> None:
    waiting.add(caller("1"))
    waiting.agent_available(agent("a"))
    read = waiting.candidates_for_agent("a")
    assert read is not None and ids(read[1]) == ["1"]
    assert waiting.remove("1")
    assert waiting.claim_outcome("1", "a", "x") is ClaimOutcome.CALLER_GONE
    assert waiting.agent("a") is not None


def test_after_a_redis_flush_rebuild_gives_everyone_their_place(
    redis: Redis, waiting: WaitingList
) -> None:
    rnd = random.Random(3)
    callers = [
        caller(
            f"e{n}",
            tier=rnd.choice(["standard", "gold", "vip"]),
            route=rnd.choice([0, 0, 10]),
            at=rnd.uniform(0, 30),
            queue=(q := rnd.choice(["orders", "after-sales"])),
            skill="orders" if q == "orders" else "returns",
            language=rnd.choice(["zh", "zh", "en"]),
        )
        for n in range(60)
    ]
    agents = [agent(f"a{n}", skills={"orders": 1, "returns": n % 3}, idle_for=n) for n in range(5)]
    for c in callers:
        waiting.add(c)
    for a in agents:
        waiting.agent_available(a)
    before = {q: waiting.snapshot(q) for q in ("orders", "after-sales")}
    places = {c.entry_id: waiting.position(c.entry_id) for c in callers}

    redis.flushdb()
    redis.script_flush()  # a restarted server has forgotten the scripts too
    assert waiting.snapshot("orders") == []
    rnd.shuffle(callers)
    waiting.rebuild(callers, reversed(agents))

    assert {q: waiting.snapshot(q) for q in before} == before
    assert {c.entry_id: waiting.position(c.entry_id) for c in callers} == places
    assert waiting.available_agents() == sorted(agents, key=lambda a: a.idle_since)
    assert waiting.assign_for_caller(before["orders"][0].entry_id, NOW) is not None


def test_rebuild_replaces_what_redis_held(waiting: WaitingList) -> None:
    waiting.add(caller("stale", queue="old-queue"))
    waiting.agent_available(agent("gone"))
    waiting.rebuild([caller("1")], [agent("a")])
    assert waiting.snapshot("old-queue") == [] and waiting.waiting("stale") is None
    assert [a.agent_id for a in waiting.available_agents()] == ["a"]
    assert ids(waiting.snapshot("orders")) == ["1"]
    waiting.rebuild([], [])
    assert waiting.waiting_count() == 0 and waiting.available_agents() == []


def test_rebuild_refuses_duplicates(waiting: WaitingList) -> None:
    with pytest.raises(ValueError, match="twice"):
        waiting.rebuild([caller("1"), caller("1")], [])
    with pytest.raises(ValueError, match="twice"):
        waiting.rebuild([], [agent("a"), agent("a")])


# --- many routers at once -------------------------------------------------------------------

CALLERS, AGENTS = 200, 20


def populate(waiting: WaitingList, seed: int) -> None:
    """200 callers of mixed skills, languages and tiers; 20 agents who cover every pair."""
    rnd = random.Random(seed)
    for n in range(CALLERS):
        waiting.add(
            caller(
                f"e{n}",
                tier=rnd.choice(["standard", "standard", "gold", "vip"]),
                at=n * 0.05,
                skill=rnd.choice(SKILLS),
                language=rnd.choice(["zh", "zh", "en"]),
            )
        )
    for n in range(AGENTS):
        waiting.agent_available(agent_n(n, idle_since=T0 + timedelta(microseconds=n)))


def agent_n(n: int, idle_since: datetime) -> AgentCandidate:
    skills = {SKILLS[n % 3]: 1 + n % 3, SKILLS[(n + 1) % 3]: 1}
    languages = frozenset({"zh", "en"} if n % 2 == 0 else {"zh"})
    return AgentCandidate(f"a{n}", skills, languages, AVAILABLE, idle_since)


def route_until_empty(waiting: WaitingList, seed: int, max_steps: int = 20_000) -> None:
    """One router: free agents and arriving callers in random order, until nobody waits.

    Every won assignment is checked and logged in Redis: the agent must not already be busy
    and the caller must not already be taken; then the call "ends" and the agent is made
    available again with a new idle-since (a unique instant from a shared counter).
    """
    r, rnd = waiting.redis, random.Random(seed)
    busy, taken, log = f"{PREFIX}t:busy", f"{PREFIX}t:taken", f"{PREFIX}t:log"
    for _ in range(max_steps):
        if waiting.waiting_count() == 0:
            return
        if rnd.random() < 0.5:
            done = waiting.assign_for_agent(f"a{rnd.randrange(AGENTS)}", NOW)
        else:
            done = waiting.assign_for_caller(f"e{rnd.randrange(CALLERS)}", NOW)
        if done is None:
            continue
        a, c = done.agent, done.caller
        if not r.sadd(busy, a.agent_id):
            r.rpush(f"{PREFIX}t:violations", f"agent {a.agent_id} given a second caller")
        if not r.sadd(taken, c.entry_id):
            r.rpush(f"{PREFIX}t:violations", f"caller {c.entry_id} given a second agent")
        r.rpush(log, json.dumps([c.entry_id, a.agent_id, a.idle_since.isoformat()]))
        r.srem(busy, a.agent_id)  # the call ends
        tick = int(r.incr(f"{PREFIX}t:clock"))
        waiting.agent_available(replace(a, idle_since=NOW + timedelta(microseconds=tick)))


def check_invariants(redis: Redis, waiting: WaitingList) -> None:
    assert redis.lrange(f"{PREFIX}t:violations", 0, -1) == []
    log = [json.loads(x) for x in redis.lrange(f"{PREFIX}t:log", 0, -1)]
    entries = Counter(e for e, _, _ in log)
    spells = Counter((a, since) for _, a, since in log)  # one agent's one spell of availability
    assert sorted(entries) == sorted(f"e{n}" for n in range(CALLERS))
    assert set(entries.values()) == {1}, "a caller was given to two agents"
    assert set(spells.values()) == {1}, "an agent was given two callers at once"
    assert waiting.waiting_count() == 0
    assert len(waiting.available_agents()) == AGENTS


def test_many_threads_routing_at_once_never_double_assign(
    redis: Redis, waiting: WaitingList, make_list: Callable[..., WaitingList]
) -> None:
    populate(waiting, seed=1)
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        try:
            route_until_empty(make_list(), seed)
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check_invariants(redis, waiting)


def connection_options(redis: Redis) -> dict[str, Any]:
    kw = redis.connection_pool.connection_kwargs
    if "path" in kw:
        return {"unix_socket_path": kw["path"], "db": kw.get("db", 0)}
    return {k: kw[k] for k in ("host", "port", "db", "username", "password") if k in kw}


def _router_process(options: dict[str, Any], seed: int) -> None:
    redis = Redis(**options)
    try:
        route_until_empty(WaitingList(redis, PREFIX, RULE), seed)
    finally:
        redis.close()


@pytest.mark.slow
def test_several_processes_routing_at_once_never_double_assign(
    redis: Redis, waiting: WaitingList
) -> None:
    populate(waiting, seed=2)
    spawn = multiprocessing.get_context("spawn")
    processes = [
        spawn.Process(target=_router_process, args=(connection_options(redis), s)) for s in range(4)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    check_invariants(redis, waiting)
