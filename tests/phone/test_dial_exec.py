"""<Dial> to numbers and clients: answering endpoints, busy, no answer, recordings, hangups."""

from __future__ import annotations

import io
import wave

from phone_network.network import PhoneNetwork
from phone_network.parties import Answering, ScriptedCaller
from tests.phone.conftest import CALLER, HOTLINE, TwimlApp, twiml

SHOP = "+861088886666"


def test_a_client_that_answers_is_bridged_until_it_hangs_up(
        net: PhoneNetwork, app: TwimlApp) -> None:
    net.add_endpoint("client:alice", Answering(after=3, talk=20))
    app.on("/voice", twiml('<Dial action="/dialed" timeout="20"><Client>alice</Client></Dial>'))
    app.on("/dialed", twiml("<Say>The agent left</Say>"))
    call = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
    result = call.wait(5)
    [dialed] = app.requests_to("/dialed")
    assert dialed.params["DialCallStatus"] == "completed"
    assert dialed.params["DialCallDuration"] == "20"
    child = net.call(dialed.params["DialCallSid"])
    assert (child.parent_sid, child.direction, child.from_) == (call.sid, "outbound-dial", CALLER)
    assert child.wait(5).hung_up_by == "party"
    assert ("bridged", "client:alice") in result.steps()
    assert result.said() == ["The agent left"]
    assert result.duration == 24  # 3 s ringing, 20 s talking, then the goodbye


def test_a_busy_number_reports_busy_at_once(net: PhoneNetwork, app: TwimlApp) -> None:
    net.add_endpoint(SHOP, Answering(mode="busy"))
    app.on("/voice", twiml(f'<Dial action="/dialed"><Number>{SHOP}</Number></Dial>'))
    app.on("/dialed", twiml("<Say>Line busy</Say>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller()).wait(5)
    assert app.requests_to("/dialed")[0].params["DialCallStatus"] == "busy"
    assert result.events("dial-result")[0].at == result.events("dial")[0].at


def test_an_unregistered_number_rings_out_and_the_next_verb_runs(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml(f'<Dial timeout="15">{SHOP}</Dial>', "<Say>Nobody answered</Say>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller()).wait(5)
    assert result.said() == ["Nobody answered"]
    assert ("dial-result", "no-answer") in result.steps()
    assert result.duration >= 15


def test_a_declined_call_is_busy_after_ringing(net: PhoneNetwork, app: TwimlApp) -> None:
    net.add_endpoint("client:carol", Answering(mode="reject", after=4))
    app.on("/voice", twiml('<Dial action="/dialed"><Client>carol</Client></Dial>'))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller()).wait(5)
    assert app.requests_to("/dialed")[0].params["DialCallStatus"] == "busy"
    assert (result.events("dial-result")[0].at - result.events("dial")[0].at).seconds == 4


def test_ringing_several_the_first_to_answer_wins(net: PhoneNetwork, app: TwimlApp) -> None:
    net.add_endpoint("client:alice", Answering(after=5, talk=10))
    net.add_endpoint("client:bob", Answering(after=2, talk=10))
    app.on("/voice", twiml('<Dial action="/dialed"><Client>alice</Client>'
                           "<Client>bob</Client></Dial>"))
    net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller()).wait(5)
    winner = net.call(app.requests_to("/dialed")[0].params["DialCallSid"])
    assert winner.to == "client:bob"
    [loser] = [c for c in net.calls() if c.to == "client:alice"]
    assert loser.wait(1).status == "canceled"


def test_a_dual_channel_dial_recording(net: PhoneNetwork, app: TwimlApp) -> None:
    net.add_endpoint("client:alice", Answering(after=1, talk=12))
    app.on("/voice", twiml('<Dial action="/dialed" record="record-from-answer-dual" '
                           'recordingStatusCallback="/rec"><Client>alice</Client></Dial>'))
    net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller()).wait(5)
    [dialed] = app.requests_to("/dialed")
    [rec] = app.await_requests("/rec")
    assert dialed.params["RecordingSid"] == rec.params["RecordingSid"]
    assert (rec.params["RecordingChannels"], rec.params["RecordingSource"]) == ("2", "DialVerb")
    assert rec.params["RecordingDuration"] == "12"
    with wave.open(io.BytesIO(net.recording_media(rec.params["RecordingSid"]))) as audio:
        assert audio.getnchannels() == 2
        assert audio.getnframes() == 12 * 8000


def test_a_caller_hanging_up_mid_call_ends_the_other_leg_and_reports(
        net: PhoneNetwork, app: TwimlApp) -> None:
    net.add_endpoint("client:alice", Answering(after=1, talk=None))
    app.on("/voice", twiml('<Dial action="/dialed"><Client>alice</Client></Dial>'))
    app.on("/dialed", twiml("<Say>not heard: the caller is gone</Say>"))
    result = net.place_call(from_=CALLER, to=HOTLINE,
                            party=ScriptedCaller(["wait 8", "hangup"])).wait(5)
    assert result.hung_up_by == "party"
    [dialed] = app.requests_to("/dialed")
    assert dialed.params["DialCallStatus"] == "completed"
    assert dialed.params["DialCallDuration"] == "8"
    assert net.call(dialed.params["DialCallSid"]).wait(5).hung_up_by == "peer"
    assert "not heard: the caller is gone" not in result.said()


def test_answer_on_bridge_keeps_the_caller_ringing_until_connected(
        net: PhoneNetwork, app: TwimlApp) -> None:
    net.add_number(HOTLINE, voice_url=app.url("/voice"), status_callback=app.url("/status"),
                   all_status_events=True)
    net.add_endpoint("client:alice", Answering(after=6, talk=5))
    app.on("/voice", twiml('<Dial answerOnBridge="true"><Client>alice</Client></Dial>'))
    call = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
    result = call.wait(5)
    assert call.answered_at is not None
    assert (call.answered_at - call.created_at).total_seconds() == 6
    assert result.duration == 5


def test_child_legs_send_their_own_status_callbacks(net: PhoneNetwork, app: TwimlApp) -> None:
    net.add_endpoint(SHOP, Answering(after=1, talk=3))
    app.on("/voice", twiml(f'<Dial><Number statusCallback="/child" '
                           f'statusCallbackEvent="initiated ringing answered completed">{SHOP}'
                           "</Number></Dial>"))
    call = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
    call.wait(5)
    [child] = [c for c in net.calls() if c.parent_sid == call.sid]
    child.wait(5)
    hits = app.requests_to("/child")
    assert [h.params["CallStatus"] for h in hits] == [
        "initiated", "ringing", "in-progress", "completed"]
    assert {h.params["ParentCallSid"] for h in hits} == {call.sid}
    assert {h.params["Direction"] for h in hits} == {"outbound-dial"}
