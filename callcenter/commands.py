"""Operator commands: migrate the database, seed demo data, check and show menus, list settings."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from callcenter.app import runtime
from callcenter.cli import load_settings
from callcenter.db import make_engine
from ivr_menus.loader import MenuError, load_menus
from ivr_menus.model import MenuSet, Node, NodeKind


@click.group("db", help="Database schema migrations.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Create or migrate the schema to the latest revision.")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    from callcenter.migrate import upgrade

    settings = load_settings()
    if not settings.database_url:
        settings.instance_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    upgrade(engine, revision)
    engine.dispose()
    click.echo(f"database at {engine.url.render_as_string(hide_password=True)} is up to date")


@db_group.command("revision", help="Autogenerate a migration from the models (developers).")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    from callcenter.migrate import make_revision

    settings = load_settings()
    make_revision(make_engine(settings.effective_database_url), message)


@click.command("seed-demo", help="Create the demo customers, orders and RMAs (once; idempotent).")
@with_appcontext
def seed_demo_command() -> None:
    from callcenter.seed import seed_demo

    rt = runtime()
    with rt.unit_of_work() as uow:
        summary = seed_demo(uow.session, now=rt.clock())
    if summary.created:
        click.echo(f"demo data created: {summary}")
    else:
        click.echo("demo data already present; nothing changed")


@click.command("settings", help="List every setting with its environment variable and value.")
def settings_command() -> None:
    from dataclasses import fields

    from config.settings import settings_table

    settings = load_settings()
    secret = {f.metadata["env"] for f in fields(settings) if not f.repr}
    values = {f.metadata["env"]: getattr(settings, f.name) for f in fields(settings)}
    for env, default, meaning in settings_table():
        value = values[env]
        shown = "(set)" if env in secret and value else str(value) if value != "" else "(empty)"
        click.echo(f"{env:34} {shown:40} {meaning}  [default: {default}]")


@click.group("menus", help="Check or print the IVR menus.")
def menus_group() -> None:
    pass


def _load(path: str | None) -> MenuSet:
    settings = load_settings()
    try:
        return load_menus(
            click.format_filename(path) if path else settings.menus_path,  # type: ignore[arg-type]
            queues_path=settings.queues_path,
        )
    except MenuError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise click.exceptions.Exit(1) from None


@menus_group.command("check", help="Validate the menu files; exit 1 listing every problem.")
@click.argument("path", required=False, type=click.Path(exists=True))
def menus_check(path: str | None) -> None:
    from pathlib import Path

    menus = _load(str(Path(path))) if path else _load(None)
    click.echo(
        f"menus OK: {len(menus.nodes)} nodes, entry {menus.entry!r}, "
        f"languages {', '.join(menus.languages)}"
    )


@menus_group.command("show", help="Print the menu tree from the entry node.")
@click.option("--language", default=None, help="Language of the prompts shown (default: first).")
@click.argument("path", required=False, type=click.Path(exists=True))
def menus_show(language: str | None, path: str | None) -> None:
    menus = _load(path)
    for line in tree_lines(menus, language or menus.default_language):
        click.echo(line)


def _describe(node: Node, language: str) -> str:
    prompt = node.prompt.get(language, "")
    short = (prompt[:60] + "…") if len(prompt) > 60 else prompt
    extra = (
        f" → queue {node.route.queue} (skill {node.route.skill}, priority {node.route.priority})"
        if node.route
        else ""
    )
    return f"{node.id} [{node.kind}]{extra}" + (f"  “{short}”" if short else "")


def tree_lines(menus: MenuSet, language: str) -> list[str]:
    """The menus as an indented tree; a node already shown is referred to, not repeated."""
    lines: list[str] = []
    shown: set[str] = set()

    def walk(node_id: str, label: str, depth: int) -> None:
        node = menus.nodes[node_id]
        pad = "    " * depth
        if node_id in shown:
            lines.append(f"{pad}{label}↪ {node_id}")
            return
        shown.add(node_id)
        lines.append(f"{pad}{label}{_describe(node, language)}")
        for option in node.options:
            words = f" / “{'、'.join(option.speech[:3])}”" if option.speech else ""
            walk(option.target, f"[{option.key}{words}] ", depth + 1)
        branches = {NodeKind.HOURS: (("open", node.next), ("closed", node.closed))}.get(
            node.kind, (("next", node.next), ("on failure", node.on_failure))
        )
        for name, target in branches:
            if target:
                walk(target, f"({name}) ", depth + 1)

    walk(menus.entry, "", 0)
    return lines
