"""`callcenter return-policy check`, and a bad return policy stopping start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from back_office.policy import PolicyError
from callcenter.cli import _register, cli
from config.settings import DEFAULT_RETURN_POLICY, Settings

_register()


def run(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    environ = {"CALLCENTER_INSTANCE_PATH": str(tmp_path / "instance"), **env}
    result = CliRunner().invoke(cli, list(args), env=environ, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def broken_policy(tmp_path: Path) -> Path:
    """The shipped policy with two mistakes: a negative window and a misspelt reason."""
    text = DEFAULT_RETURN_POLICY.read_text(encoding="utf-8")
    assert "quality_days = 30\nno_reason_fee_kept_fen = 2500" in text
    assert '"not_as_described",' in text
    text = text.replace(
        "quality_days = 30\nno_reason_fee_kept_fen = 2500",
        "quality_days = -30\nno_reason_fee_kept_fen = 2500",
        1,
    ).replace('"not_as_described",', '"not_as_descibed",')
    path = tmp_path / "return_policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if needle in line)


def test_check_passes_on_the_shipped_policy_with_a_one_line_summary(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, "return-policy", "check")
    assert (code, err) == (0, "")
    assert out == (
        f"return policy OK: {DEFAULT_RETURN_POLICY}: 11 categories and the default, "
        "reasons 2 no_reason, 5 quality, days counted in Asia/Shanghai\n"
    )


def test_check_reads_the_configured_path(tmp_path: Path) -> None:
    path = broken_policy(tmp_path)
    code, _, err = run(tmp_path, "return-policy", "check", CALLCENTER_RETURN_POLICY_PATH=str(path))
    assert code == 1 and str(path) in err


def test_check_prints_every_problem_with_file_and_line_and_exits_1(tmp_path: Path) -> None:
    path = broken_policy(tmp_path)
    code, out, err = run(tmp_path, "return-policy", "check", str(path))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{path}:{line_of(path, '[reasons]')}: reason 'not_as_described' is not listed: "
        "put it under no_reason or quality",
        f"{path}:{line_of(path, 'not_as_descibed')}: unknown reason 'not_as_descibed' "
        "(known: quality_problem, damaged_in_transit, wrong_item, not_as_described, wrong_size, "
        "missing_parts, no_longer_wanted)",
        f"{path}:{line_of(path, 'quality_days = -30')}: quality_days must not be negative, got -30",
    ]


def test_check_of_a_missing_file_exits_1_naming_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["return-policy", "check", str(tmp_path / "nope.toml")], catch_exceptions=False
    )
    assert result.exit_code == 1 and "cannot read the file" in result.stderr


def test_bad_return_policy_stops_start_up_naming_file_and_line(tmp_path: Path) -> None:
    from callcenter.app import create_app

    path = broken_policy(tmp_path)
    with pytest.raises(PolicyError) as err:
        create_app(Settings(instance_path=tmp_path, return_policy_path=path))
    assert f"{path}:{line_of(path, 'quality_days = -30')}: quality_days must not be negative" in (
        str(err.value)
    )
    assert len(err.value.problems) == 3


def test_the_runtime_reads_the_policy_once(tmp_path: Path) -> None:
    from callcenter.app import create_app

    app = create_app(Settings(instance_path=tmp_path))
    rt = app.extensions["callcenter"]
    assert rt.return_policy is rt.return_policy
    assert rt.return_policy.path == DEFAULT_RETURN_POLICY


def test_the_console_command_exits_2_with_every_problem_when_the_app_cannot_start(
    tmp_path: Path,
) -> None:
    """`callcenter <command that needs the app>` stops as for a bad menu file, exit code 2."""
    path = broken_policy(tmp_path)
    env = {
        **os.environ,
        "CALLCENTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "CALLCENTER_RETURN_POLICY_PATH": str(path),
    }
    done = subprocess.run(  # noqa: S603  (our own console script, fixed arguments)
        [str(Path(sys.executable).parent / "callcenter"), "routes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("Error: invalid return policy file:\n")
    assert f"  {path}:{line_of(path, 'quality_days = -30')}: quality_days must not be negative" in (
        done.stderr
    )
