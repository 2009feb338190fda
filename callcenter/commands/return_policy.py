"""`callcenter return-policy`: check the return policy file before it is installed."""

from __future__ import annotations

from pathlib import Path

import click

from back_office.policy import DEFAULT_CATEGORY, PolicyError, ReasonClass, load_policy
from callcenter.commands.base import load_settings


@click.group("return-policy", help="Check the return policy (windows, categories, fees).")
def return_policy_group() -> None:
    pass


@return_policy_group.command(
    "check",
    help="Validate the return policy file (default: the configured one); exit 1 on problems.",
)
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def return_policy_check(path: Path | None) -> None:
    try:
        policy = load_policy(path or load_settings().return_policy_path)
    except PolicyError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise click.exceptions.Exit(1) from None
    listed = sorted(name for name in policy.categories if name != DEFAULT_CATEGORY)
    classes = ", ".join(
        f"{sum(1 for c in policy.reasons.values() if c is cls)} {cls.value}" for cls in ReasonClass
    )
    click.echo(
        f"return policy OK: {policy.path}: {len(listed)} categories and the default, "
        f"reasons {classes}, days counted in {policy.timezone}"
    )
