"""GET /healthz: which part of the centre answers, and which is degraded.

Four parts are checked: the database (`SELECT 1`), Redis (`PING`), the job workers (every RQ
queue has a registered worker whose heartbeat is recent) and the scheduler (`callcenter
cron` writes a heartbeat to Redis every `HEARTBEAT_EVERY_S`, its `heartbeat` duty).

The status code is for load balancers, which take a web process out of service on a non-200:
it is 503 only when the database or Redis fails, because then this process cannot serve a
call. A missing worker or a stopped scheduler degrades the whole centre (nobody is routed,
no recording is processed) but every web process alike, so taking them out of service would
only turn a degraded centre into a dead one: the answer is 200 with `"status": "degraded"`
and the part named, for monitoring to alert on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import QUEUE_NAMES, runtime

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)

#: Our workers' RQ heartbeat TTL (`callcenter worker`): an idle worker beats every ~45 s.
WORKER_TTL_S = 60
#: A worker whose last heartbeat is older than this is dead (RQ drops it soon after).
WORKER_STALE_S = 2 * WORKER_TTL_S
HEARTBEAT_EVERY_S = 5.0
#: The scheduler is stale when its heartbeat is older than this (several missed turns).
SCHEDULER_STALE_S = 30.0
#: The heartbeat key outlives any staleness we report, then goes (a removed cron leaves none).
HEARTBEAT_KEY_TTL_S = 3600
VITAL = ("database", "redis")  # a failure of these answers 503


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    report = check(runtime_parts())
    vital_ok = all(report["checks"][part] == "ok" for part in VITAL)
    return jsonify(report), 200 if vital_ok else 503


def runtime_parts() -> dict[str, Callable[[], tuple[str, dict[str, Any]]]]:
    rt = runtime()
    now = rt.clock
    return {
        "database": lambda: _probe(lambda: _select_one(rt.session_factory)),
        "redis": lambda: _probe(rt.redis.ping),
        "workers": lambda: workers_state(rt.redis, now()),
        "scheduler": lambda: scheduler_state(rt.redis, rt.settings.redis_prefix, now()),
    }


def check(parts: dict[str, Callable[[], tuple[str, dict[str, Any]]]]) -> dict[str, Any]:
    """Run each part's check; the report names each part's state and its details."""
    checks: dict[str, str] = {}
    details: dict[str, dict[str, Any]] = {}
    for name, probe in parts.items():
        if name not in VITAL and checks.get("redis") != "ok":
            checks[name] = "unknown"  # read from Redis, which does not answer
            continue
        state, detail = probe()
        checks[name] = state
        if detail:
            details[name] = detail
    if any(checks.get(part) != "ok" for part in VITAL):
        status = "unavailable"
    elif any(state != "ok" for state in checks.values()):
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "checks": checks, "details": details}


def _select_one(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        session.execute(text("SELECT 1"))


def _probe(probe: Callable[[], object]) -> tuple[str, dict[str, Any]]:
    try:
        probe()
    except (SQLAlchemyError, RedisError, OSError) as exc:
        log.warning("health check failed: %s", exc)
        return "failed", {"error": type(exc).__name__}
    return "ok", {}


def workers_state(redis: Redis, now: datetime) -> tuple[str, dict[str, Any]]:
    """`ok` when each job queue has a worker with a recent heartbeat, else `missing`."""
    try:
        workers = Worker.all(connection=redis)
    except (RedisError, OSError) as exc:
        log.warning("health check of the workers failed: %s", exc)
        return "failed", {"error": type(exc).__name__}
    live = [
        w
        for w in workers
        if w.last_heartbeat is not None
        and (now - w.last_heartbeat.replace(tzinfo=UTC)).total_seconds() <= WORKER_STALE_S
    ]
    served = {name for w in live for name in w.queue_names()}
    unserved = [name for name in QUEUE_NAMES if name not in served]
    detail: dict[str, Any] = {"live": len(live), "registered": len(workers)}
    if unserved:
        detail["queues_without_worker"] = unserved
    return ("missing" if unserved else "ok"), detail


def heartbeat_key(prefix: str) -> str:
    return f"{prefix}cron:heartbeat"


def beat(redis: Redis, prefix: str, now: datetime) -> None:
    """Record that the scheduler is turning (the time, in seconds since the epoch)."""
    redis.set(heartbeat_key(prefix), f"{now.timestamp():.3f}", ex=HEARTBEAT_KEY_TTL_S)


def scheduler_state(redis: Redis, prefix: str, now: datetime) -> tuple[str, dict[str, Any]]:
    """`ok` if `callcenter cron` beat within SCHEDULER_STALE_S, else `stale` or `missing`."""
    try:
        raw = redis.get(heartbeat_key(prefix))
    except (RedisError, OSError) as exc:
        log.warning("health check of the scheduler failed: %s", exc)
        return "failed", {"error": type(exc).__name__}
    if raw is None:
        return "missing", {}
    try:
        age = now.timestamp() - float(raw)
    except ValueError:
        return "missing", {}
    return ("ok" if age <= SCHEDULER_STALE_S else "stale"), {"heartbeat_age_s": round(age, 1)}


def cron_heartbeat() -> None:
    """The cron's `heartbeat` duty."""
    rt = runtime()
    beat(rt.redis, rt.settings.redis_prefix, rt.clock())
