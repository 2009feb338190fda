"""Operator commands: migrate, seed demo data, menus, settings, agents and queues."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from callcenter.commands.base import load_settings
from callcenter.runtime import runtime
from core.db import make_engine
from core.models import Language
from ivr_menus.loader import MenuError, load_menus
from ivr_menus.model import MenuSet, Node, NodeKind
from queues.models import Actor, AgentState, Post


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


@click.command(
    "seed-demo", help="Create the demo customers, orders, RMAs and agents (once; idempotent)."
)
@with_appcontext
def seed_demo_command() -> None:
    from callcenter.seed import seed_demo
    from queues.demo import seed_agents

    rt = runtime()
    with rt.unit_of_work() as uow:
        summary = seed_demo(uow.session, now=rt.clock())
        agents = seed_agents(uow.session, now=rt.clock())
    if summary.created:
        click.echo(f"demo data created: {summary}")
    if agents.created:
        click.echo(f"demo agents created: {agents.agents} (password: demo)")
    if not (summary.created or agents.created):
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


@click.group("agents", help="Agent accounts and presence.")
def agents_group() -> None:
    pass


def _skill_levels(values: tuple[str, ...]) -> dict[str, int]:
    levels: dict[str, int] = {}
    for value in values:
        skill, sep, level = value.partition(":")
        if not sep or not level.strip().isdigit():
            raise click.BadParameter(
                f"{value!r}: expected SKILL:LEVEL, e.g. general:3", param_hint="--skill"
            )
        levels[skill.strip()] = int(level)
    return levels


@agents_group.command("add", help="Create an agent (offline); the password is read from stdin.")
@click.argument("login")
@click.option("--name", "display_name", required=True, help="Display name.")
@click.option(
    "--post",
    "posts",
    multiple=True,
    required=True,
    type=click.Choice([p.value for p in Post]),
    help="A post the agent holds (repeat for several).",
)
@click.option("--skill", "skills", multiple=True, help="SKILL:LEVEL, level 1-5 (repeatable).")
@click.option(
    "--language",
    "languages",
    multiple=True,
    required=True,
    type=click.Choice([lang.value for lang in Language]),
    help="A language the agent speaks (repeatable).",
)
@click.option("--team", default="", help="Team or group.")
@click.option("--phone", default=None, help="Number to ring when not at a browser desk.")
@click.option("--identity", default=None, help="Twilio Client identity (default agent_<login>).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def agents_add(
    login: str,
    display_name: str,
    posts: tuple[str, ...],
    skills: tuple[str, ...],
    languages: tuple[str, ...],
    team: str,
    phone: str | None,
    identity: str | None,
    password_stdin: bool,
) -> None:
    from core.phones import to_e164
    from queues.config import load_queues
    from queues.presence import PresenceError, create_agent

    rt = runtime()
    phone_e164 = to_e164(phone, rt.settings.default_country_code) if phone else None
    if phone and phone_e164 is None:
        raise click.BadParameter(f"{phone!r} is not a phone number", param_hint="--phone")
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    if password_stdin and not password:
        raise click.ClickException("no password on standard input")
    try:
        with rt.unit_of_work() as uow:
            agent = create_agent(
                uow.session,
                login=login,
                display_name=display_name,
                posts=[Post(p) for p in posts],
                skills=_skill_levels(skills),
                languages=[Language(lang) for lang in languages],
                team=team,
                phone_e164=phone_e164,
                client_identity=identity,
                password=password,
                known_skills=load_queues(rt.settings.queues_path).skills,
                now=rt.clock(),
            )
            click.echo(f"agent {agent.login} created (id {agent.id}), offline")
    except PresenceError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None


@agents_group.command("list", help="List the agents with their posts, skills and state.")
@with_appcontext
def agents_list() -> None:
    from queues.presence import list_agents

    rt = runtime()
    with rt.unit_of_work() as uow:
        agents = list_agents(uow.session)
        for a in agents:
            state = f"{a.state}({a.state_reason})" if a.state_reason else str(a.state)
            skills = ",".join(f"{s.skill}:{s.level}" for s in a.skills)
            click.echo(
                f"{a.login:14} {a.display_name:12} {state:22} {'+'.join(a.posts):28} "
                f"{skills:44} {','.join(a.languages):6} {a.team}"
                + ("" if a.active else "  (disabled)")
            )
    if not agents:
        click.echo("no agents (add one with `callcenter agents add`)")


@agents_group.command("state", help="Set an agent's state as a supervisor (break needs --reason).")
@click.argument("login")
@click.argument("state", type=click.Choice([s.value for s in AgentState]))
@click.option("--reason", default=None, help="Break reason code, or a note.")
@with_appcontext
def agents_state(login: str, state: str, reason: str | None) -> None:
    from callcenter.jobs.router import set_agent_state
    from queues.presence import PresenceError, get_agent

    rt = runtime()
    try:
        with rt.unit_of_work() as uow:
            agent = get_agent(uow.session, login)
            if agent is None:
                raise click.ClickException(f"agent-not-found: no agent {login!r}")
            before = (agent.state, agent.state_reason)
            agent = set_agent_state(  # the router hears of it after the commit
                rt, uow, agent.id, AgentState(state), reason=reason, actor=Actor.SUPERVISOR
            )
            after = (agent.state, agent.state_reason)
    except PresenceError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    if after == before:
        click.echo(f"{agent.login} is already {state}; nothing changed")
    else:
        click.echo(
            f"{agent.login}: {before[0]} → {agent.state}" + (f" ({reason})" if reason else "")
        )


@click.group("queues", help="Inbound queues and the live waiting list.")
def queues_group() -> None:
    pass


@queues_group.command(
    "rebuild", help="Rebuild the Redis waiting list and agent pool from the database."
)
@with_appcontext
def queues_rebuild() -> None:
    from queues.services import rebuild_waiting_list

    rt = runtime()
    with rt.unit_of_work() as uow:
        rebuilt = rebuild_waiting_list(uow.session, rt.waiting_list)
    click.echo(
        f"waiting list rebuilt: {rebuilt.callers} waiting callers, "
        f"{rebuilt.agents} available agents"
    )
