"""A fault-injection run: the whole stack under load while its processes are killed, Redis is
restarted and Twilio's REST API fails; then the invariants are checked. Exits 1 on a violation.

    .venv/bin/python benchmarks/faults.py [--calls 300] [--faults 20] [--concurrency 100]
        [--seed 1] [--duration S] [--quick] [--database-url URL] [--system-redis | --redis-url URL]

The stack is `callcenter run` itself, a subprocess on a temporary instance folder and free
loopback ports (SQLite and the embedded Redis by default; `--database-url` takes a PostgreSQL
server, on which the run creates a database of its own and drops it after; `--system-redis`
starts a redis-server of the run's own on a free port, `--redis-url` uses one that is not
restarted). The local phone network runs in this process, as Twilio runs outside ours: it
outlives the stack (`callcenter run` uses a network that already answers at its URL), keeps
its own record of every leg, and carries the load.

Load: --concurrency slots place --calls calls in all, each as soon as the previous one ended:
self-service callers (IVR only), callers who ask for an agent and wait in the hold loop (and
hang up after 20-60 s unless answered), and callers who ask to be called back (the outbound
engine rings an agent, then dials the customer, whose phone answers). Agents are signed in as
available; they answer after 2 s, talk 6-15 s and hang up; wrap-up ends by itself. Every
answered call is recorded, so the recording pipeline has work.

Faults, at moments drawn from --seed over --duration seconds (every kind at least once):
`kill -9` of a gunicorn worker, of the RQ worker, of a work-horse in the middle of a job, of
the cron; a restart of Redis (the embedded one is killed: the stack must bring it back; our
own redis-server is killed and started again, empty); Twilio's REST API failing for 30 s
(500s, or requests held past the SDK's 30 s timeout). If `callcenter run` itself exits, that is
counted and it is started again, as systemd's Restart=always would.

Then the run settles (every caller's leg ended, wrap-ups and jobs done) and the invariants of
benchmarks/fault_checks.py are checked against the database, Redis (RQ's registries) and the
network's record of legs and recordings. docs/RELIABILITY.md has a recorded run.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import fault_checks as checks  # noqa: E402
from benchmarks.live_stack import (  # noqa: E402
    BIN,
    HOTLINE,
    add_hotline,
    caller_phones,
    make_agents,
    phone_network,
    run_command,
    stack_environment,
)
from benchmarks.webhooks import free_port, revision  # noqa: E402
from callcenter.seed import DEMO_VIP_DELIVERED_ORDER, DEMO_VIP_PHONE  # noqa: E402
from callcenter.stack import embedded_redis, healthy, wait_until  # noqa: E402
from config.settings import ROOT, Settings  # noqa: E402
from phone_network.calls import Call as Leg  # noqa: E402
from phone_network.network import PhoneNetwork  # noqa: E402
from phone_network.parties import Answering, ScriptedCaller  # noqa: E402

REDIS_SERVER = "/usr/bin/redis-server"
WRAP_UP_S = 3
WRAP_UP_SLACK_S = 15  # the router's tick ends a due wrap-up within a few seconds
CALLBACK_OVERDUE = timedelta(seconds=120)  # a due callback not made by then is stuck
QUIET_S = 20  # the settle ends once the network and the centre have been idle this long ...
SETTLE_CAP_S = 300  # ... or this long after --settle, whichever comes first
REST_FAULT_S = 30.0
ORDER = DEMO_VIP_DELIVERED_ORDER
IVR_SCRIPT = ("press 1", "press 2", f"press {ORDER}#", "press 1", f"press {ORDER}#", "hangup")
QUEUE_SCRIPT = ("press 1", "press 0")
CALLBACK_SCRIPT = ("press 1", "press 0", "press 1", "press 1")
FAULT_KINDS = ("web-worker", "rq-worker", "work-horse", "cron", "redis", "rest-api")
log = logging.getLogger("faults")


# ---------------------------------------------------------------------------------------------
# The stack: `callcenter run` as a subprocess, restarted if it exits


class Stack:
    """`callcenter run` on a fixed port and environment; knows its processes."""

    def __init__(self, env: dict[str, str], web_port: int, log_path: Path) -> None:
        self.env = env
        self.web_port = web_port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.exits: list[str] = []  # how each generation ended on its own
        self.notes: list[tuple[float, str]] = []  # (time.monotonic(), what happened)
        self.seen: dict[int, float] = {}  # pid -> create_time of every process of the stack
        self._log: IO[bytes] = log_path.open("ab")
        self._lock = threading.Lock()

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/healthz"

    def start(self, timeout: float = 120.0) -> None:
        self._log.write(b"=== callcenter run starts\n")
        self._log.flush()
        self.process = subprocess.Popen(  # noqa: S603 - our own executable
            [str(BIN / "callcenter"), "run", "--port", str(self.web_port)],
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = self.process
        if not wait_until(lambda: healthy(self.health_url) or process.poll() is not None, timeout):
            raise SystemExit(f"{self.health_url} did not answer within {timeout:g} s")
        if process.poll() is not None:
            raise SystemExit(
                f"callcenter run exited with {process.returncode}; see {self.log_path}"
            )
        self.remember()

    def redis_url(self) -> str:
        """The Redis of the current generation (the embedded one's socket changes per start)."""
        if self.env.get("CALLCENTER_REDIS_URL"):
            return self.env["CALLCENTER_REDIS_URL"]
        text = self.log_path.read_text(errors="replace")
        found = re.findall(r"(?m)^\s+redis\s+(unix://\S+)", text)
        if not found:
            raise SystemExit(f"no Redis URL in {self.log_path}")
        return found[-1]

    def processes(self) -> list[psutil.Process]:
        if self.process is None:
            return []
        with contextlib.suppress(psutil.Error):
            return psutil.Process(self.process.pid).children(recursive=True)
        return []

    def remember(self) -> None:
        with self._lock:
            for proc in self.processes():
                with contextlib.suppress(psutil.Error):
                    self.seen[proc.pid] = proc.create_time()

    def watch(self) -> bool:
        """Restart `callcenter run` if it exited; True if it did."""
        with self._lock:
            process = self.process
        if process is None or process.poll() is None:
            self.remember()
            return False
        self.exits.append(f"callcenter run exited with code {process.returncode}")
        self.notes.append((time.monotonic(), f"callcenter run exited ({process.returncode})"))
        self.kill_leftovers()
        self.start()
        self.notes.append((time.monotonic(), "callcenter run started again and ready"))
        return True

    def stop(self) -> None:
        """SIGTERM `callcenter run` (it stops its children), then kill whatever is left."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.kill_leftovers()
        self._log.close()

    def kill_leftovers(self) -> list[int]:
        """SIGKILL every process seen in the stack that still runs (pid and start time match)."""
        killed = []
        for pid, created in list(self.seen.items()):
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                if abs(proc.create_time() - created) < 0.01 and proc.status() != "zombie":
                    proc.kill()
                    killed.append(pid)
        return killed


def _cmdline(proc: psutil.Process) -> list[str]:
    with contextlib.suppress(psutil.Error):
        return proc.cmdline()
    return []


def find_processes(stack: Stack, kind: str) -> list[psutil.Process]:
    """The stack's processes of one kind: web workers, RQ workers, work-horses, cron."""
    procs = stack.processes()
    by_pid = {p.pid: p for p in procs}
    top = stack.process.pid if stack.process is not None else -1

    def parent(p: psutil.Process) -> int:
        with contextlib.suppress(psutil.Error):
            return p.ppid()
        return -1

    def is_command(p: psutil.Process, name: str) -> bool:
        argv = _cmdline(p)
        return len(argv) >= 2 and argv[-1] == name and any("callcenter" in a for a in argv)

    masters = [p for p in procs if parent(p) == top and any("gunicorn" in a for a in _cmdline(p))]
    workers = [p for p in procs if parent(p) == top and is_command(p, "worker")]
    if kind == "web-worker":
        return [p for p in procs if parent(p) in {m.pid for m in masters}]
    if kind == "rq-worker":
        return workers
    if kind == "work-horse":
        return [p for p in procs if parent(p) in {w.pid for w in workers} and p.pid in by_pid]
    if kind == "cron":
        return [p for p in procs if parent(p) == top and is_command(p, "cron")]
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------------
# Redis of the run's own


class OwnRedis:
    """A redis-server this run starts on a free loopback port, and may kill and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
        ]
        with (self.directory / "redis.log").open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - a fixed binary
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        if not wait_until(lambda: _port_open(self.port), 10):
            raise SystemExit(f"redis-server did not listen on {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        wait_until(lambda: not _port_open(self.port), 5)
        self.start()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# ---------------------------------------------------------------------------------------------
# Faults


@dataclass
class Faults:
    injected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    log: list[tuple[float, str]] = field(default_factory=list)  # (time.monotonic(), what)

    def total(self) -> int:
        return sum(self.injected.values())


def plan_faults(rng: random.Random, count: int, duration: float) -> list[tuple[float, str]]:
    """`count` (moment, kind) pairs over `duration` s, every kind at least once if it fits."""
    kinds = list(FAULT_KINDS)
    rng.shuffle(kinds)
    kinds = kinds[:count] + [rng.choice(FAULT_KINDS) for _ in range(count - len(kinds))]
    rng.shuffle(kinds)
    moments = sorted(rng.uniform(0.05 * duration, duration) for _ in kinds)
    return list(zip(moments, kinds, strict=True))


def inject(
    kind: str,
    stack: Stack,
    net: PhoneNetwork,
    own_redis: OwnRedis | None,
    rng: random.Random,
    faults: Faults,
    began: float,
) -> None:
    def done(what: str) -> None:
        faults.injected[kind] += 1
        faults.log.append((time.monotonic(), f"{kind:<10} {what}"))

    def skipped(why: str) -> None:
        faults.skipped[kind] += 1
        faults.log.append((time.monotonic(), f"{kind:<10} skipped: {why}"))

    if kind == "rest-api":
        mode = rng.choice(("error", "timeout"))
        net.rest_faults.start(mode, REST_FAULT_S)
        done(f"REST API {mode} for {REST_FAULT_S:g} s")
        return
    if kind == "redis":
        if own_redis is not None:
            own_redis.restart()
            done(f"redis-server on port {own_redis.port} killed and started again (empty)")
            return
        if stack.env.get("CALLCENTER_REDIS_URL"):
            skipped("an external Redis the run did not start")
            return
        from redis import Redis
        from redis.exceptions import RedisError

        try:
            client = Redis.from_url(stack.redis_url(), socket_timeout=2)
            pid = int(client.info("server")["process_id"])
            client.close()
        except RedisError as exc:
            skipped(f"the embedded Redis does not answer ({exc})")
            return
        proc = psutil.Process(pid)
        if "redis" not in proc.name():
            skipped(f"pid {pid} is not a redis-server")
            return
        proc.kill()
        done(f"embedded redis-server (pid {pid}) killed")
        return
    deadline = time.monotonic() + 30
    while True:  # a work-horse exists only while a job runs; a restarting stack has none
        targets = find_processes(stack, kind)
        if targets or time.monotonic() >= deadline:
            break
        stack.watch()
        time.sleep(0.05)
    if not targets:
        skipped("no such process running")
        return
    target = rng.choice(targets)
    with contextlib.suppress(psutil.Error):
        target.kill()
    done(f"pid {target.pid} killed")


# ---------------------------------------------------------------------------------------------
# Load


@dataclass
class Load:
    legs: list[Leg] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    placed: int = 0


def slot(
    net: PhoneNetwork,
    index: int,
    phones: Sequence[str],
    total: int,
    load: Load,
    seed: int,
    stop: threading.Event,
) -> None:
    rng = random.Random(seed * 1000 + index)
    while not stop.is_set():
        with load.lock:
            if load.placed >= total:
                return
            load.placed += 1
        draw = rng.random()
        if draw < 0.25:
            kind, party, phone = "ivr", ScriptedCaller(IVR_SCRIPT, max_hold=60), DEMO_VIP_PHONE
        elif draw < 0.37:
            kind, phone = "callback", rng.choice(phones)
            party = ScriptedCaller(CALLBACK_SCRIPT, max_hold=60)
        else:
            kind, phone = "agent", rng.choice(phones)
            party = ScriptedCaller(QUEUE_SCRIPT, max_hold=rng.uniform(20, 60))
        try:
            leg = net.place_call(from_=phone, to=HOTLINE, party=party)
        except Exception:  # the network refused: count nothing, try the next
            log.exception("placing a call failed")
            continue
        with load.lock:
            load.legs.append(leg)
            load.kinds[kind] += 1
        with contextlib.suppress(TimeoutError):
            leg.wait(timeout=300)


# ---------------------------------------------------------------------------------------------
# Set-up


@contextlib.contextmanager
def own_database(url: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server of `url`, dropped at the end."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(url)
    name = f"cc_faults_{secrets.token_hex(4)}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# ---------------------------------------------------------------------------------------------
# Reading what happened


def _seconds(at: datetime | None) -> float | None:
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def waiting_recording_jobs(redis_url: str) -> set[int] | None:
    """Recording ids whose processing job waits in RQ (queued, scheduled or running); None if
    Redis does not answer."""
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Queue
    from rq.job import Job

    try:
        redis = Redis.from_url(redis_url, socket_timeout=5)
        ids: set[int] = set()
        for name in ("high", "default", "low"):
            queue = Queue(name, connection=redis)
            job_ids = list(queue.job_ids) + list(queue.scheduled_job_registry.get_job_ids())
            job_ids += list(queue.started_job_registry.get_job_ids())
            for job in Job.fetch_many(job_ids, connection=redis):
                if job is not None and job.func_name.endswith("process_recording") and job.args:
                    ids.add(int(job.args[0]))
        redis.close()
        return ids
    except RedisError:
        return None


@dataclass
class Findings:
    violations: list[checks.Violation]
    counts: dict[str, Any]


def centre_busy(env: dict[str, str]) -> int:
    """How many agents, queue entries and outbound attempts are still in the middle of
    something (ringing, talking, waiting in line, being dialled): 0 once the centre is idle."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from core.db import make_engine
    from outbound.models import AttemptStatus, OutboundAttempt
    from queues.models import Agent, AgentState, QueuedCall, QueuedCallStatus

    engine = make_engine(Settings.from_env(env).effective_database_url)
    try:
        with Session(engine) as s:
            agents = s.scalar(
                select(func.count())
                .select_from(Agent)
                .where(Agent.state.in_((AgentState.RESERVED, AgentState.ON_CALL)))
            )
            entries = s.scalar(
                select(func.count())
                .select_from(QueuedCall)
                .where(QueuedCall.status.in_((QueuedCallStatus.WAITING, QueuedCallStatus.ASSIGNED)))
            )
            attempts = s.scalar(
                select(func.count())
                .select_from(OutboundAttempt)
                .where(OutboundAttempt.status != AttemptStatus.ENDED)
            )
    finally:
        engine.dispose()
    return (agents or 0) + (entries or 0) + (attempts or 0)


def collect(
    net: PhoneNetwork, load: Load, env: dict[str, str], redis_url: str, stack_exits: Sequence[str]
) -> Findings:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from core.db import make_engine
    from core.models import Call, CallEvent, Voicemail
    from outbound.models import OutboundAttempt, OutboundTask
    from queues.models import Agent, QueuedCall
    from recordings.models import Recording

    engine = make_engine(Settings.from_env(env).effective_database_url)
    all_legs = net.calls()
    agent_legs = [leg for leg in all_legs if leg.to.startswith("client:")]
    agent_rooms = {
        e.args[0]
        for leg in agent_legs
        for e in leg.transcript()
        if e.kind == "conference" and e.args
    }
    # The numbers whose call from the hotline (a callback) joined an agent's conference.
    reached_numbers = {
        leg.to
        for leg in all_legs
        if not leg.to.startswith("client:")
        and {e.args[0] for e in leg.transcript() if e.kind == "conference" and e.args} & agent_rooms
    }
    with Session(engine) as s:
        calls = {c.sid: c for c in s.scalars(select(Call))}
        entries: dict[str, list[QueuedCall]] = defaultdict(list)
        for entry in s.scalars(select(QueuedCall)):
            entries[entry.call_sid].append(entry)
        voicemail_calls = {v.call_id for v in s.scalars(select(Voicemail))}
        voicemail_sids = frozenset(v.recording_sid for v in s.scalars(select(Voicemail)))
        events: dict[int, list[CallEvent]] = defaultdict(list)
        for event in s.scalars(select(CallEvent).order_by(CallEvent.id)):
            events[event.call_id].append(event)
        agents = list(s.scalars(select(Agent)))
        recordings = {r.sid: r for r in s.scalars(select(Recording))}
        tasks = {t.id: t for t in s.scalars(select(OutboundTask))}
        # Queue callbacks due for CALLBACK_OVERDUE_S and still pending: nobody is making them.
        due_before = datetime.now(UTC).replace(tzinfo=None) - CALLBACK_OVERDUE
        overdue_callbacks = {
            t.subject_id
            for t in tasks.values()
            if t.subject_type == "queue_entry"
            and t.status.value == "pending"
            and t.next_attempt_at.replace(tzinfo=None) <= due_before
        }
        attempts = list(s.scalars(select(OutboundAttempt)))
    engine.dispose()
    now = time.time()

    callers = []
    for leg in load.legs:
        result = leg.result
        row = calls.get(leg.sid)
        rooms = {e.args[0] for e in leg.transcript() if e.kind == "conference" and e.args}
        kinds = [e.kind for e in events.get(row.id, [])] if row is not None else []
        callers.append(
            checks.CallerCall(
                leg.sid,
                live=leg.live,
                hung_up_by=result.hung_up_by if result is not None else None,
                reached_agent=bool(rooms & agent_rooms),
                application_error=bool(result is not None and result.application_error),
                in_database=row is not None,
                entries=tuple(
                    checks.Entry(
                        e.status.value,
                        talk_ended=e.talk_ended_at is not None,
                        callback_requested=e.callback_requested_at is not None,
                        callback_reached=e.callback_to is not None
                        and e.callback_to in reached_numbers,
                        callback_overdue=e.status.value in checks.CALLBACK_ENTRIES
                        and e.id in overdue_callbacks,
                    )
                    for e in entries.get(leg.sid, [])
                ),
                voicemail=row is not None and row.id in voicemail_calls,
                self_service="self_service" in kinds,
            )
        )

    by_identity = {a.client_identity: a for a in agents}
    assignments = []
    for leg in agent_legs:
        agent = by_identity.get(leg.to.removeprefix("client:"))
        start = _seconds(leg.created_at)
        if agent is not None and start is not None:
            assignments.append(
                checks.Assignment(agent.login, leg.sid, start, _seconds(leg.ended_at))
            )
    logins = {a.id: a.login for a in agents}
    for sid_entries in entries.values():
        for e in sid_entries:
            if e.agent_id is not None and e.answered_at is not None:
                start = _seconds(e.answered_at)
                assert start is not None
                assignments.append(
                    checks.Assignment(
                        logins.get(e.agent_id, str(e.agent_id)),
                        f"entry {e.id}",
                        start,
                        _seconds(e.talk_ended_at),
                        source="database",
                    )
                )
    live_by_identity = Counter(leg.to.removeprefix("client:") for leg in agent_legs if leg.live)
    agent_records = [
        checks.AgentRecord(
            a.login,
            a.state.value,
            now - (_seconds(a.state_since) or now),
            live_by_identity[a.client_identity],
        )
        for a in agents
    ]

    waiting = waiting_recording_jobs(redis_url)
    rows = {
        sid: checks.RecordingRow(
            sid,
            r.status.value,
            job_waiting=waiting is not None and r.id in waiting,
            failure=r.failure_code,
        )
        for sid, r in recordings.items()
    }
    net_recordings = [
        checks.NetworkRecording(r.sid, r.call_sid, r.status, r.duration) for r in net.recordings()
    ]

    dials: dict[str, tuple[list[str], int, set[str]]] = defaultdict(lambda: ([], 0, set()))
    for leg in all_legs:
        if leg.direction == "outbound-api" and not leg.to.startswith("client:"):
            dials[leg.to][0].append(leg.sid)
    for attempt in attempts:
        task = tasks.get(attempt.task_id)
        if task is None or attempt.customer_claimed_at is None:
            continue
        sids, claimed, recorded = dials[task.to_number]
        if attempt.customer_call_sid:
            recorded.add(attempt.customer_call_sid)
        dials[task.to_number] = (sids, claimed + 1, recorded)
    dial_records = [
        checks.DialRecord(number, tuple(sids), claimed, frozenset(recorded))
        for number, (sids, claimed, recorded) in sorted(dials.items())
    ]

    logs = [
        checks.EventLog(
            c.sid,
            tuple(
                f"status:{e.data.get('status')}" if e.kind == "status" else e.kind
                for e in events.get(c.id, [])
            ),
            c.status.value,
        )
        for c in calls.values()
        if c.direction.value == "inbound"
    ]

    violations = (
        checks.check_callers(callers)
        + checks.check_assignments(assignments)
        + checks.check_agents_free(agent_records, wrap_up_s=WRAP_UP_S + WRAP_UP_SLACK_S)
        + checks.check_recordings(net_recordings, rows, voicemail_sids)
        + checks.check_dials(dial_records)
        + checks.check_event_logs(logs)
        + checks.check_stack(stack_exits)
    )
    outcomes = Counter(checks.caller_outcome(c) or "lost" for c in callers)
    counts = {
        "caller legs": len(callers),
        "outcomes": dict(outcomes),
        "agent legs": len(agent_legs),
        "customer dials": sum(len(d[0]) for d in dials.values()),
        "outbound tasks": len(tasks),
        "recordings at the network": sum(1 for r in net_recordings if r.status == "completed"),
        "recording rows": dict(Counter(r.status for r in rows.values())),
        "calls in the database": len(calls),
        "redis at the end": "answers" if waiting is not None else "does not answer",
    }
    return Findings(violations, counts)


# ---------------------------------------------------------------------------------------------
# The run


def settle(
    load: Load, stop: threading.Event, threads: Sequence[threading.Thread], timeout: float
) -> None:
    """Wait for every slot and every caller's leg to end, then for the centre to catch up."""
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    stop.set()
    wait_until(
        lambda: not any(leg.live for leg in load.legs), max(1.0, deadline - time.monotonic())
    )


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    with contextlib.ExitStack() as cleanup:
        root = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cc-faults-")))
        if args.keep is not None:
            cleanup.callback(_keep_logs, root, args.keep)
        database_url = ""
        if args.database_url:
            database_url = cleanup.enter_context(own_database(args.database_url))
        own_redis = None
        redis_url = args.redis_url or ""
        if args.system_redis:
            own_redis = OwnRedis(root)
            own_redis.start()
            cleanup.callback(own_redis.kill)
            redis_url = own_redis.url
        net, server = cleanup.enter_context(phone_network(play_seconds=2.0))
        web_port = free_port()
        env = stack_environment(
            root,
            database_url=database_url,
            redis_url=redis_url,
            web_port=web_port,
            network_url=server.url,
            wrap_up_s=WRAP_UP_S,
            log_level="WARNING" if args.keep is None else "INFO",  # --keep: a log to read
        )
        settings = Settings.from_env(env)
        with embedded_redis(settings) as setup_redis:  # the embedded one, for set-up only
            setup_env = {**env, "CALLCENTER_REDIS_URL": setup_redis}
            run_command(["db", "upgrade"], setup_env)
            run_command(["seed-demo"], setup_env)
        phones = caller_phones(env)
        add_hotline(net, web_port)
        for phone in phones:  # callbacks reach the customer, who answers
            net.add_endpoint(phone, Answering(after=2, talk=8))
        stack = Stack(env, web_port, root / "stack.log")
        cleanup.callback(stack.stop)
        stack.start()
        agent_env = {**env, "CALLCENTER_REDIS_URL": stack.redis_url()}
        identities = make_agents(
            Settings.from_env(agent_env), max(2, args.concurrency // 4), login_prefix="fault"
        )
        for i, identity in enumerate(identities):
            talk = random.Random(args.seed + i).uniform(6, 15)
            net.add_endpoint(f"client:{identity}", Answering(after=2, talk=round(talk, 1)))
        print(f"  stack ready on port {web_port}; {len(identities)} agents available", flush=True)

        load = Load()
        faults = Faults()
        stop = threading.Event()
        began = time.monotonic()
        threads = []
        for i in range(args.concurrency):
            t = threading.Thread(
                target=slot,
                args=(net, i, phones, args.calls, load, args.seed, stop),
                daemon=True,
                name=f"slot-{i}",
            )
            t.start()
            threads.append(t)
            time.sleep(args.ramp / args.concurrency)
        live_peak = 0
        for moment, kind in plan_faults(rng, args.faults, args.duration):
            while time.monotonic() - began < moment:
                stack.watch()
                live_peak = max(live_peak, sum(1 for leg in load.legs if leg.live))
                time.sleep(0.5)
            stack.watch()
            inject(kind, stack, net, own_redis, rng, faults, began)
            print(f"  {faults.log[-1][0] - began:6.1f} s  {faults.log[-1][1]}", flush=True)
        # A fault skipped (its process was restarting) is made up with another, a few seconds
        # later (while the last calls, their wrap-ups, callbacks and recordings go on), so
        # that --faults are injected in all.
        for _ in range(2 * args.faults):
            if faults.total() >= args.faults:
                break
            time.sleep(5.0)
            stack.watch()
            inject(rng.choice(FAULT_KINDS), stack, net, own_redis, rng, faults, began)
            print(f"  {faults.log[-1][0] - began:6.1f} s  {faults.log[-1][1]}", flush=True)
        while any(t.is_alive() for t in threads) and time.monotonic() - began < args.duration + 600:
            stack.watch()
            live_peak = max(live_peak, sum(1 for leg in load.legs if leg.live))
            time.sleep(1.0)
        print(f"  load done after {time.monotonic() - began:.0f} s; settling", flush=True)
        settle(load, stop, threads, timeout=180)
        # Wrap-ups, jobs, the outbound engine and the repairs: at least --settle seconds, and
        # then until the network has carried no call, and the centre has had nobody busy, for
        # QUIET_S (a callback booked late is dialled after the last caller left; a lost dial
        # is repaired minutes later), for at most SETTLE_CAP_S more.
        settle_until = time.monotonic() + args.settle
        quiet_since = time.monotonic()
        while time.monotonic() < settle_until + SETTLE_CAP_S:
            stack.watch()
            if any(call.live for call in net.calls()) or centre_busy(env):
                quiet_since = time.monotonic()
            elif time.monotonic() >= settle_until and time.monotonic() - quiet_since >= QUIET_S:
                break
            time.sleep(1.0)
        stack.watch()
        findings = collect(net, load, env, stack.redis_url(), stack.exits)
        report(args, load, faults, findings, live_peak, began, stack.notes)
        if faults.total() < args.faults:
            print(f"FAIL: {faults.total()} faults injected, fewer than --faults {args.faults}")
            return 1
        return 1 if findings.violations else 0


def _keep_logs(root: Path, keep: Path) -> None:
    """Keep the logs and, on the embedded defaults, the SQLite database, to look into after."""
    keep.mkdir(parents=True, exist_ok=True)
    for name in ("stack.log", "redis.log", "instance/callcenter.db"):
        if (root / name).exists():
            shutil.copy(root / name, keep / Path(name).name)


def report(
    args: argparse.Namespace,
    load: Load,
    faults: Faults,
    findings: Findings,
    live_peak: int,
    began: float,
    notes: Sequence[tuple[float, str]],
) -> None:
    elapsed = time.monotonic() - began
    print(
        f"\nRun: {load.placed} calls placed ({dict(load.kinds)}), peak {live_peak} caller "
        f"legs live at once, {elapsed:.0f} s in all."
    )
    injected = ", ".join(f"{k} {n}" for k, n in sorted(faults.injected.items()))
    print(f"Faults injected: {faults.total()} ({injected})")
    if faults.skipped:
        print(f"Faults skipped: {dict(faults.skipped)}")
    for key, value in findings.counts.items():
        print(f"  {key}: {value}")
    print("\nInvariants:")
    tallied = checks.tally(findings.violations)
    for name, found in tallied.items():
        print(f"  {'ok  ' if not found else 'FAIL'} {name}: {len(found)} violation(s)")
    for name, found in tallied.items():
        if found:
            print(f"\n{name} ({len(found)}), the first ones:")
            kinds = Counter(re.sub(r"\d+", "N", v.detail)[:70] for v in found)
            for kind, n in kinds.most_common(8):
                example = next(v for v in found if re.sub(r"\d+", "N", v.detail)[:70] == kind)
                print(f"  {n:>4} x {example}")
    print("\nFault log:")
    for at, what in sorted([*faults.log, *notes]):
        print(f"  {at - began:6.1f} s  {what}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls placed in all (300)")
    parser.add_argument("--faults", type=int, default=20, help="faults injected (20)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=100,
        help="calls kept live at once (100); agents: a quarter of it",
    )
    parser.add_argument("--seed", type=int, default=1, help="seeds the faults and callers (1)")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds over which faults are spread (default: 2 s per call "
        "per concurrent slot, at least 120)",
    )
    parser.add_argument(
        "--ramp", type=float, default=20.0, help="seconds over which the slots start (20)"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=60.0,
        help="seconds given to the centre after the last caller left (60)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 30 calls, 6 faults, 10 concurrent, 60 s"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL URL; the run creates a database there and drops it",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--system-redis",
        action="store_true",
        help=f"start a redis-server ({REDIS_SERVER}) of the run's own",
    )
    group.add_argument(
        "--redis-url", default="", help="use this Redis (it is not restarted: no Redis faults)"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        metavar="DIR",
        help="copy the stack's log (at INFO) and its SQLite database to DIR",
    )
    args = parser.parse_args(argv)
    if args.quick:  # smaller defaults; options given on the command line still win
        quick = {
            "calls": 30,
            "faults": 6,
            "concurrency": 10,
            "duration": 60.0,
            "ramp": 5.0,
            "settle": 30.0,
        }
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    if args.duration is None:
        args.duration = max(120.0, 2.0 * args.calls * 100 / max(1, args.concurrency) / 5)
    if min(args.calls, args.faults, args.concurrency) < 1 or args.duration <= 0:
        parser.error("--calls, --faults, --concurrency and --duration must be positive")
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("phone_network").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Couldn't find ffmpeg")
    mode = (
        ("PostgreSQL" if args.database_url else "SQLite")
        + " + "
        + (
            "own redis-server"
            if args.system_redis
            else "external Redis"
            if args.redis_url
            else "embedded Redis"
        )
    )
    print(
        f"Fault run: {args.calls} calls, {args.concurrency} concurrent, {args.faults} faults "
        f"over {args.duration:g} s, seed {args.seed}; {mode}; {os.cpu_count()} CPUs, "
        f"tree {revision()}.",
        flush=True,
    )
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
