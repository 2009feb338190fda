"""Passwords are salted Argon2id hashes; Werkzeug's older scrypt and pbkdf2 hashes still verify
and are replaced on the next sign-in; logging in finds only active agents; a password change
ends the account's sessions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from core.audit import AuditEvent
from core.models import Language
from queues.models import Agent, Post
from queues.passwords import (
    authenticate,
    check_password,
    hash_password,
    needs_rehash,
    set_password,
)
from queues.presence import create_agent

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def test_our_hash_is_salted_argon2id() -> None:
    first, second = hash_password("s3cret 密码"), hash_password("s3cret 密码")
    assert first.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and first != second
    assert check_password(first, "s3cret 密码")
    assert not check_password(first, "s3cret")
    assert not needs_rehash(first)


@pytest.mark.parametrize("method", ["scrypt", "pbkdf2:sha256:1000"])
def test_werkzeug_hashes_are_still_checked_and_due_for_rehash(method: str) -> None:
    stored = generate_password_hash("hunter2", method=method)
    assert check_password(stored, "hunter2")
    assert not check_password(stored, "hunter3")
    assert needs_rehash(stored)


def test_a_weaker_argon2_hash_is_due_for_rehash() -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("hunter2")
    assert check_password(weak, "hunter2") and needs_rehash(weak)


@pytest.mark.parametrize(
    "stored",
    ["", "plain", "md5$x$y", "scrypt:x:y:z$salt$00", "$argon2id$v=19$junk", "$argon2id$"],
)
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


@pytest.mark.parametrize("method", ["scrypt", "pbkdf2:sha256:1000"])
def test_an_old_hash_is_rehashed_on_the_next_sign_in(
    session: Session, li_na: Agent, method: str
) -> None:
    li_na.password_hash = old = generate_password_hash("correct horse", method=method)
    session.flush()
    assert authenticate(session, "li.na", "wrong") is None
    assert li_na.password_hash == old  # a failed attempt changes nothing
    assert authenticate(session, "li.na", "correct horse") is li_na
    assert li_na.password_hash.startswith("$argon2id$")
    assert authenticate(session, "li.na", "correct horse") is li_na


def test_a_password_change_moves_the_session_epoch_and_is_audited(
    session: Session, li_na: Agent
) -> None:
    before = li_na.session_epoch
    set_password(session, li_na, "new battery", actor_id=None, actor="operator", now=NOW)
    assert li_na.session_epoch == before + 1
    assert authenticate(session, "li.na", "new battery") is li_na
    assert authenticate(session, "li.na", "correct horse") is None
    events = session.query(AuditEvent).filter_by(action="agent.password_changed").all()
    assert [(e.subject_id, e.actor) for e in events] == [(str(li_na.id), "operator")]
