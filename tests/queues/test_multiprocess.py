"""The connect flow across real processes: gunicorn (4 workers), 2 RQ workers and the cron
sharing PostgreSQL and Redis, with 200 callers arriving over time and 20 agents.

The phone network runs in the test process on a real clock (the app's processes keep real
time, so a virtual clock here would disagree with theirs): every wait is real, so the agents
talk for a few seconds, wrap-up lasts 1 s and the hold music plays in 2 s turns. Each leg's
transcript is written to calls.jsonl in the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from benchmarks.live_stack import (
    add_agent_endpoints,
    add_hotline,
    failed_jobs,
    mean,
    phone_network,
    read_access_log,
    run_command,
    running_processes,
    stack_environment,
)
from benchmarks.webhooks import free_port
from callcenter.app import create_app
from callcenter.jobs import router as jobs
from callcenter.runtime import QUEUE_NAMES, runtime
from config.settings import Settings
from core.db import make_engine
from core.models import Customer, CustomerPhone, Language
from phone_network.calls import Call as NetworkCall
from phone_network.network import PhoneNetwork
from phone_network.parties import Answering, ScriptedCaller
from queues.models import Actor, Agent, AgentEvent, AgentState, QueuedCall, QueuedCallStatus
from tests.builders import add_agent

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DEFAULT_REDIS = "redis://127.0.0.1:6379"
CALLERS = 200
ARRIVALS_S = 45.0  # callers arrive evenly spread over this many seconds
AGENT_TALK_S = 4.0
WRAP_UP_S = 1
SETTLE_S = 150.0  # after the last arrival: every call ended and every agent free again
CLAIM_KEY = "cc-test-multiprocess"
BUSY = (AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP)


def _database_url() -> str:
    """The PostgreSQL of the test run; the SQLite pass skips this test (CI runs both passes,
    and two minutes of processes once is enough)."""
    url = os.environ.get("CALLCENTER_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("needs CALLCENTER_TEST_DATABASE_URL pointing at PostgreSQL")
    return url


def _redis_base() -> str:
    url = os.environ.get("CALLCENTER_TEST_REDIS_URL", "")
    return url.rsplit("/", 1)[0] if url.startswith("redis://") else DEFAULT_REDIS


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, Engine]]:
    """A schema of its own in PostgreSQL (dropped afterwards): its URL and an engine on it."""
    url = _database_url()
    admin = make_engine(url, connect_args={"connect_timeout": 3})
    schema = f"cc_mp_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL is not reachable at {url}: {exc.orig}")
    scoped = url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    engine = make_engine(scoped)
    try:
        yield scoped, engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def redis_db() -> Iterator[str]:
    """An empty Redis database number of our own, claimed with a key, flushed afterwards.

    RQ's keys take no prefix, so the stack needs a database to itself; the one the rest of
    the suite flushes around each test (CALLCENTER_TEST_REDIS_URL's) is never taken.
    """
    base = _redis_base()
    try:
        Redis.from_url(f"{base}/0", socket_connect_timeout=2).ping()
    except RedisError as exc:
        pytest.skip(f"Redis is not reachable at {base}: {exc}")
    suite_db = os.environ.get("CALLCENTER_TEST_REDIS_URL", "").rsplit("/", 1)[-1]
    for number in range(14, 0, -1):
        if str(number) == suite_db:
            continue
        conn = Redis.from_url(f"{base}/{number}")
        if conn.dbsize() == 0 and conn.set(CLAIM_KEY, os.getpid(), nx=True):
            try:
                yield f"{base}/{number}"
            finally:
                conn.flushdb()
                conn.close()
            return
        conn.close()
    pytest.skip("no empty Redis database number is free")


@dataclass(frozen=True)
class Caller:
    phone: str
    tier: str
    actions: tuple[str, ...]
    max_hold: float
    wants_callback: bool


def _callers(phones: dict[str, list[str]], rnd: random.Random) -> list[Caller]:
    """200 callers: a fifth VIPs; 15 % for pre-sales; 10 % give up early; 10 % ask a callback."""
    out = []
    for i in range(CALLERS):
        tier = "vip" if i % 5 == 0 else rnd.choice(("returning", "new"))
        route = ("press 1", "press 1") if rnd.random() < 0.15 else ("press 1", "press 0")
        kind = rnd.random()
        callback = kind < 0.10
        actions = (*route, "press 1", "press 1") if callback else route
        max_hold = rnd.uniform(3, 10) if 0.10 <= kind < 0.20 else 600.0
        out.append(Caller(rnd.choice(phones[tier]), tier, actions, max_hold, callback))
    return out


def _create_agents(engine: Engine, now: datetime) -> list[tuple[int, str]]:
    """20 agents: 15 general, 3 general + pre-sales, 2 pre-sales only."""
    mix = [{"general": 3}] * 15 + [{"general": 3, "presales": 3}] * 3 + [{"presales": 4}] * 2
    with Session(engine) as s, s.begin():
        agents = [
            add_agent(
                s,
                f"mp{i:02d}",
                display_name=f"MP {i:02d}",
                skills=skills,
                languages=[Language.ZH, Language.EN],
                now=now,
            )
            for i, skills in enumerate(mix)
        ]
        s.flush()
        return [(a.id, a.client_identity) for a in agents]


def _customer_phones(engine: Engine) -> dict[str, list[str]]:
    with Session(engine) as s:
        rows = s.execute(select(CustomerPhone.e164, Customer.tier).join(Customer)).all()
    phones: dict[str, list[str]] = defaultdict(list)
    for phone, tier in rows:
        phones[str(tier)].append(phone)
    return phones


def _set_available(settings: Settings, agent_ids: list[int]) -> None:
    app = create_app(settings)
    with app.app_context():
        rt = runtime()
        for agent_id in agent_ids:
            with rt.unit_of_work() as uow:
                jobs.set_agent_state(
                    rt, uow, agent_id, AgentState.AVAILABLE, reason=None, actor=Actor.AGENT
                )
        rt.engine.dispose()


def _place(net: PhoneNetwork, callers: list[Caller]) -> list[tuple[Caller, NetworkCall]]:
    legs = []
    started = time.monotonic()
    for i, caller in enumerate(callers):
        time.sleep(max(0.0, started + i * ARRIVALS_S / len(callers) - time.monotonic()))
        party = ScriptedCaller(caller.actions, max_hold=caller.max_hold)
        legs.append((caller, net.place_call(from_=caller.phone, to="+864008001234", party=party)))
    return legs


def _settled(engine: Engine, agent_ids: list[int]) -> bool:
    with Session(engine) as s:
        open_entries = s.scalar(
            select(QueuedCall.id).where(
                QueuedCall.status.in_((QueuedCallStatus.WAITING, QueuedCallStatus.ASSIGNED))
            )
        )
        states = s.scalars(select(Agent.state).where(Agent.id.in_(agent_ids))).all()
    return open_entries is None and all(state is AgentState.AVAILABLE for state in states)


def _done(net: PhoneNetwork, engine: Engine, agent_ids: list[int]) -> bool:
    """Every leg ended and every agent free again, or a webhook failed (no use waiting)."""
    calls = net.calls()
    if any(c.failures for c in calls):
        return True
    return all(not c.live for c in calls) and _settled(engine, agent_ids)


def _busy_overlaps(events: list[AgentEvent]) -> list[str]:
    """Agent-event sequences in which an agent took a call while holding another one."""
    problems = []
    held: str | None = None
    for e in events:
        if e.to_state is AgentState.RESERVED:
            if held is not None:
                problems.append(f"agent {e.agent_id} reserved for {e.call_sid} holding {held}")
            held = e.call_sid
        elif e.to_state in BUSY:
            if e.call_sid != held:
                problems.append(f"agent {e.agent_id} {e.to_state} for {e.call_sid} not {held}")
        else:
            held = None
    return problems


def test_two_hundred_callers_and_twenty_agents_across_processes(
    pg_schema: tuple[str, Engine], redis_db: str, tmp_path: Path
) -> None:
    """Every caller ends answered, abandoned or booked for a callback; nobody is connected
    twice, no agent holds two calls, VIPs wait less, and no process or webhook failed."""
    began = time.monotonic()
    database_url, engine = pg_schema
    web_port = free_port()
    with phone_network() as (net, net_server):
        env = stack_environment(
            tmp_path,
            database_url=database_url,
            redis_url=redis_db,
            web_port=web_port,
            network_url=net_server.url,
            wrap_up_s=WRAP_UP_S,
            redis_prefix=f"mp{os.getpid()}:",
        )
        settings = Settings.from_env(env)
        run_command(["db", "upgrade"], env)
        run_command(["seed-demo"], env)
        agents = _create_agents(engine, datetime.now(UTC))
        phones = _customer_phones(engine)
        add_hotline(net, web_port)
        add_agent_endpoints(net, [i for _, i in agents], Answering(after=1, talk=AGENT_TALK_S))
        for numbers in phones.values():  # callbacks ring the customer, who answers
            for phone in numbers:
                net.add_endpoint(phone, Answering(after=1, talk=2))
        callers = _callers(phones, random.Random(3))
        agent_ids = [a for a, _ in agents]
        with running_processes(
            settings,
            env,
            tmp_path,
            web_port=web_port,
            web_workers=4,
            job_workers=2,
        ) as procs:
            _set_available(settings, agent_ids)
            legs = _place(net, callers)
            deadline = time.monotonic() + SETTLE_S
            while time.monotonic() < deadline and not _done(net, engine, agent_ids):
                time.sleep(0.5)
            network_calls = net.calls()
            _dump_calls(network_calls, tmp_path / "calls.jsonl")
            dead = procs.dead()
            log_problems = procs.problems()
            redis = Redis.from_url(redis_db)
            failed = failed_jobs(redis, QUEUE_NAMES)
            redis.close()
        ran_s = time.monotonic() - began
    webhooks = read_access_log(procs.access_log)
    with Session(engine) as s:
        entries = list(s.scalars(select(QueuedCall).order_by(QueuedCall.id)))
        events = list(s.scalars(select(AgentEvent).order_by(AgentEvent.agent_id, AgentEvent.id)))
        states = {a.id: a.state.value for a in s.scalars(select(Agent))}
    vip, other = _answer_waits(entries)
    print(
        f"\nmulti-process run: {ran_s:.0f} s wall, {len(webhooks)} webhooks, "
        f"{Counter(e.status.value for e in entries)}; mean wait to answer: VIP {mean(vip):.1f} s "
        f"({len(vip)}), others {mean(other):.1f} s ({len(other)}); legs in {tmp_path}"
    )

    assert not dead, dead
    assert failed == 0, f"{failed} failed jobs"
    assert not log_problems, log_problems[:20]
    errors = [w for w in webhooks if w.status >= 500]
    assert not errors, errors[:20]
    assert all(not c.live for c in network_calls), "calls still live at the end"
    failures = [(c.sid, f.describe()) for c in network_calls for f in c.failures]
    assert not failures, failures[:20]
    assert [states[a] for a in agent_ids] == ["available"] * len(agent_ids), states

    _assert_every_caller_has_an_outcome(legs, entries)
    _assert_nobody_connected_twice(entries, network_calls)
    assert not _busy_overlaps(events), _busy_overlaps(events)[:20]
    _assert_no_agent_leg_overlaps(network_calls)
    _assert_vips_waited_less(entries)
    assert ran_s < 240, f"the run took {ran_s:.0f} s"


def _dump_calls(calls: list[NetworkCall], path: Path) -> None:
    """Every leg with its transcript, one JSON object a line: what to read when this fails."""
    with path.open("w", encoding="utf-8") as out:
        for c in calls:
            row = {
                "sid": c.sid,
                "from": c.from_,
                "to": c.to,
                "direction": c.direction,
                "status": c.status,
                "created": c.created_at.isoformat(),
                "ended": c.ended_at.isoformat() if c.ended_at else None,
                "failures": [f.describe() for f in c.failures],
                "events": [e.to_json() for e in c.transcript()],
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _assert_every_caller_has_an_outcome(
    legs: list[tuple[Caller, NetworkCall]], entries: list[QueuedCall]
) -> None:
    by_sid: dict[str, list[QueuedCall]] = defaultdict(list)
    for e in entries:
        by_sid[e.call_sid].append(e)
    final = (QueuedCallStatus.CONNECTED, QueuedCallStatus.ABANDONED, QueuedCallStatus.CALLBACK)
    missing = []
    for caller, leg in legs:
        mine = by_sid.get(leg.sid, [])
        statuses = {e.status for e in mine}
        answered = QueuedCallStatus.CONNECTED in statuses
        abandoned = statuses == {QueuedCallStatus.ABANDONED}
        called_back = any(e.callback_requested_at is not None for e in mine)
        if not mine or not (answered or abandoned or called_back) or not statuses <= set(final):
            missing.append((leg.sid, caller, [(e.queue, e.status.value) for e in mine]))
    assert not missing, missing[:10]


def _conference_members(calls: list[NetworkCall]) -> dict[str, set[str]]:
    members: dict[str, set[str]] = defaultdict(set)
    for call in calls:
        for event in call.transcript():
            if event.kind == "conference":
                members[event.args[0]].add(call.sid)
    return members


def _assert_nobody_connected_twice(entries: list[QueuedCall], calls: list[NetworkCall]) -> None:
    connected = Counter(e.call_sid for e in entries if e.status is QueuedCallStatus.CONNECTED)
    assert [sid for sid, n in connected.items() if n > 1] == []
    by_sid = {c.sid: c for c in calls}
    rooms_of: dict[str, list[str]] = defaultdict(list)
    for name, sids in _conference_members(calls).items():
        agents = [s for s in sids if by_sid[s].to.startswith("client:")]
        customers = [s for s in sids if not by_sid[s].to.startswith("client:")]
        assert len(agents) <= 1 and len(customers) <= 1, (name, agents, customers)
        for sid in sids:
            rooms_of[sid].append(name)
    assert {sid: rooms for sid, rooms in rooms_of.items() if len(rooms) > 1} == {}


def _assert_no_agent_leg_overlaps(calls: list[NetworkCall]) -> None:
    legs: dict[str, list[NetworkCall]] = defaultdict(list)
    for c in calls:
        if c.to.startswith("client:"):
            legs[c.to].append(c)
    for address, mine in legs.items():
        mine.sort(key=lambda c: c.created_at)
        for before, after in zip(mine, mine[1:], strict=False):
            assert before.ended_at is not None and before.ended_at <= after.created_at, (
                address,
                before.sid,
                after.sid,
            )


def _answer_waits(entries: list[QueuedCall]) -> tuple[list[float], list[float]]:
    """Seconds from joining the queue to the agent's answer: (VIPs, others); callbacks aside."""
    waits: dict[bool, list[float]] = {True: [], False: []}
    for e in entries:
        if e.answered_at is not None and e.callback_requested_at is None:
            waits[e.vip].append((e.answered_at - e.enqueued_at).total_seconds())
    return waits[True], waits[False]


def _assert_vips_waited_less(entries: list[QueuedCall]) -> None:
    vip, other = _answer_waits(entries)
    assert vip and other
    assert mean(vip) < mean(other), (mean(vip), mean(other))
