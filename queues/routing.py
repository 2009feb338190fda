"""Routing decisions: caller priority with aging, agent eligibility, and who gets whom (pure).

Nothing here touches Redis, the database or the clock: every function takes plain frozen
values and, where time matters, a `now`. `queues.waiting` keeps the live state in Redis and
calls these functions to decide; the database layer converts its rows into these values.

The priority rule
-----------------
A waiting caller's *effective priority* is

    tier_priority[caller.tier] + caller.route_priority + aging_per_minute * minutes_waited

and the caller with the highest effective priority is served first (earlier arrival breaks
an exact tie). Because the aging term grows at the same rate for everyone, the order it gives
never changes while callers wait, so it can be stored once, as a Redis sorted-set score, at
enqueue time (see `effective_priority` and `queue_score`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

AVAILABLE = "available"
"""The one agent state in which an agent may be offered a caller (presence owns the others)."""

_EPOCH_MINUTE = 60.0


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value!r}")


def inbound_skills(
    post_now: str | None, posts: Collection[str], skills: Mapping[str, int]
) -> dict[str, int]:
    """The skills an agent offers the inbound router. A rotating agent who holds the front desk
    (the inbound post) offers them only while working it: none while working the middle or
    back office, so no inbound caller or routed callback reaches them until they switch back.
    Everyone else offers their skills as they are (an outbound-only agent's skills, lent by a
    supervisor's support pull or not, and staff who also take calls)."""
    if "front_desk" in posts and post_now != "front_desk":
        return {}
    return dict(skills)


@dataclass(frozen=True, slots=True)
class QueueRoute:
    """Where an enqueue node sends the caller, with the attributes the router uses."""

    queue: str
    skill: str
    priority: int = 0


@dataclass(frozen=True, slots=True)
class WaitingCaller:
    """One caller waiting in one queue for an agent with `skill` who speaks `language`.

    `entry_id` is the queue entry's id (the database row's primary key, as text): it is what
    makes adding to the waiting list idempotent. `route_priority` is the bonus the IVR route
    gave (e.g. a complaint escalation); `tier` is looked up in the tier priorities.
    """

    entry_id: str
    call_sid: str
    queue: str
    skill: str
    language: str
    tier: str
    route_priority: int
    enqueued_at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.enqueued_at, "enqueued_at")


@dataclass(frozen=True, slots=True)
class AgentCandidate:
    """An agent as routing sees them: skills with levels (1 = basic), languages, state, idle since.

    A skill with level 0 or below counts as not held.
    """

    agent_id: str
    skills: Mapping[str, int]
    languages: frozenset[str]
    state: str
    idle_since: datetime

    def __post_init__(self) -> None:
        _require_aware(self.idle_since, "idle_since")


@dataclass(frozen=True, slots=True)
class Assignment:
    """The outcome of a won claim: this caller goes to this agent (recorded under the id)."""

    assignment_id: str
    caller: WaitingCaller
    agent: AgentCandidate


def base_priority(caller: WaitingCaller, tier_priority: Mapping[str, int]) -> int:
    """Tier priority plus route priority: the effective priority at the moment of enqueueing."""
    try:
        tier = tier_priority[caller.tier]
    except KeyError:
        raise ValueError(
            f"no priority for tier {caller.tier!r} (known: {sorted(tier_priority)})"
        ) from None
    return tier + caller.route_priority


def effective_priority(
    caller: WaitingCaller,
    *,
    tier_priority: Mapping[str, int],
    aging_per_minute: float,
    now: datetime,
) -> float:
    """Tier priority + route priority + aging_per_minute x minutes waited; higher is served first.

    Why linear aging gives a static order. With p = tier + route priority and t = enqueued_at
    in minutes since the Unix epoch, the effective priority at `now` (in minutes) is
    p + a*(now - t) = (p - a*t) + a*now. The term a*now is the same for every caller, so
    ordering by effective priority at *any* `now` is ordering by p - a*t, a number fixed at
    enqueue time. The Redis sorted set therefore stores a score computed once (`queue_score`,
    the negation, because Redis sorts ascending) and never re-scores anyone; the order it gives
    is the order this function gives, whenever it is asked.

    Why nobody starves. A caller A (priority p_A, enqueued at t_A) is ahead of a caller B
    (p_B > p_A, enqueued later at t_B) exactly when t_B - t_A > (p_B - p_A) / a minutes
    (`overtake_minutes`). So a standard caller who has waited (p_VIP - p_std) / a minutes
    stays ahead of every VIP who arrives from then on: with a VIP bonus of 100 and aging of
    10 per minute, after 10 minutes. Every caller's place is therefore overtaken only by the
    callers who arrive within a bounded window after them. With a = 0 the rule is strict
    priority, then arrival (and low tiers can starve under sustained VIP load).

    Minutes waited are not clamped at zero (a `now` before `enqueued_at` gives a smaller
    value), which keeps the identity above exact. Pure; raises ValueError for an unknown tier.
    """
    _require_aware(now, "now")
    waited = (now - caller.enqueued_at) / timedelta(minutes=1)
    return base_priority(caller, tier_priority) + aging_per_minute * waited


def queue_score(
    caller: WaitingCaller, *, tier_priority: Mapping[str, int], aging_per_minute: float
) -> float:
    """The Redis sorted-set score of a caller: aging x enqueued-minute - base priority.

    Ascending score is descending effective priority at every `now` (see `effective_priority`).
    The same caller always gets the same score, so rebuilding the waiting list from the
    database gives everyone their old place. Pure.
    """
    minutes = caller.enqueued_at.timestamp() / _EPOCH_MINUTE
    return aging_per_minute * minutes - base_priority(caller, tier_priority)


def overtake_minutes(priority_gap: float, aging_per_minute: float) -> float:
    """How much longer a caller must have waited to stay ahead of one `priority_gap` higher.

    A caller who joined more than this many minutes before a higher-priority caller is served
    before them; `math.inf` when there is no aging. Pure.
    """
    if priority_gap <= 0:
        return 0.0
    if aging_per_minute <= 0:
        return math.inf
    return priority_gap / aging_per_minute


@dataclass(frozen=True, slots=True)
class PriorityRule:
    """The priority rule of one call centre: tier priorities and aging per minute waited."""

    tier_priority: Mapping[str, int]
    aging_per_minute: float

    def __post_init__(self) -> None:
        if self.aging_per_minute < 0 or not math.isfinite(self.aging_per_minute):
            raise ValueError(f"aging_per_minute must be >= 0, got {self.aging_per_minute}")

    def effective(self, caller: WaitingCaller, now: datetime) -> float:
        """`effective_priority` under this rule."""
        return effective_priority(
            caller,
            tier_priority=self.tier_priority,
            aging_per_minute=self.aging_per_minute,
            now=now,
        )

    def score(self, caller: WaitingCaller) -> float:
        """`queue_score` under this rule."""
        return queue_score(
            caller, tier_priority=self.tier_priority, aging_per_minute=self.aging_per_minute
        )


def eligible(agent: AgentCandidate, caller: WaitingCaller) -> bool:
    """True when the agent is available, holds the caller's skill and speaks their language."""
    return (
        agent.state == AVAILABLE
        and agent.skills.get(caller.skill, 0) > 0
        and caller.language in agent.languages
    )


def choose_agent(
    agents: Iterable[AgentCandidate], caller: WaitingCaller, now: datetime
) -> AgentCandidate | None:
    """The eligible agent who has been idle longest, or None when nobody is eligible.

    Ties on idle time go to the higher level in the caller's skill, then to the smallest
    `agent_id` (string order), so the same input always gives the same agent, in every
    process. Idle time is `now - idle_since`. Pure: the caller of this function must still
    claim the agent atomically (`queues.waiting`), because the agent may be taken meanwhile.
    """
    _require_aware(now, "now")
    best: tuple[timedelta, int, str] | None = None
    chosen: AgentCandidate | None = None
    for agent in agents:
        if not eligible(agent, caller):
            continue
        # Smallest key wins: longest idle, then highest level, then smallest id.
        key = (-(now - agent.idle_since), -agent.skills[caller.skill], agent.agent_id)
        if best is None or key < best:
            best, chosen = key, agent
    return chosen


def choose_caller(
    callers_in_order: Iterable[WaitingCaller], agent: AgentCandidate
) -> WaitingCaller | None:
    """The first caller, in priority order, whom the agent may take; None if there is none.

    `callers_in_order` is the merged waiting list of every queue the agent could serve, in
    queue-score order (highest effective priority first). Pure; the claim is still needed.
    """
    return next((c for c in callers_in_order if eligible(agent, c)), None)
