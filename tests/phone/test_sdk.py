"""The official twilio SDK, pointed at the network, drives calls, conferences and recordings."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from phone_network.clock import VirtualClock
from phone_network.network import PhoneNetwork
from phone_network.parties import Answering, ScriptedCaller
from phone_network.rest_api import Credentials
from phone_network.sdk import LocalNetworkHttpClient, http_client_for
from phone_network.server import NetworkServer
from tests.phone.conftest import ACCOUNT_SID, AUTH_TOKEN, CALLER, HOTLINE, TwimlApp, twiml


@pytest.fixture
def server(net: PhoneNetwork) -> Iterator[NetworkServer]:
    served = NetworkServer(net, Credentials(ACCOUNT_SID, AUTH_TOKEN)).start()
    yield served
    served.stop()


@pytest.fixture
def http(server: NetworkServer) -> Iterator[LocalNetworkHttpClient]:
    client = http_client_for(server.url)
    yield client
    client.close()


@pytest.fixture
def twilio(http: LocalNetworkHttpClient) -> Client:
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)


def test_the_client_refuses_hosts_other_than_twilio(http: LocalNetworkHttpClient) -> None:
    with pytest.raises(ValueError, match="outside the local network"):
        http.rewrite("https://example.com/2010-04-01/Accounts.json")
    assert http.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json?x=1") == \
        f"{http.base_url}/2010-04-01/Accounts/AC1/Calls.json?x=1"


def test_create_fetch_redirect_and_end_a_call(
        net: PhoneNetwork, twilio: Client, app: TwimlApp, clock: VirtualClock) -> None:
    net.add_endpoint("client:alice", Answering(after=0, talk=None))
    app.on("/agent", twiml('<Pause length="120"/>'))
    with clock.hold():
        created = twilio.calls.create(to="client:alice", from_=HOTLINE, url=app.url("/agent"),
                                      status_callback=app.url("/progress"),
                                      status_callback_event=["answered", "completed"])
        assert created.sid.startswith("CA") and created.direction == "outbound-api"
        net.call(created.sid).wait_for("pause")
        assert twilio.calls(created.sid).fetch().status == "in-progress"
        twilio.calls(created.sid).update(twiml="<Response><Say>New plan</Say>"
                                               '<Pause length="120"/></Response>')
        net.call(created.sid).wait_for("say")
        ended = twilio.calls(created.sid).update(status="completed")
    assert ended.sid == created.sid
    result = net.call(created.sid).wait(5)
    assert (result.hung_up_by, result.said()) == ("api", ["New plan"])
    assert [h.params["CallStatus"] for h in app.requests_to("/progress")] == [
        "in-progress", "completed"]
    with pytest.raises(TwilioRestException) as refused:
        twilio.calls(created.sid).update(url=app.url("/agent"))
    assert (refused.value.status, refused.value.code) == (400, 21220)


def test_add_update_and_remove_a_conference_participant(
        net: PhoneNetwork, twilio: Client, app: TwimlApp, clock: VirtualClock) -> None:
    net.add_endpoint("client:sup", Answering(after=0, talk=None))
    app.on("/voice", twiml("<Dial><Conference>room-sdk</Conference></Dial>"))
    app.on("/hold", twiml("<Play>https://cdn.test/hold.mp3</Play>"))
    with clock.hold():  # the caller must not give up waiting while the test talks to the API
        caller = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
        caller.wait_for("conference")
        [room] = twilio.conferences.list(friendly_name="room-sdk", status="init")
        added = twilio.conferences(room.sid).participants.create(
            from_=HOTLINE, to="client:sup", muted=True, coaching=True,
            call_sid_to_coach=caller.sid, beep="false", start_conference_on_enter=False,
            end_conference_on_exit=False)
        assert added.call_sid.startswith("CA") and added.status in ("queued", "connected")
        assert (added.muted, added.coaching, added.call_sid_to_coach) == (True, True, caller.sid)
        net.call(added.call_sid).wait_for("conference")
        assert twilio.conferences(room.sid).fetch().status == "in-progress"
        listed = twilio.conferences(room.sid).participants.list()
        assert {p.call_sid for p in listed} == {caller.sid, added.call_sid}
        unmuted = twilio.conferences(room.sid).participants(added.call_sid).update(
            muted=False, coaching=False)
        assert (unmuted.muted, unmuted.coaching) == (False, False)
        held = twilio.conferences(room.sid).participants(added.call_sid).update(
            hold=True, hold_url=app.url("/hold"))
        assert held.hold is True
        net.call(added.call_sid).wait_for("play", match=lambda e: "hold" in e.args[0])
        assert twilio.conferences(room.sid).participants(added.call_sid).delete() is True
        supervisor = net.call(added.call_sid).wait(5)
        ended = twilio.conferences(room.sid).update(status="completed")
    assert (supervisor.status, supervisor.ok) == ("completed", True)
    assert ("play", "https://cdn.test/hold.mp3") in supervisor.steps()
    assert ended.status == "completed"
    assert caller.wait(5).hung_up_by == "hotline"


def test_fetch_a_recording_and_its_audio(
        net: PhoneNetwork, twilio: Client, app: TwimlApp, server: NetworkServer) -> None:
    app.on("/voice", twiml('<Record action="/saved" maxLength="10"/>'))
    app.on("/saved", twiml("<Hangup/>"))
    net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller(["speak 20"])).wait(5)
    sid = app.requests_to("/saved")[0].params["RecordingSid"]
    recording = twilio.recordings(sid).fetch()
    assert (recording.duration, recording.channels, recording.source) == ("10", 1, "RecordVerb")
    assert recording.media_url == app.requests_to("/saved")[0].params["RecordingUrl"]
    with requests.Session() as session:
        session.trust_env = False
        response = session.get(recording.media_url + ".wav", auth=(ACCOUNT_SID, AUTH_TOKEN),
                               timeout=5)
    with wave.open(io.BytesIO(response.content)) as audio:
        assert audio.getnframes() == 10 * 8000
