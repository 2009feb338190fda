"""Builders of the rows most tests need, with the tests' usual defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.models import Language
from queues.models import Agent, Post
from queues.presence import create_agent
from tests.conftest import NOW


def add_agent(
    session: Session,
    login: str,
    *,
    display_name: str | None = None,
    posts: Sequence[Post] = (Post.FRONT_DESK,),
    skills: Mapping[str, int] | None = None,
    languages: Sequence[Language] = (Language.ZH,),
    now: datetime = NOW,
    **options: Any,
) -> Agent:
    """An agent (offline, as `create_agent` makes them): front desk, skill general 3, Mandarin,
    named after the login, unless told otherwise. Flushes."""
    return create_agent(
        session,
        login=login,
        display_name=display_name if display_name is not None else login.title(),
        posts=list(posts),
        skills=dict(skills) if skills is not None else {"general": 3},
        languages=list(languages),
        now=now,
        **options,
    )
