"""The keyword rules against the test set of customers' descriptions (Chinese and English):
at least 90 % must be classified right. `pytest -s` prints the share and each miss.

The set was written in four batches, each before the rules had seen it, then the rules were
tuned on it (`batch` column). The share of each batch the rules classified right before they
were tuned on it: 1: 62 of 80 (the first draft of the rules), 2: 23 of 44, 3: 26 of 43,
4: 20 of 31. A fresh description is recognised about two times in three; the misses mostly
fall to `other`, so a category the rules do suggest is nearly always right (the evaluate
command prints both figures). docs/WORK_ORDERS.md has the figures and how to tune.
"""

from __future__ import annotations

import csv
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
    with TEST_SET.open(encoding="utf-8") as f:
        languages = Counter(row["language"] for row in csv.DictReader(f))
    assert set(languages) == {"zh", "en"}
    assert languages["zh"] >= 25 and languages["en"] >= 25
    per_category = Counter(case.expected for case in cases)
    assert set(per_category) == set(RULES.categories)
    assert min(per_category.values()) >= 6


def test_the_rules_classify_at_least_90_percent_of_the_set_right() -> None:
    result = evaluate(read_cases(TEST_SET, RULES), RULES)
    print(
        f"\nwork order rules: {result.right} of {result.total} right "
        f"({100 * result.share:.1f} %); recognised {result.recognised}, "
        f"right for {result.recognised_right}"
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
    right = evaluate(read_cases(TEST_SET, RULES), RULES)
    assert result.stdout.splitlines()[-1] == (
        f"classified right: {right.right} of {right.total} ({100 * right.share:.1f} %)"
    )
    assert result.exit_code == 0
