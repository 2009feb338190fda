"""Manual endpoints: a desk answers or rejects a ringing call over the network, or it rings out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from phone_network.calls import Call, NewCall, NewParticipant
from phone_network.clock import Actor, VirtualClock
from phone_network.network import PhoneNetwork, UnknownResource
from phone_network.parties import Answering, ScriptedCaller
from phone_network.remote import RemoteNetwork
from phone_network.rest_api import Credentials
from phone_network.server import NetworkServer
from phone_network.twiml import Conference, StatusCallback
from tests.phone.conftest import ACCOUNT_SID, AUTH_TOKEN, CALLER, HOTLINE, TwimlApp, twiml

DESK = "client:desk"
ALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})


@contextmanager
def person(clock: VirtualClock) -> Iterator[Actor]:
    """Someone at a desk: time stands still while they act and passes while they sleep."""
    actor = clock.actor()
    try:
        yield actor
    finally:
        actor.close()


def ringing_at(net: PhoneNetwork, address: str, count: int = 1) -> list[Call]:
    """The calls ringing at `address` once there are `count` (leg threads register them)."""
    deadline = time.monotonic() + 5
    while len(found := net.ringing(address)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


def call_desk(net: PhoneNetwork, app: TwimlApp, *, timeout: float = 30) -> Call:
    """Our app's REST call to an agent's browser, with every progress callback."""
    return net.create_call(NewCall(
        to=DESK, from_=HOTLINE, url=app.url("/desk"), timeout=timeout,
        status_callback=StatusCallback(app.url("/progress"), events=ALL_EVENTS)))


@pytest.fixture
def server(net: PhoneNetwork) -> Iterator[NetworkServer]:
    served = NetworkServer(net, Credentials(ACCOUNT_SID, AUTH_TOKEN)).start()
    yield served
    served.stop()


@pytest.fixture
def remote(server: NetworkServer) -> Iterator[RemoteNetwork]:
    with RemoteNetwork(server.url, ACCOUNT_SID, AUTH_TOKEN) as client:
        yield client


def test_a_desk_answering_a_rest_call_before_the_timeout_runs_its_twiml(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock) -> None:
    net.add_endpoint(DESK, Answering(mode="manual"))
    app.on("/desk", twiml("<Say>You have a callback to make</Say>"))
    with person(clock) as agent:
        call = call_desk(net, app)
        assert ringing_at(net, DESK) == [call]
        agent.sleep(5, lambda: False)
        assert net.answer(call.sid)
        assert not net.answer(call.sid)
        assert net.ringing(DESK) == []
    result = call.wait(5)
    assert result.said() == ["You have a callback to make"]
    assert call.answered_at is not None
    assert (call.answered_at - call.created_at).total_seconds() == 5
    assert [h.params["CallStatus"] for h in app.requests_to("/progress")] == [
        "initiated", "ringing", "in-progress", "completed"]


def test_a_desk_answering_a_dialled_client_talks_for_its_talk_seconds(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock) -> None:
    net.add_endpoint(DESK, Answering(mode="manual", talk=10))
    app.on("/voice", twiml('<Dial action="/dialed" timeout="20"><Client>desk</Client></Dial>'))
    with person(clock) as agent:
        caller = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
        caller.wait_for("ringing")
        [child] = net.ringing(DESK)
        assert child.parent_sid == caller.sid
        agent.sleep(4, lambda: False)
        assert net.answer(child.sid)
    result = caller.wait(5)
    [dialed] = app.requests_to("/dialed")
    assert (dialed.params["DialCallStatus"], dialed.params["DialCallSid"]) == (
        "completed", child.sid)
    assert dialed.params["DialCallDuration"] == "10"
    assert child.wait(5).hung_up_by == "party"
    assert result.duration == 14  # 4 s ringing, 10 s talking


def test_a_desk_answering_first_wins_over_a_later_scripted_answer(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock) -> None:
    net.add_endpoint(DESK, Answering(mode="manual", talk=5))
    net.add_endpoint("client:bob", Answering(after=8, talk=5))
    app.on("/voice", twiml('<Dial action="/dialed"><Client>desk</Client><Client>bob</Client>'
                           "</Dial>"))
    with person(clock) as agent:
        caller = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
        [desk] = ringing_at(net, DESK)
        agent.sleep(3, lambda: False)
        assert net.answer(desk.sid)
    caller.wait(5)
    assert app.requests_to("/dialed")[0].params["DialCallSid"] == desk.sid
    [bob] = [c for c in net.calls() if c.to == "client:bob"]
    assert bob.wait(5).status == "canceled"


def test_a_desk_rejecting_a_dialled_client_ends_it_busy_at_once(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock) -> None:
    net.add_endpoint(DESK, Answering(mode="manual"))
    app.on("/voice", twiml('<Dial action="/dialed" timeout="30"><Client>desk</Client></Dial>'))
    with person(clock) as agent:
        caller = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
        [child] = ringing_at(net, DESK)
        agent.sleep(2, lambda: False)
        assert net.reject(child.sid)
        assert not net.answer(child.sid)
    result = caller.wait(5)
    assert app.requests_to("/dialed")[0].params["DialCallStatus"] == "busy"
    assert (result.events("dial-result")[0].at - result.events("dial")[0].at).seconds == 2
    assert child.wait(5).status == "busy"


def test_a_rejection_leaves_the_other_dialled_endpoints_ringing(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock) -> None:
    net.add_endpoint(DESK, Answering(mode="manual"))
    net.add_endpoint("client:bob", Answering(after=8, talk=5))
    app.on("/voice", twiml('<Dial action="/dialed"><Client>desk</Client><Client>bob</Client>'
                           "</Dial>"))
    with person(clock) as agent:
        caller = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
        [desk] = ringing_at(net, DESK)
        agent.sleep(1, lambda: False)
        assert net.reject(desk.sid)
    caller.wait(5)
    [dialed] = app.requests_to("/dialed")
    assert dialed.params["DialCallStatus"] == "completed"
    assert net.call(dialed.params["DialCallSid"]).to == "client:bob"
    assert desk.wait(5).status == "busy"
    assert desk.ended_at is not None
    assert (desk.ended_at - desk.created_at).total_seconds() == 1


def test_a_desk_rejecting_a_rest_call_ends_it_busy(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock) -> None:
    net.add_endpoint(DESK, Answering(mode="manual"))
    with person(clock):
        call = call_desk(net, app)
        ringing_at(net, DESK)
        assert net.reject(call.sid)
    assert call.wait(5).status == "busy"
    assert app.requests_to("/desk") == []
    assert app.await_requests("/progress", 3)[-1].params["CallStatus"] == "busy"


def test_an_unanswered_desk_rings_out_as_no_answer_at_the_rest_timeout(
        net: PhoneNetwork, app: TwimlApp) -> None:
    net.add_endpoint(DESK, Answering(mode="manual"))
    call = call_desk(net, app, timeout=25)
    result = call.wait(5)
    assert result.status == "no-answer"
    assert call.ended_at is not None
    assert (call.ended_at - call.created_at).total_seconds() == 25
    assert app.requests_to("/desk") == []
    completed = app.await_requests("/progress", 3)[-1]
    assert (completed.params["CallStatus"], completed.params["CallDuration"]) == ("no-answer", "0")
    assert not net.answer(call.sid)
    assert not net.reject(call.sid)


def test_an_unanswered_dialled_desk_is_no_answer_at_the_dial_timeout(
        net: PhoneNetwork, app: TwimlApp) -> None:
    net.add_endpoint(DESK, Answering(mode="manual"))
    app.on("/voice", twiml('<Dial action="/dialed" timeout="15"><Client statusCallback="/child">'
                           "desk</Client></Dial>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller()).wait(5)
    assert app.requests_to("/dialed")[0].params["DialCallStatus"] == "no-answer"
    assert (result.events("dial-result")[0].at - result.events("dial")[0].at).seconds == 15
    [child] = app.await_requests("/child")
    assert child.params["CallStatus"] == "no-answer"


def test_an_unanswered_desk_participant_rings_out_at_its_timeout(
        net: PhoneNetwork, app: TwimlApp) -> None:
    net.add_endpoint(DESK, Answering(mode="manual"))
    room, participant = net.add_participant("room-m", NewParticipant(
        from_=HOTLINE, to=DESK, conference=Conference("room-m"), timeout=20))
    result = participant.call.wait(5)
    assert result.status == "no-answer"
    assert participant.status == "failed"
    assert room.participants == {}


def test_a_desk_answering_a_participant_joins_the_conference(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock) -> None:
    net.add_endpoint(DESK, Answering(mode="manual", max_hold=30))
    with person(clock) as agent:
        _, participant = net.add_participant("room-n", NewParticipant(
            from_=HOTLINE, to=DESK, conference=Conference("room-n"), timeout=20))
        ringing_at(net, DESK)
        agent.sleep(2, lambda: False)
        assert net.answer(participant.call.sid)
    result = participant.call.wait(5)
    assert result.status == "completed"
    assert result.steps()[0][:2] == ("conference", "room-n")
    assert participant.call.answered_at is not None
    assert (participant.call.answered_at - participant.call.created_at).total_seconds() == 2
    assert result.duration == 30  # alone in the room, it holds for its max_hold


def test_only_ringing_manual_legs_can_be_answered_or_rejected(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock) -> None:
    net.add_endpoint("client:auto", Answering(after=5))
    app.on("/voice", twiml('<Pause length="30"/>'))
    with clock.hold():
        inbound = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
        inbound.wait_for("pause")
        auto = net.create_call(NewCall(to="client:auto", from_=HOTLINE, url=app.url("/x")))
        assert not net.answer(inbound.sid)
        assert not net.reject(inbound.sid)
        assert not net.answer(auto.sid)
        assert net.ringing("client:auto") == []
        with pytest.raises(UnknownResource):
            net.answer("CA" + "0" * 32)
        with pytest.raises(UnknownResource):
            net.reject("CA" + "0" * 32)
        net.hang_up(inbound.sid)


def test_a_desk_answers_over_the_control_api(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock, remote: RemoteNetwork) -> None:
    app.on("/desk", twiml("<Say>Answered in the browser</Say>"))
    remote.register_endpoint(DESK, Answering(mode="manual", talk=None))
    assert net.endpoints()[DESK].mode == "manual"
    with person(clock) as agent:
        call = call_desk(net, app)
        ringing_at(net, DESK)
        assert remote.ringing(DESK) == [call.sid]
        agent.sleep(3, lambda: False)
        assert remote.answer_call(call.sid)
        assert not remote.answer_call(call.sid)
        assert not remote.reject_call(call.sid)
        assert remote.ringing(DESK) == []
    assert call.wait(5).said() == ["Answered in the browser"]
    assert call.answered_at is not None
    assert (call.answered_at - call.created_at).total_seconds() == 3


def test_a_desk_rejects_over_the_control_api(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock, remote: RemoteNetwork) -> None:
    remote.register_endpoint(DESK, Answering(mode="manual"))
    with person(clock):
        call = call_desk(net, app)
        [sid] = [c.sid for c in ringing_at(net, DESK)]
        assert remote.reject_call(sid)
    assert call.wait(5).status == "busy"


def test_the_control_api_answers_409_when_not_ringing_and_404_for_unknown_calls(
        net: PhoneNetwork, app: TwimlApp, server: NetworkServer) -> None:
    net.add_endpoint(DESK, Answering(mode="manual"))
    call = call_desk(net, app, timeout=10)
    assert call.wait(5).status == "no-answer"
    with requests.Session() as api:
        api.trust_env = False
        api.auth = (ACCOUNT_SID, AUTH_TOKEN)
        for action in ("answer", "reject"):
            with api.post(f"{server.url}/control/calls/{call.sid}/{action}",
                          timeout=5) as response:
                assert response.status_code == 409
                assert response.json()["error"]["code"] == "not-ringing"
            with api.post(f"{server.url}/control/calls/CA{'0' * 32}/{action}",
                          timeout=5) as response:
                assert (response.status_code, response.json()["error"]["code"]) == (
                    404, "not-found")
        with api.get(f"{server.url}/control/endpoints/{DESK}/ringing", timeout=5) as response:
            assert response.json() == {"address": DESK, "ringing": []}
        with requests.post(f"{server.url}/control/calls/{call.sid}/answer",
                           timeout=5) as response:
            assert response.status_code == 401
