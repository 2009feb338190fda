"""Parsing TwiML: Twilio's defaults, and what counts as a TwiML error."""

from __future__ import annotations

import pytest

from phone_network.twiml import (
    Client,
    Conference,
    Dial,
    Enqueue,
    Gather,
    Number,
    Pause,
    Queue,
    Record,
    Say,
    TwimlError,
    parse_document,
)


def test_defaults_follow_twilio() -> None:
    doc = parse_document(b"<?xml version='1.0' encoding='UTF-8'?><Response><Gather/><Record/>"
                         b"<Pause/><Dial>+8610123</Dial><Enqueue>q</Enqueue></Response>")
    gather, record, pause, dial, enqueue = doc.verbs
    assert gather == Gather(input=frozenset({"dtmf"}), timeout=5.0, finish_on_key="#")
    assert isinstance(record, Record)
    assert (record.timeout, record.max_length, record.finish_on_key, record.play_beep) == (
        5.0, 3600.0, "1234567890*#", True)
    assert pause == Pause(1.0)
    assert dial == Dial((Number("+8610123"),), timeout=30.0)
    assert enqueue == Enqueue("q")


def test_nouns_and_their_attributes() -> None:
    doc = parse_document(
        '<Response><Dial record="true" timeout="12"><Client><Identity>alice</Identity></Client>'
        '<Number url="/whisper">+8610</Number></Dial>'
        '<Dial><Conference coach="CA1" beep="onEnter" startConferenceOnEnter="false" '
        'statusCallbackEvent="start join">room</Conference></Dial>'
        '<Dial><Queue url="/about">support</Queue></Dial></Response>')
    first, second, third = doc.verbs
    assert isinstance(first, Dial) and first.record == "record-from-answer"
    assert first.targets == (Client("alice"), Number("+8610", url="/whisper"))
    assert isinstance(second, Dial)
    room = second.targets[0]
    assert isinstance(room, Conference)
    assert (room.coach, room.beep, room.start_conference_on_enter) == ("CA1", "onEnter", False)
    assert room.status_callback_events == frozenset({"start", "join"})
    assert isinstance(third, Dial) and third.targets == (Queue("support", url="/about"),)


def test_say_keeps_the_text_of_ssml_children() -> None:
    [say] = parse_document('<Response><Say language="zh-CN">您好<break time="1s"/>，欢迎</Say>'
                           "</Response>").verbs
    assert say == Say("您好，欢迎", language="zh-CN")


@pytest.mark.parametrize(("text", "reason"), [
    ("not xml", "not well-formed"),
    ("<Say>hi</Say>", "not <Response>"),
    ("<Response><Dance/></Response>", "not a TwiML verb"),
    ("<Response><Connect/></Response>", "not supported"),
    ("<Response><Gather><Dial>1</Dial></Gather></Response>", "cannot contain"),
    ("<Response><Pause length='soon'/></Response>", "not a valid value"),
    ("<Response><Gather input='mind'/></Response>", "dtmf, speech or both"),
    ("<Response><Dial><Conference>a</Conference><Number>1</Number></Dial></Response>",
     "cannot dial anything else"),
    ("<Response><Redirect/></Response>", "needs a URL"),
])
def test_twiml_errors(text: str, reason: str) -> None:
    with pytest.raises(TwimlError, match=reason):
        parse_document(text)
