"""Operator commands through the real CLI group: menus, settings, migrations, demo data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from callcenter.cli import _register, cli
from config.settings import DEFAULT_MENUS, Settings
from core.db import make_engine
from core.models import Customer
from ivr_menus.loader import MenuError

_register()


def run(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    environ = {"CALLCENTER_INSTANCE_PATH": str(tmp_path / "instance"), **env}
    result = CliRunner().invoke(cli, list(args), env=environ, catch_exceptions=False)
    return result.exit_code, result.output


def broken_menus(tmp_path: Path) -> Path:
    folder = tmp_path / "menus"
    shutil.copytree(DEFAULT_MENUS, folder)
    hotline = folder / "hotline.toml"
    hotline.write_text(
        hotline.read_text(encoding="utf-8").replace(
            'options."9" = { goto = "main"', 'options."9" = { goto = "mian"', 1
        ),
        encoding="utf-8",
    )
    return folder


def test_menus_check_passes_on_the_shipped_menus(tmp_path: Path) -> None:
    code, out = run(tmp_path, "menus", "check")
    assert code == 0 and out.startswith("menus OK: 18 nodes, entry 'language', languages zh, en")


def test_menus_check_names_file_line_and_reason(tmp_path: Path) -> None:
    folder = broken_menus(tmp_path)
    code, out = run(tmp_path, "menus", "check", str(folder))
    assert code == 1
    assert f"{folder}/hotline.toml:56: unknown target 'mian' in node 'order_done'" in out


def test_bad_menu_file_stops_start_up(tmp_path: Path) -> None:
    from callcenter.app import create_app

    with pytest.raises(MenuError, match=r"hotline\.toml:56: unknown target 'mian'"):
        create_app(Settings(instance_path=tmp_path, menus_path=broken_menus(tmp_path)))


def test_menus_show_prints_the_tree(tmp_path: Path) -> None:
    code, out = run(tmp_path, "menus", "show")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("language [menu]")
    assert any(
        "[0 / “人工、客服、agent”] agent [enqueue] → queue general" in line for line in lines
    )
    assert any(line.strip() == "(on failure) ↪ main" for line in lines)


def test_settings_lists_values_and_hides_secrets(tmp_path: Path) -> None:
    code, out = run(
        tmp_path,
        "settings",
        CALLCENTER_TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        CALLCENTER_TWILIO_AUTH_TOKEN="s3cret",
    )
    assert code == 0 and "s3cret" not in out
    assert any(
        line.startswith("CALLCENTER_TWILIO_AUTH_TOKEN") and "(set)" in line
        for line in out.splitlines()
    )


def test_invalid_setting_stops_a_command_naming_it(tmp_path: Path) -> None:
    code, out = run(tmp_path, "menus", "check", CALLCENTER_TIMEZONE="Nowhere/Atlantis")
    assert code == 1 and "CALLCENTER_TIMEZONE: 'Nowhere/Atlantis' is not an IANA time zone" in out


def test_db_upgrade_then_seed_demo_twice(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade")[0] == 0
    assert run(tmp_path, "db", "upgrade")[0] == 0
    code, out = run(tmp_path, "seed-demo")
    assert code == 0 and "demo data created" in out
    code, out = run(tmp_path, "seed-demo")
    assert code == 0 and "already present" in out
    engine = make_engine(f"sqlite:///{tmp_path / 'instance' / 'callcenter.db'}")
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Customer)) == 40
    engine.dispose()
