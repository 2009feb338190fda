"""Tests of `callcenter run` (the supervised embedded stack) and `callcenter worker`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue

from callcenter.runtime import QUEUE_NAMES
from callcenter.stack import (
    bind_address,
    child_environment,
    child_specs,
    exit_reason,
    local_url,
    redact,
    url_address,
    worker_queues,
)
from config.settings import ROOT, Settings

CALLCENTER = Path(sys.executable).parent / "callcenter"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 40.0  # the supervisor's own worst case is 30 s (two SIGTERM/SIGKILL rounds)
PROC = Path("/proc")

needs_proc = pytest.mark.skipif(
    not (PROC / "self" / "stat").exists(), reason="reads the process tree from /proc"
)


# ---------------------------------------------------------------------------------------------
# Pure parts


def test_worker_serves_selected_queues_in_priority_order() -> None:
    assert worker_queues(()) == list(QUEUE_NAMES)
    assert worker_queues(("low", "high")) == ["high", "low"]


def test_stack_runs_gunicorn_from_the_project_root_then_worker_cron_and_phone_network() -> None:
    settings = Settings(phone_network_url="http://127.0.0.1:5999")

    specs = child_specs(settings, host="127.0.0.1", port=6000, web_workers=3, job_workers=1)

    assert [spec.name for spec in specs] == ["web", "worker", "cron", "phone"]
    web = specs[0].argv
    assert Path(web[0]).name == "gunicorn"
    assert web[web.index("--chdir") + 1] == str(ROOT)
    assert web[web.index("--bind") + 1] == "127.0.0.1:6000"
    assert web[web.index("--workers") + 1] == "3"
    assert web[-1] == "wsgi:app"
    assert specs[1].argv[1:] == ("worker",)
    assert specs[2].argv[1:] == ("cron",)
    assert specs[3].argv[1:] == ("phone-network", "--host", "127.0.0.1", "--port", "5999")


@pytest.mark.parametrize(
    ("database_url", "workers", "expected"),
    [
        ("", None, ("1", "8")),
        ("", 1, ("1", "8")),
        ("", 3, ("3", "4")),
        ("postgresql+psycopg://cc@db/cc", None, ("2", "4")),
    ],
)
def test_web_concurrency_is_one_process_on_sqlite(
    database_url: str, workers: int | None, expected: tuple[str, str]
) -> None:
    settings = Settings(database_url=database_url)
    web = child_specs(settings, host="127.0.0.1", port=5000, web_workers=workers, job_workers=1)[
        0
    ].argv
    assert (web[web.index("--workers") + 1], web[web.index("--threads") + 1]) == expected


def test_stack_names_job_workers_and_skips_the_phone_network_on_real_twilio() -> None:
    settings = Settings(twilio_account_sid="AC" + "a1" * 16)

    specs = child_specs(settings, host="127.0.0.1", port=5000, web_workers=2, job_workers=2)

    assert [spec.name for spec in specs] == ["web", "worker-1", "worker-2", "cron"]


def test_stack_leaves_out_a_phone_network_that_already_runs() -> None:
    settings = Settings(phone_network_url="http://127.0.0.1:5999")

    specs = child_specs(
        settings,
        host="127.0.0.1",
        port=5000,
        web_workers=None,
        job_workers=1,
        network_running=True,
    )

    assert [spec.name for spec in specs] == ["web", "worker", "cron"]


def test_children_share_one_redis_and_get_absolute_configured_paths() -> None:
    settings = Settings(instance_path=Path("relative/instance"))

    env = child_environment({"PATH": "/usr/bin"}, settings, "unix:///tmp/r/redis.socket")

    assert env["PATH"] == "/usr/bin"
    assert env["CALLCENTER_REDIS_URL"] == "unix:///tmp/r/redis.socket"
    assert env["CALLCENTER_INSTANCE_PATH"] == str(Path.cwd() / "relative" / "instance")
    assert "CALLCENTER_MENUS_PATH" not in env  # defaults stay defaults


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:5001", ("127.0.0.1", 5001)),
        ("http://localhost", ("localhost", 80)),
        ("https://[::1]/", ("::1", 443)),
    ],
)
def test_phone_network_address_comes_from_its_url(url: str, address: tuple[str, int]) -> None:
    assert url_address(url) == address


def test_wildcard_and_ipv6_hosts_are_reached_on_loopback() -> None:
    assert bind_address("::1", 5000) == "[::1]:5000"
    assert local_url("0.0.0.0", 5000) == "http://127.0.0.1:5000"  # noqa: S104
    assert local_url("::", 5000) == "http://[::1]:5000"


def test_banner_urls_hide_passwords() -> None:
    assert redact("postgresql+psycopg://cc:s3cret@db/cc") == "postgresql+psycopg://cc:***@db/cc"
    assert redact("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact("unix:///tmp/redis.socket") == "unix:///tmp/redis.socket"


def test_exit_reason_names_the_killing_signal() -> None:
    assert exit_reason(3) == "exited with code 3"
    assert exit_reason(-signal.SIGKILL) == "was killed by SIGKILL"


# ---------------------------------------------------------------------------------------------
# callcenter worker


def _instance_path_seen_by_job() -> str:
    """A job that needs the app context: it reads the worker's Runtime."""
    from callcenter.runtime import runtime

    return str(runtime().settings.instance_path)


@pytest.mark.slow
def test_worker_runs_jobs_inside_the_app_then_quits_in_burst_mode(
    tmp_path: Path, redis: Redis
) -> None:
    job = Queue("low", connection=redis).enqueue(
        f"{__name__}._instance_path_seen_by_job", job_id="stack-test-job"
    )
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = _embedded_env(
        tmp_path / "instance", CALLCENTER_REDIS_URL=_url_of(redis), PYTHONPATH=python_path
    )  # the worker imports the job from this module

    done = subprocess.run(  # noqa: S603
        [CALLCENTER, "worker", "--queue", "low", "--burst", "--without-scheduler"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    job.refresh()
    assert job.get_status() == "finished", done.stdout + done.stderr
    assert job.return_value() == str(tmp_path / "instance")


# ---------------------------------------------------------------------------------------------
# callcenter run


@dataclass(frozen=True, slots=True)
class Proc:
    """A process as /proc shows it; (pid, start time) identifies it even if the pid is reused."""

    pid: int
    ppid: int
    pgrp: int
    session: int
    state: str
    start_time: int
    cmdline: str


@needs_proc
@pytest.mark.slow
def test_run_serves_healthz_and_sigint_leaves_no_process_behind(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    web_port, phone_port = _free_ports(2)
    env = _embedded_env(
        instance,
        CALLCENTER_PUBLIC_BASE_URL=f"http://127.0.0.1:{web_port}",
        CALLCENTER_PHONE_NETWORK_URL=f"http://127.0.0.1:{phone_port}",
    )
    migrated = subprocess.run(
        [CALLCENTER, "db", "upgrade"],
        env=env,  # noqa: S603
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    log_path = tmp_path / "stack.log"

    with log_path.open("wb") as log:
        stack = subprocess.Popen(  # noqa: S603
            [CALLCENTER, "run", "--port", str(web_port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_health(f"http://127.0.0.1:{web_port}/healthz", stack, log_path)
            tree = _settled_tree(stack.pid, instance)
            stack.send_signal(signal.SIGINT)
            stack.wait(timeout=STOP_TIMEOUT)
        finally:
            _stop_after_failure(stack, instance)

    survivors = _kill_survivors(tree)
    output = log_path.read_text(errors="replace")
    assert survivors == [], output
    assert stack.returncode == 0, output


def _embedded_env(instance: Path, **extra: str) -> dict[str, str]:
    """Our environment without any CALLCENTER_ setting (embedded defaults), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    return {**env, "CALLCENTER_INSTANCE_PATH": str(instance), **extra}


def _url_of(conn: Redis) -> str:
    kwargs = conn.connection_pool.connection_kwargs
    db = kwargs.get("db", 0)
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={db}"
    return f"redis://{kwargs['host']}:{kwargs['port']}/{db}"


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _wait_for_health(url: str, stack: subprocess.Popen[bytes], log_path: Path) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if stack.poll() is not None:
            pytest.fail(
                f"callcenter run exited with {stack.returncode}:\n"
                f"{log_path.read_text(errors='replace')}"
            )
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            exc.close()
        except OSError:
            pass
        time.sleep(0.25)
    pytest.fail(
        f"{url} did not answer 200 in {START_TIMEOUT:.0f} s:\n"
        f"{log_path.read_text(errors='replace')}"
    )


def _settled_tree(root: int, instance: Path) -> list[Proc]:
    """Every process of the stack, once their set stops changing (RQ forks its scheduler late).

    That is the supervisor's descendants, every process in its children's process groups and
    sessions (in case one was orphaned), and the embedded redis-server (by its pidfile in the
    instance folder, in case it was not started as a child).
    """
    previous: set[int] = set()
    deadline = time.monotonic() + 20
    while True:
        tree = _stack_processes(root, instance)
        pids = {proc.pid for proc in tree}
        if pids == previous or time.monotonic() > deadline:
            break
        previous = pids
        time.sleep(1.0)
    commands = " ".join(proc.cmdline for proc in tree)
    for part in ("gunicorn", "callcenter worker", "phone-network", "redis-server"):
        assert part in commands, f"{part} is not running: {commands}"
    return tree


def _stack_processes(root: int, instance: Path) -> list[Proc]:
    table = _process_table()
    found = {root}
    while True:
        more = {p.pid for p in table.values() if p.ppid in found} - found
        if not more:
            break
        found |= more
    children = {p.pid for p in table.values() if p.ppid == root}
    found |= {p.pid for p in table.values() if p.pgrp in children or p.session in children}
    if (redis_pid := _embedded_redis_pid(instance)) is not None:
        found.add(redis_pid)
    found.discard(root)
    return [table[pid] for pid in sorted(found) if pid in table]


def _embedded_redis_pid(instance: Path) -> int | None:
    """The embedded redis-server's pid, from the pidfile it writes in the instance folder."""
    try:
        return int((instance / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _process_table() -> dict[int, Proc]:
    table = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (proc := _read_proc(int(entry.name))) is not None:
            table[proc.pid] = proc
    return table


def _read_proc(pid: int) -> Proc | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        cmdline = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    fields: list[str] = stat.rsplit(")", 1)[1].split()  # after "pid (comm)"
    return Proc(
        pid=pid,
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        session=int(fields[3]),
        state=fields[0],
        start_time=int(fields[19]),
        cmdline=cmdline.replace(b"\0", b" ").decode(errors="replace").strip(),
    )


def _still_running(proc: Proc) -> bool:
    """Whether that very process still runs; a zombie nobody reaped yet has stopped."""
    now = _read_proc(proc.pid)
    return now is not None and now.start_time == proc.start_time and now.state not in ("Z", "X")


def _stop_after_failure(stack: subprocess.Popen[bytes], instance: Path) -> None:
    """If the test failed with the stack still up, stop it, and kill what it leaves."""
    if stack.poll() is not None:
        return
    leftovers = _stack_processes(stack.pid, instance)
    stack.send_signal(signal.SIGINT)
    try:
        stack.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        stack.kill()
        stack.wait()
    _kill_survivors(leftovers)


def _kill_survivors(tree: list[Proc]) -> list[str]:
    """SIGKILL the processes of `tree` that still run (so a failure leaves nothing behind)."""
    survivors = [proc for proc in tree if _still_running(proc)]
    for proc in survivors:
        os.kill(proc.pid, signal.SIGKILL)
    return [proc.cmdline for proc in survivors]


def test_cron_duties_load_and_fall_due_on_their_own_timers() -> None:
    from callcenter.stack import DUTIES, due_duties

    assert all(callable(d.load()) for d in DUTIES)
    assert [d.name for d in due_duties({}, 0.0)] == [d.name for d in DUTIES]  # never run: due
    ran = {d.name: 100.0 for d in DUTIES}
    assert [d.name for d in due_duties(ran, 103.0)] == ["router"]
    assert {d.name for d in due_duties(ran, 106.0)} == {"router", "heartbeat", "alerts", "outbound"}
