"""A whole call centre in real processes, driven by simulated callers: the multi-process test's
and benchmarks/capacity.py's shared harness.

The app runs as `callcenter run` runs it (callcenter.stack.child_specs: gunicorn, RQ workers,
the router's cron), each process the leader of its own process group with its output in a
log file. The local phone network runs in this process (NetworkServer on a RealClock), so the
callers, the agents' `client:` endpoints and every leg's transcript are at hand; the app
reaches it at CALLCENTER_PHONE_NETWORK_URL and it posts signed webhooks to gunicorn.

gunicorn writes an access log of `<status> <microseconds> <path>` lines: the webhook log in
which 5xx answers and latencies are counted.
"""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

from benchmarks.webhooks import LOG_PROBLEMS, free_port
from callcenter.stack import (
    Child,
    child_running,
    child_specs,
    healthy,
    start_child,
    stop_children,
    wait_until,
)
from config.settings import LOCAL_ACCOUNT_SID, ROOT, Settings
from phone_network.clock import RealClock
from phone_network.network import PhoneNetwork
from phone_network.parties import Answering
from phone_network.rest_api import Credentials
from phone_network.server import NetworkServer

BIN = Path(sys.executable).parent
HOTLINE = "+864008001234"
AUTH_TOKEN = "live-stack-token-" + "7" * 16
# Open around the clock, so that a run does not depend on the time of day (benchmarks/webhooks.py).
ALWAYS_OPEN = "mon-sun 00:00-12:00; mon-sun 12:00-24:00"
ACCESS_FORMAT = "%(s)s %(D)s %(U)s"
# gunicorn closes a keep-alive connection idle for 2 s (its default). The network keeps one
# connection pool per leg and reuses a connection after longer silences; when the close and
# the reuse cross, the network now retries once on a new connection (as Twilio does). The
# capacity figures in docs/PERFORMANCE.md were measured before that fix, with this option.
LONG_KEEP_ALIVE = ("--keep-alive", "75")
_ACCESS_LINE = re.compile(r"^(\d{3}) (\d+) (\S+)$")


def queues_file(directory: Path, *, wrap_up_s: int, ring_timeout_s: int = 20) -> Path:
    """A copy of config/queues.toml with a shorter wrap-up (and ring timeout), in `directory`."""
    text = (ROOT / "config" / "queues.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^wrap_up_s = \d+", f"wrap_up_s = {wrap_up_s}", text)
    text = re.sub(r"(?m)^ring_timeout_s = \d+", f"ring_timeout_s = {ring_timeout_s}", text)
    path = directory / "queues.toml"
    path.write_text(text, encoding="utf-8")
    return path


def stack_environment(
    directory: Path,
    *,
    database_url: str,
    redis_url: str,
    web_port: int,
    network_url: str,
    wrap_up_s: int,
    redis_prefix: str = "cc:",
    log_level: str = "INFO",
) -> dict[str, str]:
    """The children's environment: ours without any CALLCENTER_* setting, plus the stack's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    instance = directory / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "CALLCENTER_INSTANCE_PATH": str(instance),
            "CALLCENTER_DATABASE_URL": database_url,
            "CALLCENTER_REDIS_URL": redis_url,
            "CALLCENTER_REDIS_PREFIX": redis_prefix,
            "CALLCENTER_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "CALLCENTER_PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
            "CALLCENTER_PHONE_NETWORK_URL": network_url,
            "CALLCENTER_QUEUES_PATH": str(queues_file(directory, wrap_up_s=wrap_up_s)),
            "CALLCENTER_BUSINESS_HOURS": ALWAYS_OPEN,
            "CALLCENTER_CALLING_HOURS": ALWAYS_OPEN,  # runs at any hour: callbacks are made
            "CALLCENTER_LOG_LEVEL": log_level,
            "PYTHONUNBUFFERED": "1",
            # The working tree's packages, as gunicorn (--chdir) sees them, also for the
            # `callcenter` commands: a package not yet in the editable install still imports.
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        }
    )
    return env


def run_command(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """Run a `callcenter` command to completion; its output, or SystemExit with it."""
    done = subprocess.run(  # noqa: S603 - our own executable
        [str(BIN / "callcenter"), *argv],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"callcenter {' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


class LogFile:
    """Stands in for callcenter.stack.Console: every child's lines go to one file, prefixed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._out: IO[str] = path.open("a", encoding="utf-8")

    def line(self, name: str, text: str) -> None:
        self.message(f"{name:<8} | {text}")

    def message(self, text: str) -> None:
        with self._lock:
            self._out.write(text + "\n")
            self._out.flush()

    def close(self) -> None:
        with self._lock:
            self._out.close()


@dataclass
class Processes:
    """The started children, where they log, and the peak RSS seen of each process."""

    children: list[Child]
    log: LogFile
    access_log: Path
    peak_rss: dict[str, int] = field(default_factory=dict)  # "web", "web: forked" -> bytes
    pids: dict[str, set[int]] = field(default_factory=dict)  # the processes behind each key

    def dead(self) -> list[str]:
        """Children that exited on their own, with how."""
        return [
            f"{c.name} exited with {c.process.returncode}"
            for c in self.children
            if c.process.poll() is not None
        ]

    def sample_rss(self) -> None:
        """Record RSS peaks: each child's leader, and the largest process it forked (gunicorn
        workers, RQ work-horses), with how many such processes were seen."""
        for child in self.children:
            with contextlib.suppress(psutil.Error):
                leader = psutil.Process(child.process.pid)
                for proc in (leader, *leader.children(recursive=True)):
                    with contextlib.suppress(psutil.Error):
                        key = child.name if proc.pid == leader.pid else f"{child.name}: forked"
                        rss = proc.memory_info().rss
                        self.peak_rss[key] = max(self.peak_rss.get(key, 0), rss)
                        self.pids.setdefault(key, set()).add(proc.pid)

    def problems(self) -> list[str]:
        """Log lines of the children that name a failure (tracebacks, errors, timeouts)."""
        lines = self.log.path.read_text(errors="replace").splitlines()
        return [line for line in lines if LOG_PROBLEMS.search(line)]


@contextlib.contextmanager
def running_processes(
    settings: Settings,
    env: Mapping[str, str],
    directory: Path,
    *,
    web_port: int,
    web_workers: int | None,
    job_workers: int,
    web_options: Sequence[str] = (),
    ready_timeout: float = 60.0,
) -> Iterator[Processes]:
    """Start gunicorn, the RQ workers and the cron like `callcenter run`; stop them all after.

    `web_options` are added to gunicorn's command line (e.g. --keep-alive 75).

    Every child leads its own process group, which is SIGTERMed (then SIGKILLed) at the end.
    """
    access_log = directory / "access.log"
    specs = []
    for spec in child_specs(
        settings, host="127.0.0.1", port=web_port, web_workers=web_workers, job_workers=job_workers
    ):
        if spec.name == "phone":  # the network runs in this process
            continue
        if spec.name == "web":
            *head, app = spec.argv
            extra = (
                "--access-logfile",
                str(access_log),
                "--access-logformat",
                ACCESS_FORMAT,
                *web_options,
            )
            spec = type(spec)(spec.name, (*head, *extra, app))
        specs.append(spec)
    log = LogFile(directory / "stack.log")
    children: list[Child] = []
    procs = Processes(children, log, access_log)
    try:
        for spec in specs:
            children.append(start_child(spec, env, log))  # type: ignore[arg-type]
        health = f"http://127.0.0.1:{web_port}/healthz"
        if not wait_until(lambda: healthy(health) or bool(procs.dead()), ready_timeout):
            raise SystemExit(f"{health} did not answer 200 within {ready_timeout:g} s")
        if procs.dead():
            raise SystemExit(f"the stack did not start: {procs.dead()}; see {log.path}")
        yield procs
    finally:
        stop_children(children)
        log.close()
        left = [c.name for c in children if child_running(c)]
        if left:
            raise SystemExit(f"process groups still running after the stop: {left}")


def caller_phones(env: dict[str, str]) -> list[str]:
    """Numbers of seeded customers (identified callers skip the identification prompt)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from core.db import make_engine
    from core.models import CustomerPhone

    engine = make_engine(Settings.from_env(env).effective_database_url)
    with Session(engine) as s:
        phones = list(s.scalars(select(CustomerPhone.e164)))
    engine.dispose()
    return phones


def make_agents(settings: Settings, count: int, *, login_prefix: str) -> list[str]:
    """Create `count` general agents (both languages) and make them available; their client
    identities."""
    from callcenter.app import create_app
    from callcenter.jobs import router as jobs
    from callcenter.runtime import runtime
    from core.models import Language
    from queues.models import Actor, AgentState, Post
    from queues.presence import create_agent

    app = create_app(settings)
    identities = []
    with app.app_context():
        rt = runtime()
        with rt.unit_of_work() as uow:
            agents = [
                create_agent(
                    uow.session,
                    login=f"{login_prefix}{i:03d}",
                    display_name=f"{login_prefix.title()} {i}",
                    posts=[Post.FRONT_DESK],
                    skills={"general": 3},
                    languages=[Language.ZH, Language.EN],
                    now=rt.clock(),
                )
                for i in range(count)
            ]
            uow.session.flush()
            ids = [(a.id, a.client_identity) for a in agents]
        for agent_id, identity in ids:
            with rt.unit_of_work() as uow:
                jobs.set_agent_state(
                    rt, uow, agent_id, AgentState.AVAILABLE, reason=None, actor=Actor.AGENT
                )
            identities.append(identity)
        rt.engine.dispose()
    return identities


@contextlib.contextmanager
def phone_network(*, play_seconds: float = 2.0) -> Iterator[tuple[PhoneNetwork, NetworkServer]]:
    """The local phone network on a RealClock, served on a free loopback port."""
    net = PhoneNetwork(
        account_sid=LOCAL_ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        clock=RealClock(),
        play_seconds=play_seconds,
    )
    server = NetworkServer(net, Credentials(LOCAL_ACCOUNT_SID, AUTH_TOKEN), port=free_port())
    server.start()
    try:
        yield net, server
    finally:
        server.stop()


def add_hotline(net: PhoneNetwork, web_port: int) -> None:
    base = f"http://127.0.0.1:{web_port}/twilio/voice"
    net.add_number(
        HOTLINE,
        voice_url=f"{base}/incoming",
        fallback_url=f"{base}/fallback",
        status_callback=f"{base}/status",
        all_status_events=True,
    )


def add_agent_endpoints(net: PhoneNetwork, identities: Sequence[str], answering: Answering) -> None:
    for identity in identities:
        net.add_endpoint(f"client:{identity}", answering)


@dataclass(frozen=True)
class AccessRecord:
    status: int
    seconds: float
    path: str


def read_access_log(path: Path, *, skip: int = 0) -> list[AccessRecord]:
    """gunicorn's access log from line `skip` on, webhooks only (/twilio/...)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(errors="replace").splitlines()[skip:]:
        found = _ACCESS_LINE.match(line.strip())
        if found and found.group(3).startswith("/twilio/"):
            records.append(
                AccessRecord(int(found.group(1)), int(found.group(2)) / 1e6, found.group(3))
            )
    return records


def access_log_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as f:
        return sum(1 for _ in f)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by the nearest rank; NaN when there are no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def failed_jobs(redis: Any, queue_names: Sequence[str]) -> int:
    """Jobs in the failed registries of the app's RQ queues."""
    from rq import Queue

    return sum(len(Queue(name, connection=redis).failed_job_registry) for name in queue_names)
