"""Who may reach each staff route: the permission it names, looked up in the permission table.

Every staff blueprint calls `require(bp, "<permission>")` once for its routes, and again with
endpoint names for the routes that need another permission (`require(bp, "dispatch.act",
"move", …)`). Whether an account holds a permission, and how far (`all` or `team`), is only
in `config/permissions.toml` (`Runtime.permissions`): the account's fixed posts and the
rotating post it works now (`Agent.held_posts`). A route that names no permission is refused
(fail closed), and the app refuses to start if a route names a permission the table lacks.

Each request then needs a signed-in, active account with the permission
(`callcenter.security` checks the CSRF token of every state-changing request). Without a
session an API request (`/api/` in the path, or a JSON request) gets 401 and a page is
redirected to the desk's sign-in; a signed-in account without the permission gets 403
`forbidden`. `g.staff` is the account, `g.scope` the grant's scope.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, Flask, Response, g, jsonify, redirect, request, url_for

from callcenter.desk import auth
from callcenter.runtime import runtime
from config.permissions import Permissions, Scope
from queues.models import Agent

_BLUEPRINT: dict[str, str] = {}  # blueprint name -> the permission of its routes
_ENDPOINT: dict[str, str] = {}  # endpoint -> the permission it needs instead
_PUBLIC: set[str] = set()  # endpoints of guarded blueprints that need no sign-in
_GUARDED: set[str] = set()


def require(bp: Blueprint, permission: str, *endpoints: str, public: Iterable[str] = ()) -> None:
    """Make the routes of `bp` (or only `endpoints`, names inside `bp`) need `permission`;
    `public` endpoints (full names) need nothing."""
    if endpoints:
        _ENDPOINT.update({f"{bp.name}.{e}": permission for e in endpoints})
    else:
        _BLUEPRINT[bp.name] = permission
    _PUBLIC.update(public)
    if bp.name not in _GUARDED:
        _GUARDED.add(bp.name)
        bp.before_request(_guard)


def permission_for(endpoint: str) -> str | None:
    """The permission `endpoint` needs; None for public or unguarded ones."""
    if endpoint in _PUBLIC:
        return None
    if endpoint in _ENDPOINT:
        return _ENDPOINT[endpoint]
    return _BLUEPRINT.get(endpoint.partition(".")[0])


def is_public(endpoint: str) -> bool:
    return endpoint in _PUBLIC


def check_declared(app: Flask, permissions: Permissions) -> None:
    """Refuse to start when a route names a permission the table does not have."""
    unknown = sorted(
        {
            f"{rule.endpoint}: {needed!r}"
            for rule in app.url_map.iter_rules()
            if (needed := permission_for(rule.endpoint)) and needed not in permissions.permissions
        }
    )
    if unknown:
        raise ValueError("routes name permissions missing from the table: " + "; ".join(unknown))


def allowed(agent: Agent, permission: str) -> bool:
    """Whether `agent` holds `permission` (any scope)."""
    return runtime().permissions.allows(permission, agent.held_posts())


def scope_of(agent: Agent, permission: str) -> Scope | None:
    return runtime().permissions.scope(permission, agent.held_posts())


def team_only(permission: str) -> str | None:
    """The signed-in account's team when its grant of `permission` is limited to it, else None
    (everything)."""
    return g.staff.team if scope_of(g.staff, permission) is Scope.TEAM else None


def _guard() -> Response | tuple[Response, int] | None:
    endpoint = request.endpoint or ""
    if endpoint in _PUBLIC:
        return None
    permission = permission_for(endpoint)
    with runtime().session_factory() as db:
        staff = auth.signed_in_agent(db)
        if staff is not None:
            staff.posts, staff.roles  # noqa: B018  (loaded before the session closes)
            db.expunge(staff)
    if staff is None:
        if _is_api():
            return _error("not-signed-in", "sign in at /desk/login", 401)
        return redirect(url_for("desk.login_form", next=request.path))
    scope = None if permission is None else scope_of(staff, permission)
    if scope is None:
        return _error("forbidden", f"needs the permission {permission or '(none named)'}", 403)
    g.staff, g.scope = staff, scope
    return None


def _is_api() -> bool:
    return (
        "/api/" in request.path
        or request.is_json
        or request.accept_mimetypes.best == ("application/json")
    )


def _error(code: str, message: str, status: int) -> tuple[Response, int]:
    return jsonify(error={"code": code, "message": message}), status
