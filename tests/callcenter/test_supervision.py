"""Process supervision of `callcenter run`: restarts with backoff, children that die with the
supervisor, the port check, and the embedded Redis that every command finds."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.runtime import embedded_redis_socket
from callcenter.stack import (
    RestartPolicy,
    address_in_use,
    embedded_redis,
    healthy,
    next_restart,
    redis_config,
    refuse_running_embedded_redis,
)
from config.settings import Settings
from core.db import make_engine
from phone_network.remote import RemoteNetwork
from queues.config import load_queues
from queues.models import QueuedCall, QueuedCallStatus
from queues.waiting import WaitingList
from tests.callcenter.test_stack import (
    CALLCENTER,
    STOP_TIMEOUT,
    Proc,
    _embedded_env,
    _free_ports,
    _kill_survivors,
    _process_table,
    _settled_tree,
    _still_running,
    _stop_after_failure,
    _wait_for_health,
    needs_proc,
)

ALWAYS_OPEN = "mon-sun 00:00-12:00; mon-sun 12:00-24:00"
VIP = "+8613800138000"  # the demo customer 王芳: identified by her number
TO_AN_AGENT = ("press 1", "press 0")  # Mandarin, then "an agent" (the general queue)
GONE_WITHIN = 5.0  # seconds after a kill -9 of the supervisor by which every child is gone

# ---------------------------------------------------------------------------------------------
# The restart decision (pure)


def test_restarts_wait_one_second_then_double_up_to_the_cap() -> None:
    policy = RestartPolicy(first_delay_s=1, max_delay_s=30, stable_after_s=60)
    delays, streak = [], 0
    for n in range(8):  # each dies 2 s after its start
        restart = next_restart(
            started_at=100.0 * n, now=100.0 * n + 2, streak=streak, policy=policy
        )
        delays.append(restart.delay_s)
        streak = restart.streak
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]
    assert streak == 8


def test_a_child_that_ran_long_enough_starts_over_at_the_first_delay() -> None:
    policy = RestartPolicy(first_delay_s=1, max_delay_s=30, stable_after_s=60)

    assert next_restart(started_at=0, now=60, streak=5, policy=policy).delay_s == 1
    assert next_restart(started_at=0, now=60, streak=5, policy=policy).streak == 1
    assert next_restart(started_at=0, now=59.9, streak=5, policy=policy).delay_s == 30


def test_the_default_policy_never_gives_up() -> None:
    restart = next_restart(started_at=0, now=0, streak=10_000)
    assert restart.delay_s == RestartPolicy().max_delay_s


# ---------------------------------------------------------------------------------------------
# Ports and the embedded Redis's place


def test_a_listening_port_is_in_use_and_a_free_one_is_not() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert address_in_use("127.0.0.1", port) is not None
    assert address_in_use("127.0.0.1", port) is None


def test_run_refuses_a_busy_web_or_phone_port_before_starting_anything(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    web_port, phone_port = _free_ports(2)
    env = _embedded_env(instance, CALLCENTER_PHONE_NETWORK_URL=f"http://127.0.0.1:{phone_port}")
    for busy, what in ((web_port, "the web app"), (phone_port, "the phone network")):
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", busy))
            squatter.listen()
            done = subprocess.run(  # noqa: S603
                [CALLCENTER, "run", "--port", str(web_port)],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"Error: {what} cannot listen on 127.0.0.1:{busy}: " in done.stderr
        assert "Starting the call centre" not in done.stdout  # nothing was started
        assert not (instance / "redis.sock").exists()


def test_embedded_socket_is_in_the_instance_unless_the_path_is_too_long(tmp_path: Path) -> None:
    short = Settings(instance_path=tmp_path / "instance")
    long = Settings(instance_path=tmp_path / ("x" * 120))

    assert embedded_redis_socket(short) == (tmp_path / "instance" / "redis.sock").resolve()
    moved = embedded_redis_socket(long)
    assert len(str(moved)) <= 107 and moved.name.startswith("callcenter-")
    assert embedded_redis_socket(Settings(instance_path=tmp_path / ("x" * 120))) == moved
    assert embedded_redis_socket(Settings(instance_path=tmp_path / ("y" * 120))) != moved


@pytest.mark.slow
def test_embedded_redis_keeps_its_data_in_the_instance_across_restarts(tmp_path: Path) -> None:
    settings = Settings(instance_path=tmp_path / "an instance")  # a space, quoted in the config
    assert '"' + str((tmp_path / "an instance").resolve()) + '"' in redis_config(settings)

    with embedded_redis(settings) as url:
        Redis.from_url(url).set("kept", "yes")
        with pytest.raises(click.ClickException, match="already runs"):
            refuse_running_embedded_redis(settings)  # a second stack on the same instance
    assert (tmp_path / "an instance" / "redis.db").exists()  # saved on the clean stop
    with embedded_redis(settings) as url:
        assert Redis.from_url(url).get("kept") == b"yes"


# ---------------------------------------------------------------------------------------------
# A real stack


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    instance: Path
    env: dict[str, str]
    log: Path
    web_port: int
    phone_url: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/healthz"

    def children(self) -> dict[str, Proc]:
        """The supervisor's direct children by role (their command lines tell them apart)."""
        roles = {
            "redis": "redis-server",
            "web": "gunicorn",
            "worker": "callcenter worker",
            "cron": "callcenter cron",
            "phone": "phone-network",
        }
        found = {}
        for proc in _process_table().values():
            if proc.ppid == self.process.pid and proc.state not in ("Z", "X"):
                for role, mark in roles.items():
                    if mark in proc.cmdline:
                        found[role] = proc
        return found

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Another terminal's `callcenter` command on this instance (no CALLCENTER_REDIS_URL)."""
        env = {k: v for k, v in self.env.items() if k != "CALLCENTER_REDIS_URL"}
        return subprocess.run(  # noqa: S603
            [CALLCENTER, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def wait_for(self, what: str, condition: Callable[[], object], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"callcenter run exited:\n{self.output()}"
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout:g} s\n{self.output()}")
            time.sleep(0.25)


@contextmanager
def running_stack(tmp_path: Path) -> Iterator[Stack]:
    instance = tmp_path / "instance"
    web_port, phone_port = _free_ports(2)
    phone_url = f"http://127.0.0.1:{phone_port}"
    env = _embedded_env(
        instance,
        CALLCENTER_PUBLIC_BASE_URL=f"http://127.0.0.1:{web_port}",
        CALLCENTER_PHONE_NETWORK_URL=phone_url,
        CALLCENTER_BUSINESS_HOURS=ALWAYS_OPEN,
    )
    for step in (["db", "upgrade"], ["seed-demo"]):
        done = subprocess.run(  # noqa: S603
            [CALLCENTER, *step],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    log_path = tmp_path / "stack.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            [CALLCENTER, "run", "--port", str(web_port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_health(f"http://127.0.0.1:{web_port}/healthz", process, log_path)
            yield Stack(process, instance, env, log_path, web_port, phone_url)
        finally:
            _stop_after_failure(process, instance)


@needs_proc
@pytest.mark.slow
def test_kill_9_of_run_leaves_no_child_or_grandchild_behind(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        tree = _settled_tree(stack.process.pid, stack.instance)
        forked = [p for p in tree if p.ppid != stack.process.pid]
        commands = " ".join(p.cmdline for p in forked)
        assert "gunicorn" in commands and "callcenter worker" in commands, commands  # grandchildren

        stack.process.kill()
        stack.process.wait(timeout=STOP_TIMEOUT)
        deadline = time.monotonic() + GONE_WITHIN
        while any(map(_still_running, tree)) and time.monotonic() < deadline:
            time.sleep(0.1)

    survivors = _kill_survivors(tree)
    assert survivors == [], stack.output()


def _session(instance: Path) -> Session:
    return Session(make_engine(f"sqlite:///{instance / 'callcenter.db'}"))


def _entry(instance: Path, call_sid: str) -> QueuedCall | None:
    with _session(instance) as s:
        return s.scalars(select(QueuedCall).where(QueuedCall.call_sid == call_sid)).first()


def _status(instance: Path, call_sid: str) -> QueuedCallStatus | None:
    entry = _entry(instance, call_sid)
    return None if entry is None else entry.status


@needs_proc
@pytest.mark.slow
def test_killed_children_are_restarted_and_the_stack_keeps_routing_calls(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        settings = Settings.from_env(stack.env)
        redis = Redis(unix_socket_path=str(embedded_redis_socket(settings)))
        waiting = WaitingList(
            redis, settings.redis_prefix, load_queues(settings.queues_path).priority
        )
        network = RemoteNetwork(stack.phone_url, settings.account_sid, settings.signing_token)
        first = network.place_call(
            from_=VIP, to=settings.hotline_number, script=list(TO_AN_AGENT), max_hold=600
        )
        stack.wait_for(
            "the caller waits for an agent",
            lambda: _status(stack.instance, first) == QueuedCallStatus.WAITING,
        )
        entry = _entry(stack.instance, first)
        assert entry is not None
        stack.wait_for("the caller is on the waiting list", lambda: waiting.waiting(str(entry.id)))

        # `queues rebuild` from another terminal reaches the stack's own Redis.
        assert waiting.remove(str(entry.id))
        rebuilt = stack.command("queues", "rebuild")
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert rebuilt.stdout.startswith("waiting list rebuilt: 1 waiting callers"), rebuilt.stdout
        assert waiting.waiting(str(entry.id)) is not None

        # Kill -9 the worker, the cron, the embedded Redis and gunicorn's master.
        before = stack.children()
        assert set(before) == {"redis", "web", "worker", "cron", "phone"}, before
        for role in ("worker", "cron", "redis", "web"):
            os.kill(before[role].pid, signal.SIGKILL)
        for role in ("worker", "cron", "redis", "web"):
            line = re.compile(
                rf"^{role} was killed by SIGKILL; restarting in \d+ s \(restart 1\)$", re.M
            )
            stack.wait_for(
                f"{role}'s restart is logged", lambda line=line: line.search(stack.output())
            )
        stack.wait_for(
            "every child runs again, anew",
            lambda: all(
                role in (now := stack.children()) and now[role].pid != before[role].pid
                for role in ("worker", "cron", "redis", "web")
            ),
        )
        stack.wait_for("/healthz answers 200 again", lambda: healthy(stack.health_url()))
        stack.wait_for(
            "the supervisor says so", lambda: "answers /healthz again." in stack.output()
        )

        # Redis came back with its last save; the operator's rebuild puts the caller back,
        # and agents who become available take the waiting caller and a new one.
        rebuilt = stack.command("queues", "rebuild")
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        for login in ("li.na", "chen.jing"):
            done = stack.command("agents", "state", login, "available")
            assert done.returncode == 0, done.stdout + done.stderr
        stack.wait_for(
            "the caller who waited through the kills is connected",
            lambda: _status(stack.instance, first) == QueuedCallStatus.CONNECTED,
        )
        second = network.place_call(
            from_=VIP, to=settings.hotline_number, script=list(TO_AN_AGENT), max_hold=600
        )
        stack.wait_for(
            "a new caller is connected",
            lambda: _status(stack.instance, second) == QueuedCallStatus.CONNECTED,
        )
        for sid in (first, second):
            network.hang_up(sid)
        network.close()
        redis.close()
        assert stack.process.poll() is None  # the stack never exited

        stack.process.send_signal(signal.SIGINT)
        stack.process.wait(timeout=STOP_TIMEOUT)
    assert stack.process.returncode == 0, stack.output()
