"""Caller scripts: parsing, and what a scripted caller or agent does at each prompt."""

from __future__ import annotations

import pytest

from phone_network.clock import Stop
from phone_network.parties import (
    Action,
    Answering,
    Digits,
    GatherPrompt,
    HangUp,
    HoldPrompt,
    NoInput,
    RecordPrompt,
    ScriptedCaller,
    ScriptError,
    Speech,
    Stay,
    Talk,
    TalkPrompt,
    parse_action,
    parse_script,
    spoken_seconds,
)

GATHER = GatherPrompt(frozenset({"dtmf", "speech"}), 5.0, None, "#")
RECORD = RecordPrompt(60.0, 5.0, "#")


class NoWaiting:
    def until(self, condition: Stop) -> bool:
        return condition()

    def notify(self) -> None:
        return None


def test_script_lines() -> None:
    assert parse_action("press 12#") == Action("press", "12#")
    assert parse_action("say  order status ") == Action("say", "order status")
    assert parse_action("wait") == Action("wait")
    assert parse_action("wait 2.5") == Action("wait", seconds=2.5)
    assert parse_action("speak 10") == Action("speak", seconds=10.0)
    assert str(parse_action("speak 10")) == "speak 10"
    for bad in ("press", "press abc", "speak", "wait soon", "hangup now", "dance"):
        with pytest.raises(ScriptError):
            parse_action(bad)


def test_script_files_skip_comments_and_blank_lines() -> None:
    assert parse_script("# a caller\n\npress 1\n#\nhangup\n") == (
        Action("press", "1"), Action("hangup"))
    with pytest.raises(ScriptError, match="line 3"):
        parse_script("press 1\n\nfly\n")


def test_a_scripted_caller_answers_gathers_in_order_then_hangs_up() -> None:
    caller = ScriptedCaller(["press 1", "say refund", "wait"])
    answers = [caller.respond(GATHER, NoWaiting()) for _ in range(4)]
    assert answers == [Digits("1"), Speech("refund"), NoInput(), HangUp()]


def test_a_scripted_caller_speaks_into_a_recording_and_ends_it() -> None:
    caller = ScriptedCaller(["speak 8", "press #", "say hello there", "hangup"])
    assert caller.respond(RECORD, NoWaiting()) == Talk(8.0, then="#")
    assert caller.respond(RECORD, NoWaiting()) == Talk(spoken_seconds("hello there"),
                                                       text="hello there", then="hangup")


def test_holding_and_talking() -> None:
    caller = ScriptedCaller(["wait 30", "hangup"], max_hold=90)
    hold = HoldPrompt("queue", "support")
    assert caller.respond(hold, NoWaiting()) == Stay(30.0)
    assert caller.respond(hold, NoWaiting()) == HangUp()
    assert caller.max_hold == 90
    assert ScriptedCaller().respond(TalkPrompt("client:alice", True), NoWaiting()) == Stay(None)


def test_an_agent_talks_for_its_time_in_each_conversation() -> None:
    agent = Answering(after=1, talk=45).party()
    assert agent.respond(TalkPrompt("+86138", True), NoWaiting()) == Stay(45)
    assert agent.respond(TalkPrompt("+86138", False), NoWaiting()) == HangUp()
    assert agent.respond(TalkPrompt("+86139", True), NoWaiting()) == Stay(45)


def test_answering_modes_are_checked() -> None:
    with pytest.raises(ValueError, match="answering mode"):
        Answering(mode="maybe")
    with pytest.raises(ScriptError):
        Answering(script=("jump",))


def test_speaking_takes_longer_for_more_text() -> None:
    assert spoken_seconds("欢迎致电银泰客服") == 2.0
    assert spoken_seconds("Press 1 for sales") < spoken_seconds("Press 1 for sales, 2 for help")
