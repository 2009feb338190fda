"""Voice webhook latency and throughput under concurrent load, as ratios against a bare floor.

    .venv/bin/python benchmarks/webhooks.py [--seconds N] [--concurrency C]
                                            [--server gunicorn|werkzeug] [--quick] [--profile N]

Three targets are measured in one run, each served the way production serves the app
(gunicorn, 2 workers x 4 threads, on a free 127.0.0.1 port, started as a subprocess):

* floor:    a bare Flask app (`floor_app` below) whose one route checks X-Twilio-Signature with
            Twilio's RequestValidator and returns a one-<Say> TwiML built with VoiceResponse;
* incoming: POST /twilio/voice/incoming, a new CallSid per request, From = a seeded customer's
            number (the call is created and the caller identified);
* menu:     POST /twilio/voice/menu/main?attempt=1 with Digits=2, each for a different call an
            incoming request created (or a copy of one, with its events, under a new CallSid):
            load the call, run the engine, log an event.

The app runs on a migrated and seeded SQLite file in a temporary instance folder; when
CALLCENTER_BENCH_DATABASE_URL names a PostgreSQL database (postgresql+psycopg://...), the app
targets are measured again in a scratch schema there, dropped afterwards.

The load generator is one process per connection (keep-alive http.client), fixed concurrency,
a warm-up that is not measured, bounded by time and by count. Every request is signed. A
request counts as an error if it is not a 200 with the expected TwiML (the voice blueprint
turns a failure into apology TwiML with status 200, so the status alone would hide it), and
the server's log is searched for tracebacks; any error fails the run (exit status 1).

The client shares the machine's cores with the server, so the absolute figures understate
what the server alone could do: compare the ratios, not the numbers, across machines. The CPU
columns say who used the CPUs during each window (app server, local PostgreSQL, load
generator, anything else), so a noisy neighbour shows instead of silently skewing a figure.

`--profile N` runs no load: it profiles N requests of each webhook in-process with cProfile
(where the time of one request goes) and, on SQLite, measures how long BEGIN IMMEDIATE waits
for the write lock with 1 and with 8 threads.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import http.client
import math
import multiprocessing as mp
import os
import pstats
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

if TYPE_CHECKING:
    from callcenter.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ACCOUNT_SID = "AC" + "b2" * 16
AUTH_TOKEN = "bench-auth-token-" + "5" * 16
HOTLINE = "+864008001234"
# Open around the clock, so the figures do not depend on when the benchmark runs (a single
# "00:00-24:00" span is rejected: opening and closing times would be equal).
ALWAYS_OPEN = "mon-sun 00:00-12:00; mon-sun 12:00-24:00"
INCOMING_PATH = "/twilio/voice/incoming"
MENU_PATH = "/twilio/voice/menu/main?attempt=1"
GUNICORN_WORKERS, GUNICORN_THREADS = 2, 4
LOG_PROBLEMS = re.compile(r"Traceback|\bERROR\b|CRITICAL|database is locked|WORKER TIMEOUT")


# --- The floor: the least a signed TwiML webhook can cost on this stack ------------------------


def floor_app() -> Flask:
    """Flask + RequestValidator + VoiceResponse and nothing else (gunicorn: `floor_app()`).

    Reads the same CALLCENTER_* variables as the app, so both check signatures against the
    same token and public URL.
    """
    token = os.environ["CALLCENTER_TWILIO_AUTH_TOKEN"]
    base = os.environ["CALLCENTER_PUBLIC_BASE_URL"].rstrip("/")
    app = Flask(__name__)

    @app.post(INCOMING_PATH)
    def incoming() -> Response:
        query = request.query_string.decode("latin-1")
        url = base + request.path + (f"?{query}" if query else "")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not RequestValidator(token).validate(url, request.form, signature):
            abort(403)
        r = VoiceResponse()
        r.say("Thanks for calling.", language="en-US", voice="Polly.Joanna")
        return Response(str(r), status=200, content_type="text/xml; charset=utf-8")

    return app


# --- Targets and the load generator -------------------------------------------------------


@dataclass(frozen=True)
class Target:
    label: str
    kind: str  # "incoming" (new call per request) or "menu" (one prepared call per request)
    path: str
    expect: bytes  # in every correct response body; the apology TwiML lacks it


FLOOR = Target("floor (Flask+validator+TwiML)", "incoming", INCOMING_PATH, b"<Say")


def app_targets(db_label: str) -> tuple[Target, Target]:
    return (Target(f"incoming [{db_label}]", "incoming", INCOMING_PATH, b"<Gather"),
            Target(f"menu main/2 [{db_label}]", "menu", MENU_PATH,
                   b"/menu/order_status?attempt=1"))


@dataclass(frozen=True)
class Job:
    """What one client process does: one keep-alive connection, one request at a time."""

    base_url: str
    target: Target
    phones: tuple[str, ...]
    calls: tuple[tuple[str, str], ...]  # menu: (CallSid, From) of calls to use, each once
    start_at: float  # time.monotonic() values: CLOCK_MONOTONIC is shared by all processes
    measure_from: float
    measure_until: float
    max_requests: int


@dataclass
class Outcome:
    timings: list[tuple[float, float]] = field(default_factory=list)  # (start, end), measured
    stopped: float = 0.0  # when this client stopped sending
    cpu_s: float = 0.0  # this client's own CPU time from the start of the window
    requests: int = 0  # all requests, warm-up included
    errors: int = 0
    samples: list[str] = field(default_factory=list)
    created: list[tuple[str, str]] = field(default_factory=list)  # incoming: calls answered


def call_params(call_sid: str, from_number: str) -> dict[str, str]:
    """The parameters Twilio sends on every voice request of an inbound call."""
    return {"CallSid": call_sid, "AccountSid": ACCOUNT_SID, "From": from_number, "To": HOTLINE,
            "CallStatus": "in-progress", "Direction": "inbound", "ApiVersion": "2010-04-01"}


def drive(job: Job, results: Any, next_call: Any) -> None:
    """Client process: send signed requests until the window closes or the count is reached."""
    parts = urlsplit(job.base_url)
    validator = RequestValidator(AUTH_TOKEN)
    out = Outcome()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    time.sleep(max(0.0, job.start_at - time.monotonic()))
    cpu_from: float | None = None
    while time.monotonic() < job.measure_until and len(out.timings) < job.max_requests:
        if job.target.kind == "incoming":
            phone = job.phones[out.requests % len(job.phones)]
            params = call_params("CA" + secrets.token_hex(16), phone)
        else:
            with next_call.get_lock():  # shared by all clients: the fast ones take more
                index = next_call.value
                next_call.value += 1
            if index >= len(job.calls):  # every prepared call used: stop (the window ends)
                break
            params = {**call_params(*job.calls[index]), "Digits": "2"}
        body = urlencode(params)
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": validator.compute_signature(
                       job.base_url + job.target.path, params)}
        start = time.monotonic()
        if cpu_from is None and start >= job.measure_from:
            cpu_from = time.process_time()
        try:
            conn.request("POST", job.target.path, body, headers)
            response = conn.getresponse()
            status, data = response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()  # reconnects on the next request
            status, data = 0, repr(exc).encode()
        end = time.monotonic()
        out.requests += 1
        if status != 200 or job.target.expect not in data:
            out.errors += 1
            if len(out.samples) < 3:
                out.samples.append(f"{status} {data[:300].decode('utf-8', 'replace')}")
        elif job.target.kind == "incoming":
            out.created.append((params["CallSid"], params["From"]))
        if start >= job.measure_from and end <= job.measure_until:
            out.timings.append((start, end))
    out.stopped = time.monotonic()
    out.cpu_s = time.process_time() - cpu_from if cpu_from is not None else 0.0
    conn.close()
    results.put(out)


@dataclass(frozen=True)
class Figures:
    target: Target
    measured: int
    window_s: float
    requests: int
    errors: int
    median_ms: float
    p99_ms: float
    max_ms: float
    throughput: float
    cpu: CpuUse | None
    samples: tuple[str, ...]
    created: tuple[tuple[str, str], ...]


def run_load(target: Target, server: Server, *, phones: tuple[str, ...], concurrency: int,
             seconds: float, warmup: float, max_requests: int,
             calls: tuple[tuple[str, str], ...] = ()) -> Figures:
    """Run `concurrency` client processes against one target and summarise what they measured.

    The window starts after the warm-up and ends when the time is up or, if a client stops
    early (its count reached, or no prepared calls left), when the first client stopped: only
    requests made while every client was still sending are measured.
    """
    ctx = mp.get_context("spawn")
    results, next_call = ctx.Queue(), ctx.Value("q", 0)
    start_at = time.monotonic() + 1.5  # time for the spawned clients to import
    measure_from = start_at + warmup
    measure_until = measure_from + seconds
    per_client = math.ceil(max_requests / concurrency)
    procs = []
    job = Job(server.url, target, phones, calls, start_at, measure_from, measure_until,
              per_client)
    for _ in range(concurrency):
        proc = ctx.Process(target=drive, args=(job, results, next_call), daemon=True)
        proc.start()
        procs.append(proc)
    time.sleep(max(0.0, measure_from - time.monotonic()))
    server_before, machine_before = server.cpu_seconds(), machine_cpu()
    time.sleep(max(0.0, measure_until - time.monotonic()))
    server_after, machine_after = server.cpu_seconds(), machine_cpu()
    outcomes = [results.get(timeout=seconds + warmup + 120) for _ in procs]
    for proc in procs:
        proc.join()
    window_end = min(measure_until, *(o.stopped for o in outcomes))
    latencies = sorted(end - start for o in outcomes for start, end in o.timings
                       if end <= window_end)
    samples = tuple(s for o in outcomes for s in o.samples)
    if len(latencies) < 2:
        raise SystemExit(f"{target.label}: only {len(latencies)} requests measured; {samples}")
    window = window_end - measure_from
    cpu = None
    if None not in (server_before, server_after, machine_before, machine_after):
        busy_s, total_s = (a - b for a, b in zip(machine_after, machine_before, strict=True))
        cpu = CpuUse(server_s=server_after[0] - server_before[0],
                     db_s=server_after[1] - server_before[1],
                     clients_s=sum(o.cpu_s for o in outcomes), busy_s=busy_s,
                     capacity_s=total_s, requests=sum(len(o.timings) for o in outcomes))
    return Figures(
        target=target, measured=len(latencies), window_s=window,
        requests=sum(o.requests for o in outcomes), errors=sum(o.errors for o in outcomes),
        median_ms=statistics.median(latencies) * 1000,
        p99_ms=statistics.quantiles(latencies, n=100, method="inclusive")[98] * 1000,
        max_ms=latencies[-1] * 1000, throughput=len(latencies) / window, cpu=cpu,
        samples=samples, created=tuple(call for o in outcomes for call in o.created))


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds spent during the measured window (Linux: /proc), and by whom."""

    server_s: float  # the app server's processes
    db_s: float  # the local PostgreSQL server's processes, when the app uses it
    clients_s: float  # the load generator's processes
    busy_s: float  # the whole machine, everything included
    capacity_s: float  # window x CPUs
    requests: int  # requests measured in the window

    @property
    def server_ms_per_request(self) -> float:
        return self.server_s / self.requests * 1000 if self.requests else math.nan

    @property
    def other_share(self) -> float:
        """Share of all CPUs used by none of the processes taking part in the benchmark."""
        return max(0.0, self.busy_s - self.server_s - self.db_s - self.clients_s) / self.capacity_s

    def shares(self) -> str:
        """app server / database / clients / anything else, as shares of all CPUs."""
        other = max(0.0, self.busy_s - self.server_s - self.db_s - self.clients_s)
        return "/".join(f"{x / self.capacity_s:.0%}" for x in (self.server_s, self.db_s,
                                                                 self.clients_s, other))


def machine_cpu() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat (Linux only)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    ticks = [int(x) for x in first[1:9]]  # user nice system idle iowait irq softirq steal
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - ticks[3] - ticks[4]) / hz, sum(ticks) / hz


# --- Servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(server: str, which: str, port: int) -> list[str]:
    if server == "werkzeug":
        return [sys.executable, str(Path(__file__).resolve()), "--serve", which,
                "--port", str(port)]
    from gunicorn.config import KNOWN_SETTINGS

    extra = (["--no-control-socket"]
             if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS) else [])
    app = "wsgi:app" if which == "app" else "benchmarks.webhooks:floor_app()"
    return [str(BIN / "gunicorn"), "--chdir", str(ROOT), "--bind", f"127.0.0.1:{port}",
            "--workers", str(GUNICORN_WORKERS), "--threads", str(GUNICORN_THREADS),
            "--log-level", "warning", *extra, app]


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    uses_postgres: bool = False

    def cpu_seconds(self) -> tuple[float, float] | None:
        """CPU seconds used so far by (the server and its children, PostgreSQL's processes).

        Linux /proc only. PostgreSQL's are counted only when the app uses it (a local server;
        a remote one shows as nothing).
        """
        hz, app, db = os.sysconf("SC_CLK_TCK"), 0, 0
        try:
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    head, tail = stat.read_text().rsplit(")", 1)
                except OSError:
                    continue  # the process has gone
                fields, comm = tail.split(), head.split("(", 1)[1]
                pid, ppid = int(stat.parent.name), int(fields[1])
                ticks = int(fields[11]) + int(fields[12])  # utime, stime
                if self.pid in (pid, ppid):
                    app += ticks
                elif self.uses_postgres and comm == "postgres":
                    db += ticks
        except OSError:
            return None
        return app / hz, db / hz


@contextlib.contextmanager
def serving(server: str, which: str, port: int, env: Mapping[str, str],
            log_path: Path) -> Iterator[Server]:
    """Start the server as a subprocess, wait until it answers, yield its URL, then stop it."""
    with log_path.open("ab") as log:
        command = server_command(server, which, port)
        proc = subprocess.Popen(command, cwd=ROOT, env=dict(env),  # noqa: S603 (our command)
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the {which} server exited with {proc.returncode}:\n"
                                 f"{log_path.read_text(errors='replace')[-3000:]}")
            try:  # any HTTP answer will do (a 404 here); /healthz would touch Redis
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/benchmark-ready")
                conn.getresponse().read()
                conn.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"the {which} server did not answer within 60 s") from None
                time.sleep(0.1)
        yield Server(f"http://127.0.0.1:{port}", proc.pid, "PGOPTIONS" in env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve(which: str, port: int) -> None:
    """--serve: the werkzeug alternative to gunicorn (threaded, HTTP/1.1 keep-alive)."""
    from werkzeug.serving import WSGIRequestHandler, run_simple

    if which == "app":
        sys.path.insert(0, str(ROOT))
        from wsgi import app
    else:
        app = floor_app()
    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    run_simple("127.0.0.1", port, app, threaded=True)


def log_problems(log_path: Path) -> list[str]:
    """Lines of the server log that name a failure, with a little context after each."""
    lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
    found: list[str] = []
    for i, line in enumerate(lines):
        if LOG_PROBLEMS.search(line):
            found.extend(lines[i:i + 30] if "Traceback" in line else [line])
    return found


# --- The app's database -----------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    label: str
    url: str  # "" for the SQLite file in the instance folder
    instance: Path
    pg_options: str = ""  # libpq options (the scratch schema's search_path)


def child_environment(db: Database, base_url: str) -> dict[str, str]:
    """Our environment without any CALLCENTER_* of the caller's, plus the benchmark's settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CALLCENTER_") and k != "PGOPTIONS"}
    env.update({
        "CALLCENTER_INSTANCE_PATH": str(db.instance),
        "CALLCENTER_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "CALLCENTER_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CALLCENTER_PUBLIC_BASE_URL": base_url,
        "CALLCENTER_SECRET_KEY": "bench-" + "0" * 32,
        "CALLCENTER_BUSINESS_HOURS": ALWAYS_OPEN,
        "PYTHONUNBUFFERED": "1",
    })
    if db.url:
        env["CALLCENTER_DATABASE_URL"] = db.url
    if db.pg_options:
        # libpq reads PGOPTIONS: the app's engine lands in the scratch schema without a URL
        # parameter (Alembic's config would choke on the '%' of an encoded one).
        env["PGOPTIONS"] = db.pg_options
    return env


def build_runtime(env: Mapping[str, str]) -> Runtime:
    """The app's Runtime from the same environment the server gets (in this process)."""
    from callcenter.runtime import Runtime
    from config.settings import Settings
    from core.db import make_engine

    settings = Settings.from_env(env)
    engine = None
    if env.get("PGOPTIONS"):
        engine = make_engine(settings.effective_database_url,
                             connect_args={"options": env["PGOPTIONS"]})
    return Runtime.build(settings, engine=engine)


@contextlib.contextmanager
def scratch_postgres(url: str, instance: Path) -> Iterator[Database]:
    """A scratch schema in the PostgreSQL database at `url`, dropped afterwards."""
    from sqlalchemy import text

    from core.db import make_engine

    schema = f"cc_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Database("postgres", url, instance, f"-csearch_path={schema}")
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def prepare_database(env: Mapping[str, str]) -> tuple[str, ...]:
    """Migrate and seed the app's database; return the seeded customers' phone numbers."""
    from sqlalchemy import select

    from callcenter.migrate import upgrade
    from callcenter.seed import seed_demo
    from core.models import CustomerPhone

    rt = build_runtime(env)
    try:
        upgrade(rt.engine)
        with rt.unit_of_work() as uow:
            seed_demo(uow.session, now=datetime.now(UTC))
        with rt.unit_of_work() as uow:
            phones = tuple(uow.session.scalars(select(CustomerPhone.e164).order_by(
                CustomerPhone.id)))
    finally:
        rt.engine.dispose()
    return phones


def copy_calls(env: Mapping[str, str], originals: tuple[tuple[str, str], ...],
               count: int) -> tuple[tuple[str, str], ...]:
    """Add `count` copies (new CallSids) of calls the incoming run created, with their events.

    Seconds for thousands of calls where running the incoming service for each would take
    minutes; the menu step cannot tell a copy from the original.
    """
    from sqlalchemy import insert, select

    from core.models import Call, CallEvent

    calls, events = Call.__table__, CallEvent.__table__
    rt = build_runtime(env)
    try:
        with rt.engine.begin() as conn:
            sources = [dict(row) for row in conn.execute(select(calls).where(
                calls.c.sid.in_([sid for sid, _ in originals[:100]]))).mappings()]
            logged: dict[str, list[dict[str, Any]]] = {}
            for row in conn.execute(select(events).where(
                    events.c.call_sid.in_([c["sid"] for c in sources]))).mappings():
                logged.setdefault(row["call_sid"], []).append(dict(row))
            copies = [{**{k: v for k, v in source.items() if k != "id"},
                       "sid": "CA" + secrets.token_hex(16)}
                      for source in (sources[i % len(sources)] for i in range(count))]
            conn.execute(insert(calls), copies)
            ids = dict(conn.execute(select(calls.c.sid, calls.c.id).where(
                calls.c.sid.in_([c["sid"] for c in copies]))).all())
            copied_events = [
                {**{k: v for k, v in event.items() if k != "id"}, "call_id": ids[copy["sid"]],
                 "call_sid": copy["sid"]}
                for source, copy in zip((sources[i % len(sources)] for i in range(count)),
                                        copies, strict=True)
                for event in logged.get(source["sid"], [])]
            if copied_events:
                conn.execute(insert(events), copied_events)
    finally:
        rt.engine.dispose()
    return tuple((c["sid"], c["from_number"]) for c in copies)


@contextlib.contextmanager
def databases(instance_root: Path) -> Iterator[list[Database]]:
    """SQLite always; PostgreSQL too when CALLCENTER_BENCH_DATABASE_URL names one."""
    found = [Database("sqlite", "", instance_root / "sqlite")]
    with contextlib.ExitStack() as stack:
        pg = os.environ.get("CALLCENTER_BENCH_DATABASE_URL", "")
        if pg:
            found.append(stack.enter_context(scratch_postgres(pg, instance_root / "postgres")))
        yield found


# --- Report -------------------------------------------------------------------------------


def revision() -> str:
    """The commit measured, and whether the working tree differed from it (read-only git)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, check=True,  # noqa: S603, S607
                              capture_output=True, text=True).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" with uncommitted changes" if dirty.strip() else "")


def report(figures: list[Figures], floor: Figures) -> str:
    width = max(len(f.target.label) for f in figures)

    def cpu(f: Figures) -> str:
        if f.cpu is None:
            return f"{'-':>12}  {'-':>18}"
        return f"{f.cpu.server_ms_per_request:>12.2f}  {f.cpu.shares():>18}"

    lines = [f"{'target':<{width}}  {'measured':>8}  {'seconds':>7}  {'errors':>6}  "
             f"{'median ms':>9}  {'p99 ms':>8}  {'max ms':>7}  {'req/s':>7}  {'srv CPU ms/r':>12}  "
             f"{'CPU app/db/cli/oth':>18}"]
    lines += [f"{f.target.label:<{width}}  {f.measured:>8}  {f.window_s:>7.1f}  {f.errors:>6}  "
              f"{f.median_ms:>9.2f}  {f.p99_ms:>8.2f}  {f.max_ms:>7.0f}  {f.throughput:>7.1f}  "
              f"{cpu(f)}"
              for f in figures]
    lines += ["", "ours / floor (latency: >1 is slower; throughput: <1 is slower)",
              f"{'target':<{width}}  {'median':>8}  {'p99':>8}  {'req/s':>8}  {'srv CPU/r':>9}"]
    for f in figures:
        if f is floor:
            continue
        cpu_ratio = ("-" if f.cpu is None or floor.cpu is None else
                     f"{f.cpu.server_ms_per_request / floor.cpu.server_ms_per_request:.2f}x")
        lines.append(f"{f.target.label:<{width}}  {f.median_ms / floor.median_ms:>7.2f}x  "
                     f"{f.p99_ms / floor.p99_ms:>7.2f}x  {f.throughput / floor.throughput:>7.2f}x"
                     f"  {cpu_ratio:>9}")
    lines += ["", "srv CPU ms/r: CPU time of the app server's processes per measured request.",
              "CPU app/db/cli/oth: share of all CPUs used during the window by the app server, "
              "the local PostgreSQL server, the load generator, and anything else (a noisy "
              "neighbour when high)."]
    return "\n".join(lines)


def benchmark(args: argparse.Namespace) -> int:
    load = {"concurrency": args.concurrency, "seconds": args.seconds, "warmup": args.warmup,
            "max_requests": args.max_requests}
    print(f"Webhooks: {args.seconds:g} s per target after {args.warmup:g} s warm-up, "
          f"concurrency {args.concurrency} (one client process per connection), server "
          + (f"gunicorn {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads"
             if args.server == "gunicorn" else "werkzeug (threaded)")
          + f"; {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; tree {revision()}.")
    print("The load generator runs on the same CPUs as the server: compare the ratios, not the "
          "absolute figures.", flush=True)
    figures: list[Figures] = []
    problems: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cc-bench-") as tmp:
        root = Path(tmp)
        port = free_port()
        env = child_environment(Database("none", "", root / "floor"), f"http://127.0.0.1:{port}")
        log_path = root / "floor.log"
        with serving(args.server, "floor", port, env, log_path) as server:
            floor = run_load(FLOOR, server, phones=("+8613800138000",), **load)
        figures.append(floor)
        problems += [f"[floor] {line}" for line in log_problems(log_path)]
        print(f"  measured {floor.target.label}", flush=True)

        with databases(root) as dbs:
            for db in dbs:
                label = db.label
                port = free_port()
                env = child_environment(db, f"http://127.0.0.1:{port}")
                phones = prepare_database(env)
                incoming_target, menu_target = app_targets(label)
                log_path = root / f"app-{label}.log"
                with serving(args.server, "app", port, env, log_path) as server:
                    incoming = run_load(incoming_target, server, phones=phones, **load)
                    print(f"  measured {incoming.target.label}", flush=True)
                    # One call per menu request, so that each one logs its event (a repeat is
                    # deduplicated): the calls the incoming run created, and copies of them up
                    # to 3 times as many. Should the menu step use them all up, its window
                    # ends there.
                    calls = incoming.created
                    wanted = min(3 * len(calls), args.max_requests + 100)
                    if len(calls) < wanted:
                        began = time.monotonic()
                        calls += copy_calls(env, calls, wanted - len(calls))
                        print(f"  copied {wanted - len(incoming.created)} of its calls for the "
                              f"menu step ({time.monotonic() - began:.1f} s)", flush=True)
                    menu = run_load(menu_target, server, phones=phones, calls=calls, **load)
                    print(f"  measured {menu.target.label}", flush=True)
                figures += [incoming, menu]
                problems += [f"[{label}] {line}" for line in log_problems(log_path)]
    print(f"\n(the run took {time.monotonic() - started:.0f} s)")
    print(report(figures, floor))
    failed = False
    for f in figures:
        if f.errors:
            failed = True
            print(f"\nFAILED: {f.target.label}: {f.errors} of {f.requests} requests were not a "
                  f"200 with the expected TwiML; first ones:", *f.samples, sep="\n  ")
        if f.window_s < 0.9 * args.seconds:
            print(f"\nNOTE: {f.target.label} was measured for {f.window_s:.1f} s only: a client "
                  "reached --max-requests or used up its prepared calls")
    noisy = [f"{f.target.label} ({f.cpu.other_share:.0%})" for f in figures
             if f.cpu is not None and f.cpu.other_share > 0.10]
    if noisy:
        print("\nWARNING: other processes used more than 10% of the CPUs while measuring "
              f"{', '.join(noisy)}: those figures are disturbed; run again on a quiet machine.")
    if problems:
        failed = True
        print("\nFAILED: the server logs report problems:", *problems[:80], sep="\n  ")
    return 1 if failed else 0


# --- Profile: where the time of one request goes ----------------------------------------------

# (label, file suffix, function, caller's file suffix or "" for any caller): the profile
# entries whose cumulative time is summed under each label.
COMPONENTS = (
    ("whole request (Flask wsgi_app)", "flask/app.py", "wsgi_app", ""),
    ("signature check (RequestValidator.validate)", "twilio/request_validator.py", "validate",
     ""),
    ("IVR service (start_call / continue_call)", "ivr_menus/services.py", "start_call", ""),
    ("IVR service (start_call / continue_call)", "ivr_menus/services.py", "continue_call", ""),
    ("  upsert_call + log_event (their INSERTs)", "callcenter/calls.py", "upsert_call", ""),
    ("  upsert_call + log_event (their INSERTs)", "callcenter/calls.py", "log_event", ""),
    ("final session.commit (flush + COMMIT)", "sqlalchemy/orm/session.py", "commit",
     "callcenter/db.py"),
    ("TwiML rendering (render_step + str)", "callcenter/voice/twiml.py", "render_step", ""),
    ("TwiML rendering (render_step + str)", "twilio/twiml/__init__.py", "__str__",
     "callcenter/twilio_http.py"),
    ("driver: every SQL statement (execute)", "~", "<method 'execute' of 'sqlite3.Cursor' "
     "objects>", ""),
    ("driver: every SQL statement (execute)", "psycopg/cursor.py", "execute", ""),
    ("driver: COMMIT", "~", "<method 'commit' of 'sqlite3.Connection' objects>", ""),
    ("driver: COMMIT", "psycopg/connection.py", "commit", ""),
)


def profile(requests_per_kind: int) -> None:
    """Profile the two webhooks in-process (Flask test client, one thread) with cProfile."""
    from callcenter.app import create_app

    base = "http://127.0.0.1:5000"
    with tempfile.TemporaryDirectory(prefix="cc-profile-") as tmp, databases(Path(tmp)) as dbs:
        for db in dbs:
            env = child_environment(db, base)
            env["CALLCENTER_LOG_LEVEL"] = "WARNING"
            phones = prepare_database(env)
            rt = build_runtime(env)
            client = create_app(runtime=rt).test_client()
            for target in app_targets(db.label):
                n = requests_per_kind + 20  # the first 20 warm caches (SQL compilation)
                sids = ["CA" + secrets.token_hex(16) for _ in range(n)]
                if target.kind == "menu":
                    for i, sid in enumerate(sids):
                        signed_post(client, base, Target("", "", INCOMING_PATH, b"<Gather"),
                                    call_params(sid, phones[i % len(phones)]))
                extra = {"Digits": "2"} if target.kind == "menu" else {}
                calls = [{**call_params(sid, phones[i % len(phones)]), **extra}
                         for i, sid in enumerate(sids)]
                for params in calls[:20]:
                    signed_post(client, base, target, params)
                profiler = cProfile.Profile()
                started = time.perf_counter()
                profiler.enable()
                for params in calls[20:]:
                    signed_post(client, base, target, params)
                profiler.disable()
                elapsed = time.perf_counter() - started
                print_profile(target.label, pstats.Stats(profiler), requests_per_kind, elapsed)
            if db.label == "sqlite":
                for threads in (1, 8):
                    sqlite_lock_waits(create_app(runtime=rt), base, phones, threads=threads,
                                      requests=requests_per_kind)
            rt.engine.dispose()


def sqlite_lock_waits(app: Flask, base: str, phones: tuple[str, ...], *, threads: int,
                      requests: int) -> None:
    """Incoming webhooks from `threads` threads in-process: how long BEGIN IMMEDIATE waits.

    Every unit of work on SQLite starts with BEGIN IMMEDIATE (core.db), so it holds the
    database's one write lock from its first statement to its COMMIT; the others wait in
    SQLite's busy handler.
    """
    import threading

    from sqlalchemy import event

    engine = app.extensions["callcenter"].engine
    waits: list[float] = []
    holds: list[float] = []
    latencies: list[float] = []
    local = threading.local()

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("BEGIN"):
            local.asked = time.perf_counter()

    def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("BEGIN"):
            local.got = time.perf_counter()
            waits.append(local.got - local.asked)

    def committed(_conn: Any) -> None:  # the engine's "commit" event fires before the COMMIT
        holds.append(time.perf_counter() - local.got)

    def client_thread(count: int) -> None:
        client = app.test_client()
        for i in range(count):
            params = call_params("CA" + secrets.token_hex(16), phones[i % len(phones)])
            started = time.perf_counter()
            signed_post(client, base, app_targets("")[0], params)
            latencies.append(time.perf_counter() - started)

    listeners = (("before_cursor_execute", before), ("after_cursor_execute", after),
                 ("commit", committed))
    for name, fn in listeners:
        event.listen(engine, name, fn)
    try:
        workers = [threading.Thread(target=client_thread, args=(requests // threads,))
                   for _ in range(threads)]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - started
    finally:
        for name, fn in listeners:
            event.remove(engine, name, fn)
    q_wait = statistics.quantiles(waits, n=100, method="inclusive")
    q_lat = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"\nincoming [sqlite], {threads} thread(s) in-process: {len(latencies) / elapsed:.0f} "
          f"req/s, request median {q_lat[49] * 1000:.1f} ms, p99 {q_lat[98] * 1000:.1f} ms\n"
          f"  BEGIN IMMEDIATE waited: median {q_wait[49] * 1000:.2f} ms, p90 "
          f"{q_wait[89] * 1000:.2f} ms, p99 {q_wait[98] * 1000:.2f} ms, max "
          f"{max(waits) * 1000:.1f} ms; {sum(waits) / sum(latencies):.0%} of all request time\n"
          f"  write lock held from BEGIN to COMMIT (COMMIT itself excluded): median "
          f"{statistics.median(holds) * 1000:.2f} ms")


def signed_post(client: Any, base: str, target: Target, params: dict[str, str]) -> None:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(base + target.path, params)
    r = client.post(target.path, data=params, headers={"X-Twilio-Signature": signature})
    if r.status_code != 200 or target.expect not in r.data:
        raise SystemExit(f"profile: {target.path} answered {r.status_code} {r.data[:300]!r}")


def print_profile(label: str, stats: pstats.Stats, n: int, elapsed: float) -> None:
    entries: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = dict.fromkeys((c[0] for c in COMPONENTS), 0.0)
    for name, suffix, func, caller in COMPONENTS:
        for (filename, _line, funcname), (_cc, _nc, _tt, ct, callers) in entries.items():
            if funcname != func or not filename.endswith(suffix):
                continue
            if not caller:
                totals[name] += ct
            else:
                totals[name] += sum(c[3] for key, c in callers.items() if key[0].endswith(caller))
    whole = totals[COMPONENTS[0][0]] or 1e-9
    print(f"\n{label}: {n} requests in-process (Flask test client, one thread), cumulative time "
          f"per request under cProfile ({elapsed / n * 1000:.2f} ms/request with its overhead)")
    for name, total in totals.items():
        print(f"  {name:<46} {total / n * 1000:7.3f} ms  {total / whole:6.1%}")
    print("  top functions by own time:")
    own = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)[:12]
    for (filename, line, funcname), (_cc, nc, tt, _ct, _callers) in own:
        where = "" if filename == "~" else " " + "/".join(Path(filename).parts[-2:]) + f":{line}"
        print(f"    {tt / n * 1000:7.3f} ms  {tt / whole:6.1%}  {nc / n:6.1f} calls/request  "
              f"{funcname}{where}")


def main(argv: list[str] | None = None) -> int:
    global GUNICORN_WORKERS, GUNICORN_THREADS  # one server shape for the whole run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="measured seconds per target (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="unmeasured seconds before each measurement (default 3)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="concurrent connections, one client process each (default 8)")
    parser.add_argument("--max-requests", type=int, default=100_000,
                        help="stop a target after this many measured requests (default 100000)")
    parser.add_argument("--server", choices=("gunicorn", "werkzeug"), default="gunicorn")
    parser.add_argument("--workers", type=int, default=GUNICORN_WORKERS,
                        help="gunicorn processes for the floor and the app (callcenter run uses "
                        "1 on SQLite, 2 otherwise)")
    parser.add_argument("--threads", type=int, default=GUNICORN_THREADS,
                        help="gunicorn threads per process (callcenter run: 8 on SQLite, 4)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 3 s per target after 1 s warm-up")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="instead of the load run, profile N requests of each webhook "
                             "in-process with cProfile")
    parser.add_argument("--serve", choices=("app", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    GUNICORN_WORKERS, GUNICORN_THREADS = args.workers, args.threads
    if args.serve:
        serve(args.serve, args.port)
        return 0
    if args.profile:
        profile(args.profile)
        return 0
    if args.quick:
        args.seconds, args.warmup = 3.0, 1.0
    if args.concurrency < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--concurrency must be at least 1 and --seconds positive")
    return benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
