"""What every command shares: the settings, read as a command reads them, and the live Redis."""

from __future__ import annotations

import os

import click
from redis.exceptions import RedisError

from callcenter.runtime import Runtime, embedded_redis_socket
from config.settings import Settings, SettingsError


def load_settings() -> Settings:
    """Settings for commands that run without the app; a bad setting exits with its name."""
    try:
        return Settings.from_env(os.environ)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def require_live_redis(rt: Runtime) -> None:
    """Stop with a clear message, before doing anything, unless the stack's Redis answers.

    For commands whose work lives in Redis (the waiting list, enqueued jobs): the configured
    CALLCENTER_REDIS_URL, or the embedded server that `callcenter run` serves on the
    instance's socket. A command never starts a Redis of its own, which nobody else would
    read.
    """
    try:
        rt.redis.ping()
    except (RedisError, OSError) as exc:
        if rt.settings.redis_url:
            raise click.ClickException(
                f"Redis does not answer at CALLCENTER_REDIS_URL ({exc}); nothing was changed"
            ) from None
        raise click.ClickException(
            "no `callcenter run` is serving this instance's embedded Redis "
            f"({embedded_redis_socket(rt.settings)} does not answer); start the stack "
            "(or set CALLCENTER_REDIS_URL) and try again; nothing was changed"
        ) from None
