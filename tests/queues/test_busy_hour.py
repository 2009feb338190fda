"""A busy stretch through the local phone network: 3 agents with different skills, 20 callers of
mixed tiers arriving over time; some hang up while waiting, some ask to be called back.

Checked at the end, from the database and the network:
- every caller was answered, abandoned, or asked for a callback (and callbacks were made);
- VIPs first: no agent was given a non-VIP while a VIP they could serve was waiting;
- no caller was connected twice, and no agent held two calls at once;
- the event log's figures match the queue entries (answers, waits, abandons, rings).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import Runtime
from core.models import CallEvent, Customer, CustomerPhone, Language, Tier
from phone_network.calls import Call as NetworkCall
from phone_network.parties import Answering
from queues.models import Agent, AgentEvent, AgentState, QueuedCall, QueuedCallStatus
from tests.centre import Centre, running_centre

pytestmark = pytest.mark.slow

ROUTES = {  # IVR keys after "press 1" (Mandarin) → queue
    "general": ("press 0",),
    "presales": ("press 1",),
    "aftersales": ("press 3", "press 2"),
}
AGENTS = {
    "an": {"general": 3, "presales": 3},
    "bo": {"general": 3, "aftersales": 3},
    "chen": {"presales": 2, "aftersales": 4},
}


@dataclass(frozen=True)
class Caller:
    phone: str
    tier: str
    queue: str
    behaviour: str  # "wait", "abandon" (hangs up after 20 s on hold) or "callback"


@pytest.fixture
def centre(
    live_session_factory: sessionmaker[Session], make_runtime: Callable[..., Runtime], redis: object
) -> Iterator[Centre]:
    with running_centre(live_session_factory, make_runtime) as c:
        yield c


def callers_of(centre: Centre) -> list[Caller]:
    """20 seeded customers: 4 VIP, 8 returning, 8 new, over three queues and three behaviours."""
    with centre.factory() as s:
        rows = s.execute(
            select(CustomerPhone.e164, Customer.tier)
            .join(Customer, Customer.id == CustomerPhone.customer_id)
            .order_by(CustomerPhone.e164)
        ).all()
    by_tier: dict[str, list[str]] = {}
    seen: set[str] = set()
    for phone, tier in rows:
        if phone.startswith("+861") and phone not in seen:
            seen.add(phone)
            by_tier.setdefault(Tier(tier).value, []).append(phone)
    picked = by_tier["vip"][:4] + by_tier["returning"][:8] + by_tier["new"][:8]
    tiers = ["vip"] * 4 + ["returning"] * 8 + ["new"] * 8
    queues = ["general", "presales", "aftersales"]
    behaviours = ["wait", "wait", "abandon", "wait", "callback"]
    order = [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 16, 17, 18, 19]  # mixed
    return [
        Caller(picked[i], tiers[i], "general" if i < 4 else queues[i % 3], behaviours[i % 5])
        for i in order
    ]


def script(caller: Caller) -> tuple[tuple[str, ...], float]:
    keys = ("press 1", *ROUTES[caller.queue])
    if caller.behaviour == "callback":
        return (*keys, "press 1", "press 1"), 600.0
    return keys, 20.0 if caller.behaviour == "abandon" else 900.0


def test_three_agents_twenty_callers(centre: Centre) -> None:
    agents = {
        login: centre.agent(
            login,
            skills=skills,
            languages=(Language.ZH,),
            answering=Answering(after=2, talk=25, max_hold=3600),
        )
        for login, skills in AGENTS.items()
    }
    callers = callers_of(centre)
    for c in callers:  # customers answer their callbacks
        centre.network.add_endpoint(c.phone, Answering(after=3, talk=15, max_hold=3600))

    legs: list[tuple[Caller, NetworkCall]] = []
    start = centre.clock.now()
    with centre.timer():
        for i, caller in enumerate(callers):
            _until(centre, lambda i=i: (centre.clock.now() - start).total_seconds() >= 6 * i)
            actions, patience = script(caller)
            legs.append((caller, centre.call(caller.phone, *actions, max_hold=patience)))
        for _, leg in legs:
            leg.wait(timeout=120)
        centre.wait_for(lambda: _settled(centre), timeout=120)

    entries = centre.entries()
    by_sid = {leg.sid: [e for e in entries if e.call_sid == leg.sid] for _, leg in legs}
    # Every caller: answered, abandoned, or asked for a callback (which was then made).
    outcomes = {}
    for caller, leg in legs:
        (entry,) = by_sid[leg.sid]
        assert entry.status in (QueuedCallStatus.CONNECTED, QueuedCallStatus.ABANDONED), entry
        outcome = "answered" if entry.status is QueuedCallStatus.CONNECTED else "abandoned"
        if entry.callback_to:
            outcome = "callback"
            assert entry.status is QueuedCallStatus.CONNECTED  # called back and answered
        outcomes[leg.sid] = outcome
        assert entry.tier == caller.tier and entry.queue == caller.queue
    counts = {k: list(outcomes.values()).count(k) for k in ("answered", "abandoned", "callback")}
    assert sum(counts.values()) == 20 and all(counts.values()), counts

    _assert_vips_first(entries, agents)
    _assert_nobody_twice(centre, entries, agents)
    _assert_event_log_matches(centre, entries)


def _until(centre: Centre, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "virtual time stood still"
        time.sleep(0.005)


def _settled(centre: Centre) -> bool:
    entries = centre.entries()
    open_ = (QueuedCallStatus.WAITING, QueuedCallStatus.ASSIGNED, QueuedCallStatus.CALLBACK)
    if any(e.status in open_ for e in entries):
        return False
    return all(e.talk_ended_at is not None for e in entries if e.answered_at is not None)


def _assert_vips_first(entries: list[QueuedCall], agents: dict[str, int]) -> None:
    """When an agent was given a non-VIP, no VIP they could serve was still waiting."""
    skills = {agents[login]: set(s) for login, s in AGENTS.items()}
    for given in entries:
        if given.tier == "vip" or given.assigned_at is None:
            continue
        assert given.agent_id is not None
        for vip in entries:
            if vip.tier != "vip" or vip.skill not in skills[given.agent_id]:
                continue
            served_at = vip.assigned_at or vip.left_at
            waiting = vip.enqueued_at < given.assigned_at and (
                served_at is None or served_at > given.assigned_at
            )
            assert not waiting, f"{given.id} ({given.tier}) was served before VIP {vip.id}"


def _assert_nobody_twice(centre: Centre, entries: list[QueuedCall], agents: dict[str, int]) -> None:
    connected = [e for e in entries if e.answered_at is not None]
    assert len({e.call_sid for e in connected}) == len(connected)
    # One caller and one agent in each conference, and each leg in one conference at most.
    rooms: dict[str, list[NetworkCall]] = {}
    for leg in centre.network.calls():
        joined = {e.args[0] for e in leg.transcript() if e.kind == "conference"}
        assert len(joined) <= 1, (leg.sid, joined)
        for name in joined:
            rooms.setdefault(name, []).append(leg)
    assert len(rooms) == len(connected)
    for name, legs in rooms.items():
        agents_in = [leg for leg in legs if leg.to.startswith("client:")]
        assert len(legs) == 2 and len(agents_in) == 1, (name, [leg.to for leg in legs])
    # Each agent's presence log is one unbroken chain, and a call is always
    # reserved → on_call → wrap_up before the next reservation.
    with centre.factory() as s:
        for agent_id in agents.values():
            events = list(
                s.scalars(
                    select(AgentEvent)
                    .where(AgentEvent.agent_id == agent_id)
                    .order_by(AgentEvent.id)
                )
            )
            for before, after in zip(events, events[1:], strict=False):
                assert after.from_state is before.to_state, (agent_id, before, after)
            agent = s.get(Agent, agent_id)
            assert agent is not None and agent.state in (
                AgentState.AVAILABLE,
                AgentState.WRAP_UP,
            )
            mine = sorted(
                (e for e in connected if e.agent_id == agent_id), key=lambda e: e.answered_at
            )
            for first, second in zip(mine, mine[1:], strict=False):
                assert first.talk_ended_at is not None and second.answered_at is not None
                assert first.talk_ended_at <= second.answered_at


def _assert_event_log_matches(centre: Centre, entries: list[QueuedCall]) -> None:
    with centre.factory() as s:
        events = list(s.scalars(select(CallEvent)))
    kinds: dict[str, list[CallEvent]] = {}
    for e in events:
        kinds.setdefault(e.kind, []).append(e)
    answered = {e.data["entry_id"]: e.data["waited_s"] for e in kinds.get("agent_answered", [])}
    connected = {e.id: e.wait_s for e in entries if e.answered_at is not None}
    assert answered == connected
    assert len(kinds.get("assigned", [])) == sum(e.rings for e in entries)
    hung_up = [e for e in kinds.get("dequeued", []) if e.data["result"] == "hangup"]
    abandoned = [e for e in entries if e.status is QueuedCallStatus.ABANDONED]
    assert len(hung_up) == len(abandoned)
    assert len(kinds.get("enqueued", [])) == len(entries) == 20
