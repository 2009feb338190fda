"""Callers connected to agents through the local phone network: ring, answer, conference,
ring-no-answer, abandonment during the ring, and callbacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import Runtime
from callcenter.seed import DEMO_VIP_PHONE
from phone_network.clock import VirtualClock
from phone_network.parties import Answering
from queues.models import AgentState, QueuedCallStatus
from tests.centre import Centre, running_centre
from tests.conftest import NOW


@pytest.fixture
def centre(
    live_session_factory: sessionmaker[Session], make_runtime: Callable[..., Runtime], redis: object
) -> Iterator[Centre]:
    with running_centre(live_session_factory, make_runtime) as c:
        yield c


def test_a_caller_is_connected_to_the_available_agent(centre: Centre) -> None:
    agent = centre.agent("li.na")
    leg = centre.call(DEMO_VIP_PHONE, "press 1", "press 0")
    leg.wait(timeout=60)
    (entry,) = centre.entries(leg)
    assert entry.status is QueuedCallStatus.CONNECTED, entry
    assert entry.agent_id == agent and entry.answered_at is not None
    assert entry.talk_ended_at is not None and entry.agent_call_sid
    states = [s for s, _ in centre.agent_states(agent)]
    assert states == ["offline", "available", "reserved", "on_call", "wrap_up"]
    kinds = [e.kind for e in leg.transcript()]
    assert "conference" in " ".join(kinds), kinds


def test_ring_no_answer_puts_the_caller_back_and_the_agent_on_break_missed(centre: Centre) -> None:
    sleepy = centre.agent("sleepy", answering=Answering(mode="no-answer"))
    leg = centre.call(DEMO_VIP_PHONE, "press 1", "press 0", max_hold=300)
    awake = centre.agent("awake", available=False)
    # Sleepy rings for ring_timeout_s (20 s), misses, and the caller waits again in their place.
    centre.wait_for(lambda: centre.agent_row(sleepy).state is AgentState.BREAK, timeout=30)
    assert centre.agent_row(sleepy).state_reason == "missed"
    (entry,) = centre.entries(leg)
    assert entry.status is QueuedCallStatus.WAITING and entry.rings == 1
    # Back on the waiting list (after the commit of the no-answer callback), at the head.
    centre.wait_for(lambda: centre.runtime.waiting_list.position(str(entry.id)) == 1)
    centre.set_state(awake, AgentState.AVAILABLE)
    leg.wait(timeout=60)
    (entry,) = centre.entries(leg)
    assert entry.status is QueuedCallStatus.CONNECTED and entry.agent_id == awake
    assert entry.rings == 2
    assert ("break", "missed") in centre.agent_states(sleepy)


def test_the_caller_hangs_up_while_the_agent_rings(centre: Centre) -> None:
    slow = centre.agent("slow", answering=Answering(after=15, talk=30))
    leg = centre.call(DEMO_VIP_PHONE, "press 1", "press 0", max_hold=5)
    leg.wait(timeout=60)
    (entry,) = centre.entries(leg)
    assert entry.status is QueuedCallStatus.ABANDONED and entry.answered_at is None
    assert entry.wait_s is not None and entry.wait_s <= 10
    centre.wait_for(lambda: centre.agent_row(slow).state is AgentState.AVAILABLE, timeout=30)
    states = [s for s, _ in centre.agent_states(slow)]
    assert states == ["offline", "available", "reserved", "available"]
    agent_leg = centre.network.call(entry.agent_call_sid)  # hung up before it was answered
    assert agent_leg.wait(timeout=30).status in ("canceled", "completed", "no-answer")


def test_a_caller_asks_for_a_callback_keeps_their_place_and_is_called_back(
    centre: Centre,
) -> None:
    centre.network.add_endpoint(DEMO_VIP_PHONE, Answering(after=3, talk=20))
    leg = centre.call(DEMO_VIP_PHONE, "press 1", "press 0", "press 1", "press 1")
    leg.wait(timeout=60)
    said = [e.args[0] for e in leg.transcript() if e.kind == "say"]
    # The number is read back as the caller says it (no country code).
    booked = "好的，我们会按您的排队顺序拨打幺三八，零零幺三，八零零零给您回电。"
    assert booked in " ".join(said), said
    (entry,) = centre.entries(leg)
    assert entry.status is QueuedCallStatus.CALLBACK and entry.callback_to == DEMO_VIP_PHONE
    assert centre.runtime.waiting_list.position(str(entry.id)) == 1
    agent = centre.agent("li.na")  # available: routed at once, agent first, then the customer
    centre.wait_for(lambda: centre.entries(leg)[0].talk_ended_at is not None, timeout=60)
    (entry,) = centre.entries(leg)
    assert entry.status is QueuedCallStatus.CONNECTED and entry.agent_id == agent
    back = [c for c in centre.network.calls() if c.to == DEMO_VIP_PHONE]
    assert len(back) == 1 and back[0].direction == "outbound-api"
    heard = [e.args[0] for e in back[0].transcript() if e.kind == "say"]
    assert heard[0].startswith("您好，这里是银泰客服，您之前请求了回电")


def test_a_caller_keys_another_callback_number(centre: Centre) -> None:
    leg = centre.call(DEMO_VIP_PHONE, "press 1", "press 0", "press 1", "press 13912345678#")
    leg.wait(timeout=60)
    (entry,) = centre.entries(leg)
    assert entry.status is QueuedCallStatus.CALLBACK and entry.callback_to == "+8613912345678"


def test_an_agent_who_leaves_during_the_callback_greeting_does_not_strand_the_customer(
    live_session_factory: sessionmaker[Session], make_runtime: Callable[..., Runtime], redis: object
) -> None:
    # Time waits half a real second after each activity, so the test can act mid-greeting.
    clock = VirtualClock(NOW, settle=0.5)
    with running_centre(live_session_factory, make_runtime, clock=clock) as centre:
        centre.network.add_endpoint(DEMO_VIP_PHONE, Answering(after=3, talk=20, max_hold=3600))
        leg = centre.call(DEMO_VIP_PHONE, "press 1", "press 0", "press 1", "press 1")
        leg.wait(timeout=60)
        centre.agent("brief")
        centre.wait_for(lambda: any(c.to == DEMO_VIP_PHONE for c in centre.network.calls()))
        back = next(c for c in centre.network.calls() if c.to == DEMO_VIP_PHONE)
        centre.wait_for(lambda: any(e.kind == "say" for e in back.transcript()))
        with clock.hold():  # the customer is hearing who calls: the agent leaves now
            (entry,) = centre.entries(leg)
            assert entry.agent_call_sid is not None
            centre.network.hang_up(entry.agent_call_sid)
            centre.wait_for(lambda: centre.entries(leg)[0].talk_ended_at is not None)
        assert back.wait(timeout=60).status == "completed"  # not left alone in a conference
        heard = [e.args[0] for e in back.transcript() if e.kind == "say"]
        assert heard[0].startswith("您好，这里是银泰客服，您之前请求了回电")
        assert heard[-1] == "客服人员已结束通话，感谢您的来电，再见。"
        assert "conference" not in [e.kind for e in back.transcript()]
