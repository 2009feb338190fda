"""The work order rules file: loading (every problem with file and line), matching (full-width,
case, word boundaries, prefixes, terms joined by &), scoring and tie-breaks, and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import DEFAULT_WORK_ORDER_RULES, Settings
from queues.demo import DEMO_AGENTS
from queues.models import Role
from work_orders.rules import (
    FALLBACK_CATEGORY,
    RulesError,
    WorkOrderRules,
    compile_keyword,
    load_rules,
    normalise,
    suggest,
    validate,
)

SHIPPED = load_rules(DEFAULT_WORK_ORDER_RULES)

SMALL = """\
[department.desk-a]
zh = "甲组"
en = "Group A"

[department.desk-b]
zh = "乙组"
en = "Group B"

[category.usage]
zh = "使用"
en = "Usage"
department = "desk-b"

[category.usage.sub.app]
zh = "应用"
en = "App"
department = "desk-a"

[category.quality]
zh = "质量"
en = "Quality"
department = "desk-a"

[category.refund]
zh = "退款"
en = "Refund"
department = "desk-b"

[category.other]
zh = "其他"
en = "Other"
department = "desk-b"

[rule.use]
keywords = ["use", "怎么用", "don't know how"]
category = "usage"

[rule.app]
keywords = ["app & crash*"]
category = "usage"
subcategory = "app"

[rule.broken]
keywords = ["broken", "cracked screen"]
category = "quality"

[rule.refund]
keywords = ["refund*", "退款"]
category = "refund"

[rule.money]
keywords = ["money back"]
category = "refund"
weight = 2
"""


EMPTY_EN = 'en = ""'
UNCLOSED = 'en = "Usage\n'.rstrip()


def small(tmp_path: Path, text: str = SMALL) -> WorkOrderRules:
    path = tmp_path / "work_orders.toml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path)


def problems_of(tmp_path: Path, text: str) -> tuple[Path, list[str]]:
    path = tmp_path / "work_orders.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError) as err:
        load_rules(path)
    return path, err.value.problems


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


# --- the shipped file ----------------------------------------------------------------------


def test_the_setting_points_at_the_shipped_file() -> None:
    assert Settings().work_order_rules_path == DEFAULT_WORK_ORDER_RULES
    assert SHIPPED.path == DEFAULT_WORK_ORDER_RULES


def test_the_shipped_file_has_the_handbooks_categories_with_both_labels() -> None:
    wanted = {
        "product_quality",
        "damaged_in_transit",
        "usage_question",
        "logistics_delay",
        "invoice",
        "refund",
        "complaint",
        "other",
    }
    assert wanted <= set(SHIPPED.categories)
    for category in SHIPPED.categories.values():
        assert category.zh and category.en and category.zh != category.en
        assert category.department in SHIPPED.departments
        for sub in category.subcategories.values():
            assert sub.zh and sub.en


def test_the_shipped_departments_are_the_demo_department_teams() -> None:
    teams = {a.team for a in DEMO_AGENTS if Role.DEPARTMENT in a.roles}
    assert (
        set(SHIPPED.departments)
        == teams
        == {
            "aftersales-a",
            "aftersales-b",
            "logistics",
            "finance",
            "merchandising",
            "technical",
        }
    )
    assert SHIPPED.departments["aftersales-a"].label("zh-CN") == "售后A组"
    assert SHIPPED.departments["aftersales-a"].label("en") == "After-sales group A"


@pytest.mark.parametrize(
    ("text", "category", "department"),
    [
        ("手机碎屏了", "product_quality", "aftersales-a"),
        ("I have a cracked screen", "product_quality", "aftersales-a"),
        ("这个怎么用", "usage_question", "aftersales-b"),
        ("How do I turn on night mode?", "usage_question", "aftersales-b"),
    ],
)
def test_the_issues_examples(text: str, category: str, department: str) -> None:
    got = suggest(text, SHIPPED)
    assert (got.category, got.department) == (category, department)
    assert got.score > 0 and got.matched


def test_a_subcategory_with_its_own_department_routes_there() -> None:
    got = suggest("The app keeps crashing and bluetooth won't connect", SHIPPED)
    assert (got.category, got.subcategory, got.department) == (
        "usage_question",
        "app_and_connection",
        "technical",
    )


# --- normalisation and matching ------------------------------------------------------------


def test_normalise_makes_full_width_half_width_folds_case_and_spaces() -> None:
    assert normalise("  ＣＲＡＣＫＥＤ\u3000Ｓｃｒｅｅｎ１２３  ") == "cracked screen123"
    assert normalise("Don\u2019t\n\tKNOW") == "don't know"
    assert normalise("碎屏，怎么办？") == "碎屏,怎么办?"


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("How do I USE it", "usage"),
        ("ＵＳＥ", "usage"),  # full-width
        ("how to use.", "usage"),
        ("use-case", "usage"),  # a hyphen is not part of a word
        ("I am a new user", "other"),  # "use" is not a word of "user"
        ("because of it", "other"),
        ("misuse", "other"),
        ("reused", "other"),
        ("I don\u2019t know how to", "usage"),  # curly apostrophe
        ("我的手机怎么用", "usage"),  # Chinese: anywhere
        ("REFUNDED twice", "refund"),  # "refund*" continues
        ("a refund", "refund"),
        ("prefunded", "other"),  # but must start a word
        ("the app crashed again", "usage"),  # both terms, in any order
        ("it crashes when the app opens", "usage"),
        ("the app is slow", "other"),  # only one of the two terms
        ("cracked    screen", "quality"),  # a run of spaces is one space
        ("cracked\nscreen", "quality"),
        ("crackedscreen", "other"),
        ("iPhone碎了 broken了", "quality"),  # a CJK character ends an English word
    ],
)
def test_matching(tmp_path: Path, text: str, category: str) -> None:
    assert suggest(text, small(tmp_path)).category == category


def test_nothing_found_is_the_fallback_with_its_department_and_score_0(tmp_path: Path) -> None:
    got = suggest("hello, just calling to say thanks", small(tmp_path))
    assert got.category == FALLBACK_CATEGORY
    assert (got.subcategory, got.department, got.matched, got.score, got.runners_up) == (
        None,
        "desk-b",
        (),
        0,
        (),
    )


# --- scoring -------------------------------------------------------------------------------


def test_the_highest_total_wins_and_the_others_are_runners_up(tmp_path: Path) -> None:
    got = suggest("broken, I want my money back and a refund", small(tmp_path))
    assert got.category == "refund"
    assert got.matched == ("refund*", "money back")  # rule order, keywords as written
    assert got.score == 3
    assert got.runners_up == (("quality", 1),)


def test_a_rule_counts_once_however_many_of_its_keywords_are_found(tmp_path: Path) -> None:
    got = suggest("退款 refund refunds", small(tmp_path))
    assert got.score == 1 and got.matched == ("refund*", "退款")


def test_on_equal_totals_the_heavier_single_rule_wins(tmp_path: Path) -> None:
    # usage: use (1) + app (1) = 2; refund: money (2) = 2. Equal totals; refund's rule is heavier.
    got = suggest("use the app, it crashes; money back", small(tmp_path))
    assert got.category == "refund" and got.score == 2
    assert got.runners_up == (("usage", 2),)


def test_on_a_full_tie_the_rule_earlier_in_the_file_wins(tmp_path: Path) -> None:
    rules = small(tmp_path)
    assert suggest("broken, how to use", rules).category == "usage"  # [rule.use] comes first
    broken = '[rule.broken]\nkeywords = ["broken", "cracked screen"]\ncategory = "quality"\n\n'
    swapped = SMALL.replace(broken, "").replace("[rule.use]", broken + "[rule.use]")
    assert swapped != SMALL
    assert suggest("broken, how to use", small(tmp_path, swapped)).category == "quality"


def test_the_subcategory_and_its_department_come_from_the_heaviest_rule_naming_one(
    tmp_path: Path,
) -> None:
    got = suggest("how to use the app, it crashed", small(tmp_path))
    assert (got.category, got.subcategory, got.department) == ("usage", "app", "desk-a")
    plain = suggest("how to use it", small(tmp_path))
    assert (plain.subcategory, plain.department) == (None, "desk-b")


def test_a_rules_own_department_overrides_the_categorys(tmp_path: Path) -> None:
    text = SMALL.replace('category = "quality"\n', 'category = "quality"\ndepartment = "desk-b"\n')
    got = suggest("broken", small(tmp_path, text))
    assert (got.category, got.department) == ("quality", "desk-b")


# --- validate ------------------------------------------------------------------------------


def test_validate_accepts_a_known_classification() -> None:
    assert validate("product_quality", "screen", "aftersales-a", SHIPPED) == {}
    assert validate("other", None, None, SHIPPED) == {}
    assert validate("refund", "", "", SHIPPED) == {}


def test_validate_names_each_bad_field() -> None:
    errors = validate("refund", "screen", "aftersales-z", SHIPPED)
    assert set(errors) == {"subcategory", "department"}
    assert errors["subcategory"].startswith("unknown sub-category 'screen' of 'refund'")
    assert errors["department"].startswith("unknown department 'aftersales-z'")
    assert validate("", None, None, SHIPPED) == {"category": "required"}
    errors = validate("weather", None, "nope", SHIPPED)
    assert set(errors) == {"category", "department"}
    assert errors["category"].startswith("unknown category 'weather' (known: product_quality")


# --- loading -------------------------------------------------------------------------------


def test_every_problem_is_reported_with_its_file_and_line_in_file_order(tmp_path: Path) -> None:
    text = (
        SMALL.replace('en = "Group B"', 'en = ""')
        .replace('en = "App"\ndepartment = "desk-a"', 'en = "App"\ndepartment = "desk-c"')
        .replace('keywords = ["app & crash*"]', 'keywords = ["app & crash*"]\ncolour = "red"')
        .replace('subcategory = "app"', 'subcategory = "web"')
        .replace('category = "refund"\nweight = 2', 'category = "refund"\nweight = 0')
        + '\n[rule.again]\nkeywords = [\n    "fine",\n    "REFUND*",\n    "x*y",\n]\n'
        + 'category = "refund"\n'
    )
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        f"{path}:{line_of(text, EMPTY_EN)}: en label must be a non-empty string, got '' "
        "in [department.desk-b]",
        f"{path}:{line_of(text, 'desk-c')}: unknown department 'desk-c' (known: desk-a, desk-b)",
        f"{path}:{line_of(text, 'colour')}: unknown key 'colour' in [rule.app] "
        "(known: keywords, category, subcategory, department, weight)",
        f"{path}:{line_of(text, 'web')}: unknown sub-category 'web' of 'usage' (known: app)",
        f"{path}:{line_of(text, 'weight = 0')}: weight must be from 1 to 100, got 0",
        f"{path}:{line_of(text, 'REFUND*')}: keyword 'REFUND*' is already in rule 'refund' "
        f"(line {line_of(text, 'refund*')}): a keyword belongs to one rule",
        f"{path}:{line_of(text, 'x*y')}: keyword 'x*y': * may only end a term",
    ]


def test_a_missing_fallback_category_and_missing_keys_are_refused(tmp_path: Path) -> None:
    text = SMALL.replace('[category.other]\nzh = "其他"\nen = "Other"\ndepartment = "desk-b"\n', "")
    text = text.replace('[rule.money]\nkeywords = ["money back"]\n', "[rule.money]\n")
    text = text.replace('department = "desk-a"\n\n[category.refund]', "\n[category.refund]")
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        f"{path}:{line_of(text, '[category.usage]')}: missing [category.other]: it is suggested "
        "when no rule matches",
        f"{path}:{line_of(text, '[category.quality]')}: [category.quality] needs a default "
        "department",
        f"{path}:{line_of(text, '[rule.money]')}: [rule.money] needs keywords "
        "(a list of words or phrases)",
    ]


def test_a_rule_pointing_at_an_unknown_category_or_department(tmp_path: Path) -> None:
    text = SMALL.replace(
        '[rule.refund]\nkeywords = ["refund*", "退款"]\ncategory = "refund"',
        '[rule.refund]\nkeywords = ["refund*", "退款"]\ncategory = "refunds"\n'
        'department = "desk-x"',
    )
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        f"{path}:{line_of(text, 'refunds')}: unknown category 'refunds' "
        "(known: usage, quality, refund, other)",
        f"{path}:{line_of(text, 'desk-x')}: unknown department 'desk-x' (known: desk-a, desk-b)",
    ]


@pytest.mark.parametrize(
    ("keyword", "reason"),
    [
        ("", "empty (or an empty term around &)"),
        ("app & ", "empty (or an empty term around &)"),
        ("*", "* needs a word before it"),
        ("碎*", "* may only follow a Latin letter or digit"),
        ("a" * 61, "longer than 60 characters"),
    ],
)
def test_bad_keywords(keyword: str, reason: str) -> None:
    assert compile_keyword(keyword) == (None, reason)


def test_a_toml_syntax_error_names_its_line(tmp_path: Path) -> None:
    text = SMALL.replace('en = "Usage"', 'en = "Usage')
    path, problems = problems_of(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:{line_of(text, UNCLOSED)}: ")


def test_a_duplicate_table_is_a_duplicate_key(tmp_path: Path) -> None:
    text = SMALL + '\n[rule.use]\nkeywords = ["again"]\ncategory = "usage"\n'
    path, problems = problems_of(tmp_path, text)
    assert problems[0].startswith(f"{path}:{len(text.splitlines()) - 2}: duplicate key")


def test_a_missing_file_is_one_problem(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as err:
        load_rules(tmp_path / "nope.toml")
    assert err.value.problems == [
        f"{tmp_path / 'nope.toml'}:1: cannot read the file (No such file or directory)"
    ]


def test_unknown_top_level_tables_are_refused(tmp_path: Path) -> None:
    text = SMALL + '\n[rules.extra]\nkeywords = ["x"]\n'
    path, problems = problems_of(tmp_path, text)
    assert problems == [
        f"{path}:{line_of(text, '[rules.extra]')}: unknown key 'rules' (expected "
        "[department.<name>], [category.<name>] and [rule.<name>])"
    ]
