"""Conferences: waiting for the moderator, status callbacks, supervisors muted, held, kicked."""

from __future__ import annotations

from phone_network.calls import Call, NewCall, NewParticipant
from phone_network.clock import VirtualClock
from phone_network.conferences import ParticipantChanges
from phone_network.network import PhoneNetwork
from phone_network.parties import Answering, ScriptedCaller
from phone_network.twiml import Conference
from tests.phone.conftest import CALLER, HOTLINE, TwimlApp, twiml


def agent_joins(net: PhoneNetwork, app: TwimlApp, identity: str, path: str) -> Call:
    return net.create_call(NewCall(to=f"client:{identity}", from_=HOTLINE, url=app.url(path)))


def test_a_caller_waits_for_the_agent_and_leaves_when_the_agent_ends_it(
        net: PhoneNetwork, app: TwimlApp) -> None:
    app.on("/voice", twiml(
        '<Dial action="/conf-done"><Conference startConferenceOnEnter="false" '
        'waitUrl="/conf-wait" statusCallback="/conf-events" '
        'statusCallbackEvent="start end join leave">room-1</Conference></Dial>'))
    app.on("/conf-wait", twiml("<Say>Please hold for an agent</Say>", '<Pause length="10"/>'))
    app.on("/agent", twiml('<Dial><Conference endConferenceOnExit="true">room-1</Conference>'
                           "</Dial>"))
    app.on("/conf-done", twiml("<Say>Goodbye</Say>"))
    net.add_endpoint("client:alice", Answering(after=25, talk=40))
    caller = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
    caller.wait_for("conference")
    agent = agent_joins(net, app, "alice", "/agent")
    heard = caller.wait(5)
    assert agent.wait(5).hung_up_by == "party"
    assert heard.said()[:2] == ["Please hold for an agent", "Please hold for an agent"]
    assert heard.said()[-1] == "Goodbye"
    assert ("conference-start", "room-1") in heard.steps()
    assert ("conference-end", "room-1") in heard.steps()
    assert app.requests_to("/conf-done")[0].params["DialCallStatus"] == "completed"
    events = sorted((h.params for h in app.requests_to("/conf-events")),
                    key=lambda e: int(e["SequenceNumber"]))  # callbacks may cross on the wire
    assert [e["SequenceNumber"] for e in events] == [str(n) for n in range(6)]
    kinds = [(e["StatusCallbackEvent"], e.get("CallSid")) for e in events]
    assert kinds[:3] == [("participant-join", caller.sid), ("participant-join", agent.sid),
                         ("conference-start", None)]
    assert ("participant-leave", agent.sid) in kinds and ("participant-leave", caller.sid) in kinds
    [end] = [e for e in events if e["StatusCallbackEvent"] == "conference-end"]
    assert end["ReasonConferenceEnded"] == "participant-with-end-conference-on-exit-left"
    assert end["CallSidEndingConference"] == agent.sid
    room = net.conferences.find(events[0]["ConferenceSid"])
    assert (room.status, room.friendly_name) == ("completed", "room-1")


def test_a_supervisor_is_added_unmuted_held_and_kicked_over_the_api(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock) -> None:
    app.on("/voice", twiml('<Dial><Conference statusCallback="/conf-events" '
                           'statusCallbackEvent="mute hold modify">room-2</Conference></Dial>',
                           "<Say>Back from the conference</Say>"))
    app.on("/agent", twiml("<Dial><Conference>room-2</Conference></Dial>"))
    app.on("/hold-music", twiml("<Say>Please hold, supervisor</Say>", '<Pause length="30"/>'))
    net.add_endpoint("client:alice", Answering(after=0, talk=None))
    net.add_endpoint("client:sup", Answering(after=0, talk=None))
    with clock.hold():  # nothing here needs time to pass; nobody gives up meanwhile
        caller = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
        caller.wait_for("conference")
        agent = agent_joins(net, app, "alice", "/agent")
        agent.wait_for("conference-start")
        room = net.conferences.find("room-2")
        _, sup = net.add_participant("room-2", NewParticipant(
            from_=HOTLINE, to="client:sup", conference=Conference("room-2", muted=True,
                                                                  coach=agent.sid)))
        sup.call.wait_for("conference")
        assert (sup.muted, sup.coaching, sup.call_sid_to_coach) == (True, True, agent.sid)
        net.conferences.update(room.sid, sup.call.sid,
                               ParticipantChanges(muted=False, coaching=False))
        net.conferences.update(room.sid, sup.call.sid,
                               ParticipantChanges(hold=True, hold_url=app.url("/hold-music")))
        sup.call.wait_for("say")
        net.conferences.update(room.sid, sup.call.sid, ParticipantChanges(hold=False))
        net.conferences.kick(room.sid, sup.call.sid)
        assert sup.call.wait(5).hung_up_by == "hotline"
        net.conferences.end(room.sid)
    heard = [s for s in sup.call.wait(5).steps()
             if s[0] in ("unmuted", "coaching", "hold", "unhold", "kicked")]
    assert heard == [("unmuted", "room-2"), ("coaching", "room-2"), ("hold", "room-2"),
                     ("unhold", "room-2"), ("kicked", "room-2")]
    events = [h.params["StatusCallbackEvent"] for h in app.requests_to("/conf-events")]
    assert events == ["participant-unmute", "participant-modify", "participant-hold",
                      "participant-unhold"]
    assert caller.wait(5).said() == ["Back from the conference"]
    assert agent.wait(5).hung_up_by == "hotline"
    assert room.reason_ended == "conference-ended-via-api"


def test_a_lone_participant_hears_the_wait_music_until_a_second_one_joins(
        net: PhoneNetwork, app: TwimlApp, clock: VirtualClock) -> None:
    app.on("/voice", twiml('<Dial><Conference record="record-from-start" '
                           'recordingStatusCallback="/conf-rec">room-3</Conference></Dial>'))
    app.on("/agent", twiml('<Dial><Conference endConferenceOnExit="true">room-3</Conference>'
                           "</Dial>"))
    net.add_endpoint("client:alice", Answering(after=0, talk=33))
    with clock.hold():
        caller = net.place_call(from_=CALLER, to=HOTLINE, party=ScriptedCaller())
        caller.wait_for("play")
        assert net.conferences.find("room-3").status == "init"
        agent_joins(net, app, "alice", "/agent")
    result = caller.wait(5)
    assert ("conference-start", "room-3") in result.steps()
    [rec] = app.await_requests("/conf-rec")
    assert rec.params["RecordingSource"] == "Conference"
    assert rec.params["RecordingDuration"] == "33"
    assert rec.params["ConferenceSid"] == net.conferences.all()[0].sid
    assert net.recording(rec.params["RecordingSid"]).conference_sid == rec.params["ConferenceSid"]


def test_a_participant_that_does_not_answer_is_not_in_the_conference(
        net: PhoneNetwork, app: TwimlApp) -> None:
    room, participant = net.add_participant("room-4", NewParticipant(
        from_=HOTLINE, to="+8613700137000", conference=Conference("room-4"), timeout=20))
    result = participant.call.wait(5)
    assert result.status == "no-answer"
    assert participant.status == "failed"
    assert room.participants == {}
