"""The reconciliation duty and the router's repairs, one fault each: a killed `bridge_caller`,
a ring whose final callback was lost, Twilio's REST API failing, and a Redis loss.

Real database and Redis, webhooks signed with the official SDK; the only fake is Twilio's REST
API (`Twilio` below answers what the gateway asks, and can fail)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.app import create_app
from callcenter.jobs import reconcile
from callcenter.jobs import router as jobs
from callcenter.runtime import Runtime
from callcenter.supervisor import board
from core.calls import upsert_call
from core.models import CallEvent
from core.telephony import CallState, PlacedCall, RemoteRecording, TelephonyUnavailable
from queues.models import Actor, Agent, AgentEvent, AgentState, QueuedCall, QueuedCallStatus
from queues.routing import QueueRoute
from queues.services import enqueue_call, waiting_caller
from tests.builders import add_agent
from tests.conftest import NOW, call_params, new_call_sid, sign

GENERAL = QueueRoute("general", "general")


@dataclass
class Twilio:
    """Twilio's REST API as the router and the reconciliation use it."""

    placed: list[str] = field(default_factory=list)
    redirected: list[tuple[str, str]] = field(default_factory=list)
    hung_up: list[str] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)  # what GET /Calls/CA… says
    fetched: list[str] = field(default_factory=list)
    down: bool = False  # 500 to everything
    kill_next_redirect: bool = False  # the job dies midway (after its claim)
    kill_next_dial: bool = False  # the ring job dies between its claim and the dial

    def place_call(self, **kwargs: object) -> PlacedCall:
        if self.kill_next_dial:
            self.kill_next_dial = False
            raise RuntimeError("work-horse killed")  # nothing dialled, the claim held
        sid = f"CA{len(self.placed) + 1:032x}"
        self.placed.append(sid)
        self.status[sid] = "ringing"
        return PlacedCall(sid, "queued", None)

    def redirect_call(self, call_sid: str, url: str) -> None:
        if self.kill_next_redirect:
            self.kill_next_redirect = False
            raise RuntimeError("work-horse killed")  # the job dies midway, its claim held
        self.redirected.append((call_sid, url))

    def hang_up(self, call_sid: str) -> None:
        self.hung_up.append(call_sid)

    def fetch_call(self, call_sid: str) -> CallState:
        if self.down:
            raise TelephonyUnavailable("fetch call: HTTP 500", status=500)
        self.fetched.append(call_sid)
        return CallState(call_sid, self.status.get(call_sid, "in-progress"), None, None)

    def list_recordings(self, call_sid: str) -> list[RemoteRecording]:
        return []


@dataclass
class Centre:
    rt: Runtime
    app: Flask
    client: FlaskClient
    twilio: Twilio
    factory: sessionmaker[Session]
    now: list[datetime]

    def later(self, seconds: float) -> None:
        self.now[0] += timedelta(seconds=seconds)

    def agent(self, login: str) -> int:
        with self.factory.begin() as s:
            agent_id = add_agent(s, login, display_name=login).id
        with self.app.app_context(), self.rt.unit_of_work() as uow:
            jobs.set_agent_state(
                self.rt, uow, agent_id, AgentState.AVAILABLE, reason=None, actor=Actor.AGENT
            )
        return agent_id

    def caller(self) -> QueuedCall:
        with self.factory.begin() as s:
            call, _ = upsert_call(
                s,
                new_call_sid(),
                direction="inbound",
                from_number="+8613800138000",
                to_number="+864008001234",
                now=self.now[0],
            )
            entry = enqueue_call(
                s, call, GENERAL, language="zh", tier="new", vip=False, now=self.now[0]
            )
            s.expunge(entry)
        self.rt.waiting_list.add(waiting_caller(entry))
        return entry

    def entry(self, entry_id: int) -> QueuedCall:
        with self.factory() as s:
            entry = s.get(QueuedCall, entry_id)
            assert entry is not None
            return entry

    def state(self, agent_id: int) -> AgentState:
        with self.factory() as s:
            agent = s.get(Agent, agent_id)
            assert agent is not None
            return agent.state

    def post(self, path: str, params: dict[str, str]) -> int:
        url = self.rt.settings.public_base_url.rstrip("/") + path
        r = self.client.post(path, data=params, headers={"X-Twilio-Signature": sign(url, params)})
        return r.status_code

    def run(self, fn: Callable[..., object], *args: object) -> object:
        with self.app.app_context():
            return fn(*args)

    def answer(self, entry: QueuedCall) -> str:
        """Route the caller, and the agent answers: the leg's CallSid."""
        self.run(jobs.route_caller, entry.id)
        e = self.entry(entry.id)
        assert e.agent_call_sid is not None
        path = f"/twilio/voice/agent/answer?entry={e.id}&assignment={e.assignment_id}"
        assert self.post(path, call_params(e.agent_call_sid, Direction="outbound-api")) == 200
        self.twilio.status[e.agent_call_sid] = "in-progress"
        return e.agent_call_sid


@pytest.fixture
def centre(
    live_session_factory: sessionmaker[Session], make_runtime: Callable[..., Runtime], redis: object
) -> Centre:
    twilio, now = Twilio(), [NOW]
    rt = make_runtime(live_session_factory, telephony=twilio, jobs_async=False, now=lambda: now[0])
    app = create_app(runtime=rt)
    return Centre(rt, app, app.test_client(), twilio, live_session_factory, now)


def bridged(centre: Centre, entry: QueuedCall) -> list[str]:
    return [sid for sid, _ in centre.twilio.redirected if sid == entry.call_sid]


# --- a killed bridge_caller -----------------------------------------------------------------------


def test_a_bridge_killed_midway_is_repaired_by_the_tick_and_nobody_is_left_alone(
    centre: Centre, caplog: pytest.LogCaptureFixture
) -> None:
    """The job dies after its claim and before the redirect: the agent is in the conference,
    the caller still in the hold loop. The tick, a grace period later, bridges them."""
    agent = centre.agent("agent")
    entry = centre.caller()
    centre.twilio.kill_next_redirect = True
    centre.answer(entry)
    assert bridged(centre, entry) == [] and centre.state(agent) is AgentState.ON_CALL
    centre.run(jobs.tick)  # too early: the redirect may still be on its way
    assert bridged(centre, entry) == []
    centre.later(centre.rt.settings.reconcile_grace_s + 1)
    caplog.set_level(logging.WARNING, logger="callcenter.jobs.router")
    centre.run(jobs.tick)
    assert len(bridged(centre, entry)) == 1
    assert any("has not reached the conference" in r.message for r in caplog.records)
    # The caller arrives: the next ticks (and a retry of the dead job) change nothing.
    assert (
        centre.post(
            f"/twilio/voice/conference/caller?entry={entry.id}", call_params(entry.call_sid)
        )
        == 200
    )
    centre.later(centre.rt.settings.reconcile_grace_s + 1)
    centre.run(jobs.tick)
    centre.run(jobs.bridge_caller, entry.id)
    assert len(bridged(centre, entry)) == 1
    assert centre.entry(entry.id).status is QueuedCallStatus.CONNECTED


def test_a_bridge_for_a_caller_who_has_gone_frees_the_agent(centre: Centre) -> None:
    """The bridge job is lost and the caller hangs up in the hold loop (their Enqueue action
    lost too): the repair finds the call ended and hangs up the agent's leg."""
    agent = centre.agent("agent")
    entry = centre.caller()
    centre.twilio.kill_next_redirect = True
    leg = centre.answer(entry)
    done = call_params(entry.call_sid, CallStatus="completed", CallDuration="30")
    assert centre.post("/twilio/voice/status", done) == 204
    centre.later(centre.rt.settings.reconcile_grace_s + 1)
    centre.run(jobs.tick)
    assert bridged(centre, entry) == [] and leg in centre.twilio.hung_up
    assert centre.entry(entry.id).status is QueuedCallStatus.ABANDONED
    del agent


def test_a_caller_who_hangs_up_before_reaching_the_agent_is_abandoned_not_answered(
    centre: Centre,
) -> None:
    """The agent answered and the caller was redirected, but hung up before joining the
    conference (a redirect held up by Twilio's REST API, then the caller's patience ran out):
    their completed status callback ends the entry as abandoned and frees the agent at once;
    the entry never says the caller was answered."""
    agent = centre.agent("agent")
    entry = centre.caller()
    leg = centre.answer(entry)
    assert bridged(centre, entry) != []  # redirected, but the caller never arrives
    done = call_params(entry.call_sid, CallStatus="completed", CallDuration="40")
    assert centre.post("/twilio/voice/status", done) == 204
    ended = centre.entry(entry.id)
    assert ended.status is QueuedCallStatus.ABANDONED and ended.reason == "left_before_bridge"
    assert leg in centre.twilio.hung_up
    gone = call_params(leg, CallStatus="completed", CallDuration="20", Direction="outbound-api")
    path = f"/twilio/voice/agent/status?entry={entry.id}&assignment={ended.assignment_id}"
    assert centre.post(path, gone) == 204
    assert centre.state(agent) is AgentState.WRAP_UP
    assert centre.post("/twilio/voice/status", done) == 204  # repeated: nothing changes
    assert centre.entry(entry.id).status is QueuedCallStatus.ABANDONED


def test_an_agent_left_on_a_leg_after_the_caller_left_before_the_bridge_is_hung_up(
    centre: Centre,
) -> None:
    """As above, but the hang-up of the agent's leg is lost (Twilio's REST API failing past
    the job's retries): the reconciliation finds the leg still up, a grace period after the
    caller left, and hangs it up; the agent is not left in a conference with nobody."""
    agent = centre.agent("agent")
    entry = centre.caller()
    leg = centre.answer(entry)
    done = call_params(entry.call_sid, CallStatus="completed", CallDuration="40")
    assert centre.post("/twilio/voice/status", done) == 204
    assert centre.entry(entry.id).status is QueuedCallStatus.ABANDONED
    centre.twilio.hung_up.clear()  # that hang-up never reached Twilio
    centre.run(reconcile.tick)  # too early: the hang-up may still be on its way
    assert centre.twilio.hung_up == []
    centre.later(centre.rt.settings.reconcile_grace_s + 1)
    centre.run(reconcile.tick)
    assert centre.twilio.hung_up == [leg]
    assert centre.state(agent) is AgentState.ON_CALL  # until the leg's end is heard


# --- a ring job killed between its claim and the dial ---------------------------------------------


def test_a_ring_never_placed_puts_the_caller_back_in_place_and_the_agent_available(
    centre: Centre, caplog: pytest.LogCaptureFixture
) -> None:
    """`ring_agent` dies after its claim, before the dial; its retry finds the claim and
    dials nothing. A grace period later the tick puts the caller back in their place (ahead
    of a later caller) and the agent back to available, not on break "missed" (they did
    nothing wrong), and the two are routed again: one leg placed in all."""
    agent = centre.agent("agent")
    first = centre.caller()
    centre.later(5)
    second = centre.caller()
    centre.twilio.kill_next_dial = True
    centre.run(jobs.route_caller, first.id)
    entry = centre.entry(first.id)
    assert entry.status is QueuedCallStatus.ASSIGNED and entry.agent_call_sid is None
    assert centre.state(agent) is AgentState.RESERVED and centre.twilio.placed == []
    assert entry.assignment_id is not None
    centre.run(jobs.ring_agent, first.id, entry.assignment_id)  # RQ's retry: claimed, no dial
    assert centre.twilio.placed == []
    centre.run(jobs.tick)  # too early: the dial may still be on its way
    assert centre.entry(first.id).assignment_id == entry.assignment_id
    centre.later(centre.rt.settings.reconcile_grace_s + 1)
    caplog.set_level(logging.WARNING, logger="callcenter.jobs.router")
    centre.run(jobs.tick)
    assert any("never placed" in r.message for r in caplog.records)
    again = centre.entry(first.id)
    assert again.status is QueuedCallStatus.ASSIGNED and again.agent_id == agent
    assert again.assignment_id != entry.assignment_id
    assert centre.twilio.placed == [again.agent_call_sid]
    assert centre.entry(second.id).status is QueuedCallStatus.WAITING
    assert centre.rt.waiting_list.position(str(second.id)) == 1
    with centre.factory() as s:
        states = [
            (e.to_state.value, e.reason)
            for e in s.scalars(
                select(AgentEvent).where(AgentEvent.agent_id == agent).order_by(AgentEvent.id)
            )
        ]
        kinds = list(
            s.scalars(
                select(CallEvent.kind)
                .where(CallEvent.call_sid == first.call_sid)
                .order_by(CallEvent.id)
            )
        )
    assert ("break", "missed") not in states
    assert [s for s, _ in states][-3:] == ["reserved", "available", "reserved"]
    assert kinds.count("ring_not_placed") == 1 and kinds.count("ring_claimed") == 2
    # The old assignment's late retry, and more ticks, change nothing.
    centre.run(jobs.ring_agent, first.id, entry.assignment_id)
    centre.run(jobs.tick)
    assert centre.twilio.placed == [again.agent_call_sid]


def test_a_dial_that_fails_transiently_releases_its_claim_and_its_retry_dials(
    centre: Centre,
) -> None:
    centre.agent("agent")
    entry = centre.caller()
    centre.twilio.down = True
    original = centre.twilio.place_call

    def failing(**kwargs: object) -> PlacedCall:
        if centre.twilio.down:
            raise TelephonyUnavailable("place call: HTTP 500", status=500)
        return original(**kwargs)

    centre.twilio.place_call = failing  # type: ignore[method-assign]
    centre.run(jobs.route_caller, entry.id)
    assigned = centre.entry(entry.id)
    assert assigned.agent_call_sid is None and assigned.assignment_id is not None
    centre.twilio.down = False
    centre.run(jobs.ring_agent, entry.id, assigned.assignment_id)  # RQ's retry
    assert centre.entry(entry.id).agent_call_sid == centre.twilio.placed[0]
    centre.run(jobs.ring_agent, entry.id, assigned.assignment_id)  # a repeat: no second dial
    assert len(centre.twilio.placed) == 1


# --- a caller gone from the line with every callback lost ----------------------------------------


def test_a_waiting_caller_whose_callbacks_were_all_lost_is_abandoned_after_a_plausible_wait(
    centre: Centre, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller hangs up in the hold loop; both their Enqueue action and the call's status
    callback are lost. Once their wait passes the bound, the duty asks Twilio, which says
    the call has ended: the entry is abandoned as the real callback would have done, and the
    caller leaves the waiting list. A caller still there is asked about once a minute only."""
    gone, alive = centre.caller(), centre.caller()
    centre.twilio.status[gone.call_sid] = "completed"
    centre.run(reconcile.tick)  # a short wait: nobody is asked about
    assert gone.call_sid not in centre.twilio.fetched
    general = centre.rt.queues["general"]
    centre.later(min(general.max_wait_s, reconcile.WAIT_CHECK_AFTER_S) + 1)
    caplog.set_level(logging.WARNING, logger="callcenter.jobs.reconcile")
    centre.run(reconcile.tick)
    assert centre.entry(gone.id).status is QueuedCallStatus.ABANDONED
    assert centre.rt.waiting_list.position(str(gone.id)) is None
    assert centre.rt.waiting_list.position(str(alive.id)) == 1
    assert centre.entry(alive.id).status is QueuedCallStatus.WAITING
    assert any("waiting in line" in r.message for r in caplog.records)
    with centre.factory() as s:
        kinds = set(s.scalars(select(CallEvent.kind).where(CallEvent.call_sid == gone.call_sid)))
    assert "status" in kinds, kinds
    assert centre.twilio.fetched.count(alive.call_sid) == 1
    centre.later(reconcile.WAIT_CHECK_EVERY_S - 10)
    centre.run(reconcile.tick)  # asked about a moment ago: not again yet
    assert centre.twilio.fetched.count(alive.call_sid) == 1
    centre.later(11)
    centre.run(reconcile.tick)
    assert centre.twilio.fetched.count(alive.call_sid) == 2
    assert centre.twilio.fetched.count(gone.call_sid) == 1  # repaired: never asked again


# --- lost ring callbacks and a failing REST API ---------------------------------------------------


def test_a_ring_whose_no_answer_callback_was_lost_is_asked_about_and_requeued(
    centre: Centre, caplog: pytest.LogCaptureFixture
) -> None:
    agent = centre.agent("agent")
    entry = centre.caller()
    centre.run(jobs.route_caller, entry.id)
    leg = centre.entry(entry.id).agent_call_sid
    assert leg is not None and centre.state(agent) is AgentState.RESERVED
    centre.later(centre.rt.queues.presence.ring_timeout_s + centre.rt.settings.reconcile_grace_s)
    centre.twilio.down = True  # Twilio's REST API fails: nothing is changed, it is logged
    caplog.set_level(logging.WARNING, logger="callcenter.jobs.reconcile")
    centre.run(reconcile.tick)
    assert centre.entry(entry.id).status is QueuedCallStatus.ASSIGNED
    assert any("next turn" in r.message for r in caplog.records)
    centre.twilio.down = False
    centre.twilio.status[leg] = "no-answer"
    centre.run(reconcile.tick)
    assert leg in centre.twilio.fetched
    assert centre.entry(entry.id).status is QueuedCallStatus.WAITING  # in their place again
    assert centre.state(agent) is AgentState.BREAK  # missed, as with the real callback
    assert centre.rt.waiting_list.position(str(entry.id)) == 1


def test_a_ring_still_ringing_at_twilio_is_left_alone(centre: Centre) -> None:
    centre.agent("agent")
    entry = centre.caller()
    centre.run(jobs.route_caller, entry.id)
    centre.later(centre.rt.queues.presence.ring_timeout_s + centre.rt.settings.reconcile_grace_s)
    centre.run(reconcile.tick)
    assert centre.entry(entry.id).status is QueuedCallStatus.ASSIGNED


def test_an_agent_on_a_call_past_the_maximum_is_freed_when_twilio_says_it_ended(
    centre: Centre,
) -> None:
    """Both final callbacks lost (the caller's and the agent's): past the maximum call
    length the duty asks, and both the leg and the call are closed."""
    agent = centre.agent("agent")
    entry = centre.caller()
    leg = centre.answer(entry)
    centre.run(reconcile.tick)  # a call in progress: nothing asked, nothing changed
    assert centre.twilio.fetched == [] and centre.state(agent) is AgentState.ON_CALL
    centre.later(centre.rt.settings.max_call_s + 1)
    centre.twilio.status[leg] = centre.twilio.status[entry.call_sid] = "completed"
    centre.run(reconcile.tick)
    assert centre.state(agent) is AgentState.WRAP_UP
    assert centre.entry(entry.id).talk_ended_at is not None
    with centre.factory() as s:
        kinds = set(s.scalars(select(CallEvent.kind).where(CallEvent.call_sid == entry.call_sid)))
    assert "status" in kinds


# --- Redis lost -----------------------------------------------------------------------------------


def test_after_redis_is_flushed_the_duty_rebuilds_queues_and_presence_and_says_so(
    centre: Centre,
) -> None:
    """Waiting callers and available agents come back in place; a caller whose call ended
    meanwhile (their Enqueue action lost) is not put back in line; the wallboard shows it."""
    agent = centre.agent("agent")  # available, nobody to take yet
    entries = [centre.caller() for _ in range(3)]  # waiting (not routed: no sweep here)
    centre.run(reconcile.tick)  # the first turn finds no marker: a rebuild, which sets it
    before = [c.entry_id for c in centre.rt.waiting_list.snapshot("general")]
    assert before == [str(e.id) for e in entries]
    gone = entries[1]  # hangs up; only their status callback arrives
    done = call_params(gone.call_sid, CallStatus="completed", CallDuration="50")
    assert centre.post("/twilio/voice/status", done) == 204
    centre.rt.redis.flushdb()  # Redis lost everything
    assert centre.rt.waiting_list.waiting_count() == 0
    assert centre.rt.waiting_list.available_agents() == []
    centre.later(60)
    centre.run(reconcile.tick)
    after = [c.entry_id for c in centre.rt.waiting_list.snapshot("general")]
    assert after == [str(entries[0].id), str(entries[2].id)]  # in place; the dead one gone
    assert [a.agent_id for a in centre.rt.waiting_list.available_agents()] == [str(agent)]
    assert centre.entry(gone.id).status is QueuedCallStatus.ABANDONED
    snap = centre.run(board.compute, centre.rt)
    assert isinstance(snap, dict)
    notice = snap["notices"][0]
    assert (notice["reason"], notice["at"]) == ("redis-lost", centre.now[0].isoformat())
    assert (notice["callers"], notice["agents"]) == (2, 1)
    # The next turn finds the marker: nothing more is rebuilt.
    centre.later(10)
    centre.run(reconcile.tick)
    snap = centre.run(board.compute, centre.rt)
    assert isinstance(snap, dict) and len(snap["notices"]) == 2  # the first start, the loss


def test_after_redis_restarts_from_an_older_snapshot_the_duty_rebuilds_what_it_lacks(
    centre: Centre,
) -> None:
    """A restarted Redis that reloads its last snapshot still holds a marker, but one written
    to its previous run (the run id changes at every start), and lacks the callers who joined
    after the snapshot: the duty rebuilds."""
    centre.run(reconcile.tick)  # marker written with this server's run id
    first = centre.caller()
    assert not centre.run(reconcile.redis_lost, centre.rt)
    # What a restart from a snapshot taken before `late` joined looks like: the marker of the
    # server's previous run, and the waiting list without `late`.
    late = centre.caller()
    centre.rt.redis.set(reconcile.marker_key(centre.rt), "0" * 40)
    centre.rt.waiting_list.remove(str(late.id))
    assert centre.run(reconcile.redis_lost, centre.rt)
    centre.later(10)
    centre.run(reconcile.tick)
    after = [c.entry_id for c in centre.rt.waiting_list.snapshot("general")]
    assert after == [str(first.id), str(late.id)]
    assert not centre.run(reconcile.redis_lost, centre.rt)

