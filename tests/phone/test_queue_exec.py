"""<Enqueue> and <Dial><Queue>: hold loops, leaving, REST redirects and agents dequeuing callers."""

from __future__ import annotations

from phone_network.calls import NewCall
from phone_network.clock import VirtualClock
from phone_network.network import PhoneNetwork
from phone_network.parties import Answering, ScriptedCaller
from tests.phone.conftest import CALLER, HOTLINE, Hit, TwimlApp, twiml

ENQUEUE = twiml('<Enqueue action="/queue-done" waitUrl="/hold">support</Enqueue>',
                "<Say>after the queue</Say>")


def hold_loop(hit: Hit) -> str:
    return twiml(f"<Say>You are number {hit.params['QueuePosition']}</Say>",
                 '<Play>https://cdn.test/music.mp3</Play>', '<Pause length="20"/>')


def test_the_wait_url_loops_with_queue_parameters_until_the_caller_gives_up(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", ENQUEUE)
    app.on("/hold", hold_loop)
    app.on("/queue-done", twiml("<Say>never heard</Say>"))
    first = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller(max_hold=60))
    first.wait_for("enqueue")
    second = net.place_call(from_="+8613900139000", to=HOTLINE,
                            party=ScriptedCaller(max_hold=120))
    one, two = first.wait(10), second.wait(10)
    assert (one.hung_up_by, two.hung_up_by) == ("party", "party")
    assert one.said()[0] == "You are number 1"
    assert "You are number 2" in two.said() and two.said()[-1] == "You are number 1"
    waits = [h.params for h in app.requests_to("/hold") if h.params["CallSid"] == first.sid]
    assert waits[0]["QueueSid"].startswith("QU")
    assert {"QueueTime", "AvgQueueTime", "CurrentQueueSize", "MaxQueueSize"} <= set(waits[0])
    assert [int(w["QueueTime"]) for w in waits] == sorted(int(w["QueueTime"]) for w in waits)
    results = {h.params["CallSid"]: h.params for h in app.requests_to("/queue-done")}
    assert results[first.sid]["QueueResult"] == "hangup"
    assert int(results[first.sid]["QueueTime"]) == 60
    assert int(results[second.sid]["QueueTime"]) == 120
    assert "never heard" not in one.said()


def test_gather_in_the_wait_url_then_leave_calls_the_action_with_leave(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", ENQUEUE)
    app.on("/hold", twiml('<Gather numDigits="1" action="/hold-key">'
                          "<Say>Press 1 to leave a message</Say></Gather>"))
    app.on("/hold-key", lambda hit: twiml("<Leave/>") if hit.params["Digits"] == "1"
           else twiml("<Say>Still waiting</Say>"))
    app.on("/queue-done", lambda hit: twiml(f"<Say>Result {hit.params['QueueResult']}</Say>"))
    result = net.place_call(from_=CALLER, to=HOTLINE,
                            party=ScriptedCaller(["press 2", "press 1"])).wait(5)
    assert result.said() == ["Press 1 to leave a message", "Still waiting",
                             "Press 1 to leave a message", "Result leave"]
    assert ("leave", "support") in result.steps()
    [done] = app.requests_to("/queue-done")
    assert done.params["QueueSid"].startswith("QU")
    assert result.hung_up_by == "hotline"


def test_a_hangup_in_the_wait_url_ends_the_call(net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", ENQUEUE)
    app.on("/hold", twiml("<Say>We are closing</Say>", "<Hangup/>"))
    result = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller()).wait(5)
    assert result.hung_up_by == "hotline"
    assert app.requests_to("/queue-done")[0].params["QueueResult"] == "hangup"


def test_a_caller_waits_the_seconds_its_script_says_then_hangs_up(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", ENQUEUE)
    app.on("/hold", hold_loop)
    result = net.place_call(from_=CALLER, to=HOTLINE,
                            party=ScriptedCaller(["wait 45", "hangup"])).wait(5)
    assert result.hung_up_by == "party"
    assert app.requests_to("/queue-done")[0].params["QueueTime"] == "45"


def test_a_rest_redirect_takes_the_caller_out_of_the_queue(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock) -> None:
    app.on("/voice", ENQUEUE)
    app.on("/hold", twiml('<Pause length="30"/>', "<Say>Thanks for waiting</Say>"))
    app.on("/agent-ready", twiml("<Say>An agent is ready</Say>"))
    with clock.hold():  # time stands still until the redirect: the caller is mid-pause
        call = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
        call.wait_for("pause")
        net.update_call(call.sid, url=app.url("/agent-ready"))
    result = call.wait(5)
    assert result.said() == ["An agent is ready"]
    assert ("redirect", app.url("/agent-ready")) in result.steps()
    assert app.requests_to("/queue-done") == []
    assert net.find_queue("support") is not None
    assert net.find_queue("support").size == 0  # type: ignore[union-attr]


def test_an_agent_dialling_the_queue_is_bridged_to_the_first_caller(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock) -> None:
    app.on("/voice", ENQUEUE)
    app.on("/hold", hold_loop)
    app.on("/agent", twiml('<Dial action="/agent-done"><Queue url="/whisper">support</Queue>'
                           "</Dial>"))
    app.on("/whisper", twiml("<Say>Connecting you to Alice</Say>"))
    app.on("/queue-done", lambda hit: twiml(f"<Say>Queue result {hit.params['QueueResult']}</Say>"))
    app.on("/agent-done", twiml("<Hangup/>"))
    net.add_endpoint("client:alice", Answering(after=2, talk=30))
    with clock.hold():
        caller = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
        caller.wait_for("enqueue")
        agent = net.create_call(NewCall(to="client:alice", from_=HOTLINE, url=app.url("/agent")))
    heard, said = caller.wait(5), agent.wait(5)
    assert heard.said()[-2:] == ["Connecting you to Alice", "Queue result bridged"]
    assert ("bridged", "client:alice") not in heard.steps()
    assert ("bridged", HOTLINE) in heard.steps()
    [whisper] = app.requests_to("/whisper")
    assert whisper.params["CallSid"] == caller.sid
    assert whisper.params["DequeingCallSid"] == agent.sid
    [done] = app.requests_to("/agent-done")
    assert done.params["DialCallStatus"] == "completed"
    assert done.params["DialCallSid"] == caller.sid
    assert done.params["DialCallDuration"] == "30"
    assert said.hung_up_by == "party"  # Alice hung up after 30 s; the action still heard of it
    assert heard.hung_up_by == "hotline"
    assert app.requests_to("/queue-done")[0].params["QueueResult"] == "bridged"


def test_dialling_a_queue_nobody_ever_used_fails(net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/agent", twiml('<Dial action="/agent-done"><Queue>nobody</Queue></Dial>'))
    app.on("/agent-done", twiml("<Hangup/>"))
    net.add_endpoint("client:bob", Answering(after=1))
    net.create_call(NewCall(to="client:bob", from_=HOTLINE, url=app.url("/agent"))).wait(5)
    assert app.requests_to("/agent-done")[0].params["DialCallStatus"] == "failed"
