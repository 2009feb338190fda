"""`callcenter sla check`: check the work orders' SLA policy file before it is installed."""

from __future__ import annotations

from pathlib import Path

import click

from callcenter.commands.base import load_settings
from work_orders.sla_policy import SlaPolicy, SlaPolicyError, load_sla_policies


@click.group("sla", help="Check the work orders' SLA policies (targets, hours, warnings).")
def sla_group() -> None:
    pass


def _describe(policy: SlaPolicy) -> str:
    hours = "business hours" if policy.business_hours else "all hours"
    return (
        f"first feedback {policy.first_feedback.total_seconds() / 3600:g} h, resolution "
        f"{policy.resolution.total_seconds() / 3600:g} h, {hours}, "
        f"warning at {policy.warning_share:.0%}"
    )


@sla_group.command(
    "check",
    help="Validate the SLA policy file (default: the configured one); exit 1 on problems.",
)
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def sla_check(path: Path | None) -> None:
    try:
        policies = load_sla_policies(path or load_settings().sla_policy_path)
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
