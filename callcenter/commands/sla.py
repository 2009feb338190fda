"""`callcenter work-orders sla-check`: check the work orders' SLA policy file before it is
installed (its categories against the configured work-order rules)."""

from __future__ import annotations

from pathlib import Path

import click

from callcenter.commands.base import load_settings
from work_orders.rules import RulesError, load_rules
from work_orders.sla_policy import SlaPolicy, SlaPolicyError, load_sla_policies


def _describe(policy: SlaPolicy) -> str:
    hours = "business hours" if policy.business_hours else "all hours"
    return (
        f"first feedback {policy.first_feedback.total_seconds() / 3600:g} h, resolution "
        f"{policy.resolution.total_seconds() / 3600:g} h, {hours}, "
        f"warning at {policy.warning_share:.0%}"
    )


@click.command(
    "sla-check",
    help="Validate the SLA policy file (default: the configured one) against the configured "
    "categories; exit 1 on problems.",
)
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def sla_check(path: Path | None) -> None:
    settings = load_settings()
    try:
        known = load_rules(settings.work_order_rules_path).categories
    except RulesError as exc:
        click.echo(f"the work-order rules file is wrong too; categories not checked:\n{exc}")
        known = None
    try:
        policies = load_sla_policies(path or settings.sla_policy_path, known_categories=known)
    except SlaPolicyError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise click.exceptions.Exit(1) from None
    click.echo(f"SLA policy OK: {policies.path}")
    click.echo(f"  default: {_describe(policies.default)}")
    for priority in sorted(policies.by_priority):
        click.echo(f"  priority {priority}: {_describe(policies.for_work_order('', priority))}")
    for category in sorted(policies.by_category):
        click.echo(f"  {category}: {_describe(policies.for_work_order(category, 0))}")
    for category, priority in sorted(policies.by_both):
        policy = policies.for_work_order(category, priority)
        click.echo(f"  {category}, priority {priority}: {_describe(policy)}")
