"""`callcenter db`: create, migrate and revise the database schema."""

from __future__ import annotations

import click

from callcenter.commands.base import load_settings
from core.db import make_engine


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
