"""Agents' passwords: salted scrypt hashes in Werkzeug's format, and logging in by login name.

Werkzeug's `generate_password_hash` / `check_password_hash` are the reference, but domain
packages import neither Flask nor Werkzeug (tests/test_architecture.py), so the same
algorithm is written here on the standard library's `hashlib.scrypt`. The stored strings are
Werkzeug's (`scrypt:32768:8:1$<salt>$<hex>`, also `pbkdf2:<hash>:<iterations>$…` when
checking): either side verifies the other's hashes, which a test checks.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from sqlalchemy import select
from sqlalchemy.orm import Session

from queues.models import Agent

SALT_CHARS = string.ascii_letters + string.digits
SALT_LENGTH = 16
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1  # Werkzeug's defaults (3.x)

# Checked when the login is unknown, so that a wrong login costs the same time as a wrong
# password and response times do not reveal which logins exist.
_DUMMY_HASH = "scrypt:32768:8:1$AAAAAAAAAAAAAAAA$" + "0" * 128


def _derive(method: str, salt: str, password: str) -> str:
    name, *args = method.split(":")
    if name == "scrypt":
        n, r, p = (int(a) for a in args) if args else (SCRYPT_N, SCRYPT_R, SCRYPT_P)
        return hashlib.scrypt(
            password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p
        ).hex()
    if name == "pbkdf2":
        hash_name = args[0] if args else "sha256"
        iterations = int(args[1]) if len(args) > 1 else 1_000_000
        return hashlib.pbkdf2_hmac(hash_name, password.encode(), salt.encode(), iterations).hex()
    raise ValueError(f"unknown password hash method {name!r}")


def hash_password(password: str) -> str:
    """A new salted hash of `password` for storage (Werkzeug-compatible scrypt)."""
    if not password:
        raise ValueError("a password must not be empty")
    salt = "".join(secrets.choice(SALT_CHARS) for _ in range(SALT_LENGTH))
    method = f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}"
    return f"{method}${salt}${_derive(method, salt, password)}"


def check_password(pwhash: str, password: str) -> bool:
    """Whether `password` matches a stored hash; a malformed hash never matches."""
    try:
        method, salt, expected = pwhash.split("$", 2)
        actual = _derive(method, salt, password)
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def authenticate(session: Session, login: str, password: str) -> Agent | None:
    """The active agent with this login and password, or None. Reads only; changes nothing.

    Unknown logins, disabled accounts, accounts without a password and wrong passwords all
    give None, after the same amount of hashing work.
    """
    agent = session.scalar(select(Agent).where(Agent.login == login.strip()))
    stored = agent.password_hash if agent is not None and agent.password_hash else _DUMMY_HASH
    matches = check_password(stored, password)
    if agent is None or not agent.active or not agent.password_hash or not matches:
        return None
    return agent
