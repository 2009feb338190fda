"""`callcenter work-orders`: try the keyword rules on a description, check the rules file, and
measure the rules against a test set of descriptions."""

from __future__ import annotations

from pathlib import Path

import click

from callcenter.commands.base import load_settings
from work_orders.rules import (
    CasesError,
    RulesError,
    Suggestion,
    WorkOrderRules,
    evaluate,
    load_rules,
    read_cases,
)

_RULES_OPTION = click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The rules file to use (default: CALLCENTER_WORK_ORDER_RULES_PATH).",
)


@click.group("work-orders", help="Work orders: the categories, departments and keyword rules.")
def work_orders_group() -> None:
    pass


def _rules(path: Path | None) -> WorkOrderRules:
    """The rules file (the configured one unless given); every problem printed, exit 1."""
    try:
        return load_rules(path or load_settings().work_order_rules_path)
    except RulesError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise click.exceptions.Exit(1) from None


def _named(rules: WorkOrderRules, suggestion: Suggestion) -> list[tuple[str, str]]:
    category = rules.categories[suggestion.category]
    sub = category.subcategories.get(suggestion.subcategory or "")
    department = rules.departments[suggestion.department]
    return [
        ("category", f"{category.name} ({category.zh} / {category.en})"),
        ("sub-category", f"{sub.name} ({sub.zh} / {sub.en})" if sub else "-"),
        ("group", f"{department.name} ({department.zh} / {department.en})"),
    ]


@work_orders_group.command(
    "classify",
    help="What the keyword rules suggest for a description, and the keywords that matched: "
    'callcenter work-orders classify "屏幕摔碎了".',
)
@click.argument("text", nargs=-1, required=True)
@_RULES_OPTION
def work_orders_classify(text: tuple[str, ...], rules_path: Path | None) -> None:
    from work_orders.rules import suggest

    rules = _rules(rules_path)
    suggestion = suggest(" ".join(text), rules)
    for label, value in _named(rules, suggestion):
        click.echo(f"{label + ':':<14}{value}")
    if suggestion.matched:
        keywords = ", ".join(f'"{kw}"' for kw in suggestion.matched)
        click.echo(f"{'matched:':<14}{keywords} (score {suggestion.score})")
    else:
        click.echo(f"{'matched:':<14}nothing: no rule matched, so the fallback category")
    if suggestion.runners_up:
        also = ", ".join(f"{name} (score {score})" for name, score in suggestion.runners_up)
        click.echo(f"{'also found:':<14}{also}")


@work_orders_group.command(
    "check",
    help="Validate the work order rules file (default: the configured one); exit 1 on problems.",
)
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def work_orders_check(path: Path | None) -> None:
    rules = _rules(path)
    subs = sum(len(c.subcategories) for c in rules.categories.values())
    keywords = sum(len(r.keywords) for r in rules.rules)
    click.echo(
        f"work order rules OK: {rules.path}: {len(rules.categories)} categories "
        f"({subs} sub-categories), {len(rules.departments)} departments, "
        f"{len(rules.rules)} rules with {keywords} keywords"
    )


@work_orders_group.command(
    "evaluate",
    help="Classify a test set (CSV with description and category columns, or TOML [[case]] "
    "tables) and print each miss and the share classified right.",
)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@_RULES_OPTION
@click.option(
    "--min",
    "minimum",
    type=click.FloatRange(0, 100),
    default=None,
    help="Exit 1 when fewer than this percentage are classified right (for CI).",
)
def work_orders_evaluate(path: Path, rules_path: Path | None, minimum: float | None) -> None:
    rules = _rules(rules_path)
    try:
        cases = read_cases(path, rules)
    except CasesError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise click.exceptions.Exit(1) from None
    result = evaluate(cases, rules)
    for miss in result.misses:
        found = ", ".join(f'"{kw}"' for kw in miss.suggestion.matched) or "no keyword"
        click.echo(
            f"{path}:{miss.case.line}: expected {miss.case.expected}, suggested "
            f"{miss.suggestion.category} ({found}): {miss.case.description}"
        )
    percent = 100 * result.share
    click.echo(f"classified right: {result.right} of {result.total} ({percent:.1f} %)")
    if minimum is not None and percent < minimum:
        click.echo(f"below the minimum of {minimum:g} %", err=True)
        raise click.exceptions.Exit(1)
