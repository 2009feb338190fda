"""Desk sign-in: the agent in Flask's signed session cookie, and a CSRF token for every POST.

The cookie holds the agent id and a fingerprint of their password hash, so changing a password
(or disabling the account) ends every session signed in with the old one. The CSRF token is a
random value kept in the same cookie; forms send it as `csrf_token`, the page's fetch calls as
the `X-CSRF-Token` header (synchroniser-token pattern; SameSite=Lax is the second layer).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import request, session
from sqlalchemy.orm import Session

from queues.models import Agent

AGENT_KEY = "desk_agent"
FINGERPRINT_KEY = "desk_fp"
CSRF_KEY = "desk_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def csrf_token() -> str:
    """The session's CSRF token, made on first use."""
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def csrf_valid() -> bool:
    """Whether this request carries the session's CSRF token (header or form field)."""
    expected = session.get(CSRF_KEY)
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    return isinstance(expected, str) and hmac.compare_digest(sent.encode(), expected.encode())


def sign_in(agent: Agent) -> None:
    """Start a fresh session for `agent` (a new CSRF token too)."""
    session.clear()
    session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME (a shift)
    session[AGENT_KEY] = agent.id
    session[FINGERPRINT_KEY] = _fingerprint(agent)
    csrf_token()


def sign_out() -> None:
    session.clear()


def signed_in_agent(db: Session) -> Agent | None:
    """The agent of this session if it is still valid: active, with the same password."""
    agent_id = session.get(AGENT_KEY)
    if not isinstance(agent_id, int):
        return None
    agent = db.get(Agent, agent_id)
    if agent is None or not agent.active or not agent.password_hash:
        return None
    if not hmac.compare_digest(str(session.get(FINGERPRINT_KEY, "")), _fingerprint(agent)):
        return None
    return agent


def _fingerprint(agent: Agent) -> str:
    return hashlib.sha256((agent.password_hash or "").encode()).hexdigest()[:16]
