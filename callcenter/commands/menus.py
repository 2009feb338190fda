"""`callcenter menus`: check or print the IVR menus."""

from __future__ import annotations

import click

from callcenter.commands.base import load_settings
from ivr_menus.loader import MenuError, load_menus
from ivr_menus.model import MenuSet, Node, NodeKind


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
        branches = [
            *{NodeKind.HOURS: (("open", node.next), ("closed", node.closed))}.get(
                node.kind, (("next", node.next), ("on failure", node.on_failure))
            ),
            ("cancellable", node.cancellable),
            ("refused", node.refused),
        ]
        for name, target in branches:
            if target:
                walk(target, f"({name}) ", depth + 1)

    walk(menus.entry, "", 0)
    return lines
