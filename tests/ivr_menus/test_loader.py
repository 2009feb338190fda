"""Menu files are validated at load, and each problem names the file, the line and the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from config.settings import DEFAULT_MENUS, DEFAULT_QUEUES
from ivr_menus.loader import MenuError, load_menus

VALID = """\
[hotline]
entry = "start"
languages = ["zh", "en"]

[voices]
zh = { language = "zh-CN" }
en = { language = "en-US" }

[node.start]
kind = "menu"
prompt.zh = "请按1"
prompt.en = "Press 1"
options."1" = { goto = "agent" }
on_failure = "agent"

[node.agent]
kind = "enqueue"
queue = "general"
skill = "general"
"""


def menus_dir(tmp_path: Path, hotline: str) -> Path:
    folder = tmp_path / "menus"
    folder.mkdir()
    shutil.copy(Path(DEFAULT_MENUS) / "messages.toml", folder / "messages.toml")
    (folder / "hotline.toml").write_text(hotline, encoding="utf-8")
    return folder


def problems_of(tmp_path: Path, hotline: str) -> list[str]:
    with pytest.raises(MenuError) as err:
        load_menus(menus_dir(tmp_path, hotline), queues_path=Path(DEFAULT_QUEUES))
    return err.value.problems


def test_shipped_menus_load() -> None:
    menus = load_menus(Path(DEFAULT_MENUS), queues_path=Path(DEFAULT_QUEUES))
    assert (
        menus.entry == "language"
        and menus.closed_route == "after_hours"
        and menus.languages == ("zh", "en")
    )


def test_minimal_menu_loads(tmp_path: Path) -> None:
    menus = load_menus(menus_dir(tmp_path, VALID), queues_path=Path(DEFAULT_QUEUES))
    assert set(menus.nodes) == {"start", "agent"}


def test_unknown_target_names_file_and_line(tmp_path: Path) -> None:
    found = problems_of(tmp_path, VALID.replace('goto = "agent"', 'goto = "agnet"'))
    assert found == [f"{tmp_path}/menus/hotline.toml:13: unknown target 'agnet' in node 'start'"]


def test_unreachable_node(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        VALID + '\n[node.orphan]\nkind = "hangup"\nprompt.zh = "再见"\nprompt.en = "Bye"\n',
    )
    assert found == [
        f"{tmp_path}/menus/hotline.toml:21: node 'orphan' is unreachable from entry 'start'"
    ]


@pytest.mark.parametrize("key", ["10", "a", "+"])
def test_digit_outside_dtmf_keys(tmp_path: Path, key: str) -> None:
    found = problems_of(tmp_path, VALID.replace('options."1"', f'options."{key}"'))
    assert (
        f"{tmp_path}/menus/hotline.toml:13: option key '{key}' is not one digit 0-9, * or #"
        in found
    )


def test_duplicate_key(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        VALID.replace('prompt.en = "Press 1"', 'prompt.en = "Press 1"\nprompt.en = "Again"'),
    )
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path}/menus/hotline.toml:13: duplicate key")


def test_prompt_missing_in_a_language(tmp_path: Path) -> None:
    found = problems_of(tmp_path, VALID.replace('prompt.en = "Press 1"\n', ""))
    assert found == [
        f"{tmp_path}/menus/hotline.toml:11: prompt missing in language 'en' (node 'start')"
    ]


def test_unknown_queue(tmp_path: Path) -> None:
    found = problems_of(tmp_path, VALID.replace('queue = "general"', 'queue = "nowhere"'))
    assert found == [
        f"{tmp_path}/menus/hotline.toml:18: unknown queue 'nowhere' (not in the queue file)"
    ]


def test_unknown_kind_and_key(tmp_path: Path) -> None:
    found = problems_of(tmp_path, VALID.replace('kind = "enqueue"', 'kind = "enqeue"'))
    assert found[0].startswith(f"{tmp_path}/menus/hotline.toml:17: node 'agent' has kind 'enqeue'")
    (tmp_path / "b").mkdir()
    found = problems_of(
        tmp_path / "b", VALID.replace('skill = "general"', 'skill = "general"\ncolour = "red"')
    )
    assert found == [f"{tmp_path}/b/menus/hotline.toml:20: unknown key 'colour' in enqueue node"]


def test_duplicate_node_across_files(tmp_path: Path) -> None:
    folder = menus_dir(tmp_path, VALID)
    (folder / "extra.toml").write_text(
        '[node.agent]\nkind = "hangup"\nprompt.zh = "再见"\nprompt.en = "Bye"\n', encoding="utf-8"
    )
    with pytest.raises(MenuError) as err:
        load_menus(folder, queues_path=Path(DEFAULT_QUEUES))
    assert err.value.problems == [
        f"{folder}/hotline.toml:16: duplicate node id 'agent' (also at {folder}/extra.toml:1)"
    ]


def test_missing_message_in_a_language(tmp_path: Path) -> None:
    folder = menus_dir(tmp_path, VALID)
    text = (folder / "messages.toml").read_text(encoding="utf-8")
    (folder / "messages.toml").write_text(
        text.replace('goodbye = "Thank you for calling. Goodbye."\n', ""), encoding="utf-8"
    )
    with pytest.raises(MenuError) as err:
        load_menus(folder, queues_path=Path(DEFAULT_QUEUES))
    assert err.value.problems[0].endswith("messages missing in language 'en': goodbye")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    broken = VALID.replace('goto = "agent"', 'goto = "x"').replace('prompt.en = "Press 1"\n', "")
    assert len(problems_of(tmp_path, broken)) == 2
