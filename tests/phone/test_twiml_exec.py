"""Executing TwiML on a call into the hotline, with our app's webhooks served over real HTTP."""

from __future__ import annotations

import io
import threading
import time
import wave

from flask import Response

from phone_network.clock import VirtualClock
from phone_network.network import PhoneNetwork
from phone_network.parties import ScriptedCaller
from tests.phone.conftest import ACCOUNT_SID, AUTH_TOKEN, CALLER, HOTLINE, Hit, TwimlApp, twiml


def caller(*actions: str) -> ScriptedCaller:
    return ScriptedCaller(actions)


def test_say_play_pause_are_heard_in_order_and_take_clock_time(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Say language="zh-CN" voice="Polly.Zhiyu">欢迎致电银泰客服</Say>',
                           '<Play loop="2">https://cdn.test/hello.mp3</Play>',
                           '<Pause length="3"/>', "<Say>Goodbye</Say>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=caller()).wait(5)
    assert result.steps() == [
        ("say", "欢迎致电银泰客服", "zh-CN"), ("play", "https://cdn.test/hello.mp3"),
        ("pause", "3"), ("say", "Goodbye", "en-US"), ("hangup", "hotline")]
    assert result.events("say")[0].detail["voice"] == "Polly.Zhiyu"
    assert result.status == "completed"
    assert result.duration >= 2 * net.play_seconds + 3
    assert result.error is None


def test_gather_posts_digits_to_a_relative_action_and_runs_what_it_returns(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Gather numDigits="1" action="menu?step=1">'
                           "<Say>Press 1 for sales</Say></Gather>"))
    app.on("/menu", lambda hit: twiml(f"<Say>You chose {hit.params['Digits']}</Say>",
                                      "<Hangup/>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=caller("press 1")).wait(5)
    assert result.said() == ["Press 1 for sales", "You chose 1"]
    assert ("pressed", "1") in result.steps()
    [menu] = app.requests_to("/menu")
    assert menu.params["Digits"] == "1"
    assert menu.params["CallStatus"] == "in-progress"


def test_gather_cuts_digits_at_finish_on_key_and_num_digits(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Gather action="/a"/>'))
    app.on("/a", twiml('<Gather numDigits="2" action="/b"/>'))
    app.on("/b", twiml("<Hangup/>"))
    net.place_call(from_=CALLER, to=HOTLINE, party=caller("press 123#", "press 456")).wait(5)
    assert app.requests_to("/a")[0].params["Digits"] == "123"
    assert app.requests_to("/a")[0].params["FinishedOnKey"] == "#"
    assert app.requests_to("/b")[0].params["Digits"] == "45"


def test_gather_without_input_falls_through_unless_action_on_empty_result(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Gather action="/never" timeout="7"/>', "<Say>Nothing?</Say>",
                           '<Gather action="/empty" actionOnEmptyResult="true"/>'))
    app.on("/empty", twiml("<Say>Empty result</Say>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=caller("wait", "wait")).wait(5)
    assert result.said() == ["Nothing?", "Empty result"]
    assert app.requests_to("/never") == []
    assert app.requests_to("/empty")[0].params["Digits"] == ""
    assert result.duration >= 7 + 5


def test_gather_speech_sends_speech_result_and_confidence(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Gather input="dtmf speech" action="/heard"/>'))
    app.on("/heard", twiml("<Hangup/>"))
    net.place_call(from_=CALLER, to=HOTLINE, party=caller("say order status")).wait(5)
    [heard] = app.requests_to("/heard")
    assert heard.params["SpeechResult"] == "order status"
    assert heard.params["Confidence"] == "0.9"


def test_gather_defaults_to_the_document_url_and_honours_get(
        net: PhoneNetwork, app: TwimlApp) -> None:
    def voice(hit: Hit) -> str:
        if "Digits" in hit.params:
            return twiml("<Hangup/>")
        return twiml('<Gather method="GET"/>')

    app.on("/voice", voice)
    net.place_call(from_=CALLER, to=HOTLINE, party=caller("press 42#")).wait(5)
    first, second = app.requests_to("/voice")
    assert (first.method, second.method) == ("POST", "GET")
    assert second.params["Digits"] == "42"
    assert all(hit.signed for hit in app.hits)


def test_an_exhausted_script_hangs_up_at_the_next_gather(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Gather action="/next"/>'))
    app.on("/next", twiml("<Gather/>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=caller("press 1")).wait(5)
    assert result.hung_up_by == "party"
    assert result.status == "completed"
    assert result.ok


def test_redirect_fetches_the_next_document(net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Redirect method="POST">/second</Redirect>', "<Say>unreached</Say>"))
    app.on("/second", twiml("<Say>Second</Say>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=caller()).wait(5)
    assert result.said() == ["Second"]


def test_reject_first_leaves_the_call_unanswered(net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Reject reason="busy"/>'))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=caller()).wait(5)
    assert (result.status, result.duration) == ("busy", 0)
    assert ("reject", "busy") in result.steps()
    assert app.requests_to("/status")[0].params["CallStatus"] == "busy"


def test_record_produces_a_wav_a_status_callback_and_the_action(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Say>Leave a message</Say>',
                           '<Record action="/saved" maxLength="30" finishOnKey="#" '
                           'recordingStatusCallback="/rec" '
                           'recordingStatusCallbackEvent="in-progress completed"/>'))
    app.on("/saved", twiml("<Say>Thanks</Say>"))
    result = net.place_call(from_=CALLER, to=HOTLINE,
                            party=caller("speak 4", "press #")).wait(5)
    [saved] = app.requests_to("/saved")
    sid = saved.params["RecordingSid"]
    assert saved.params["RecordingDuration"] == "4"
    assert saved.params["Digits"] == "#"
    assert saved.params["RecordingUrl"] == net.recording_url(sid)
    statuses = [h.params["RecordingStatus"] for h in app.await_requests("/rec", 2)]
    assert statuses == ["in-progress", "completed"]
    completed = app.requests_to("/rec")[1].params
    assert completed["RecordingSource"] == "RecordVerb"
    assert completed["RecordingChannels"] == "1"
    with wave.open(io.BytesIO(net.recording_media(sid))) as audio:
        assert (audio.getnchannels(), audio.getframerate()) == (1, 8000)
        assert audio.getnframes() == 4 * 8000
    assert result.said()[-1] == "Thanks"


def test_an_empty_recording_skips_the_action(net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Record action="/saved" recordingStatusCallback="/rec" '
                           'recordingStatusCallbackEvent="absent"/>', "<Say>No message</Say>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=caller("wait")).wait(5)
    assert app.requests_to("/saved") == []
    assert app.await_requests("/rec")[0].params["RecordingStatus"] == "absent"
    assert result.said() == ["No message"]


def test_hanging_up_during_record_still_reports_to_the_action(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Record action="/saved"/>'))
    result = net.place_call(from_=CALLER, to=HOTLINE,
                            party=caller("speak 6", "hangup")).wait(5)
    [saved] = app.requests_to("/saved")
    assert saved.params["Digits"] == "hangup"
    assert saved.params["CallStatus"] == "in-progress"
    assert result.hung_up_by == "party"


def test_every_request_is_signed_with_the_standard_parameters(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml('<Gather numDigits="1" action="/a"/>'))
    app.on("/a", twiml("<Hangup/>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=caller("press 5")).wait(5)
    assert len(app.hits) == 3
    for hit in app.hits:
        assert hit.signed
        assert hit.headers["User-Agent"] == "TwilioProxy/1.1"
        assert hit.params["CallSid"] == result.sid
        assert hit.params["AccountSid"] == net.account_sid
        assert (hit.params["From"], hit.params["To"]) == (CALLER, HOTLINE)
        assert (hit.params["Caller"], hit.params["Called"]) == (CALLER, HOTLINE)
        assert hit.params["Direction"] == "inbound"
        assert hit.params["ApiVersion"] == "2010-04-01"
    assert result.sid.startswith("CA") and len(result.sid) == 34


def test_a_500_uses_the_fallback_url_with_error_code(net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", lambda hit: Response("boom", status=500))
    app.on("/fallback", twiml("<Say>Sorry, one moment</Say>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=caller()).wait(5)
    [fallback] = app.requests_to("/fallback")
    assert fallback.params["ErrorCode"] == "11200"
    assert fallback.params["ErrorUrl"] == app.url("/voice")
    assert result.said() == ["Sorry, one moment"]
    assert not result.application_error
    assert result.error is not None and "fallback" in result.error


def test_invalid_twiml_and_a_failing_fallback_end_in_an_application_error(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml("<Dance/>"))
    app.on("/fallback", lambda hit: Response("down", status=503))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=caller()).wait(5)
    assert result.application_error
    assert result.error is not None and result.error.startswith("application error")
    assert [f.code for f in result.failures] == [12100, 11200]
    assert result.hung_up_by == "network"
    assert ("error", "application error") in result.steps()


def test_a_document_that_is_not_a_response_is_a_twiml_error(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", "<Say>no Response root</Say>")
    app.on("/fallback", twiml("<Hangup/>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=caller()).wait(5)
    assert app.requests_to("/fallback")[0].params["ErrorCode"] == "12100"
    assert result.failures[0].fallback_used


def test_an_unreachable_app_is_an_application_error() -> None:
    net = PhoneNetwork(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, webhook_timeout=2)
    net.add_number(HOTLINE, voice_url="http://127.0.0.1:9/voice")
    try:
        result = net.place_call(from_=CALLER, to=HOTLINE, party=caller()).wait(10)
    finally:
        net.close()
    assert result.application_error
    assert result.failures[0].code == 11205


def test_status_callbacks_number_their_sequence(app: TwimlApp, net: PhoneNetwork) -> None:
    net.add_number(HOTLINE, voice_url=app.url("/voice"), status_callback=app.url("/status"),
                   all_status_events=True)
    app.on("/voice", twiml("<Say>Hi</Say>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=caller()).wait(5)
    hits = app.requests_to("/status")
    assert [h.params["CallStatus"] for h in hits] == [
        "initiated", "ringing", "in-progress", "completed"]
    assert [h.params["SequenceNumber"] for h in hits] == ["0", "1", "2", "3"]
    assert {h.params["CallbackSource"] for h in hits} == {"call-progress-events"}
    assert hits[-1].params["CallDuration"] == str(result.duration)
    assert hits[-1].params["Timestamp"].endswith("+0000")
    assert all(h.signed for h in hits)


def test_a_number_sends_only_completed_by_default(app: TwimlApp, net: PhoneNetwork) -> None:
    app.on("/voice", twiml("<Say>Hi</Say>"))
    net.place_call(from_=CALLER, to=HOTLINE, party=caller()).wait(5)
    assert [h.params["CallStatus"] for h in app.requests_to("/status")] == ["completed"]


def test_a_plain_text_response_is_read_out(net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", lambda hit: Response("We are closed", content_type="text/plain"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=caller()).wait(5)
    assert result.said() == ["We are closed"]


def test_a_redirect_loop_without_time_passing_is_stopped(
        net: PhoneNetwork, app: TwimlApp) -> None:
    net.max_instant_fetches = 10
    app.on("/voice", twiml("<Redirect>/voice</Redirect>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=caller()).wait(10)
    assert result.application_error


def test_a_slow_app_times_out_and_the_fallback_takes_over(app: TwimlApp) -> None:
    answered = threading.Event()

    def slow(hit: Hit) -> str:
        time.sleep(0.4)
        answered.set()
        return twiml("<Say>too late</Say>")

    app.on("/voice", slow)
    app.on("/fallback", twiml("<Say>Fallback here</Say>"))
    net = PhoneNetwork(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, webhook_timeout=0.1,
                       clock=VirtualClock())
    net.add_number(HOTLINE, voice_url=app.url("/voice"), fallback_url=app.url("/fallback"))
    try:
        result = net.place_call(from_=CALLER, to=HOTLINE, party=caller()).wait(5)
    finally:
        net.close()
        answered.wait(5)
    assert result.said() == ["Fallback here"]
    assert app.requests_to("/fallback")[0].params["ErrorCode"] == "11205"
    assert result.failures[0].reason == "no answer within 0.1 s"


def test_keys_cut_a_gathers_prompt_short_unless_barge_in_is_off(
        net: PhoneNetwork, app: TwimlApp) -> None:
    long_prompt = "<Say>" + "Please listen carefully as our options have changed. " * 4 + "</Say>"
    app.on("/voice", twiml(f'<Gather numDigits="1" action="/done">{long_prompt}</Gather>'))
    app.on("/slow", twiml(f'<Gather numDigits="1" bargeIn="false" action="/done">{long_prompt}'
                          "</Gather>"))
    app.on("/done", twiml("<Hangup/>"))
    barged = net.place_call(from_=CALLER, to=HOTLINE, party=caller("press 1")).wait(5)
    assert barged.events("say")[0].detail["barged"] == "true"
    assert barged.duration < 3
    net.add_number("+864008009999", voice_url=app.url("/slow"))
    patient = net.place_call(from_=CALLER, to="+864008009999", party=caller("press 1")).wait(5)
    assert "barged" not in patient.events("say")[0].detail
    assert patient.duration >= 10
