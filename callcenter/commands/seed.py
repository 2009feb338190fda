"""`callcenter seed-demo`: the demo customers, orders, returns and staff."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from callcenter.runtime import runtime


@click.command(
    "seed-demo", help="Create the demo customers, orders, RMAs and agents (once; idempotent)."
)
@with_appcontext
def seed_demo_command() -> None:
    from callcenter.seed import seed_demo, seed_knowledge_base
    from queues.demo import seed_agents

    rt = runtime()
    with rt.unit_of_work() as uow:
        summary = seed_demo(uow.session, now=rt.clock())
        agents = seed_agents(uow.session, now=rt.clock())
        articles = seed_knowledge_base(
            uow.session,
            categories=rt.work_order_rules.categories,
            menu_nodes=rt.menus.nodes,
            now=rt.clock(),
        )
    if summary.created:
        click.echo(f"demo data created: {summary}")
    if agents.created:
        click.echo(f"demo agents created: {agents.agents} (password: demo)")
    if articles:
        click.echo(f"demo knowledge base articles created: {articles}")
    if not (summary.created or agents.created or articles):
        click.echo("demo data already present; nothing changed")
