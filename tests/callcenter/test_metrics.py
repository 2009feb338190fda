"""GET /metrics: Prometheus' text format, the centre's state read at scrape time, latency
histograms by route (added up across gunicorn's worker processes), and who may read it."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.webhooks import free_port
from callcenter import metrics_files
from callcenter.migrate import upgrade
from callcenter.runtime import Runtime
from config.settings import ROOT
from core.db import make_engine
from core.models import Call, CallDirection, CallStatus
from queues.models import AgentState, QueuedCall, QueuedCallStatus
from recordings.models import Recording, RecordingStatus
from tests.builders import add_agent
from tests.conftest import NOW, call_params, new_call_sid

Post = Callable[..., object]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: FlaskClient, **kwargs: object) -> Samples:
    r = client.get("/metrics", **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 200, r.data
    assert r.content_type.startswith("text/plain; version=")
    return parse(r.get_data(as_text=True))


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def _entry(session: Session, queue: str, waited_s: float, status: QueuedCallStatus) -> str:
    sid = new_call_sid()
    call = Call(sid=sid, direction=CallDirection.INBOUND, status=CallStatus.IN_PROGRESS)
    session.add(call)
    session.flush()
    entry = QueuedCall(
        call_id=call.id,
        call_sid=sid,
        queue=queue,
        skill="general",
        language="zh",
        tier="new",
        vip=False,
        enqueued_at=NOW - timedelta(seconds=waited_s),
        status=status,
    )
    if status is QueuedCallStatus.CONNECTED:
        entry.answered_at = entry.enqueued_at + timedelta(seconds=waited_s / 2)
    session.add(entry)
    session.flush()
    return sid


def _recording(session: Session, status: RecordingStatus, age_s: float) -> None:
    at = NOW - timedelta(seconds=age_s)
    session.add(
        Recording(
            sid="RE" + secrets.token_hex(16),
            status=status,
            twilio_status="completed",
            created_at=at,
            updated_at=at,
            attempts=0,
            legal_hold=False,
        )
    )
    session.flush()


def test_the_centre_state_is_read_at_scrape_time(
    client: FlaskClient, session: Session, redis: Redis
) -> None:
    for n, state in enumerate(
        (AgentState.AVAILABLE, AgentState.AVAILABLE, AgentState.ON_CALL, AgentState.OFFLINE)
    ):
        add_agent(session, f"metrics{n}").state = state
    _entry(session, "general", 45, QueuedCallStatus.WAITING)  # past general's 20 s
    _entry(session, "general", 5, QueuedCallStatus.WAITING)
    _entry(session, "orders", 60, QueuedCallStatus.CONNECTED)  # answered after 30 s: a breach
    _recording(session, RecordingStatus.PENDING, 120)
    _recording(session, RecordingStatus.PROCESSING, 30)
    _recording(session, RecordingStatus.STORED, 3600)
    session.commit()
    Queue("low", connection=redis).enqueue("builtins.print", "queued")

    samples = scrape(client)

    assert value(samples, "callcenter_agents", state="available") == 2
    assert value(samples, "callcenter_agents", state="on_call") == 1
    assert value(samples, "callcenter_agents", state="break") == 0
    assert value(samples, "callcenter_calls_active", status="in-progress") == 3
    assert value(samples, "callcenter_calls_ended_total", status="completed") == 0
    assert value(samples, "callcenter_queue_waiting_callers", queue="general") == 2
    assert value(samples, "callcenter_queue_waiting_callers", queue="orders") == 0
    assert value(samples, "callcenter_queue_oldest_wait_seconds", queue="general") == 45
    assert value(samples, "callcenter_recordings", status="pending") == 1
    assert value(samples, "callcenter_recordings", status="processing") == 1
    assert value(samples, "callcenter_recording_backlog_oldest_seconds") == 120
    assert value(samples, "callcenter_jobs", queue="low", state="queued") == 1
    assert value(samples, "callcenter_jobs", queue="high", state="failed") == 0
    assert value(samples, "callcenter_sla_waiting_past_target", queue="general") == 1
    assert value(samples, "callcenter_sla_breaches", queue="general", window="today") == 1
    assert value(samples, "callcenter_sla_breaches", queue="orders", window="30m") == 1
    assert value(samples, "callcenter_service_level_percent", queue="orders", window="today") == 0
    assert value(samples, "callcenter_service_level_target_percent", queue="general") == 80
    assert value(samples, "callcenter_alerts_open", kind="service_level") == 0
    assert value(samples, "callcenter_outbound_attempts_open", status="queued") == 0
    assert value(samples, "callcenter_metrics_read_failures", source="database") == 0
    assert value(samples, "callcenter_metrics_read_failures", source="redis") == 0


def test_webhook_latency_is_a_histogram_by_route(
    client: FlaskClient, signed_post: Post, session: Session
) -> None:
    labels = {"route": "/twilio/voice/incoming", "method": "POST", "status": "200"}
    before = scrape(client).get(
        ("callcenter_http_request_duration_seconds_count", tuple(sorted(labels.items()))), 0.0
    )
    for _ in range(3):
        signed_post("/twilio/voice/incoming", call_params(new_call_sid()))
    client.get("/no/such/page")
    samples = scrape(client)
    count = value(samples, "callcenter_http_request_duration_seconds_count", **labels)
    assert count == before + 3
    assert (
        value(samples, "callcenter_http_request_duration_seconds_bucket", le="+Inf", **labels)
        == count
    )
    assert value(samples, "callcenter_http_request_duration_seconds_sum", **labels) > 0
    unmatched = {"route": "(unmatched)", "method": "GET", "status": "404"}
    assert value(samples, "callcenter_http_request_duration_seconds_count", **unmatched) >= 1
    assert value(samples, "callcenter_calls_active", status="in-progress") >= 3


def test_without_a_token_only_direct_local_requests_may_read(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403
    # A reverse proxy on the same host forwards outside requests from 127.0.0.1:
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403


def test_with_a_token_any_address_may_read_with_it_and_none_without(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session], redis: Redis
) -> None:
    from callcenter.app import create_app

    token = secrets.token_urlsafe(24)
    client = create_app(runtime=make_runtime(session_factory, metrics_token=token)).test_client()
    far = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/metrics").status_code == 403  # loopback is not enough any more
    assert (
        client.get("/metrics", headers={"Authorization": "Bearer wrong"}, environ_base=far)
    ).status_code == 403
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}, environ_base=far)
    assert ok.status_code == 200 and b"callcenter_agents" in ok.data


def test_a_source_that_cannot_be_read_is_flagged_not_fatal(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session]
) -> None:
    from callcenter.app import create_app

    rt = make_runtime(session_factory)
    port = free_port()
    rt.redis_factory = lambda: Redis(port=port, socket_connect_timeout=0.5)
    samples = scrape(create_app(runtime=rt).test_client())
    assert value(samples, "callcenter_metrics_read_failures", source="redis") == 1
    assert value(samples, "callcenter_metrics_read_failures", source="database") == 0
    assert ("callcenter_agents", (("state", "available"),)) in samples


def test_prepare_empties_the_folder_and_points_the_variable_at_it(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    folder = tmp_path / "instance" / "metrics"
    folder.mkdir(parents=True)
    (folder / "histogram_123.db").write_bytes(b"old")
    (folder / "README").write_text("not ours")
    assert metrics_files.prepare(tmp_path / "instance", environ) == folder.resolve()
    assert environ[metrics_files.ENV] == str(folder.resolve())
    assert sorted(p.name for p in folder.iterdir()) == ["README"]


# --- several gunicorn workers ---------------------------------------------------------------


def _redis_url(redis: Redis) -> str:
    url = os.environ.get("CALLCENTER_TEST_REDIS_URL")
    if url:
        return url
    return f"unix://{redis.connection_pool.connection_kwargs['path']}"


@pytest.fixture
def gunicorn(tmp_path: Path, redis: Redis) -> Iterator[tuple[str, Path]]:
    """gunicorn with 3 worker processes and our gunicorn settings, as in production."""
    instance = tmp_path / "instance"
    stale = instance / "metrics" / "histogram_999999.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from an earlier run")
    database = f"sqlite:///{tmp_path / 'cc.db'}"
    engine = make_engine(database)
    upgrade(engine)
    engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "CALLCENTER_INSTANCE_PATH": str(instance),
        "CALLCENTER_DATABASE_URL": database,
        "CALLCENTER_REDIS_URL": _redis_url(redis),
        "CALLCENTER_LOG_LEVEL": "WARNING",
    }
    env.pop(metrics_files.ENV, None)
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as err:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "3",
                "--config",
                "python:callcenter.gunicorn_config",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=2)
                break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log.read_text()[-3000:]) from None
                time.sleep(0.2)
        assert not stale.exists()  # emptied when the server started
        yield base, instance / "metrics"
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.slow
def test_histograms_add_up_across_gunicorn_workers(gunicorn: tuple[str, Path]) -> None:
    base, folder = gunicorn
    labels = {"route": "/healthz", "method": "GET", "status": "200"}

    def healthz_count() -> float:
        samples = parse(requests.get(f"{base}/metrics", timeout=5).text)
        return value(samples, "callcenter_http_request_duration_seconds_count", **labels)

    def ask(_: int) -> int:
        return requests.get(f"{base}/healthz", timeout=5).status_code

    def writers() -> set[str]:
        return {p.stem.rsplit("_", 1)[1] for p in folder.glob("histogram_*.db")}

    before = healthz_count()  # the fixture's wait for the server asked /healthz already
    asked = 0
    # Concurrent requests, batch after batch, until more than one worker has answered (the
    # kernel, not gunicorn, chooses which worker accepts a connection).
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(25):
            assert set(pool.map(ask, range(24))) == {200}
            asked += 24
            if len(writers()) >= 2:
                break
    assert len(writers()) >= 2  # the requests were spread over several processes
    # Whichever worker answers a scrape, it adds up every worker's observations.
    assert {healthz_count() for _ in range(6)} == {before + asked}
