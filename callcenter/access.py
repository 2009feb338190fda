"""Staff pages beyond the desk: who may reach them (roles), on the desk's sign-in session.

Every staff blueprint (wallboard, reports, recordings, reviews) calls `require_roles(bp, …)`
once: each of its requests then needs a signed-in, active account holding one of the roles
(the manager holds every role); `callcenter.security` checks the CSRF token of every
state-changing request of every blueprint. Without a session
an API request (`/api/` in the path, or a JSON request) gets 401 and a page is redirected to
the desk's sign-in; a signed-in account without the role gets 403. `g.staff` is the account.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, redirect, request, url_for

from callcenter.desk import auth
from callcenter.runtime import runtime
from queues.models import Role


def require_roles(bp: Blueprint, *roles: Role, public: frozenset[str] = frozenset()) -> None:
    """Guard every route of `bp` (except endpoints in `public`) by role."""
    if not roles:
        raise ValueError("name at least one role")

    @bp.before_request
    def _guard() -> Response | tuple[Response, int] | None:
        if request.endpoint in public:
            return None
        with runtime().session_factory() as db:
            staff = auth.signed_in_agent(db)
            allowed = staff is not None and staff.has_role(*roles)
            if staff is not None:
                db.expunge(staff)
        if staff is None:
            if _is_api():
                return _error("not-signed-in", "sign in at /desk/login", 401)
            return redirect(url_for("desk.login_form", next=request.path))
        if not allowed:
            return _error(
                "forbidden", f"needs one of the roles: {', '.join(r.value for r in roles)}", 403
            )
        g.staff = staff
        return None


def _is_api() -> bool:
    return (
        "/api/" in request.path
        or request.is_json
        or request.accept_mimetypes.best == ("application/json")
    )


def _error(code: str, message: str, status: int) -> tuple[Response, int]:
    return jsonify(error={"code": code, "message": message}), status
