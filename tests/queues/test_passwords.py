"""Passwords are Werkzeug-compatible salted hashes, and logging in finds only active agents."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from core.models import Language
from queues.models import Agent, Post
from queues.passwords import authenticate, check_password, hash_password
from queues.presence import create_agent

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def test_our_hash_is_checked_by_werkzeug_and_salted() -> None:
    first, second = hash_password("s3cret 密码"), hash_password("s3cret 密码")
    assert first.startswith("scrypt:32768:8:1$") and first != second
    assert check_password_hash(first, "s3cret 密码")
    assert not check_password_hash(first, "s3cret")


@pytest.mark.parametrize("method", ["scrypt", "pbkdf2:sha256:1000"])
def test_werkzeug_hashes_are_checked_by_ours(method: str) -> None:
    stored = generate_password_hash("hunter2", method=method)
    assert check_password(stored, "hunter2")
    assert not check_password(stored, "hunter3")


@pytest.mark.parametrize("stored", ["", "plain", "md5$x$y", "scrypt:x:y:z$salt$00"])
def test_malformed_hash_never_matches(stored: str) -> None:
    assert not check_password(stored, "anything")


def test_empty_password_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        hash_password("")


@pytest.fixture
def li_na(session: Session) -> Agent:
    return create_agent(
        session,
        login="li.na",
        display_name="李娜",
        posts=[Post.FRONT_DESK],
        skills={"general": 4},
        languages=[Language.ZH],
        password="correct horse",
        now=NOW,
    )


def test_authenticate_with_the_right_password(session: Session, li_na: Agent) -> None:
    assert authenticate(session, "li.na", "correct horse") is li_na
    assert authenticate(session, " li.na ", "correct horse") is li_na


@pytest.mark.parametrize(("login", "password"), [("li.na", "wrong"), ("nobody", "correct horse")])
def test_authenticate_refuses_wrong_password_or_login(
    session: Session, li_na: Agent, login: str, password: str
) -> None:
    assert authenticate(session, login, password) is None


def test_authenticate_refuses_a_disabled_agent(session: Session, li_na: Agent) -> None:
    li_na.active = False
    session.flush()
    assert authenticate(session, "li.na", "correct horse") is None


def test_authenticate_refuses_an_agent_without_password(session: Session) -> None:
    create_agent(
        session,
        login="nopass",
        display_name="No Password",
        posts=[Post.BACK_OFFICE],
        skills={},
        languages=[Language.ZH],
        now=NOW,
    )
    assert authenticate(session, "nopass", "") is None
