"""`callcenter access`: check or print the permission table (config/permissions.toml)."""

from __future__ import annotations

from pathlib import Path

import click

from callcenter.commands.base import load_settings
from config.permissions import Permissions, PermissionsError, load_permissions
from queues.models import Post, Role


@click.group("access", help="Check or print the posts and who may do what.")
def access_group() -> None:
    pass


def _load(path: str | None) -> Permissions:
    known = {p.value for p in Post} | {r.value for r in Role}
    try:
        return load_permissions(
            Path(path) if path else load_settings().permissions_path, known_posts=known
        )
    except PermissionsError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise click.exceptions.Exit(1) from None


@access_group.command("check", help="Validate the permission file; exit 1 listing every problem.")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False))
def access_check(path: str | None) -> None:
    table = _load(path)
    click.echo(f"permissions OK: {len(table.posts)} posts, {len(table.permissions)} permissions")


@access_group.command("show", help="Print each permission with the posts that hold it.")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False))
def access_show(path: str | None) -> None:
    for line in matrix_lines(_load(path)):
        click.echo(line)


def matrix_lines(table: Permissions) -> list[str]:
    """One line per permission: its name, then `post` (scope all) or `post:team`."""
    lines = []
    for name, permission in sorted(table.permissions.items()):
        held = [
            post if scope == "all" else f"{post}:{scope}"
            for post, scope in permission.grants.items()
        ]
        lines.append(f"{name:24} {' '.join(held) or '(nobody)'}")
    return lines
