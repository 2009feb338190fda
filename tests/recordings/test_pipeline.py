"""The recording pipeline: status callbacks, the processing job, failures, retry, retention.

Real database and Redis; webhooks signed with the official SDK. The download is the injected
`fetch` (generated dual-channel WAVs); storage is a real `LocalStorage` in a temp folder.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from rq import Queue
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from callcenter.commands.recordings import recordings_group
from callcenter.jobs import recordings as jobs
from callcenter.runtime import Runtime
from core.audit import AuditEvent
from core.calls import upsert_call
from queues.models import QueuedCall, QueuedCallStatus
from recordings import services
from recordings.download import DownloadFailed, RecordingNotReady
from recordings.models import Recording, RecordingStatus
from recordings.storage import LocalStorage, StoredObject
from tests.builders import add_agent
from tests.conftest import ACCOUNT_SID, NOW
from tests.recordings.calls import (
    AGENT,
    CALL_MS,
    CUSTOMER,
    channel,
    dual,
    intersect,
    silence,
    total,
    wav_bytes,
)

TOLERANCE_S = 0.2  # 20 ms per talk-segment edge (≤ 8 edges per channel): see analysis.py


def new_recording_sid() -> str:
    return "RE" + secrets.token_hex(16)


@pytest.fixture
def rt(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["callcenter"]
    return runtime


@pytest.fixture
def entry(session: Session, make_customer: Callable[..., object]) -> QueuedCall:
    """A connected queue entry: a customer's call, answered by agent li.na in `billing`."""
    customer = make_customer()
    call, _ = upsert_call(
        session,
        "CA" + secrets.token_hex(16),
        direction="inbound",
        from_number="+8613800138000",
        to_number="+864008001234",
        now=NOW,
    )
    call.customer_id = customer.id  # type: ignore[attr-defined]
    agent = add_agent(session, "li.na", display_name="Li Na", skills={"billing": 3})
    row = QueuedCall(
        call_id=call.id,
        call_sid=call.sid,
        queue="billing",
        skill="billing",
        language="zh",
        tier="vip",
        enqueued_at=NOW,
        status=QueuedCallStatus.CONNECTED,
        agent_id=agent.id,
        agent_call_sid="CA" + secrets.token_hex(16),
    )
    session.add(row)
    session.commit()
    return row


def callback(
    signed_post: Callable[..., TestResponse],
    entry: QueuedCall,
    sid: str,
    status: str,
    **extra: str,
) -> TestResponse:
    params = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": entry.agent_call_sid or "",
        "RecordingSid": sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}",
        "RecordingStatus": status,
        "RecordingDuration": "60" if status == "completed" else "0",
        "RecordingChannels": "2",
        "RecordingSource": "OutboundAPI",
        **extra,
    }
    response = signed_post(f"/twilio/voice/recording/call?entry={entry.id}", params)
    assert response.status_code == 204
    return response


def queued_jobs(rt: Runtime) -> list[str]:
    return list(Queue("low", connection=rt.redis).job_ids)


def row(session: Session, sid: str) -> Recording:
    session.expire_all()
    rec = session.scalar(select(Recording).where(Recording.sid == sid))
    assert rec is not None
    return rec


def call_wav() -> bytes:
    return wav_bytes(
        dual(
            channel(AGENT, CALL_MS, freq=440, peak_dbfs=-18.0),
            channel(CUSTOMER, CALL_MS, freq=300, peak_dbfs=-24.0),
        )
    )


class Fetches:
    """The download, injected: answers from a list (bytes, or an exception to raise)."""

    def __init__(self, *answers: bytes | Exception) -> None:
        self.answers = list(answers)
        self.urls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


# -- the status callback -------------------------------------------------------------------


def test_duplicated_callbacks_make_one_row_and_one_job(
    rt: Runtime, signed_post: Callable[..., TestResponse], entry: QueuedCall, session: Session
) -> None:
    sid = new_recording_sid()
    for _ in range(3):
        callback(signed_post, entry, sid, "completed")
    assert session.scalar(select(func.count()).where(Recording.sid == sid)) == 1
    assert len(queued_jobs(rt)) == 1
    rec = row(session, sid)
    assert rec.status is RecordingStatus.PENDING and rec.job_enqueued_at is not None
    assert (rec.agent_id, rec.queue, rec.queued_call_id) == (entry.agent_id, "billing", entry.id)
    assert rec.customer_id is not None and rec.call_id == entry.call_id
    assert rec.call_sid == entry.agent_call_sid and rec.duration_s == 60 and rec.channels == 2


def test_a_late_in_progress_never_overwrites_completed(
    rt: Runtime, signed_post: Callable[..., TestResponse], entry: QueuedCall, session: Session
) -> None:
    sid = new_recording_sid()
    callback(signed_post, entry, sid, "completed")
    callback(signed_post, entry, sid, "in-progress")
    callback(signed_post, entry, sid, "completed")
    rec = row(session, sid)
    assert (rec.twilio_status, rec.status, rec.duration_s) == (
        "completed",
        RecordingStatus.PENDING,
        60,
    )
    assert len(queued_jobs(rt)) == 1


def test_in_progress_then_completed_enqueues_once_at_completion(
    rt: Runtime, signed_post: Callable[..., TestResponse], entry: QueuedCall, session: Session
) -> None:
    sid = new_recording_sid()
    callback(signed_post, entry, sid, "in-progress")
    assert row(session, sid).status is RecordingStatus.RECORDING and queued_jobs(rt) == []
    callback(signed_post, entry, sid, "completed")
    assert len(queued_jobs(rt)) == 1


def test_absent_recording_is_failed_with_twilios_error_code_and_no_job(
    rt: Runtime, signed_post: Callable[..., TestResponse], entry: QueuedCall, session: Session
) -> None:
    sid = new_recording_sid()
    callback(signed_post, entry, sid, "absent", ErrorCode="16102")
    callback(signed_post, entry, sid, "completed")  # a final status is never replaced
    rec = row(session, sid)
    assert (rec.status, rec.twilio_status, rec.error_code, rec.failure_code) == (
        RecordingStatus.FAILED,
        "absent",
        "16102",
        "twilio-absent",
    )
    assert queued_jobs(rt) == []


# -- processing ----------------------------------------------------------------------------


def completed(
    rt: Runtime, signed_post: Callable[..., TestResponse], entry: QueuedCall, session: Session
) -> Recording:
    sid = new_recording_sid()
    callback(signed_post, entry, sid, "completed")
    return row(session, sid)


def test_processing_measures_transcodes_and_stores(
    app: Flask,
    rt: Runtime,
    signed_post: Callable[..., TestResponse],
    entry: QueuedCall,
    session: Session,
    tmp_path: Path,
) -> None:
    rec = completed(rt, signed_post, entry, session)
    storage, fetch = LocalStorage(tmp_path / "store"), Fetches(call_wav())
    jobs.run_processing(rt, rec.id, fetch=fetch, storage=storage)
    rec = row(session, rec.sid)
    assert rec.status is RecordingStatus.STORED and rec.attempts == 1
    assert fetch.urls == [rec.source_url]
    m = rec.measures
    assert m is not None and m["duration_seconds"] == CALL_MS / 1000
    assert abs(m["agent"]["talk_seconds"] - total(AGENT) / 1000) <= TOLERANCE_S
    assert abs(m["customer"]["talk_seconds"] - total(CUSTOMER) / 1000) <= TOLERANCE_S
    overtalk = total(intersect(AGENT, CUSTOMER)) / 1000
    assert abs(m["overtalk_seconds"] - overtalk) <= TOLERANCE_S
    assert abs(m["agent"]["level_dbfs"] - (-18 - 3.01)) <= 0.5  # a sine's RMS: peak - 3 dB
    assert abs(m["customer"]["level_dbfs"] - (-24 - 3.01)) <= 0.5
    assert rec.peaks is not None and rec.peaks["channels"] == 2
    assert rec.storage_key == f"{rec.sid[:4]}/{rec.sid}.mp3"
    assert storage.path(rec.storage_key).read_bytes()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
    assert storage.path(rec.storage_key).stat().st_size == rec.size_bytes


def test_a_second_run_of_a_stored_recording_does_nothing(
    app: Flask,
    rt: Runtime,
    signed_post: Callable[..., TestResponse],
    entry: QueuedCall,
    session: Session,
    tmp_path: Path,
) -> None:
    rec = completed(rt, signed_post, entry, session)
    fetch = Fetches(call_wav())
    jobs.run_processing(rt, rec.id, fetch=fetch, storage=LocalStorage(tmp_path))
    jobs.run_processing(rt, rec.id, fetch=fetch, storage=LocalStorage(tmp_path))
    assert len(fetch.urls) == 1 and row(session, rec.sid).attempts == 1


class KilledBeforeRename(LocalStorage):
    """A worker killed mid-`put`: the hidden work file is half written, nothing published."""

    def put(self, key: str, source: Path) -> StoredObject:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.part")
        part.write_bytes(source.read_bytes()[:1000])
        raise KeyboardInterrupt  # not an Exception: nothing in the job may catch it


def test_a_job_killed_mid_write_reruns_to_one_complete_file(
    app: Flask,
    rt: Runtime,
    signed_post: Callable[..., TestResponse],
    entry: QueuedCall,
    session: Session,
    tmp_path: Path,
) -> None:
    rec = completed(rt, signed_post, entry, session)
    root = tmp_path / "store"
    with pytest.raises(KeyboardInterrupt):
        jobs.run_processing(rt, rec.id, fetch=Fetches(call_wav()), storage=KilledBeforeRename(root))
    assert row(session, rec.sid).status is RecordingStatus.PROCESSING
    assert [p.name for p in root.rglob("*") if p.is_file()] == [f".{rec.sid}.mp3.part"]
    jobs.run_processing(rt, rec.id, fetch=Fetches(call_wav()), storage=LocalStorage(root))
    rec = row(session, rec.sid)
    assert rec.status is RecordingStatus.STORED and rec.attempts == 2
    files = [p for p in root.rglob("*") if p.is_file()]
    assert [p.name for p in files] == [f"{rec.sid}.mp3"] and files[
        0
    ].stat().st_size == rec.size_bytes


@pytest.mark.parametrize(
    ("wav", "code"),
    [
        (call_wav()[: len(call_wav()) // 2], "corrupt-audio"),
        (b"not audio at all", "corrupt-audio"),
        (wav_bytes(dual(silence(5000), silence(5000))), "silent-recording"),
        (wav_bytes(channel(AGENT, CALL_MS)), "unsupported-audio"),
    ],
    ids=["truncated", "garbage", "silent", "mono"],
)
def test_unusable_audio_fails_at_once_with_the_reason(
    app: Flask,
    rt: Runtime,
    signed_post: Callable[..., TestResponse],
    entry: QueuedCall,
    session: Session,
    tmp_path: Path,
    wav: bytes,
    code: str,
) -> None:
    rec = completed(rt, signed_post, entry, session)
    jobs.run_processing(rt, rec.id, fetch=Fetches(wav), storage=LocalStorage(tmp_path))
    rec = row(session, rec.sid)
    assert (rec.status, rec.failure_code, rec.attempts) == (RecordingStatus.FAILED, code, 1)
    assert rec.failure_reason and not any(tmp_path.rglob("*.mp3"))


def test_a_404_just_after_completion_is_retried_then_stored(
    app: Flask,
    rt: Runtime,
    signed_post: Callable[..., TestResponse],
    entry: QueuedCall,
    session: Session,
    tmp_path: Path,
) -> None:
    rec = completed(rt, signed_post, entry, session)
    fetch = Fetches(RecordingNotReady("not yet"), call_wav())
    with pytest.raises(RecordingNotReady):  # RQ retries it with backoff
        jobs.run_processing(rt, rec.id, fetch=fetch, storage=LocalStorage(tmp_path))
    assert row(session, rec.sid).failure_code == "recording-not-found"
    jobs.run_processing(rt, rec.id, fetch=fetch, storage=LocalStorage(tmp_path))
    rec = row(session, rec.sid)
    assert (rec.status, rec.attempts, rec.failure_code) == (RecordingStatus.STORED, 2, None)


def test_a_download_that_keeps_failing_ends_failed_after_the_last_attempt(
    app: Flask,
    rt: Runtime,
    signed_post: Callable[..., TestResponse],
    entry: QueuedCall,
    session: Session,
    tmp_path: Path,
) -> None:
    rec = completed(rt, signed_post, entry, session)
    fetch = Fetches(DownloadFailed("Twilio answered 503"))
    for _ in range(services.MAX_ATTEMPTS - 1):
        with pytest.raises(DownloadFailed):
            jobs.run_processing(rt, rec.id, fetch=fetch, storage=LocalStorage(tmp_path))
    jobs.run_processing(rt, rec.id, fetch=fetch, storage=LocalStorage(tmp_path))
    rec = row(session, rec.sid)
    assert (rec.status, rec.failure_code) == (RecordingStatus.FAILED, "download-failed")
    assert "gave up after 6 attempts" in (rec.failure_reason or "")


def test_retry_command_requeues_failed_recordings_once(
    app: Flask,
    rt: Runtime,
    signed_post: Callable[..., TestResponse],
    entry: QueuedCall,
    session: Session,
    tmp_path: Path,
) -> None:
    rec = completed(rt, signed_post, entry, session)
    absent = new_recording_sid()
    callback(signed_post, entry, absent, "absent", ErrorCode="16102")
    jobs.run_processing(rt, rec.id, fetch=Fetches(b"junk"), storage=LocalStorage(tmp_path))
    Queue("low", connection=rt.redis).empty()
    runner = app.test_cli_runner()
    result = runner.invoke(recordings_group, ["retry", "--all-failed"])
    assert result.exit_code == 0 and "re-queued 1 recording(s)" in result.output
    assert len(queued_jobs(rt)) == 1
    again = row(session, rec.sid)
    assert (again.status, again.attempts, again.failure_code) == (RecordingStatus.PENDING, 0, None)
    assert row(session, absent).status is RecordingStatus.FAILED  # Twilio has no audio for it
    assert "re-queued 0" in runner.invoke(recordings_group, ["retry", again.sid]).output
    listed = runner.invoke(recordings_group, ["list", "--status", "failed"]).output
    assert absent in listed and "twilio-absent" in listed


def test_deleted_from_twilio_after_storing_when_the_setting_says_so(
    app: Flask,
    rt: Runtime,
    signed_post: Callable[..., TestResponse],
    entry: QueuedCall,
    session: Session,
    tmp_path: Path,
) -> None:
    deleted: list[str] = []

    class Gateway:
        def delete_recording(self, recording_sid: str) -> None:
            deleted.append(recording_sid)

    rec = completed(rt, signed_post, entry, session)
    rt.settings = replace(rt.settings, recordings_delete_from_twilio=True)
    rt.telephony_factory = Gateway  # type: ignore[assignment]
    rt.jobs_async = False
    with app.app_context():
        jobs.run_processing(rt, rec.id, fetch=Fetches(call_wav()), storage=LocalStorage(tmp_path))
        jobs.delete_from_twilio(rec.id)  # a repeat finds it done
    assert deleted == [rec.sid] and row(session, rec.sid).twilio_deleted_at is not None


# -- retention -----------------------------------------------------------------------------


def test_purge_deletes_expired_files_except_under_legal_hold(
    app: Flask, rt: Runtime, session_factory: sessionmaker[Session], session: Session
) -> None:
    storage = jobs.storage_for(rt)
    sids = {}
    for name, age_days, hold in (("old", 400, False), ("held", 400, True), ("new", 10, False)):
        sid = sids[name] = new_recording_sid()
        source = Path(rt.settings.instance_path) / f"{name}.mp3"
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(b"\xff\xfb" + name.encode() * 100)
        stored = storage.put(services.storage_key(sid), source)
        created = NOW - timedelta(days=age_days)
        session.add(
            Recording(
                sid=sid,
                status=RecordingStatus.STORED,
                twilio_status="completed",
                created_at=created,
                updated_at=created,
                storage_key=stored.key,
                legal_hold=hold,
                attempts=1,
            )
        )
    session.commit()
    result = app.test_cli_runner().invoke(recordings_group, ["purge"])
    assert "purged 1 recording(s) older than 365 days" in result.output
    assert row(session, sids["old"]).status is RecordingStatus.PURGED
    assert not storage.exists(services.storage_key(sids["old"]))
    for kept in ("held", "new"):
        assert row(session, sids[kept]).status is RecordingStatus.STORED
        assert storage.exists(services.storage_key(sids[kept]))
    assert session.scalar(select(func.count()).where(AuditEvent.action == "recording.purge")) == 1


def test_the_sweep_requeues_a_lost_job_but_leaves_failed_ones_to_an_operator(
    app: Flask,
    rt: Runtime,
    signed_post: Callable[..., TestResponse],
    entry: QueuedCall,
    session: Session,
    tmp_path: Path,
) -> None:
    lost, failed = (completed(rt, signed_post, entry, session) for _ in range(2))
    with app.app_context():
        jobs.run_processing(rt, failed.id, fetch=Fetches(b"junk"), storage=LocalStorage(tmp_path))
    Queue("low", connection=rt.redis).empty()  # the pending one's job is lost
    with app.app_context():
        assert jobs.requeue_stuck() == []  # too early: the job may still be queued
    later = rt.clock() + services.STALE_PROCESSING + timedelta(seconds=1)
    rt.clock = lambda: later
    with app.app_context():
        assert jobs.requeue_stuck() == [lost.id]
    assert len(queued_jobs(rt)) == 1 and row(session, failed.sid).status is RecordingStatus.FAILED


def test_a_job_lost_with_its_killed_worker_is_requeued_within_minutes_and_a_live_one_is_not(
    app: Flask,
    rt: Runtime,
    signed_post: Callable[..., TestResponse],
    entry: QueuedCall,
    session: Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker killed -9 in the middle of a job: the row says `processing`, and RQ no
    longer holds the job. The sweep checks RQ's queue and registries, so the row is
    re-queued a minute after it started, not half an hour; a row whose job is still queued
    (however old) is left to it."""
    killed, waiting = (completed(rt, signed_post, entry, session) for _ in range(2))
    queue = Queue("low", connection=rt.redis)
    assert len(queue.job_ids) == 2
    with rt.unit_of_work() as uow:  # the work-horse claims the row, then dies
        assert services.claim_processing(uow.session, killed.id, now=rt.clock()) is not None
    for job in queue.jobs:
        if job.args[0] == killed.id:
            queue.remove(job)  # RQ has given it up (the failed registry after its cleanup)
    assert row(session, killed.sid).status is RecordingStatus.PROCESSING
    with app.app_context():
        assert jobs.requeue_stuck() == []  # too early: it may be starting right now
    later = rt.clock() + services.LOST_JOB_AFTER + timedelta(seconds=1)
    assert later < rt.clock() + services.STALE_PROCESSING
    rt.clock = lambda: later
    caplog.set_level(logging.WARNING, logger="callcenter.jobs.recordings")
    with app.app_context():
        assert jobs.requeue_stuck() == [killed.id]
        assert jobs.requeue_stuck() == []  # its new job is live: never twice
    assert any("its job is gone" in r.message for r in caplog.records)
    held = sorted(job.args[0] for job in Queue("low", connection=rt.redis).jobs)
    assert held == sorted([killed.id, waiting.id])
    assert row(session, killed.sid).status is RecordingStatus.PENDING
    assert row(session, waiting.sid).status is RecordingStatus.PENDING
