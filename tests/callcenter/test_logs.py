"""Log lines carry the CallSid, the RQ job id and the agent wherever they are known, as text or
JSON (CALLCENTER_LOG_FORMAT), so one call can be followed through web, worker and cron."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from callcenter import health
from callcenter.app import create_app
from callcenter.logs import (
    LoggedJob,
    LoggedSimpleWorker,
    bound,
    current,
    job_context,
    make_handler,
)
from callcenter.migrate import upgrade
from callcenter.runtime import QUEUE_NAMES, Runtime
from config.settings import Settings, SettingsError
from core.db import make_engine
from tests.callcenter.test_hold_loop import join_general
from tests.callcenter.test_metrics import _redis_url
from tests.conftest import sign

SID = "CA" + "0123456789abcdef" * 2


@pytest.fixture
def json_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Our JSON handler on the root logger at INFO; returns the lines written so far."""
    stream = io.StringIO()
    handler = make_handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_line_carries_the_context_it_was_logged_in(
    json_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    log = logging.getLogger("callcenter.test")
    with bound(call_sid=SID, agent=7):
        log.info("inside")
        with bound(job_id="job-1"):
            log.warning("nested")
    log.info("outside")
    inside, nested, outside = json_lines()
    assert inside["message"] == "inside" and inside["level"] == "INFO"
    assert inside["call_sid"] == SID and inside["agent"] == "7" and "job_id" not in inside
    assert nested["job_id"] == "job-1" and nested["call_sid"] == SID
    assert not {"call_sid", "job_id", "agent"} & set(outside)
    assert outside["logger"] == "callcenter.test" and outside["ts"].endswith("+00:00")


def test_a_traceback_stays_inside_its_json_line(
    json_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("callcenter.test").exception("it failed for %s", "café")
    (line,) = json_lines()
    assert line["message"] == "it failed for café"
    assert "ValueError: boom" in line["exc"]


def test_text_lines_end_with_the_context_in_brackets() -> None:
    stream = io.StringIO()
    log = logging.getLogger("callcenter.test.text")
    handler = make_handler("text", stream)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with bound(duty="router", call_sid=SID):
            log.info("tick")
        log.info("quiet")
    finally:
        log.removeHandler(handler)
    first, second = stream.getvalue().splitlines()
    assert first.endswith(f"callcenter.test.text: tick [call_sid={SID} duty=router]")
    assert second.endswith("callcenter.test.text: quiet")


def test_a_job_takes_the_callsid_from_its_meta_else_from_its_arguments() -> None:
    assert job_context("j1", {"call_sid": SID, "agent": "3"}, (12,)) == {
        "job_id": "j1",
        "call_sid": SID,
        "agent": "3",
    }
    other = "CA" + "f" * 32
    assert job_context("j2", {}, (other, "https://x")) == {"job_id": "j2", "call_sid": other}
    assert job_context("j3", {}, (12, "not-a-sid")) == {"job_id": "j3"}


def test_log_format_must_be_text_or_json() -> None:
    assert Settings.from_env({"CALLCENTER_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(SettingsError, match="CALLCENTER_LOG_FORMAT"):
        Settings.from_env({"CALLCENTER_LOG_FORMAT": "xml"})


def test_a_webhook_and_the_job_it_enqueued_log_the_same_callsid(
    make_runtime: Callable[..., Runtime],
    session_factory: sessionmaker[Session],
    redis: Redis,
    settings: Settings,
    json_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    rt = make_runtime(session_factory)  # jobs go to Redis, for a worker
    app = create_app(runtime=rt)
    client = app.test_client()

    def signed_post(path: str, params: dict[str, str]) -> Any:
        url = settings.public_base_url.rstrip("/") + path
        return client.post(path, data=params, headers={"X-Twilio-Signature": sign(url, params)})

    sid = join_general(signed_post)
    assert json_lines(), "the webhooks logged nothing"
    webhook = [line for line in json_lines() if line["logger"] == "callcenter.requests"]
    assert [line["message"].split()[1] for line in webhook] == [
        "/twilio/voice/incoming",
        "/twilio/voice/menu/language",
        "/twilio/voice/menu/main",
    ]
    assert {line["call_sid"] for line in webhook} == {sid}
    assert current() == {}  # nothing leaks out of a request

    queued = [job_id for name in QUEUE_NAMES for job_id in rt.queue(name).job_ids]
    assert queued, "joining the queue enqueued no job"
    with app.app_context():
        LoggedSimpleWorker(
            [rt.queue(name) for name in QUEUE_NAMES], connection=redis, job_class=LoggedJob
        ).work(burst=True)
    jobs = [line for line in json_lines() if line.get("job_id") in queued]
    assert jobs, "the worker logged nothing about the job"
    assert {line["call_sid"] for line in jobs} == {sid}
    assert current() == {}


def test_a_console_request_names_the_signed_in_agent(
    app: Flask, json_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    client = app.test_client()
    with client.session_transaction() as session:
        session["desk_agent"] = 42
    logging.getLogger("callcenter.requests").setLevel(logging.DEBUG)
    try:
        client.get("/desk/")
    finally:
        logging.getLogger("callcenter.requests").setLevel(logging.NOTSET)
    (line,) = [x for x in json_lines() if x["logger"] == "callcenter.requests"]
    assert line["agent"] == "42" and "call_sid" not in line


@pytest.mark.slow
def test_cron_writes_json_lines_and_the_heartbeat_healthz_reads(
    tmp_path: Path, redis: Redis
) -> None:
    database = f"sqlite:///{tmp_path / 'cc.db'}"
    engine = make_engine(database)
    upgrade(engine)
    engine.dispose()
    env = {
        **os.environ,
        "CALLCENTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "CALLCENTER_DATABASE_URL": database,
        "CALLCENTER_REDIS_URL": _redis_url(redis),
        "CALLCENTER_LOG_FORMAT": "json",
    }
    out = tmp_path / "cron.log"
    with out.open("wb") as sink:
        cron = subprocess.Popen(
            [str(Path(sys.executable).parent / "callcenter"), "cron"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        state = "missing"
        while state != "ok" and time.monotonic() < deadline and cron.poll() is None:
            time.sleep(0.3)
            state, _ = health.scheduler_state(redis, Settings().redis_prefix, datetime.now(UTC))
        assert state == "ok", out.read_text()[-2000:]
    finally:
        cron.terminate()
        cron.wait(timeout=15)
    lines = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    started = next(line for line in lines if line["message"].startswith("cron: "))
    assert started["logger"] == "callcenter.stack" and "heartbeat every 5 s" in started["message"]
