"""Agents' passwords: Argon2id hashes (argon2-cffi), older hashes still checked, and signing in.

New hashes are Argon2id in the PHC string format (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`),
made by argon2-cffi's `PasswordHasher` with OWASP's minimum profile (19 MiB, 2 passes, one
lane): a guess costs an attacker memory, and a sign-in costs the two shared cores tens of
milliseconds, not hundreds. Hashes written before it (Werkzeug's `scrypt:N:r:p$salt$hex`, also
`pbkdf2:<hash>:<iterations>$…`) still verify, on the standard library, because domain packages
import neither Flask nor Werkzeug (tests/test_architecture.py); `authenticate` replaces such a
hash (and an Argon2 hash with weaker parameters) on the next successful sign-in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from queues.models import Agent

#: OWASP Password Storage Cheat Sheet, Argon2id minimum: m=19 MiB, t=2, p=1.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
ARGON2_PREFIX = "$argon2"


def _derive_legacy(method: str, salt: str, password: str) -> str:
    """Werkzeug's scrypt and pbkdf2 derivations (hashes stored before Argon2id)."""
    name, *args = method.split(":")
    if name == "scrypt":
        n, r, p = (int(a) for a in args) if args else (2**15, 8, 1)
        return hashlib.scrypt(
            password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p
        ).hex()
    if name == "pbkdf2":
        hash_name = args[0] if args else "sha256"
        iterations = int(args[1]) if len(args) > 1 else 1_000_000
        return hashlib.pbkdf2_hmac(hash_name, password.encode(), salt.encode(), iterations).hex()
    raise ValueError(f"unknown password hash method {name!r}")


def hash_password(password: str) -> str:
    """A new salted Argon2id hash of `password` for storage."""
    if not password:
        raise ValueError("a password must not be empty")
    return HASHER.hash(password)


def check_password(pwhash: str, password: str) -> bool:
    """Whether `password` matches a stored hash (Argon2, or Werkzeug's scrypt or pbkdf2); a
    malformed hash never matches."""
    if pwhash.startswith(ARGON2_PREFIX):
        try:
            return HASHER.verify(pwhash, password)
        except (VerificationError, InvalidHashError):
            return False
    try:
        method, salt, expected = pwhash.split("$", 2)
        actual = _derive_legacy(method, salt, password)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(pwhash: str) -> bool:
    """Whether a hash that just verified should be replaced: not Argon2id, or weaker than now."""
    if not pwhash.startswith(ARGON2_PREFIX):
        return True
    try:
        return HASHER.check_needs_rehash(pwhash)
    except InvalidHashError:
        return True


@cache
def _dummy_hash() -> str:
    # Checked when the login is unknown, so that a wrong login costs the same time as a wrong
    # password and response times do not reveal which logins exist.
    return HASHER.hash(secrets.token_urlsafe(16))


def authenticate(session: Session, login: str, password: str) -> Agent | None:
    """The active agent with this login and password, or None.

    Unknown logins, disabled accounts, accounts without a password and wrong passwords all
    give None, after the same amount of hashing work. A match whose stored hash is older
    (scrypt, pbkdf2) or weaker than today's Argon2id is rehashed: flushed, not committed, so
    the new hash is stored with the caller's unit of work (its sessions stay valid: they carry
    the agent's session epoch, not the hash).
    """
    agent = session.scalar(select(Agent).where(Agent.login == login.strip()))
    stored = agent.password_hash if agent is not None and agent.password_hash else _dummy_hash()
    matches = check_password(stored, password)
    if agent is None or not agent.active or not agent.password_hash or not matches:
        return None
    if needs_rehash(agent.password_hash):
        agent.password_hash = hash_password(password)
        session.flush()
    return agent


def set_password(
    session: Session,
    agent: Agent,
    password: str,
    *,
    actor_id: int | None,
    actor: str,
    now: datetime,
) -> None:
    """Give `agent` a new password and end every session signed in before it (the session
    epoch moves on). Audited; flushes, never commits. Not idempotent in effect: each call
    ends the sessions again, which is what a repeated change means."""
    agent.password_hash = hash_password(password)
    agent.session_epoch += 1
    audit.record(
        session,
        actor_id=actor_id,
        actor=actor,
        action="agent.password_changed",
        subject_type="agent",
        subject_id=agent.id,
        now=now,
    )
