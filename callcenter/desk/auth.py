"""Console sign-in: the account in Flask's signed session cookie, with a CSRF token.

The cookie holds the account's id and its session epoch (`Agent.session_epoch`). Signing out
and a password change move the epoch on, so every session of that account ends at once, on
every browser; disabling the account ends them too. The CSRF token is a random value kept in
the same cookie; forms send it as `csrf_token`, the pages' fetch calls as the `X-CSRF-Token`
header (synchroniser-token pattern; SameSite=Lax is the second layer). `callcenter.security`
checks it on every state-changing console request.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import request, session
from sqlalchemy.orm import Session

from queues.models import Agent

AGENT_KEY = "desk_agent"
EPOCH_KEY = "desk_epoch"
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


def has_session() -> bool:
    """Whether the cookie names an account at all (cheap: no database; validity is checked by
    `signed_in_agent`)."""
    return isinstance(session.get(AGENT_KEY), int)


def sign_in(agent: Agent) -> None:
    """Start a fresh session for `agent` (a new CSRF token too)."""
    session.clear()
    session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME (a shift)
    session[AGENT_KEY] = agent.id
    session[EPOCH_KEY] = agent.session_epoch
    csrf_token()


def sign_out() -> None:
    """Forget this browser's session (the caller ends the others: `queues.signin.end_sessions`)."""
    session.clear()


def signed_in_agent(db: Session) -> Agent | None:
    """The account of this session if it is still valid: active, with a password, and signed
    in since its last sign-out or password change."""
    agent_id = session.get(AGENT_KEY)
    if not isinstance(agent_id, int):
        return None
    agent = db.get(Agent, agent_id)
    if agent is None or not agent.active or not agent.password_hash:
        return None
    if session.get(EPOCH_KEY) != agent.session_epoch:
        return None
    return agent


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site (to go back to after signing in), else None.

    Only a relative path starting with one `/` passes: `//evil`, `https://evil`, `/\\evil`
    (browsers read a backslash as a slash) and anything with a control character or a space
    (browsers drop tabs and newlines, so `/\\t/evil` would become `//evil`) are refused.
    """
    if not target or len(target) > 2000 or not target.startswith("/"):
        return None
    if target.startswith("//") or "\\" in target:
        return None
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
