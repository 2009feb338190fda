"""The keyword rules against the test set of customers' descriptions (Chinese and English):
at least 90 % must be classified right. `pytest -s` prints the share and each miss."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from callcenter.cli import _register, cli
from config.settings import DEFAULT_WORK_ORDER_RULES
from work_orders.rules import evaluate, load_rules, read_cases

TEST_SET = Path(__file__).with_name("descriptions.csv")
RULES = load_rules(DEFAULT_WORK_ORDER_RULES)
MINIMUM = 0.90


def test_the_set_has_60_descriptions_in_both_languages_covering_every_category() -> None:
    cases = read_cases(TEST_SET, RULES)
    assert len(cases) >= 60
    text = TEST_SET.read_text(encoding="utf-8").splitlines()
    languages = Counter(line.split(",", 1)[0] for line in text[1:])
    assert languages["zh"] >= 25 and languages["en"] >= 25
    assert set(languages) == {"zh", "en"}
    per_category = Counter(case.expected for case in cases)
    assert set(per_category) == set(RULES.categories)
    assert min(per_category.values()) >= 6


def test_the_rules_classify_at_least_90_percent_of_the_set_right() -> None:
    result = evaluate(read_cases(TEST_SET, RULES), RULES)
    print(
        f"\nwork order rules: {result.right} of {result.total} right ({100 * result.share:.1f} %)"
    )
    for miss in result.misses:
        print(
            f"  line {miss.case.line}: expected {miss.case.expected}, "
            f"suggested {miss.suggestion.category}: {miss.case.description}"
        )
    assert result.share >= MINIMUM


def test_the_evaluate_command_prints_the_share_of_the_set() -> None:
    _register()
    result = CliRunner().invoke(
        cli, ["work-orders", "evaluate", str(TEST_SET), "--min", "90"], catch_exceptions=False
    )
    print("\n" + result.stdout)
    last = result.stdout.splitlines()[-1]
    right = evaluate(read_cases(TEST_SET, RULES), RULES)
    assert last == (f"classified right: {right.right} of {right.total} ({100 * right.share:.1f} %)")
    assert result.exit_code == 0
