"""GET /healthz for load balancers: the database and Redis answer, or 503."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Response, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import runtime

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    rt = runtime()
    checks = {
        "database": _check(lambda: _select_one(rt.session_factory)),
        "redis": _check(rt.redis.ping),
    }
    ok = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503


def _select_one(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        session.execute(text("SELECT 1"))


def _check(probe: Callable[[], object]) -> str:
    try:
        probe()
    except (SQLAlchemyError, RedisError, OSError) as exc:
        log.warning("health check failed: %s", exc)
        return "failed"
    return "ok"
