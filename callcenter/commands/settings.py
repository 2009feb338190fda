"""`callcenter settings`: every setting with its variable and the value in force."""

from __future__ import annotations

import click

from callcenter.commands.base import load_settings


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
