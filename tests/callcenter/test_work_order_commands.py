"""`callcenter work-orders classify / check / evaluate`, and a bad rules file stopping start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from callcenter.cli import _register, cli
from config.settings import DEFAULT_WORK_ORDER_RULES, Settings
from work_orders.rules import RulesError

_register()


def run(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    environ = {"CALLCENTER_INSTANCE_PATH": str(tmp_path / "instance"), **env}
    result = CliRunner().invoke(cli, list(args), env=environ, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def broken_rules(tmp_path: Path) -> Path:
    """The shipped rules with two mistakes: a misspelt department and a zero weight."""
    text = DEFAULT_WORK_ORDER_RULES.read_text(encoding="utf-8")
    assert 'subcategory = "battery"\nweight = 5' in text
    assert '[category.invoice]\nzh = "发票"\nen = "Invoice"\ndepartment = "finance"' in text
    text = text.replace(
        'subcategory = "battery"\nweight = 5', 'subcategory = "battery"\nweight = 0'
    )
    text = text.replace(
        '[category.invoice]\nzh = "发票"\nen = "Invoice"\ndepartment = "finance"',
        '[category.invoice]\nzh = "发票"\nen = "Invoice"\ndepartment = "finanse"',
    )
    path = tmp_path / "work_orders.toml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if needle in line)


def test_classify_prints_category_subcategory_group_and_the_keywords(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, "work-orders", "classify", "ＭＹ phone has a CRACKED SCREEN")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "category:     product_quality (产品质量 / Product quality)",
        "sub-category: screen (屏幕问题 / Screen)",
        "group:        aftersales-a (售后A组 / After-sales group A)",
        'matched:      "cracked screen", "screen & crack*" (score 6)',
    ]


def test_classify_joins_unquoted_words_and_shows_the_runners_up(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "work-orders", "classify", "how", "do", "I", "get", "a", "refund")
    assert code == 0
    assert out.splitlines()[0] == "category:     refund (退款 / Refund)"
    assert out.splitlines()[-1] == "also found:   usage_question (score 3)"


def test_classify_of_text_no_rule_matches_names_the_fallback(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "work-orders", "classify", "你好")
    assert code == 0
    assert out.splitlines() == [
        "category:     other (其他 / Other)",
        "sub-category: -",
        "group:        aftersales-b (售后B组 / After-sales group B)",
        "matched:      nothing: no rule matched, so the fallback category",
    ]


def test_classify_reads_the_configured_or_given_rules(tmp_path: Path) -> None:
    path = broken_rules(tmp_path)
    code, out, err = run(
        tmp_path, "work-orders", "classify", "x", CALLCENTER_WORK_ORDER_RULES_PATH=str(path)
    )
    assert code == 1 and out == "" and str(path) in err
    code, _, err = run(tmp_path, "work-orders", "classify", "--rules", str(path), "x")
    assert code == 1 and str(path) in err


def test_check_passes_on_the_shipped_rules_with_a_one_line_summary(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, "work-orders", "check")
    assert (code, err) == (0, "")
    assert out.startswith(
        f"work order rules OK: {DEFAULT_WORK_ORDER_RULES}: 8 categories (21 sub-categories), "
        "6 departments, "
    )


def test_check_prints_every_problem_with_file_and_line_and_exits_1(tmp_path: Path) -> None:
    path = broken_rules(tmp_path)
    code, out, err = run(tmp_path, "work-orders", "check", str(path))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{path}:{line_of(path, 'finanse')}: unknown department 'finanse' (known: aftersales-a, "
        "aftersales-b, logistics, finance, merchandising, technical)",
        f"{path}:{line_of(path, 'weight = 0')}: weight must be from 1 to 100, got 0",
    ]


def test_check_of_a_missing_file_exits_1_naming_it(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, "work-orders", "check", str(tmp_path / "nope.toml"))
    assert code == 1 and "nope.toml:1: cannot read the file" in err


def test_evaluate_prints_each_miss_and_the_share(tmp_path: Path) -> None:
    cases = tmp_path / "cases.csv"
    cases.write_text(
        "description,category,note\n"
        "屏幕碎了,product_quality,\n"
        '"The parcel never came,\nwhere is it?",logistics_delay,two lines\n'
        "I would like an invoice,refund,a miss\n"
        "hello,other,\n",
        encoding="utf-8",
    )
    code, out, _ = run(tmp_path, "work-orders", "evaluate", str(cases))
    assert code == 0
    assert out.splitlines() == [
        f'{cases}:5: expected refund, suggested invoice ("invoice*"): I would like an invoice',
        "classified right: 3 of 4 (75.0 %)",
    ]
    code, _, err = run(tmp_path, "work-orders", "evaluate", str(cases), "--min", "80")
    assert code == 1 and err == "below the minimum of 80 %\n"


def test_evaluate_reads_toml_test_sets(tmp_path: Path) -> None:
    cases = tmp_path / "cases.toml"
    cases.write_text(
        '[[case]]\ndescription = "怎么用"\ncategory = "usage_question"\n\n'
        '[[case]]\ndescription = "发票抬头错了"\ncategory = "invoice"\n',
        encoding="utf-8",
    )
    code, out, _ = run(tmp_path, "work-orders", "evaluate", str(cases))
    assert (code, out) == (0, "classified right: 2 of 2 (100.0 %)\n")


def test_evaluate_refuses_a_set_naming_unknown_categories_with_their_lines(tmp_path: Path) -> None:
    cases = tmp_path / "cases.csv"
    cases.write_text("description,category\n屏幕碎了,quality\n,refund\n", encoding="utf-8")
    code, out, err = run(tmp_path, "work-orders", "evaluate", str(cases))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{cases}:2: unknown category 'quality'",
        f"{cases}:3: empty description",
    ]


def test_bad_rules_stop_start_up_naming_file_and_line(tmp_path: Path) -> None:
    from callcenter.app import create_app

    path = broken_rules(tmp_path)
    with pytest.raises(RulesError) as err:
        create_app(Settings(instance_path=tmp_path, work_order_rules_path=path))
    assert f"{path}:{line_of(path, 'weight = 0')}: weight must be from 1 to 100" in str(err.value)
    assert len(err.value.problems) == 2


def test_the_runtime_reads_the_rules_once(tmp_path: Path) -> None:
    from callcenter.app import create_app

    app = create_app(Settings(instance_path=tmp_path))
    rt = app.extensions["callcenter"]
    assert rt.work_order_rules is rt.work_order_rules
    assert rt.work_order_rules.path == DEFAULT_WORK_ORDER_RULES


def test_the_console_command_exits_2_with_every_problem_when_the_app_cannot_start(
    tmp_path: Path,
) -> None:
    """`callcenter <command that needs the app>` stops as for a bad menu file, exit code 2."""
    path = broken_rules(tmp_path)
    env = {
        **os.environ,
        "CALLCENTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "CALLCENTER_WORK_ORDER_RULES_PATH": str(path),
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
    assert done.stderr.startswith("Error: invalid work order rules file:\n")
    assert f"  {path}:{line_of(path, 'weight = 0')}: weight must be from 1 to 100" in done.stderr
