"""What every command shares: the settings, read as a command reads them."""

from __future__ import annotations

import os

import click

from config.settings import Settings, SettingsError


def load_settings() -> Settings:
    """Settings for commands that run without the app; a bad setting exits with its name."""
    try:
        return Settings.from_env(os.environ)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
