"""The pure IVR engine over the shipped hotline menus: no app, no database."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from config.settings import DEFAULT_MENUS, DEFAULT_QUEUES
from ivr_menus.engine import (
    Ask,
    Caller,
    End,
    LeaveMessage,
    Lookup,
    Transfer,
    UnknownNode,
    after_lookup,
    answer,
    enter,
    reference_from,
)
from ivr_menus.loader import load_menus
from ivr_menus.model import MenuSet, Node, NodeKind, Where

MENUS = load_menus(Path(DEFAULT_MENUS), queues_path=Path(DEFAULT_QUEUES))
VIP = Caller(language="zh", identified=True, name="王芳", tier="vip")
ANON = Caller(language="zh")


def texts(step: object) -> list[str]:
    return [u.text for u in step.say]  # type: ignore[attr-defined]


def test_open_hotline_starts_with_the_language_choice_in_both_languages() -> None:
    step = enter(MENUS, MENUS.entry, Caller()).step
    assert isinstance(step, Ask) and step.node_id == "language"
    assert [u.language for u in step.say] == ["zh", "en"]
    assert "普通话" in step.say[0].text and "English" in step.say[1].text


def test_closed_hotline_keeps_self_service_open() -> None:
    closed = Caller(language="zh", identified=True, name="王芳", tier="vip", is_open=False)
    assert isinstance(enter(MENUS, MENUS.entry, Caller(is_open=False)).step, Ask)
    step = answer(MENUS, "main", closed, digits="2", speech=None, attempt=1).step
    assert isinstance(step, Ask) and step.node_id == "order_status"


@pytest.mark.parametrize("key", ["0", "1", "4"])
def test_closed_hotline_turns_routes_to_agents_into_voicemail(key: str) -> None:
    closed = Caller(language="en", identified=True, name="Emily", tier="vip", is_open=False)
    step = answer(MENUS, "main", closed, digits=key, speech=None, attempt=1).step
    assert isinstance(step, LeaveMessage) and step.node_id == "after_hours"
    assert [u.language for u in step.say] == ["en"]


def test_hours_node_branches_on_opening_hours() -> None:
    hours = Node("hours", NodeKind.HOURS, Where(Path("x.toml"), 1), next="main", closed="goodbye")
    menus = replace(MENUS, nodes={**MENUS.nodes, "hours": hours})
    assert enter(menus, "hours", VIP).step.node_id == "main"  # type: ignore[union-attr]
    closed = replace(VIP, is_open=False)
    assert isinstance(enter(menus, "hours", closed).step, End)


@pytest.mark.parametrize(("key", "language"), [("1", "zh"), ("2", "en")])
def test_language_choice_sets_the_language(key: str, language: str) -> None:
    decision = answer(MENUS, "language", Caller(), digits=key, speech=None, attempt=1)
    assert decision.language == language
    assert isinstance(decision.step, Ask) and decision.step.node_id == "identify"
    assert [u.language for u in decision.step.say] == [language]


def test_spoken_language_choice() -> None:
    decision = answer(MENUS, "language", Caller(), digits=None, speech="English please", attempt=1)
    assert decision.language == "en"


def test_identified_caller_is_greeted_by_tier_and_skips_identification() -> None:
    decision = answer(
        MENUS,
        "language",
        Caller(identified=True, name="王芳", tier="vip"),
        digits="1",
        speech=None,
        attempt=1,
    )
    step = decision.step
    assert isinstance(step, Ask) and step.node_id == "main"
    assert "VIP" in texts(step)[0] and "王芳" in texts(step)[0]


@pytest.mark.parametrize(
    ("tier", "word"), [("returning", "欢迎再次"), ("new", "感谢您选择"), (None, "感谢您选择")]
)
def test_greeting_suits_the_tier(tier: str | None, word: str) -> None:
    step = enter(
        MENUS, "identify", Caller(language="zh", identified=True, name="李伟", tier=tier)
    ).step
    assert word in texts(step)[0]


@pytest.mark.parametrize(
    ("key", "queue", "skill"),
    [
        ("1", "presales", "presales"),
        ("4", "complaints", "complaints"),
        ("0", "general", "general"),
    ],
)
def test_main_menu_routes_name_a_queue_and_skill(key: str, queue: str, skill: str) -> None:
    step = answer(MENUS, "main", VIP, digits=key, speech=None, attempt=1).step
    assert isinstance(step, Transfer)
    assert (step.route.queue, step.route.skill) == (queue, skill)


def test_complaints_carry_a_higher_priority() -> None:
    step = answer(MENUS, "main", VIP, digits="4", speech=None, attempt=1).step
    assert isinstance(step, Transfer) and step.route.priority == 10


def test_speech_keyword_chooses_an_option() -> None:
    step = answer(MENUS, "main", VIP, digits=None, speech="我想查一下订单", attempt=1).step
    assert isinstance(step, Ask) and step.node_id == "order_status" and step.keyed


@pytest.mark.parametrize(
    ("digits", "speech", "reason"),
    [
        (None, None, "抱歉，我没有听到"),
        ("7", None, "无效"),
        ("1" * 500, None, "无效"),
        (None, "天气怎么样", "无效"),
    ],
)
def test_invalid_or_no_input_replays_the_prompt(
    digits: str | None, speech: str | None, reason: str
) -> None:
    step = answer(MENUS, "main", VIP, digits=digits, speech=speech, attempt=1).step
    assert isinstance(step, Ask) and step.node_id == "main" and step.attempt == 2
    assert reason in texts(step)[0]
    assert "售前咨询请按1" in texts(step)[1]


def test_invalid_input_after_max_attempts_goes_to_an_agent() -> None:
    step = answer(MENUS, "main", VIP, digits="7", speech=None, attempt=3).step
    assert isinstance(step, Transfer) and step.route.queue == "general"


def test_attempt_from_a_url_is_clamped() -> None:
    step = answer(MENUS, "main", VIP, digits="7", speech=None, attempt=99).step
    assert isinstance(step, Transfer)


def test_keyed_reference_asks_for_a_lookup() -> None:
    step = answer(MENUS, "order_status", VIP, digits="2611050001#", speech=None, attempt=1).step
    assert step == Lookup("order_status", NodeKind.ORDER_STATUS, "2611050001", 1)


def test_order_found_reads_out_then_offers_the_next_menu() -> None:
    lookup = Lookup("order_status", NodeKind.ORDER_STATUS, "2611050001", 1)
    step = after_lookup(MENUS, lookup, VIP, readout={"zh": "您的订单已发货", "en": "shipped"}).step
    assert isinstance(step, Ask) and step.node_id == "order_done"
    assert texts(step)[0] == "您的订单已发货"


def test_order_not_found_three_times_goes_to_the_orders_queue() -> None:
    lookup = Lookup("order_status", NodeKind.ORDER_STATUS, "2611050009", 1)
    first = after_lookup(MENUS, lookup, VIP, readout=None).step
    assert isinstance(first, Ask) and first.attempt == 2 and "没有找到" in texts(first)[0]
    last = after_lookup(
        MENUS, Lookup("order_status", NodeKind.ORDER_STATUS, "1234", 3), VIP, readout=None
    ).step
    assert isinstance(last, Transfer) and last.route.queue == "orders"


def test_self_service_needs_an_identified_caller() -> None:
    step = enter(MENUS, "order_status", ANON).step
    assert isinstance(step, Transfer) and step.route.queue == "orders"
    assert "无法确认您的身份" in texts(step)[0]


def test_unidentified_caller_identifies_with_three_tries_then_carries_on() -> None:
    step = enter(MENUS, "identify", ANON).step
    assert isinstance(step, Ask) and step.keyed
    lookup = Lookup("identify", NodeKind.IDENTIFY, "60000009", 3)
    step = after_lookup(MENUS, lookup, ANON, readout=None).step
    assert isinstance(step, Ask) and step.node_id == "main"


def test_goodbye_ends_the_call() -> None:
    step = answer(MENUS, "order_done", VIP, digits=None, speech=None, attempt=3).step
    assert isinstance(step, End)


def test_unknown_node_is_refused() -> None:
    with pytest.raises(UnknownNode):
        answer(MENUS, "no_such_node", VIP, digits="1", speech=None, attempt=1)


@pytest.mark.parametrize(
    ("digits", "speech", "expected"),
    [
        ("2611050001#", None, "2611050001"),
        ("12#", None, None),
        ("12a4567#", None, None),
        (None, "my order is 2611 0500 01", "2611050001"),
        (None, "hello", None),
        ("#", None, None),
    ],
)
def test_reference_from_keys_or_speech(
    digits: str | None, speech: str | None, expected: str | None
) -> None:
    assert reference_from(digits, speech) == expected


def test_every_node_is_reachable_and_every_menu_option_leads_somewhere() -> None:
    def walk(menus: MenuSet) -> set[str]:
        seen, todo = set(), [menus.entry, menus.closed_route]
        while todo:
            node = menus.nodes[todo.pop()]
            if node.id not in seen:
                seen.add(node.id)
                todo.extend(node.targets())
        return seen

    assert walk(MENUS) == set(MENUS.nodes)


def test_an_agent_hears_whispers_in_the_default_language_if_they_speak_it() -> None:
    from config.settings import DEFAULT_MENUS, DEFAULT_QUEUES
    from ivr_menus.loader import load_menus

    menus = load_menus(DEFAULT_MENUS, queues_path=DEFAULT_QUEUES)
    assert menus.agent_language([]) == "zh"
    assert menus.agent_language(["en", "zh"]) == "zh"
    assert menus.agent_language(["en"]) == "en"
    assert menus.agent_language(["fr"]) == "zh"
