"""The return policy file (loading, every problem with its file and line) and the checklist."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from back_office.policy import (
    DEFAULT_CATEGORY,
    REVIEWED_REASONS,
    Check,
    PolicyError,
    ReasonClass,
    ReturnPolicy,
    RmaFacts,
    Rule,
    UnknownReason,
    approvable,
    checklist,
    failing,
    load_policy,
)
from config.settings import DEFAULT_RETURN_POLICY, Settings
from core.models import RmaKind, RmaReason

POLICY = load_policy(DEFAULT_RETURN_POLICY)

# 2026-03-01 20:00 in Shanghai (UTC+8) is 12:00 UTC: the delivery day is 1 March there.
DELIVERED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def shanghai(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A March 2026 moment given in Shanghai wall-clock time, as UTC."""
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC) - timedelta(hours=8)


def facts(**overrides: object) -> RmaFacts:
    """A return that meets every rule of the shipped policy; override what a test changes."""
    base = RmaFacts(
        kind=RmaKind.RETURN,
        reason=RmaReason.NO_LONGER_WANTED.value,
        category="apparel",
        delivered_at=DELIVERED,
        requested_at=shanghai(4, 10),
        opened=False,
        inspection=True,
        sku_matches=True,
        quantity=1,
        ordered_quantity=1,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def by_rule(checks: list[Check]) -> dict[Rule, Check]:
    return {check.rule: check for check in checks}


NOW = shanghai(20, 9)


# --- the shipped file ---------------------------------------------------------------------


def test_the_shipped_policy_loads_with_every_category_and_reason() -> None:
    assert POLICY.path == DEFAULT_RETURN_POLICY
    assert str(POLICY.timezone) == "Asia/Shanghai"
    assert set(POLICY.reasons) == set(REVIEWED_REASONS)
    assert RmaReason.UNSHIPPED_CANCEL.value not in POLICY.reasons
    assert POLICY.reasons["no_longer_wanted"] is ReasonClass.NO_REASON
    assert POLICY.reasons["wrong_size"] is ReasonClass.NO_REASON
    for fault in ("quality_problem", "damaged_in_transit", "wrong_item", "not_as_described"):
        assert POLICY.reasons[fault] is ReasonClass.QUALITY
    assert {
        "apparel",
        "shoes",
        "underwear",
        "cosmetics",
        "jewellery",
        "electronics",
        "food",
        DEFAULT_CATEGORY,
    } <= set(POLICY.categories)


def test_the_settings_default_is_the_shipped_file() -> None:
    assert Settings().return_policy_path == DEFAULT_RETURN_POLICY


def test_the_shipped_policy_covers_the_demo_catalogues_categories_explicitly() -> None:
    from callcenter.seed import _CATALOGUE

    assert {p.category for p in _CATALOGUE} <= set(POLICY.categories)


def test_a_listed_category_inherits_what_it_leaves_out_from_default() -> None:
    default, underwear = POLICY.rules_for(DEFAULT_CATEGORY), POLICY.rules_for("underwear")
    assert underwear.no_reason_returnable is False
    assert underwear.no_reason_days == default.no_reason_days
    assert underwear.quality_fee_kept_fen == default.quality_fee_kept_fen


def test_an_unlisted_category_gets_the_default_rules() -> None:
    assert POLICY.rules_for("garden_furniture") is POLICY.categories[DEFAULT_CATEGORY]


def test_the_fee_kept_depends_on_the_reasons_class() -> None:
    assert POLICY.fee_kept_fen("apparel", "no_longer_wanted") == 1200
    assert POLICY.fee_kept_fen("apparel", "wrong_size") == 1200
    assert POLICY.fee_kept_fen("shoes", "no_longer_wanted") == 1800
    for fault in ("quality_problem", "damaged_in_transit", "wrong_item", "missing_parts"):
        assert POLICY.fee_kept_fen("apparel", fault) == 0


def test_an_unclassed_reason_raises_unknown_reason() -> None:
    with pytest.raises(UnknownReason, match="unshipped_cancel"):
        POLICY.fee_kept_fen("apparel", RmaReason.UNSHIPPED_CANCEL.value)


# --- the checklist ------------------------------------------------------------------------


def test_a_return_meeting_every_rule_is_approvable_and_lists_every_rule_in_order() -> None:
    checks = checklist(facts(), POLICY, now=NOW)
    assert [c.rule for c in checks] == list(Rule)
    assert all(c.met is True for c in checks), checks
    assert approvable(checks)
    assert failing(checks) == []


def test_rule_codes_are_stable() -> None:
    assert [r.value for r in Rule] == [
        "delivered",
        "within_window",
        "category_returnable",
        "opened_allowed",
        "inspection_passed",
        "sku_matches",
        "quantity_on_order",
    ]


def test_every_failing_rule_is_returned_at_once() -> None:
    checks = checklist(
        facts(
            category="underwear",
            requested_at=shanghai(12, 9),
            opened=True,
            inspection=False,
            sku_matches=False,
            quantity=3,
            ordered_quantity=2,
        ),
        POLICY,
        now=NOW,
    )
    assert [c.rule for c in failing(checks)] == [
        Rule.WITHIN_WINDOW,
        Rule.CATEGORY_RETURNABLE,
        Rule.OPENED_ALLOWED,
        Rule.INSPECTION_PASSED,
        Rule.SKU_MATCHES,
        Rule.QUANTITY_ON_ORDER,
    ]
    why = {c.rule: c.why for c in checks}
    assert why[Rule.WITHIN_WINDOW] == (
        "asked 11 days after delivery; the 7-day no-reason window ended 2026-03-08"
    )
    assert why[Rule.CATEGORY_RETURNABLE] == "underwear cannot go back without a quality problem"
    assert why[Rule.OPENED_ALLOWED] == "opened underwear cannot go back without a quality problem"
    assert why[Rule.INSPECTION_PASSED] == "failed inspection"
    assert why[Rule.QUANTITY_ON_ORDER] == "3 asked for, but the order line holds 2"
    assert not approvable(checks)


def test_an_undelivered_order_fails_delivered_and_cannot_count_the_window() -> None:
    checks = by_rule(checklist(facts(delivered_at=None), POLICY, now=NOW))
    assert checks[Rule.DELIVERED] == Check(
        Rule.DELIVERED, False, "the order has not been delivered"
    )
    assert checks[Rule.WITHIN_WINDOW].met is None


def test_a_delivery_recorded_after_now_is_not_a_delivery_yet() -> None:
    checks = by_rule(checklist(facts(delivered_at=NOW + timedelta(hours=1)), POLICY, now=NOW))
    assert checks[Rule.DELIVERED].met is False
    assert checks[Rule.WITHIN_WINDOW].met is None


@pytest.mark.parametrize(
    ("asked", "met"),
    [
        (shanghai(1, 20, 30), True),  # the delivery day itself
        (shanghai(8, 0, 0), True),  # the last day, from its first second
        (shanghai(8, 23, 59, 59), True),  # the last day, to its last second
        (shanghai(9, 0, 0), False),  # the day after the last day
    ],
)
def test_the_no_reason_window_ends_with_the_last_local_day(asked: datetime, met: bool) -> None:
    checks = by_rule(checklist(facts(requested_at=asked), POLICY, now=NOW))
    assert checks[Rule.WITHIN_WINDOW].met is met


def test_the_window_counts_local_days_not_utc_days() -> None:
    """Delivered 1 March 23:30 in Shanghai is still 1 March there (15:30 UTC)."""
    late = shanghai(1, 23, 30)
    checks = by_rule(
        checklist(facts(delivered_at=late, requested_at=shanghai(8, 23, 0)), POLICY, now=NOW)
    )
    assert checks[Rule.WITHIN_WINDOW].met is True
    early_next_day = shanghai(2, 0, 30)  # 1 March 16:30 UTC, but 2 March in Shanghai
    checks = by_rule(
        checklist(
            facts(delivered_at=early_next_day, requested_at=shanghai(9, 23, 0)), POLICY, now=NOW
        )
    )
    assert checks[Rule.WITHIN_WINDOW].met is True


@pytest.mark.parametrize(
    ("reason", "last_ok_day"),
    [("no_longer_wanted", 8), ("wrong_size", 8), ("quality_problem", 16), ("wrong_item", 16)],
)
def test_the_window_that_applies_depends_on_the_reason(reason: str, last_ok_day: int) -> None:
    inside = checklist(
        facts(reason=reason, requested_at=shanghai(last_ok_day, 22)), POLICY, now=NOW
    )
    outside = checklist(
        facts(reason=reason, requested_at=shanghai(last_ok_day + 1, 1)), POLICY, now=NOW
    )
    assert by_rule(inside)[Rule.WITHIN_WINDOW].met is True
    assert by_rule(outside)[Rule.WITHIN_WINDOW].met is False


def test_a_categorys_own_quality_window_applies() -> None:
    asked = shanghai(25, 12)  # day 24: past 15, inside jewellery's 30
    checks = by_rule(
        checklist(
            facts(category="jewellery", reason="quality_problem", requested_at=asked),
            POLICY,
            now=shanghai(26, 0),
        )
    )
    assert checks[Rule.WITHIN_WINDOW].met is True
    assert "30-day quality window" in checks[Rule.WITHIN_WINDOW].why


def test_the_request_time_decides_not_the_review_time() -> None:
    """A slow review does not cost the customer their window."""
    checks = by_rule(checklist(facts(requested_at=shanghai(3, 9)), POLICY, now=shanghai(30, 9)))
    assert checks[Rule.WITHIN_WINDOW].met is True


def test_now_stands_in_for_a_request_not_filed_yet() -> None:
    checks = by_rule(checklist(facts(requested_at=None), POLICY, now=shanghai(9, 0, 1)))
    assert checks[Rule.WITHIN_WINDOW] == Check(
        Rule.WITHIN_WINDOW,
        False,
        "today is 8 days after delivery; the 7-day no-reason window ended 2026-03-08",
    )


@pytest.mark.parametrize(
    ("category", "reason", "met"),
    [
        ("underwear", "no_longer_wanted", False),
        ("underwear", "quality_problem", True),
        ("food", "wrong_size", False),
        ("food", "damaged_in_transit", True),
        ("cosmetics", "no_longer_wanted", True),
        ("apparel", "no_longer_wanted", True),
        ("some_new_category", "no_longer_wanted", True),  # default
    ],
)
def test_category_returnable_by_reason(category: str, reason: str, met: bool) -> None:
    checks = by_rule(checklist(facts(category=category, reason=reason), POLICY, now=NOW))
    assert checks[Rule.CATEGORY_RETURNABLE].met is met


@pytest.mark.parametrize(
    ("category", "opened", "reason", "met"),
    [
        ("cosmetics", False, "no_longer_wanted", True),
        ("cosmetics", True, "no_longer_wanted", False),
        ("cosmetics", True, "quality_problem", True),
        ("electronics", True, "wrong_size", False),
        ("apparel", True, "no_longer_wanted", True),
    ],
)
def test_opened_allowed(category: str, opened: bool, reason: str, met: bool) -> None:
    checks = by_rule(
        checklist(facts(category=category, opened=opened, reason=reason), POLICY, now=NOW)
    )
    assert checks[Rule.OPENED_ALLOWED].met is met


@pytest.mark.parametrize(("passed", "met"), [(True, True), (False, False), (None, None)])
def test_inspection_passed_met_not_met_or_unknown(passed: bool | None, met: bool | None) -> None:
    checks = checklist(facts(inspection=passed), POLICY, now=NOW)
    assert by_rule(checks)[Rule.INSPECTION_PASSED].met is met
    assert approvable(checks) is (passed is True)


def test_not_inspected_holds_an_otherwise_good_rma_without_failing_it() -> None:
    checks = checklist(facts(inspection=None), POLICY, now=NOW)
    assert failing(checks) == []
    assert not approvable(checks)
    assert by_rule(checks)[Rule.INSPECTION_PASSED].why == "not inspected yet"


@pytest.mark.parametrize(("matches", "met"), [(True, True), (False, False), (None, None)])
def test_sku_matches_met_not_met_or_unknown(matches: bool | None, met: bool | None) -> None:
    assert (
        by_rule(checklist(facts(sku_matches=matches), POLICY, now=NOW))[Rule.SKU_MATCHES].met is met
    )


@pytest.mark.parametrize(
    ("quantity", "ordered", "met"),
    [(1, 1, True), (2, 3, True), (3, 2, False), (0, 2, False), (1, None, None)],
)
def test_quantity_on_order(quantity: int, ordered: int | None, met: bool | None) -> None:
    checks = by_rule(checklist(facts(quantity=quantity, ordered_quantity=ordered), POLICY, now=NOW))
    assert checks[Rule.QUANTITY_ON_ORDER].met is met


def test_an_unclassed_reason_fails_category_and_leaves_the_window_unknown() -> None:
    checks = by_rule(
        checklist(facts(reason=RmaReason.UNSHIPPED_CANCEL.value, opened=True), POLICY, now=NOW)
    )
    assert checks[Rule.CATEGORY_RETURNABLE].met is False
    assert checks[Rule.WITHIN_WINDOW].met is None
    assert checks[Rule.OPENED_ALLOWED].met is None


def test_exchanges_are_held_to_the_same_rules() -> None:
    checks = checklist(
        facts(kind=RmaKind.EXCHANGE, category="underwear", reason="wrong_size"), POLICY, now=NOW
    )
    assert [c.rule for c in failing(checks)] == [Rule.CATEGORY_RETURNABLE]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="now must be a timezone-aware"):
        checklist(facts(), POLICY, now=datetime(2026, 3, 20))  # noqa: DTZ001
    with pytest.raises(ValueError, match="requested_at"):
        checklist(facts(requested_at=datetime(2026, 3, 2)), POLICY, now=NOW)  # noqa: DTZ001


def test_approvable_needs_at_least_one_check() -> None:
    assert not approvable([])


# --- bad files ----------------------------------------------------------------------------

GOOD = """\
[policy]
timezone = "Asia/Shanghai"

[reasons]
no_reason = ["no_longer_wanted", "wrong_size"]
quality = [
    "quality_problem",
    "damaged_in_transit",
    "wrong_item",
    "not_as_described",
    "missing_parts",
]

[category.default]
no_reason_days = 7
quality_days = 15
no_reason_returnable = true
opened_returnable = true
no_reason_fee_kept_fen = 1200
quality_fee_kept_fen = 0

[category.underwear]
no_reason_returnable = false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "return_policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    prefix = f"{path}:"
    assert all(p.startswith(prefix) for p in err.value.problems), err.value.problems
    return [p.removeprefix(prefix) for p in err.value.problems]


def test_a_small_good_file_loads(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, GOOD))
    assert isinstance(policy, ReturnPolicy)
    assert set(policy.categories) == {"default", "underwear"}


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    text = (
        GOOD.replace('timezone = "Asia/Shanghai"', 'timezone = "Asia/Shanghia"\nlocale = "zh"')
        .replace('"wrong_item",', '"wrong_itme",')
        .replace("quality_days = 15", "quality_days = -1")
        .replace("no_reason_returnable = false", 'no_reason_returnable = "no"\nwindow = 3')
        + "\n[category.food]\nno_reason_fee_kept_fen = 12.5\n"
    )
    assert problems_of(tmp_path, text) == [
        "2: 'Asia/Shanghia' is not an IANA time zone",
        "3: unknown key 'locale' in [policy]",
        "5: reason 'wrong_item' is not listed: put it under no_reason or quality",
        "10: unknown reason 'wrong_itme' (known: quality_problem, damaged_in_transit, wrong_item, "
        "not_as_described, wrong_size, missing_parts, no_longer_wanted)",
        "17: quality_days must not be negative, got -1",
        "24: no_reason_returnable must be true or false, got 'no'",
        "25: unknown key 'window' in [category.underwear] (known: no_reason_days, quality_days, "
        "no_reason_returnable, opened_returnable, no_reason_fee_kept_fen, quality_fee_kept_fen)",
        "28: no_reason_fee_kept_fen must be a whole number of fen (an integer, no decimals), "
        "got 12.5",
    ]


def test_a_missing_default_category_is_named(tmp_path: Path) -> None:
    text = GOOD.split("[category.default]")[0] + "[category.shoes]\nno_reason_days = 7\n"
    assert problems_of(tmp_path, text) == [
        "14: missing [category.default]: it holds the rules of every category not listed, "
        "and the keys a listed one leaves out"
    ]


def test_the_default_category_must_set_every_key(tmp_path: Path) -> None:
    text = GOOD.replace("quality_fee_kept_fen = 0\n", "")
    assert problems_of(tmp_path, text) == ["14: [category.default] needs quality_fee_kept_fen"]


def test_a_reason_listed_twice_or_under_an_unknown_class_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace(
        'no_reason = ["no_longer_wanted", "wrong_size"]',
        'no_reason = ["no_longer_wanted", "wrong_size", "missing_parts"]\n'
        'goodwill = ["unshipped_cancel"]',
    )
    assert problems_of(tmp_path, text) == [
        "6: unknown reason class 'goodwill' in [reasons] (expected no_reason and quality)",
        "12: reason 'missing_parts' is listed twice (first at line 5)",
    ]


def test_unshipped_cancel_takes_no_class(tmp_path: Path) -> None:
    text = GOOD.replace('"wrong_size"]', '"wrong_size", "unshipped_cancel"]')
    assert problems_of(tmp_path, text) == [
        "5: 'unshipped_cancel' is refunded without review and takes no class"
    ]


def test_wrong_types_for_tables_and_days(tmp_path: Path) -> None:
    text = GOOD.replace("no_reason_days = 7", "no_reason_days = true").replace(
        "[policy]\n", "extra = 1\n[policy]\n"
    )
    assert problems_of(tmp_path, text) == [
        "1: unknown key 'extra' (expected [policy], [reasons] and [category.<name>])",
        "16: no_reason_days must be a whole number of days, got True",
    ]


def test_missing_tables_are_named(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "# nothing here\n") == [
        "1: missing [policy] table",
        "1: missing [reasons] table",
        "1: missing [category] table",
    ]


def test_a_bad_category_name_is_refused(tmp_path: Path) -> None:
    text = GOOD + '\n[category."Sale Items"]\nno_reason_days = 3\n'
    assert problems_of(tmp_path, text) == [
        "25: category name 'Sale Items' must be lowercase letters, digits and _"
    ]


def test_toml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    assert problems_of(tmp_path, GOOD.replace("quality_days = 15", "quality_days = ")) == [
        "16: Invalid value"
    ]


def test_a_duplicate_key_is_named(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path, GOOD.replace("quality_days = 15", "quality_days = 15\nquality_days = 20")
    )
    assert len(problems) == 1 and problems[0].startswith("17: duplicate key")


def test_an_unreadable_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the file"):
        load_policy(tmp_path / "absent.toml")


def test_a_reason_repeated_in_one_list_is_named_at_its_second_line(tmp_path: Path) -> None:
    text = GOOD.replace('    "missing_parts",\n', '    "missing_parts",\n    "wrong_item",\n')
    assert problems_of(tmp_path, text) == [
        "12: reason 'wrong_item' is listed twice (first at line 9)"
    ]


def test_a_reason_class_that_is_not_a_list_of_names_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace(
        'no_reason = ["no_longer_wanted", "wrong_size"]', 'no_reason = "no_longer_wanted"'
    )
    assert problems_of(tmp_path, text) == [
        "4: reason 'wrong_size' is not listed: put it under no_reason or quality",
        "4: reason 'no_longer_wanted' is not listed: put it under no_reason or quality",
        "5: no_reason must be a list of reason names",
    ]
