"""The network as a whole: many concurrent calls, shutdown, and what it refuses."""

from __future__ import annotations

from collections import Counter

import pytest

from phone_network.calls import NewCall
from phone_network.clock import VirtualClock
from phone_network.network import PhoneNetwork, PhoneNetworkError, UnknownResource
from phone_network.parties import Answering, ScriptedCaller
from tests.phone.conftest import CALLER, HOTLINE, Hit, TwimlApp, twiml


def agent_loop(hit: Hit) -> str:
    """An agent desk: take the next caller from the queue until it stays empty."""
    if hit.params.get("DialCallStatus") in ("no-answer", "failed"):
        return twiml("<Hangup/>")
    return twiml('<Dial action="/agent" timeout="30"><Queue>support</Queue></Dial>')


def test_forty_callers_and_four_agents_share_one_queue(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock) -> None:
    app.on("/voice", twiml('<Enqueue action="/queue-done" waitUrl="/hold">support</Enqueue>'))
    app.on("/hold", lambda hit: twiml(f"<Say>Position {hit.params['QueuePosition']}</Say>",
                                      '<Pause length="120"/>'))
    app.on("/agent", agent_loop)
    for desk in range(4):
        net.add_endpoint(f"client:desk{desk}", Answering(after=1, talk=None))
    with clock.hold():
        callers = [net.place_call(from_=f"+86138{n:08d}", to=HOTLINE,
                                  party=ScriptedCaller(max_hold=3600, talk_for=60))
                   for n in range(40)]
        for caller in callers:
            caller.wait_for("enqueue")
        agents = [net.create_call(NewCall(to=f"client:desk{desk}", from_=HOTLINE,
                                          url=app.url("/agent"))) for desk in range(4)]
    results = [caller.wait(30) for caller in callers]
    assert {(r.status, r.hung_up_by) for r in results} == {("completed", "party")}
    queue_results = [h.params["QueueResult"] for h in app.requests_to("/queue-done")]
    assert queue_results == ["bridged"] * 40
    bridged = Counter(h.params["DialCallSid"] for h in app.requests_to("/agent")
                      if h.params.get("DialCallStatus") == "completed")
    assert sorted(bridged) == sorted(c.sid for c in callers) and set(bridged.values()) == {1}
    served = Counter(h.params["CallSid"] for h in app.requests_to("/agent")
                     if h.params.get("DialCallStatus") == "completed")
    assert sorted(served.values()) == [10, 10, 10, 10]
    for agent in agents:
        assert agent.wait(30).hung_up_by == "hotline"
    assert 600 <= clock.elapsed < 700
    assert all(hit.signed for hit in app.hits)


def test_closing_the_network_ends_every_live_call(app: TwimlApp, clock: VirtualClock) -> None:
    from tests.phone.conftest import ACCOUNT_SID, AUTH_TOKEN

    net = PhoneNetwork(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, clock=clock)
    net.add_number(HOTLINE, voice_url=app.url("/voice"))
    app.on("/voice", twiml('<Enqueue waitUrl="/hold">support</Enqueue>'))
    app.on("/hold", twiml('<Pause length="600"/>'))
    with clock.hold():
        call = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
        call.wait_for("pause")
        net.close()
    assert call.wait(1).hung_up_by == "network"


def test_calls_only_go_to_the_networks_numbers(net: PhoneNetwork) -> None:
    with pytest.raises(PhoneNetworkError, match="not a number of this network"):
        net.place_call(from_=CALLER, to="+861234567", party=ScriptedCaller())
    with pytest.raises(UnknownResource):
        net.call("CA" + "0" * 32)
    with pytest.raises(PhoneNetworkError, match="completed or canceled"):
        net.update_call(net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller()).sid,
                        status="busy")
