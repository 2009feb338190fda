"""The faults the router must survive, one test each: the agent changes state mid-ring, the
caller hangs up during assignment, two agents become free at once, Twilio repeats callbacks,
and Redis restarts mid-queue.

Real database and Redis, webhooks signed with the official SDK; the only fake is Twilio's REST
API (`RecordingTelephony` records what the gateway was asked to do)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.app import create_app
from callcenter.jobs import router as jobs
from callcenter.runtime import Runtime
from core.calls import upsert_call
from core.models import CallEvent
from core.telephony import PlacedCall
from queues import connect
from queues.models import Actor, AgentState, QueuedCall, QueuedCallStatus
from queues.presence import PresenceError
from queues.routing import QueueRoute
from queues.services import enqueue_call, rebuild_waiting_list, waiting_caller
from tests.builders import add_agent
from tests.conftest import NOW, call_params, new_call_sid, sign

GENERAL = QueueRoute("general", "general")


@dataclass
class RecordingTelephony:
    """Twilio's REST API as far as the router uses it: records requests, places nothing."""

    placed: list[dict[str, object]] = field(default_factory=list)
    redirected: list[tuple[str, str]] = field(default_factory=list)
    hung_up: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def place_call(self, **kwargs: object) -> PlacedCall:
        with self.lock:
            self.placed.append(kwargs)
            return PlacedCall(f"CA{len(self.placed):032x}", "queued", None)

    def redirect_call(self, call_sid: str, url: str) -> None:
        self.redirected.append((call_sid, url))

    def hang_up(self, call_sid: str) -> None:
        self.hung_up.append(call_sid)


@dataclass
class Router:
    rt: Runtime
    app: Flask
    client: FlaskClient
    phone: RecordingTelephony
    factory: sessionmaker[Session]

    def agent(self, login: str, *, available: bool = True) -> int:
        with self.factory.begin() as s:
            agent_id = add_agent(s, login, display_name=login).id
        if available:
            self.set_state(agent_id, AgentState.AVAILABLE)
        return agent_id

    def set_state(self, agent_id: int, to: AgentState, reason: str | None = None) -> None:
        with self.app.app_context(), self.rt.unit_of_work() as uow:
            jobs.set_agent_state(self.rt, uow, agent_id, to, reason=reason, actor=Actor.AGENT)

    def caller(self, tier: str = "new", at: int = 0) -> QueuedCall:
        """A caller waiting in the general queue since NOW + `at` seconds (not yet routed)."""
        with self.factory.begin() as s:
            call, _ = upsert_call(
                s,
                new_call_sid(),
                direction="inbound",
                from_number="+8613800138000",
                to_number="+864008001234",
                now=NOW,
            )
            entry = enqueue_call(
                s,
                call,
                GENERAL,
                language="zh",
                tier=tier,
                vip=tier == "vip",
                now=NOW + timedelta(seconds=at),
            )
            s.expunge(entry)
        self.rt.waiting_list.add(waiting_caller(entry))
        return entry

    def entry(self, entry_id: int) -> QueuedCall:
        with self.factory() as s:
            entry = s.get(QueuedCall, entry_id)
            assert entry is not None
            return entry

    def state(self, agent_id: int) -> tuple[AgentState, str | None]:
        with self.factory() as s:
            from queues.models import Agent

            agent = s.get(Agent, agent_id)
            assert agent is not None
            return agent.state, agent.state_reason

    def post(self, path: str, params: dict[str, str]) -> int:
        url = self.rt.settings.public_base_url.rstrip("/") + path
        r = self.client.post(path, data=params, headers={"X-Twilio-Signature": sign(url, params)})
        return r.status_code

    def run(self, fn: Callable[..., None], *args: object) -> None:
        with self.app.app_context():
            fn(*args)


@pytest.fixture
def router(
    live_session_factory: sessionmaker[Session], make_runtime: Callable[..., Runtime], redis: object
) -> Router:
    phone = RecordingTelephony()
    rt = make_runtime(live_session_factory, telephony=phone, jobs_async=False)
    app = create_app(runtime=rt)
    return Router(rt, app, app.test_client(), phone, live_session_factory)


def agent_leg(router: Router, entry_id: int) -> str:
    sid = router.entry(entry_id).agent_call_sid
    assert sid is not None
    return sid


def status(router: Router, entry: QueuedCall, leg: str, value: str) -> int:
    aid = router.entry(entry.id).assignment_id or ""
    path = f"/twilio/voice/agent/status?entry={entry.id}&assignment={aid}"
    return router.post(path, call_params(leg, CallStatus=value))


def only(items: Iterable[object]) -> object:
    (item,) = list(items)
    return item


# --- the agent changes state mid-ring ----------------------------------------------------------


def test_an_agent_who_goes_on_break_between_the_claim_and_the_reservation_is_skipped(
    router: Router,
) -> None:
    first = router.agent("first")
    second = router.agent("second")
    entry = router.caller()
    waiting = router.rt.waiting_list
    claim = waiting.assign_for_caller(str(entry.id), NOW)  # longest idle: "first"
    assert claim is not None and claim.agent.agent_id == str(first)
    router.set_state(first, AgentState.BREAK, "lunch")  # the desk wins the race in the database

    with router.app.app_context(), router.rt.unit_of_work() as uow:
        reserved, undo = connect.reserve(
            uow.session, claim, now=NOW, presence=router.rt.queues.presence
        )
        jobs.after_commit(uow, router.rt, undo)

    assert reserved is None and undo.requeue == [entry.id]
    # The caller went back on the list and was routed to the other agent at once.
    after = router.entry(entry.id)
    assert after.status is QueuedCallStatus.ASSIGNED and after.agent_id == second
    assert router.state(first) == (AgentState.BREAK, "lunch")
    assert router.state(second)[0] is AgentState.RESERVED
    assert [p["to"] for p in router.phone.placed] == ["client:agent_second"]


def test_an_agent_cannot_leave_while_their_phone_rings_and_the_ring_goes_on(
    router: Router,
) -> None:
    agent = router.agent("ringing")
    entry = router.caller()
    router.run(jobs.route_caller, entry.id)
    assert router.state(agent)[0] is AgentState.RESERVED

    with pytest.raises(PresenceError) as refused:
        router.set_state(agent, AgentState.BREAK, "lunch")
    assert refused.value.code == "actor-not-allowed"
    assert router.entry(entry.id).status is QueuedCallStatus.ASSIGNED
    # The ring then times out: the caller goes back, the agent to break "missed".
    assert status(router, entry, agent_leg(router, entry.id), "no-answer") == 204
    assert router.state(agent) == (AgentState.BREAK, "missed")
    assert router.rt.waiting_list.position(str(entry.id)) == 1


# --- the caller hangs up during assignment ---------------------------------------------------


def test_the_caller_hangs_up_while_the_agent_rings(router: Router) -> None:
    agent = router.agent("agent")
    entry = router.caller()
    router.run(jobs.route_caller, entry.id)
    leg = agent_leg(router, entry.id)

    params = call_params(entry.call_sid, QueueResult="hangup", QueueTime="7")
    router.post("/twilio/voice/queue/exit?queue=general", params)

    after = router.entry(entry.id)
    assert after.status is QueuedCallStatus.ABANDONED and after.wait_s == 7
    assert router.state(agent) == (AgentState.AVAILABLE, "caller_left")
    assert router.phone.hung_up == [leg]
    assert router.rt.waiting_list.agent(str(agent)) is not None  # offered callers again
    # The agent's leg then ends unanswered: nothing more changes.
    assert status(router, entry, leg, "canceled") == 204
    assert router.state(agent)[0] is AgentState.AVAILABLE


def test_the_agent_answers_just_after_the_caller_hung_up(router: Router) -> None:
    agent = router.agent("agent")
    entry = router.caller()
    router.run(jobs.route_caller, entry.id)
    leg = agent_leg(router, entry.id)
    aid = router.entry(entry.id).assignment_id
    router.post(
        "/twilio/voice/queue/exit?queue=general",
        call_params(entry.call_sid, QueueResult="hangup", QueueTime="4"),
    )
    r = router.client.post(
        f"/twilio/voice/agent/answer?entry={entry.id}&assignment={aid}",
        data=(p := call_params(leg, Direction="outbound-api")),
        headers={
            "X-Twilio-Signature": sign(
                f"{router.rt.settings.public_base_url}/twilio/voice/agent/answer?entry={entry.id}&assignment={aid}",
                p,
            )
        },
    )
    assert "客户已挂机" in r.get_data(as_text=True) and "<Hangup" in r.get_data(as_text=True)
    assert router.phone.redirected == []
    assert router.state(agent)[0] is AgentState.AVAILABLE


# --- two agents become free at once ----------------------------------------------------------


@pytest.mark.parametrize("callers", [1, 2])
def test_two_agents_free_at_once_never_share_a_caller(router: Router, callers: int) -> None:
    entries = [router.caller(at=i) for i in range(callers)]
    agents = [router.agent(f"agent{i}", available=False) for i in range(2)]
    for agent_id in agents:  # available in the database and Redis, not yet routed
        with router.app.app_context(), router.rt.unit_of_work() as uow:
            from queues.presence import change_state

            change_state(
                uow.session, agent_id, AgentState.AVAILABLE, reason=None, actor=Actor.AGENT, now=NOW
            )
            jobs.after_commit(uow, router.rt, connect.Followup(publish=[agent_id]))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def free(agent_id: int) -> None:
        try:
            with router.app.app_context():
                barrier.wait()
                jobs.route_agent(agent_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=free, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assigned = [router.entry(e.id) for e in entries]
    assert all(e.status is QueuedCallStatus.ASSIGNED for e in assigned)
    assert len({e.agent_id for e in assigned}) == callers  # nobody holds two callers
    reserved = [a for a in agents if router.state(a)[0] is AgentState.RESERVED]
    assert len(reserved) == callers
    assert len(router.phone.placed) == callers


# --- Twilio repeats callbacks ---------------------------------------------------------------


def test_repeated_and_reordered_agent_callbacks_change_things_once(router: Router) -> None:
    agent = router.agent("agent")
    entry = router.caller()
    router.run(jobs.route_caller, entry.id)
    router.run(jobs.route_caller, entry.id)  # a repeated routing job: one leg only
    assert len(router.phone.placed) == 1
    leg = agent_leg(router, entry.id)
    aid = router.entry(entry.id).assignment_id
    path = f"/twilio/voice/agent/answer?entry={entry.id}&assignment={aid}"
    params = call_params(leg, Direction="outbound-api")
    url = f"{router.rt.settings.public_base_url}{path}"
    bodies = [
        router.client.post(
            path, data=params, headers={"X-Twilio-Signature": sign(url, params)}
        ).get_data(as_text=True)
        for _ in range(2)
    ]
    assert bodies[0] == bodies[1] and "cc-entry-" in bodies[0]
    assert router.phone.redirected == [
        (
            entry.call_sid,
            f"{router.rt.settings.public_base_url}/twilio/voice/conference/caller?entry={entry.id}",
        )
    ]
    # A late "ringing" after the answer, then "completed" twice.
    assert status(router, entry, leg, "ringing") == 204
    assert status(router, entry, leg, "completed") == 204
    assert status(router, entry, leg, "completed") == 204
    after = router.entry(entry.id)
    assert after.status is QueuedCallStatus.CONNECTED and after.talk_ended_at is not None
    states = [s for s, _ in _states(router, agent)]
    assert states == ["offline", "available", "reserved", "on_call", "wrap_up"]


def test_a_repeated_no_answer_requeues_once(router: Router) -> None:
    agent = router.agent("agent")
    entry = router.caller()
    router.run(jobs.route_caller, entry.id)
    leg = agent_leg(router, entry.id)
    for _ in range(3):
        assert status(router, entry, leg, "no-answer") == 204
    after = router.entry(entry.id)
    assert after.status is QueuedCallStatus.WAITING and after.rings == 1
    assert _states(router, agent).count(("break", "missed")) == 1
    with router.factory() as s:
        n = s.scalar(
            select(func.count()).select_from(CallEvent).where(CallEvent.kind == "ring_failed")
        )
    assert n == 1


def _states(router: Router, agent_id: int) -> list[tuple[str, str | None]]:
    from queues.models import AgentEvent

    with router.factory() as s:
        return [
            (e.to_state.value, e.reason)
            for e in s.scalars(
                select(AgentEvent).where(AgentEvent.agent_id == agent_id).order_by(AgentEvent.id)
            )
        ]


# --- Redis restarts mid-queue -----------------------------------------------------------------


def test_after_a_redis_restart_the_rebuild_keeps_every_caller_in_place(router: Router) -> None:
    tiers = ["new", "vip", "returning", "new", "vip", "returning", "new"]
    entries = [router.caller(tier, at=i * 5) for i, tier in enumerate(tiers)]
    agent = router.agent("agent", available=False)
    router.set_state(agent, AgentState.BREAK, "lunch")
    waiting = router.rt.waiting_list
    before = [c.entry_id for c in waiting.snapshot("general")]
    assert before[:2] == [str(entries[1].id), str(entries[4].id)]  # VIPs first

    waiting.clear()  # Redis restarted empty
    assert waiting.snapshot("general") == []
    with router.factory() as s:
        rebuilt = rebuild_waiting_list(s, waiting)
    assert rebuilt.callers == len(entries)
    assert [c.entry_id for c in waiting.snapshot("general")] == before
    # Routing goes on from the rebuilt list: the first VIP is served first.
    router.set_state(agent, AgentState.AVAILABLE)
    assert router.entry(entries[1].id).status is QueuedCallStatus.ASSIGNED
    assert only(router.phone.placed)["to"] == "client:agent_agent"  # type: ignore[index]


# --- a caller lost between the agent's answer and the conference ---------------------------------


def test_when_the_caller_never_reaches_the_conference_the_agent_is_freed(router: Router) -> None:
    agent = router.agent("agent")
    entry = router.caller()
    router.run(jobs.route_caller, entry.id)
    leg = agent_leg(router, entry.id)
    aid = router.entry(entry.id).assignment_id
    path = f"/twilio/voice/agent/answer?entry={entry.id}&assignment={aid}"
    params = call_params(leg, Direction="outbound-api")
    url = f"{router.rt.settings.public_base_url}{path}"
    router.client.post(path, data=params, headers={"X-Twilio-Signature": sign(url, params)})
    assert router.phone.redirected  # the caller was sent to the conference ...
    # ... but hung up before getting there: their call's final status frees the agent's leg.
    done = call_params(entry.call_sid, CallStatus="completed", CallDuration="40")
    assert router.post("/twilio/voice/status", done) == 204
    assert router.phone.hung_up == [leg]
    assert status(router, entry, leg, "completed") == 204
    assert router.state(agent)[0] is AgentState.WRAP_UP


def test_a_caller_sent_to_the_fallback_queue_is_routed_from_it(router: Router) -> None:
    with router.factory.begin() as s:
        call, _ = upsert_call(
            s,
            sid := new_call_sid(),
            direction="inbound",
            from_number="+8613800138000",
            to_number="+864008001234",
            now=NOW,
        )
    agent = router.agent("agent")
    params = call_params(sid, ErrorCode="11200", ErrorUrl="https://x.test/twilio/voice/incoming")
    r = router.client.post(
        "/twilio/voice/fallback",
        data=params,
        headers={
            "X-Twilio-Signature": sign(
                f"{router.rt.settings.public_base_url}/twilio/voice/fallback", params
            )
        },
    )
    assert r.status_code == 200 and b"<Enqueue" in r.data
    with router.factory() as s:
        entry = s.scalar(select(QueuedCall).where(QueuedCall.call_sid == sid))
    assert entry is not None and entry.queue == router.rt.settings.fallback_queue
    assert entry.status is QueuedCallStatus.ASSIGNED and entry.agent_id == agent
    # A second failure of the same call does not put the caller in line twice.
    router.client.post(
        "/twilio/voice/fallback",
        data=params,
        headers={
            "X-Twilio-Signature": sign(
                f"{router.rt.settings.public_base_url}/twilio/voice/fallback", params
            )
        },
    )
    with router.factory() as s:
        n = s.scalar(select(func.count()).select_from(QueuedCall).where(QueuedCall.call_sid == sid))
    assert n == 1
