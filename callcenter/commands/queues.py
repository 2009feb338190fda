"""`callcenter queues`: the inbound queues and the live waiting list in Redis."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from callcenter.commands.base import require_live_redis
from callcenter.runtime import runtime


@click.group("queues", help="Inbound queues and the live waiting list.")
def queues_group() -> None:
    pass


@queues_group.command(
    "rebuild", help="Rebuild the Redis waiting list and agent pool from the database."
)
@with_appcontext
def queues_rebuild() -> None:
    from callcenter.jobs.reconcile import rebuild_redis

    rt = runtime()
    require_live_redis(rt)
    rebuilt = rebuild_redis(rt, now=rt.clock(), reason="command")
    if rebuilt is None:
        raise click.ClickException("Redis is unreachable: nothing was rebuilt")
    click.echo(
        f"waiting list rebuilt: {rebuilt.callers} waiting callers, "
        f"{rebuilt.agents} available agents"
    )
