"""The console's protections, in one place for every blueprint: session cookies, CSRF on every
state-changing request, security headers on every response, and request size limits.

- Cookies: HttpOnly, SameSite=Lax, Secure when the public base URL is https; a session lasts
  one shift.
- CSRF: every POST/PUT/PATCH/DELETE needs the session's token (`desk.auth.csrf_valid`), except
  on the blueprints that authenticate each request another way (`SIGNED_ELSEWHERE`: Twilio's
  signature, the order system's Bearer token). Without any session, a request to a page that
  needs one gets what a GET would (401 for the JSON API, else the sign-in page) before the
  token is looked at; the
  sign-in form (`PUBLIC`) needs the token of the login page's session (login CSRF).
- Headers: a Content-Security-Policy with a per-request nonce for the few inline scripts and
  styles (`csp_nonce()` in templates), `frame-ancestors 'none'` and X-Frame-Options DENY,
  nosniff, Referrer-Policy same-origin; `Cache-Control: no-store` on everything but static
  files and the hold music (console pages and JSON hold customer data).
- Size: MAX_CONTENT_LENGTH on every body (a larger one is 413 before a view or a signature
  check reads it), MAX_FORM_MEMORY_SIZE on form fields.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, Response, g, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from callcenter.desk import auth
from config.settings import Settings

#: Blueprints whose every request is authenticated otherwise than by the console's cookie.
SIGNED_ELSEWHERE = frozenset(
    {"voice", "outbound_calls", "order_api", "rma_api", "work_order_api"}
)
#: Endpoints a browser without a session may POST to (with the login page's CSRF token).
PUBLIC = frozenset({"desk.log_in"})
#: Responses that may be cached: static files, and the hold music Twilio fetches.
CACHEABLE = frozenset({"static", "media.hold_music_wav"})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SHIFT = timedelta(hours=12)  # a signed-in session lasts one long shift
MAX_BODY_BYTES = 256 * 1024  # Twilio's webhooks are a few KB; an order, a form: less than this
MAX_FORM_FIELD_BYTES = 64 * 1024


def init_app(app: Flask, settings: Settings) -> None:
    """Configure `app`'s cookies and limits and register the CSRF check and the headers."""
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SHIFT,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_FORM_FIELD_BYTES,
    )
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.before_request(_check_csrf)

    @app.after_request
    def _headers(response: Response) -> Response:
        return secure_headers(response, settings)


def needs_csrf() -> bool:
    """Whether this request must carry the session's CSRF token."""
    return (
        request.method in STATE_CHANGING
        and request.blueprint not in SIGNED_ELSEWHERE
        and request.endpoint is not None
    )


def _check_csrf() -> BaseResponse | tuple[Response, int] | None:
    if not needs_csrf():
        return None
    if request.endpoint not in PUBLIC and not auth.has_session():
        if _is_api():
            return _refuse("not-signed-in", "sign in at /desk/login", 401)
        return redirect(url_for("desk.login_form"))
    if auth.csrf_valid():
        return None
    if _is_api():
        return _refuse("csrf-failed", "missing or wrong CSRF token; reload the page", 403)
    return Response(render_template("desk/expired.html"), 403)


def csp_nonce() -> str:
    """This response's CSP nonce, for an inline `<script nonce=…>` or `<style nonce=…>`."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def content_security_policy(settings: Settings, nonce: str | None) -> str:
    """Scripts and styles only from here (with Twilio, also the Voice SDK's host), and inline
    only with this response's nonce; never in a frame."""
    script = style = "'self'"
    if nonce:
        script += f" 'nonce-{nonce}'"
        style += f" 'nonce-{nonce}'"
    remote = "'self'"
    if not settings.uses_local_network:
        sdk = urlsplit(settings.desk_voice_sdk_url)
        if sdk.scheme == "https":
            script += f" https://{sdk.netloc}"
        remote = "'self' https: wss:"  # the SDK's signalling, event gateway and sounds
    return (
        f"default-src 'self'; script-src {script}; style-src {style}; connect-src {remote}; "
        f"media-src {remote} blob:; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def secure_headers(response: Response, settings: Settings) -> Response:
    """Add the security headers to `response` (the one after_request of the whole app)."""
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy", content_security_policy(settings, g.get("csp_nonce"))
    )
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    endpoint = request.endpoint or ""
    if endpoint not in CACHEABLE and not endpoint.endswith(".static") and endpoint != "static":
        response.cache_control.no_store = True
    return response


def _is_api() -> bool:
    return (
        "/api/" in request.path
        or request.is_json
        or request.accept_mimetypes.best == "application/json"
    )


def _refuse(code: str, message: str, status: int) -> tuple[Response, int]:
    return jsonify(error={"code": code, "message": message, "details": {}}), status
