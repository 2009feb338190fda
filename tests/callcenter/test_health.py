"""/healthz names the part that is down: 503 for the database or Redis, 200 "degraded" for the
job workers or the scheduler (a load balancer must not drop every web process for them)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from redis import Redis
from rq import Worker
from sqlalchemy.orm import Session, sessionmaker

from callcenter import health
from callcenter.app import create_app
from callcenter.runtime import QUEUE_NAMES, Runtime
from callcenter.stack import DUTIES
from core.db import make_engine


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def live_client(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session], redis: Redis
) -> tuple[FlaskClient, Runtime]:
    """The app on the real clock (RQ stamps worker heartbeats with it)."""
    rt = make_runtime(session_factory, now=_now)
    return create_app(runtime=rt).test_client(), rt


def _register_worker(redis: Redis, queues: tuple[str, ...] = QUEUE_NAMES) -> Worker:
    worker = Worker(list(queues), connection=redis, worker_ttl=health.WORKER_TTL_S)
    worker.register_birth()
    return worker


def test_all_parts_ok_with_a_worker_on_every_queue_and_a_recent_cron_heartbeat(
    live_client: tuple[FlaskClient, Runtime], redis: Redis
) -> None:
    client, rt = live_client
    _register_worker(redis)
    health.beat(redis, rt.settings.redis_prefix, _now())
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json is not None
    assert r.json["status"] == "ok"
    assert r.json["checks"] == {
        "database": "ok",
        "redis": "ok",
        "workers": "ok",
        "scheduler": "ok",
    }
    assert r.json["details"]["workers"] == {"live": 1, "registered": 1}


def test_no_worker_and_no_cron_is_degraded_but_still_200(
    live_client: tuple[FlaskClient, Runtime],
) -> None:
    client, _ = live_client
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json is not None
    assert r.json["status"] == "degraded"
    assert r.json["checks"]["workers"] == "missing"
    assert r.json["checks"]["scheduler"] == "missing"
    assert r.json["details"]["workers"]["queues_without_worker"] == list(QUEUE_NAMES)


def test_a_queue_nobody_works_on_is_named(
    live_client: tuple[FlaskClient, Runtime], redis: Redis
) -> None:
    client, rt = live_client
    _register_worker(redis, ("high", "default"))
    health.beat(redis, rt.settings.redis_prefix, _now())
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json is not None
    assert r.json["status"] == "degraded"
    assert r.json["checks"]["workers"] == "missing"
    assert r.json["details"]["workers"]["queues_without_worker"] == ["low"]


def test_a_worker_whose_heartbeat_is_old_does_not_count(redis: Redis) -> None:
    worker = _register_worker(redis)
    later = (worker.last_heartbeat or _now()).replace(tzinfo=UTC) + timedelta(
        seconds=health.WORKER_STALE_S + 1
    )
    state, detail = health.workers_state(redis, later)
    assert state == "missing" and detail["live"] == 0 and detail["registered"] == 1


def test_a_cron_heartbeat_older_than_the_limit_is_stale(
    live_client: tuple[FlaskClient, Runtime], redis: Redis
) -> None:
    client, rt = live_client
    _register_worker(redis)
    health.beat(redis, rt.settings.redis_prefix, _now() - timedelta(seconds=61))
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json is not None
    assert r.json["status"] == "degraded"
    assert r.json["checks"]["scheduler"] == "stale"
    assert r.json["details"]["scheduler"]["heartbeat_age_s"] >= 61


def test_the_cron_beats_often_enough_to_never_look_stale() -> None:
    beat = next(d for d in DUTIES if d.name == "heartbeat")
    assert beat.load() is health.cron_heartbeat
    assert beat.every_s * 3 <= health.SCHEDULER_STALE_S


def test_the_heartbeat_duty_writes_what_healthz_reads(
    live_client: tuple[FlaskClient, Runtime], redis: Redis
) -> None:
    client, rt = live_client
    with client.application.app_context():
        health.cron_heartbeat()
    state, detail = health.scheduler_state(redis, rt.settings.redis_prefix, _now())
    assert state == "ok" and 0 <= detail["heartbeat_age_s"] < 5


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


def test_redis_down_is_503_and_the_parts_read_from_it_are_unknown(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session]
) -> None:
    port = _closed_port()
    rt = make_runtime(session_factory, now=_now)
    rt.redis_factory = lambda: Redis(port=port, socket_connect_timeout=0.5)
    r = create_app(runtime=rt).test_client().get("/healthz")
    assert r.status_code == 503 and r.json is not None
    assert r.json["status"] == "unavailable"
    assert r.json["checks"] == {
        "database": "ok",
        "redis": "failed",
        "workers": "unknown",
        "scheduler": "unknown",
    }


def test_database_down_is_503(make_runtime: Callable[..., Runtime], redis: Redis) -> None:
    broken = make_engine("sqlite:////nonexistent-folder/for/sure/cc.db")
    rt = make_runtime(sessionmaker(broken), now=_now)
    _register_worker(redis)
    health.beat(redis, rt.settings.redis_prefix, _now())
    r = create_app(runtime=rt).test_client().get("/healthz")
    assert r.status_code == 503 and r.json is not None
    assert r.json["status"] == "unavailable"
    assert r.json["checks"]["database"] == "failed"
    assert r.json["checks"]["redis"] == "ok"
    broken.dispose()
