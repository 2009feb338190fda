"""`callcenter agents`: agent accounts and presence, as a supervisor would change them."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from callcenter.commands.base import require_live_redis
from callcenter.runtime import runtime
from core.models import Language
from queues.models import Actor, AgentState, Post


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
    require_live_redis(rt)  # the router hears of the change through Redis
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


@agents_group.command(
    "set-password",
    help="Give an agent a new password (read from stdin); signs them out everywhere.",
)
@click.argument("login")
@with_appcontext
def agents_set_password(login: str) -> None:
    from sqlalchemy import select

    from queues.models import Agent
    from queues.passwords import set_password

    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.ClickException("no password on standard input")
    rt = runtime()
    with rt.unit_of_work() as uow:
        agent = uow.session.scalar(select(Agent).where(Agent.login == login.strip().lower()))
        if agent is None:
            raise click.ClickException(f"no agent with the login {login!r}")
        set_password(uow.session, agent, password, actor_id=None, actor="operator", now=rt.clock())
    click.echo(f"password of {login} changed; every session of theirs has ended")


@agents_group.command("sign-out", help="End every console session of an agent, on every browser.")
@click.argument("login")
@with_appcontext
def agents_sign_out(login: str) -> None:
    from sqlalchemy import select

    from queues.models import Agent
    from queues.signin import end_sessions

    rt = runtime()
    with rt.unit_of_work() as uow:
        agent = uow.session.scalar(select(Agent).where(Agent.login == login.strip().lower()))
        if agent is None:
            raise click.ClickException(f"no agent with the login {login!r}")
        end_sessions(agent)
    click.echo(f"every session of {login} has ended")
