"""The network's HTTP face: Twilio-shaped REST resources and errors, and the control API."""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Iterator

import pytest
import requests

from phone_network.clock import VirtualClock
from phone_network.network import PhoneNetwork
from phone_network.parties import Answering, ScriptedCaller
from phone_network.remote import RemoteNetwork, network_answers
from phone_network.rest_api import Credentials
from phone_network.server import NetworkServer
from tests.phone.conftest import ACCOUNT_SID, AUTH_TOKEN, CALLER, HOTLINE, TwimlApp, twiml

API_KEY, API_SECRET = "SK" + "c3" * 16, "api-secret-for-tests"
CALL_FIELDS = {  # api.v2010.account.call in Twilio's OpenAPI document
    "sid", "date_created", "date_updated", "parent_call_sid", "account_sid", "to",
    "to_formatted", "from", "from_formatted", "phone_number_sid", "status", "start_time",
    "end_time", "duration", "price", "price_unit", "direction", "answered_by", "api_version",
    "forwarded_from", "group_sid", "caller_name", "queue_time", "trunk_sid", "uri",
    "subresource_uris"}
RECORDING_FIELDS = {
    "account_sid", "api_version", "call_sid", "conference_sid", "date_created", "date_updated",
    "start_time", "duration", "sid", "price", "price_unit", "status", "channels", "source",
    "error_code", "uri", "encryption_details", "subresource_uris", "media_url"}
CONFERENCE_FIELDS = {
    "account_sid", "date_created", "date_updated", "api_version", "friendly_name", "region",
    "sid", "status", "uri", "subresource_uris", "reason_conference_ended",
    "call_sid_ending_conference"}


@pytest.fixture
def server(net: PhoneNetwork) -> Iterator[NetworkServer]:
    served = NetworkServer(net, Credentials(ACCOUNT_SID, AUTH_TOKEN, API_SECRET)).start()
    yield served
    served.stop()


@pytest.fixture
def api(server: NetworkServer) -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    session.auth = (ACCOUNT_SID, AUTH_TOKEN)
    yield session
    session.close()


def url(server: NetworkServer, path: str) -> str:
    return f"{server.url}/2010-04-01/Accounts/{ACCOUNT_SID}{path}"


def test_requests_without_valid_credentials_get_twilio_401(
        server: NetworkServer, api: requests.Session) -> None:
    with requests.get(url(server, "/Calls.json"), timeout=5) as response:
        assert response.status_code == 401
        assert response.json() == {"code": 20003, "message": "Authenticate",
                                   "more_info": "https://www.twilio.com/docs/errors/20003",
                                   "status": 401}
    with requests.get(url(server, "/Calls.json"), auth=(API_KEY, "wrong"), timeout=5) as wrong:
        assert wrong.status_code == 401
    with requests.get(url(server, "/Calls.json"), auth=(API_KEY, API_SECRET), timeout=5) as ok:
        assert ok.status_code == 200


def test_unknown_resources_and_accounts_are_404(
        server: NetworkServer, api: requests.Session) -> None:
    with api.get(url(server, "/Calls/CA" + "0" * 32 + ".json"), timeout=5) as response:
        assert (response.status_code, response.json()["code"]) == (404, 20404)
    other = f"{server.url}/2010-04-01/Accounts/AC{'1' * 32}/Calls.json"
    with api.get(other, timeout=5) as response:
        assert response.status_code == 404


def test_creating_a_call_validates_like_twilio(
        server: NetworkServer, api: requests.Session) -> None:
    with api.post(url(server, "/Calls.json"), data={"From": HOTLINE, "Url": "http://x.test/"},
                  timeout=5) as response:
        assert (response.status_code, response.json()["code"]) == (400, 21201)
    with api.post(url(server, "/Calls.json"), data={"From": HOTLINE, "To": "client:a"},
                  timeout=5) as response:
        assert (response.status_code, response.json()["code"]) == (400, 21205)


def test_a_rest_call_rings_the_endpoint_runs_its_url_and_reports_progress(
        net: PhoneNetwork, server: NetworkServer, api: requests.Session, app: TwimlApp) -> None:
    net.add_endpoint("client:alice", Answering(after=2))
    app.on("/outbound", twiml("<Say>You have a callback to make</Say>"))
    form = [("To", "client:alice"), ("From", HOTLINE), ("Url", app.url("/outbound")),
            ("StatusCallback", app.url("/progress"))] + [
        ("StatusCallbackEvent", e) for e in ("initiated", "ringing", "answered", "completed")]
    with api.post(url(server, "/Calls.json"), data=form, timeout=5) as response:
        assert response.status_code == 201
        created = response.json()
    assert set(created) == CALL_FIELDS
    assert (created["direction"], created["to"], created["from"]) == (
        "outbound-api", "client:alice", HOTLINE)
    assert created["uri"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{created['sid']}.json"
    result = net.call(created["sid"]).wait(5)
    assert result.said() == ["You have a callback to make"]
    assert app.requests_to("/outbound")[0].params["Direction"] == "outbound-api"
    progress = app.requests_to("/progress")
    assert [h.params["CallStatus"] for h in progress] == [
        "initiated", "ringing", "in-progress", "completed"]
    assert [h.params["SequenceNumber"] for h in progress] == ["0", "1", "2", "3"]
    with api.get(url(server, f"/Calls/{created['sid']}.json"), timeout=5) as fetched:
        assert fetched.json()["status"] == "completed"
        assert fetched.json()["duration"] == str(result.duration)


def test_a_rest_call_to_nobody_is_no_answer(
        net: PhoneNetwork, server: NetworkServer, api: requests.Session, app: TwimlApp) -> None:
    form = {"To": "+8613700137000", "From": HOTLINE, "Url": app.url("/outbound"),
            "Timeout": "25"}
    with api.post(url(server, "/Calls.json"), data=form, timeout=5) as response:
        sid = response.json()["sid"]
    assert net.call(sid).wait(5).status == "no-answer"
    assert app.requests_to("/outbound") == []


def test_ending_a_live_call_over_rest_and_updating_an_ended_one(
        net: PhoneNetwork, server: NetworkServer, api: requests.Session, app: TwimlApp,
        clock: VirtualClock) -> None:
    app.on("/voice", twiml('<Pause length="60"/>'))
    with clock.hold():
        call = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
        call.wait_for("pause")
        with api.post(url(server, f"/Calls/{call.sid}.json"), data={"Status": "completed"},
                      timeout=5) as response:
            assert response.status_code == 200
    assert call.wait(5).hung_up_by == "api"
    with api.post(url(server, f"/Calls/{call.sid}.json"), data={"Url": app.url("/x")},
                  timeout=5) as response:
        assert (response.status_code, response.json()["code"]) == (400, 21220)


def test_recordings_are_served_as_wav_and_can_be_deleted(
        net: PhoneNetwork, server: NetworkServer, api: requests.Session, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Record action="/saved"/>'))
    app.on("/saved", twiml("<Hangup/>"))
    call = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller(["speak 3"]))
    call.wait(5)
    sid = app.requests_to("/saved")[0].params["RecordingSid"]
    media = app.requests_to("/saved")[0].params["RecordingUrl"]
    assert media == url(server, f"/Recordings/{sid}")
    with api.get(url(server, f"/Recordings/{sid}.json"), timeout=5) as response:
        assert set(response.json()) == RECORDING_FIELDS
        assert (response.json()["duration"], response.json()["call_sid"]) == ("3", call.sid)
    for address in (media, media + ".wav"):
        with api.get(address, timeout=5) as response:
            assert response.headers["Content-Type"] == "audio/x-wav"
            with wave.open(io.BytesIO(response.content)) as audio:
                assert audio.getnframes() == 3 * 8000
    with api.get(media + ".mp3", timeout=5) as response:
        assert response.status_code == 415
    with api.get(url(server, f"/Calls/{call.sid}/Recordings.json"), timeout=5) as response:
        assert [r["sid"] for r in response.json()["recordings"]] == [sid]
    with api.delete(url(server, f"/Recordings/{sid}.json"), timeout=5) as response:
        assert response.status_code == 204
    with api.get(media, timeout=5) as response:
        assert response.status_code == 404


def test_conferences_list_with_filters_and_pages(
        net: PhoneNetwork, server: NetworkServer, api: requests.Session, app: TwimlApp) -> None:
    for room in ("a", "b", "c"):
        app.on(f"/voice-{room}", twiml(f"<Dial><Conference>room-{room}</Conference></Dial>"))
        net.add_number(HOTLINE, voice_url=app.url(f"/voice-{room}"))
        net.place_call(from_=CALLER, to=HOTLINE,
                       party=ScriptedCaller(["wait 5", "hangup"])).wait(5)
    with api.get(url(server, "/Conferences.json"), params={"PageSize": 2}, timeout=5) as first:
        page = first.json()
    assert len(page["conferences"]) == 2 and page["next_page_uri"] is not None
    assert set(page["conferences"][0]) == CONFERENCE_FIELDS
    with api.get(server.url + page["next_page_uri"], timeout=5) as second:
        assert len(second.json()["conferences"]) == 1
    with api.get(url(server, "/Conferences.json"),
                 params={"FriendlyName": "room-b", "Status": "completed"}, timeout=5) as found:
        [room_b] = found.json()["conferences"]
    assert room_b["reason_conference_ended"] == "last-participant-left"


def test_queues_and_their_members(
        net: PhoneNetwork, server: NetworkServer, api: requests.Session, app: TwimlApp,
        clock: VirtualClock) -> None:
    app.on("/voice", twiml('<Enqueue waitUrl="/hold">sales</Enqueue>'))
    app.on("/hold", twiml('<Pause length="30"/>'))
    app.on("/out", twiml("<Say>Dequeued over REST</Say>"))
    with clock.hold():
        call = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
        call.wait_for("pause")
        with api.get(url(server, "/Queues.json"), timeout=5) as response:
            [queue] = response.json()["queues"]
        assert (queue["friendly_name"], queue["current_size"]) == ("sales", 1)
        members = url(server, f"/Queues/{queue['sid']}/Members")
        with api.get(members + ".json", timeout=5) as response:
            assert response.json()["queue_members"][0]["call_sid"] == call.sid
        with api.post(members + "/Front.json", data={"Url": app.url("/out")},
                      timeout=5) as response:
            assert response.json()["position"] == 1
    assert call.wait(5).said() == ["Dequeued over REST"]


def test_a_remote_person_drives_a_call_over_the_control_api(
        net: PhoneNetwork, server: NetworkServer, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Gather numDigits="1" action="/menu"><Say>Press a key</Say></Gather>'))
    app.on("/menu", lambda hit: twiml(f"<Say>Key {hit.params['Digits']}</Say>"))
    assert network_answers(server.url)
    prompts: list[dict[str, object]] = []

    def person(prompt: dict[str, object]) -> dict[str, object]:
        prompts.append(prompt)
        return {"digits": "7"}

    with RemoteNetwork(server.url, ACCOUNT_SID, AUTH_TOKEN) as remote:
        sid = remote.place_call(from_=CALLER, to=HOTLINE, script=None, max_hold=60)
        heard: list[str] = []
        result = remote.follow(sid, lambda e: heard.append(e.kind), person)
    assert [p["kind"] for p in prompts] == ["gather"]
    assert result.said() == ["Press a key", "Key 7"]
    assert heard[-1] == "hangup"


def test_endpoints_registered_over_the_control_api_answer(
        net: PhoneNetwork, server: NetworkServer, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Dial action="/dialed"><Client>zed</Client></Dial>'))
    with RemoteNetwork(server.url, ACCOUNT_SID, AUTH_TOKEN) as remote:
        remote.register_endpoint("client:zed", Answering(after=1, talk=5))
        sid = remote.place_call(from_=CALLER, to=HOTLINE, script=[], max_hold=60)
        result = remote.follow(sid, lambda e: None)
    assert app.requests_to("/dialed")[0].params["DialCallStatus"] == "completed"
    assert result.ok
    assert not network_answers("http://127.0.0.1:9")


def test_the_rest_api_fails_while_a_fault_is_switched_on(
        server: NetworkServer, api: requests.Session) -> None:
    control = f"{server.url}/control/faults/rest"
    with api.get(url(server, "/Calls.json"), timeout=5) as response:
        assert response.status_code == 200
    with RemoteNetwork(server.url, ACCOUNT_SID, AUTH_TOKEN) as remote:
        remote.fail_rest("error", 30)
        with api.get(url(server, "/Calls.json"), timeout=5) as response:
            assert response.status_code == 500
            assert response.json()["code"] == 20500
        with api.post(url(server, "/Calls.json"), timeout=5,
                      data={"To": CALLER, "From": HOTLINE, "Twiml": "<Response/>"}) as response:
            assert response.status_code == 500  # nothing dialled
        with api.get(control, timeout=5) as response:
            state = response.json()
        assert state["rest"]["mode"] == "error" and 29 < state["rest"]["remaining"] <= 30
        assert state["failed"] == 2
        remote.heal_rest()
    with api.get(url(server, "/Calls.json"), timeout=5) as response:
        assert response.status_code == 200
        assert response.json()["calls"] == []
    with api.get(control, timeout=5) as response:
        assert response.json() == {"rest": None, "failed": 2}


def test_a_rest_fault_can_hold_requests_and_ends_by_itself(
        server: NetworkServer, api: requests.Session) -> None:
    control = f"{server.url}/control/faults/rest"
    with api.put(control, json={"mode": "timeout", "seconds": 0.6, "delay": 0.3},
                 timeout=5) as response:
        assert response.status_code == 200
    with api.get(url(server, "/Calls.json"), timeout=5) as response:
        assert response.status_code == 504
        assert response.elapsed.total_seconds() >= 0.3
    time.sleep(0.4)  # the fault's 0.6 s are over
    with api.get(url(server, "/Calls.json"), timeout=5) as response:
        assert response.status_code == 200


@pytest.mark.parametrize("body", [
    {"mode": "explode", "seconds": 5}, {"mode": "error"}, {"mode": "error", "seconds": 0},
    {"mode": "error", "seconds": "soon"}, {"mode": "timeout", "seconds": 5, "delay": -1}])
def test_a_bad_fault_is_refused_and_changes_nothing(
        server: NetworkServer, api: requests.Session, body: dict[str, object]) -> None:
    with api.put(f"{server.url}/control/faults/rest", json=body, timeout=5) as response:
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "bad-fault"
    with api.get(url(server, "/Calls.json"), timeout=5) as response:
        assert response.status_code == 200
