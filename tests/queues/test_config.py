"""The queue file is validated at load, and each problem names the file, the line and the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from config.settings import DEFAULT_MENUS, DEFAULT_QUEUES
from ivr_menus.loader import MenuError, load_menus
from queues.config import (
    MaxWaitAction,
    QueueConfigError,
    QueueSet,
    load_queues,
)

VALID = """\
[priority]
vip = 100
returning = 20
new = 0
aging_per_minute = 2.0

[agents]
wrap_up_s = 30
ring_timeout_s = 20
break_reasons = ["missed", "lunch"]

[defaults]
skills = ["general"]
languages = ["zh", "en"]
answer_within_s = 20
target_percent = 80
max_wait_s = 300
at_max_wait = "voicemail"
music = "calm"
announce_every_s = 60
announce_position = true
announce_wait = true
comfort_every_s = 30

[queue.general]

[queue.sales]
skills = ["presales"]
at_max_wait = "overflow"
overflow_to = "general"
max_wait_s = 120
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "queues.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str = VALID) -> QueueSet:
    return load_queues(write(tmp_path, text))


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(QueueConfigError) as err:
        load(tmp_path, text)
    return err.value.problems


def test_shipped_queue_file_has_the_yintai_queues() -> None:
    queues = load_queues(Path(DEFAULT_QUEUES))
    assert queues.names == {
        "general",
        "presales",
        "orders",
        "aftersales",
        "complaints",
        "vip",
        "english",
        "returns",
    }
    vip, general = queues["vip"], queues["general"]
    assert vip.service_level.answer_within_s == 10
    assert vip.service_level.target_percent > general.service_level.target_percent
    assert queues["english"].languages == ("en",)
    assert queues.priority.tier_priority == {"vip": 100, "returning": 20, "new": 0}
    assert "missed" in queues.presence.break_reasons


def test_shipped_menus_route_only_to_queues_of_the_file() -> None:
    menus = load_menus(Path(DEFAULT_MENUS), queues_path=Path(DEFAULT_QUEUES))
    routed = {node.route.queue for node in menus.nodes.values() if node.route}
    assert routed == {"presales", "orders", "aftersales", "complaints", "general"}
    assert routed <= load_queues(Path(DEFAULT_QUEUES)).names


def test_shipped_overflows_all_end_in_general() -> None:
    queues = load_queues(Path(DEFAULT_QUEUES))
    overflowing = {n for n in queues if queues[n].at_max_wait is MaxWaitAction.OVERFLOW}
    assert overflowing == {"presales", "orders", "vip", "english"}
    assert {queues.overflow_chain(name) for name in overflowing} == {
        (n, "general") for n in overflowing
    }


def test_queue_inherits_every_default_it_does_not_set(tmp_path: Path) -> None:
    queues = load(tmp_path)
    general, sales = queues["general"], queues["sales"]
    assert general.skills == ("general",) and general.languages == ("zh", "en")
    assert general.max_wait_s == 300 and general.at_max_wait is MaxWaitAction.VOICEMAIL
    assert general.overflow_to is None
    assert general.hold.music == "calm" and general.hold.announce_every_s == 60
    assert general.service_level.answer_within_s == 20
    assert sales.skills == ("presales",) and sales.languages == ("zh", "en")
    assert sales.max_wait_s == 120 and sales.at_max_wait is MaxWaitAction.OVERFLOW
    assert sales.overflow_to == "general" and sales.hold.comfort_every_s == 30
    assert (general.line, sales.line) == (25, 27)


def test_inherited_overflow_target_is_unused_by_a_queue_that_does_not_overflow(
    tmp_path: Path,
) -> None:
    text = VALID.replace('at_max_wait = "voicemail"\n', 'at_max_wait = "callback"\n')
    text = text.replace("[queue.general]\n", '[queue.general]\nat_max_wait = "voicemail"\n')
    text = text.replace('overflow_to = "general"\n', "")
    text = text.replace("[defaults]\n", '[defaults]\noverflow_to = "general"\n')
    queues = load(tmp_path, text)
    assert queues["general"].overflow_to is None
    assert queues["sales"].overflow_to == "general"


def test_unknown_key_in_a_queue(tmp_path: Path) -> None:
    text = VALID.replace("max_wait_s = 120", "max_wait = 120")
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:31: unknown key 'max_wait' in queue 'sales'"
    ]


def test_unknown_key_in_defaults_and_in_tables(tmp_path: Path) -> None:
    text = VALID.replace("music = ", "hold_music = 'x'\nmusic = ")
    text = text.replace("new = 0\n", "new = 0\ngold = 50\n").replace(
        "ring_timeout_s = 20\n", "ring_timeout_s = 20\nlunch_s = 3600\n"
    )
    text += "\n[queues.extra]\n"
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:36: unknown key 'queues' (expected [defaults], "
        "[queue.<name>], [priority] or [agents])",
        f"{tmp_path}/queues.toml:21: unknown key 'hold_music' in [defaults]",
        f"{tmp_path}/queues.toml:5: unknown key 'gold' in [priority]",
        f"{tmp_path}/queues.toml:11: unknown key 'lunch_s' in [agents]",
    ]


def test_overflow_to_an_unknown_queue(tmp_path: Path) -> None:
    text = VALID.replace('overflow_to = "general"', 'overflow_to = "genral"')
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:30: queue 'sales' overflows to unknown queue 'genral'"
    ]


def test_overflow_cycle(tmp_path: Path) -> None:
    text = VALID.replace(
        "[queue.general]\n",
        '[queue.general]\nat_max_wait = "overflow"\noverflow_to = "vip"\n\n'
        '[queue.vip]\nat_max_wait = "overflow"\noverflow_to = "sales"\n',
    )
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:27: overflow cycle: general → vip → sales → general"
    ]


def test_queue_overflowing_to_itself(tmp_path: Path) -> None:
    text = VALID.replace('overflow_to = "general"', 'overflow_to = "sales"')
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:30: overflow cycle: sales → sales"
    ]


@pytest.mark.parametrize("value", ["0", "-5", "1.5", '"20"', "true"])
def test_durations_must_be_positive_whole_seconds(tmp_path: Path, value: str) -> None:
    text = VALID.replace("max_wait_s = 120", f"max_wait_s = {value}")
    found = problems_of(tmp_path, text)
    assert found == [
        f"{tmp_path}/queues.toml:31: queue 'sales': max_wait_s must be a positive number "
        f"of seconds, got {load_value(value)!r}"
    ]


def load_value(toml_value: str) -> object:
    import tomllib

    return tomllib.loads(f"v = {toml_value}")["v"]


def test_bad_default_is_reported_once_at_its_line(tmp_path: Path) -> None:
    text = VALID.replace("comfort_every_s = 30", "comfort_every_s = 0")
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:23: [defaults]: comfort_every_s must be a positive number "
        "of seconds, got 0"
    ]


@pytest.mark.parametrize(("key", "line"), [("wrap_up_s", 8), ("ring_timeout_s", 9)])
def test_presence_durations_must_be_positive(tmp_path: Path, key: str, line: int) -> None:
    text = VALID.replace(
        "wrap_up_s = 30", "wrap_up_s = 30" if key != "wrap_up_s" else "wrap_up_s = 0"
    )
    text = text.replace(
        "ring_timeout_s = 20",
        "ring_timeout_s = 0" if key == "ring_timeout_s" else "ring_timeout_s = 20",
    )
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:{line}: [agents] {key} must be a positive number of seconds, got 0"
    ]


@pytest.mark.parametrize("value", ["0", "101", "100.5", "-1"])
def test_target_percent_outside_1_to_100(tmp_path: Path, value: str) -> None:
    text = VALID.replace("max_wait_s = 120", f"max_wait_s = 120\ntarget_percent = {value}")
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:32: queue 'sales': target_percent must be 1-100, "
        f"got {load_value(value)!r}"
    ]


@pytest.mark.parametrize("value", ["1", "100", "99.5"])
def test_target_percent_at_the_bounds_is_accepted(tmp_path: Path, value: str) -> None:
    text = VALID.replace("target_percent = 80", f"target_percent = {value}")
    assert load(tmp_path, text)["general"].service_level.target_percent == float(value)


def test_unknown_language(tmp_path: Path) -> None:
    text = VALID.replace("max_wait_s = 120", 'max_wait_s = 120\nlanguages = ["zh", "fr"]')
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:32: queue 'sales': unknown language 'fr' (known: en, zh)"
    ]


def test_duplicate_key_names_its_line(tmp_path: Path) -> None:
    text = VALID.replace("max_wait_s = 120", "max_wait_s = 120\nmax_wait_s = 60")
    found = problems_of(tmp_path, text)
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path}/queues.toml:32: duplicate key (")


def test_overflow_needs_a_target_and_a_target_needs_overflow(tmp_path: Path) -> None:
    text = VALID.replace('overflow_to = "general"\n', "").replace(
        "[queue.general]\n", '[queue.general]\noverflow_to = "sales"\n'
    )
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:26: queue 'general': overflow_to needs at_max_wait = \"overflow\"",
        f"{tmp_path}/queues.toml:30: queue 'sales': at_max_wait = \"overflow\" needs overflow_to",
    ]


def test_unknown_max_wait_action(tmp_path: Path) -> None:
    text = VALID.replace('at_max_wait = "overflow"', 'at_max_wait = "hangup"').replace(
        'overflow_to = "general"\n', ""
    )
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:29: queue 'sales': at_max_wait 'hangup' is not one of "
        "overflow, voicemail, callback"
    ]


def test_service_level_longer_than_max_wait(tmp_path: Path) -> None:
    text = VALID.replace("max_wait_s = 120", "max_wait_s = 120\nanswer_within_s = 150")
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:32: queue 'sales': answer_within_s (150) is longer than "
        "max_wait_s (120)"
    ]


def test_priority_and_agents_tables_are_checked(tmp_path: Path) -> None:
    text = VALID.replace("returning = 20\n", "").replace(
        "aging_per_minute = 2.0", "aging_per_minute = 0"
    )
    text = text.replace('break_reasons = ["missed", "lunch"]', 'break_reasons = ["lunch"]')
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:1: [priority] needs a whole number for tier 'returning'",
        f"{tmp_path}/queues.toml:4: [priority] aging_per_minute must be a positive number, got 0",
        f"{tmp_path}/queues.toml:9: [agents] break_reasons must include 'missed' "
        "(used by the router)",
    ]


def test_all_problems_are_listed_together(tmp_path: Path) -> None:
    text = VALID.replace("max_wait_s = 120", "max_wait_s = 0\ncolour = 'red'").replace(
        'overflow_to = "general"', 'overflow_to = "nowhere"'
    )
    found = problems_of(tmp_path, text)
    assert found == [
        f"{tmp_path}/queues.toml:32: unknown key 'colour' in queue 'sales'",
        f"{tmp_path}/queues.toml:31: queue 'sales': max_wait_s must be a positive number "
        "of seconds, got 0",
    ]  # the bad queue is left out, so its overflow target is not checked as well


def test_file_without_queues(tmp_path: Path) -> None:
    text = VALID.split("[queue.general]")[0]
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:1: no queues: add at least one [queue.<name>] table"
    ]


def test_bad_queue_file_stops_the_menus_with_its_file_and_line(tmp_path: Path) -> None:
    menus = tmp_path / "menus"
    shutil.copytree(DEFAULT_MENUS, menus)
    queues = tmp_path / "queues.toml"
    queues.write_text(
        Path(DEFAULT_QUEUES)
        .read_text(encoding="utf-8")
        .replace('overflow_to = "general"', 'overflow_to = "generl"', 1),
        encoding="utf-8",
    )
    with pytest.raises(MenuError, match=rf"{queues}:\d+: queue 'presales' overflows to unknown"):
        load_menus(menus, queues_path=queues)


def test_effective_priority_ages_so_a_new_caller_overtakes_a_fresh_vip() -> None:
    from datetime import UTC, datetime, timedelta

    from queues.routing import WaitingCaller, overtake_minutes

    rule = load_queues(Path(DEFAULT_QUEUES)).priority
    now = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)

    def caller(tier: str, route: int, waited_s: float) -> WaitingCaller:
        return WaitingCaller(f"{tier}-{waited_s}", "CA" + "0" * 32, "general", "general", "zh",
                             tier, route, now - timedelta(seconds=waited_s))

    vip_now = rule.effective(caller("vip", 0, 0), now)
    assert rule.effective(caller("new", 0, 49 * 60), now) < vip_now
    assert rule.effective(caller("new", 0, 51 * 60), now) > vip_now
    assert rule.effective(caller("returning", 10, 90), now) == 20 + 10 + 2.0 * 1.5
    assert overtake_minutes(100, rule.aging_per_minute) == 50


def test_default_handle_time_defaults_to_four_minutes_and_can_be_set(tmp_path: Path) -> None:
    assert load(tmp_path)["general"].default_handle_s == 240
    text = VALID.replace("max_wait_s = 120", "max_wait_s = 120\ndefault_handle_s = 180")
    queues = load(tmp_path, text)
    assert (queues["sales"].default_handle_s, queues["general"].default_handle_s) == (180, 240)
    assert load_queues(Path(DEFAULT_QUEUES))["vip"].default_handle_s == 240


@pytest.mark.parametrize("value", ["0", "-5", '"4m"', "true"])
def test_default_handle_time_must_be_positive_seconds(tmp_path: Path, value: str) -> None:
    text = VALID.replace("max_wait_s = 120", f"max_wait_s = 120\ndefault_handle_s = {value}")
    assert problems_of(tmp_path, text) == [
        f"{tmp_path}/queues.toml:32: queue 'sales': default_handle_s must be a positive"
        f" number of seconds, got {load_value(value)!r}"
    ]
