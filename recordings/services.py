"""The recording pipeline's services: status callbacks, the processing steps, retry, retention.

Every function takes the session first and only flushes; the caller's unit of work commits.
Claims are portable compare-and-set updates (`UPDATE … WHERE …`, then `rowcount == 1`), so two
callbacks or two jobs racing on one recording cannot both win.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from core.audit import record as audit
from core.db import rowcount
from core.models import Call, Customer
from queues.models import Agent, QueuedCall
from recordings import analysis, audio, transcode
from recordings.models import Recording, RecordingStatus
from recordings.storage import Storage

# A dual-channel recording of a call placed through the REST API (`POST /Calls` with
# RecordingChannels=dual) has the recorded leg itself on Twilio's channel 1 and what that leg
# hears on channel 2. The agent's leg is the one placed (callcenter.jobs.router.ring_agent), so
# channel 1 (index 0) is the agent and channel 2 (index 1) the customer. The local phone network
# renders its WAVs the same way (phone_network.audio.Speech: 0 = the recorded leg).
AGENT_CHANNEL = 0
FINAL_TWILIO = frozenset({"completed", "absent", "failed"})
MAX_ATTEMPTS = 6  # the first run and 5 RQ retries (queues jobs' backoff: 1, 2, 5, 10, 30 s)
STALE_PROCESSING = timedelta(minutes=30)  # a job claimed this long ago was killed: rerun it
#: With the jobs still known to the job queue given (`live`), a row with no job is re-queued
#: this long after its job was claimed or started (the job is enqueued just after the commit).
LOST_JOB_AFTER = timedelta(minutes=1)
LINK_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One recording status callback, as parsed from Twilio's form."""

    recording_sid: str
    status: str  # in-progress, completed, absent, failed
    url: str
    duration_s: int | None
    channels: int | None
    error_code: str | None
    call_sid: str  # the recorded leg (the agent's, for a connected call)


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose recording it is, for a call that was not a queue entry (an outbound call)."""

    agent_id: int | None
    customer_id: int | None
    queue: str  # what the call was for, e.g. "outbound:order_review"


def record_status(
    session: Session,
    update_: StatusUpdate,
    *,
    entry_id: int | None,
    now: datetime,
    owner: Owner | None = None,
) -> int | None:
    """Create or update the recording of a status callback; the id to enqueue a job for, if any.

    Idempotent and order-proof: the row is keyed by RecordingSid; a final Twilio status
    (completed, absent, failed) is never replaced by a late ``in-progress``, nor by another
    final one. Links the row to the queue entry `entry_id` (its agent, queue, call and the
    call's customer), or, for an outbound call, to its `owner`. Returns the recording's id
    only to the one caller that claims its processing job (`job_enqueued_at` set by
    compare-and-set): enqueue it after the commit. Flushes.
    """
    rec = session.scalar(select(Recording).where(Recording.sid == update_.recording_sid))
    if rec is None:
        rec = _insert(session, update_, now)
    if rec.twilio_status not in FINAL_TWILIO and update_.status in FINAL_TWILIO | {"in-progress"}:
        rec.twilio_status = update_.status
        rec.source_url = update_.url or rec.source_url
        rec.duration_s = update_.duration_s if update_.duration_s is not None else rec.duration_s
        rec.channels = update_.channels or rec.channels
        rec.error_code = update_.error_code
        rec.updated_at = now
        if update_.status == "completed":
            rec.status = RecordingStatus.PENDING
        elif update_.status in ("absent", "failed"):
            _fail(rec, f"twilio-{update_.status}", f"Twilio reports the recording {update_.status}")
    _link(session, rec, entry_id)
    if owner is not None and rec.agent_id is None and rec.customer_id is None:
        rec.agent_id, rec.customer_id, rec.queue = owner.agent_id, owner.customer_id, owner.queue
    session.flush()
    if rec.status is not RecordingStatus.PENDING or rec.job_enqueued_at is not None:
        return None
    return rec.id if _claim_job(session, rec.id, now) else None


def _insert(session: Session, update_: StatusUpdate, now: datetime) -> Recording:
    """A new row, inserted in a savepoint: a concurrent callback that inserted first wins."""
    from sqlalchemy.exc import IntegrityError

    rec = Recording(
        sid=update_.recording_sid,
        status=RecordingStatus.RECORDING,
        twilio_status="",
        call_sid=update_.call_sid,
        created_at=now,
        updated_at=now,
        attempts=0,
        legal_hold=False,
    )
    try:
        with session.begin_nested():
            session.add(rec)
    except IntegrityError:
        found = session.scalar(select(Recording).where(Recording.sid == update_.recording_sid))
        if found is None:
            raise
        return found
    return rec


def _link(session: Session, rec: Recording, entry_id: int | None) -> None:
    if not entry_id or rec.queued_call_id is not None:
        return
    entry = session.get(QueuedCall, entry_id)
    if entry is None:
        return
    rec.queued_call_id, rec.agent_id, rec.queue = entry.id, entry.agent_id, entry.queue
    rec.call_id = entry.call_id
    call = session.get(Call, entry.call_id)
    rec.customer_id = call.customer_id if call is not None else None


def _claim_job(session: Session, recording_id: int, now: datetime) -> bool:
    done = session.execute(
        update(Recording)
        .where(Recording.id == recording_id, Recording.job_enqueued_at.is_(None))
        .values(job_enqueued_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return rowcount(done) == 1


@dataclass(frozen=True, slots=True)
class Claim:
    """What a processing run needs, read in its claiming transaction."""

    recording_id: int
    sid: str
    url: str
    attempt: int


def claim_processing(session: Session, recording_id: int, *, now: datetime) -> Claim | None:
    """Start (or restart) processing: ``pending``/``processing``/``failed`` → ``processing``.

    Returns None when there is nothing to do (unknown, still recording, stored or purged), so
    a repeated job is harmless. A ``processing`` row is taken over: the previous run raised
    (RQ retries it) or its worker died; the steps that follow are safe to repeat. Counts the
    attempt. Flushes.
    """
    done = session.execute(
        update(Recording)
        .where(
            Recording.id == recording_id,
            Recording.status.in_(
                [RecordingStatus.PENDING, RecordingStatus.PROCESSING, RecordingStatus.FAILED]
            ),
            Recording.twilio_status == "completed",
        )
        .values(
            status=RecordingStatus.PROCESSING,
            attempts=Recording.attempts + 1,
            processing_started_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(done) != 1:
        return None
    session.expire_all()
    rec = session.get(Recording, recording_id)
    assert rec is not None
    return Claim(rec.id, rec.sid, rec.source_url, rec.attempts)


@dataclass(frozen=True, slots=True)
class Processed:
    """The outcome of `process_audio`: measures, peaks and the stored file."""

    measures: dict[str, Any]
    peaks: dict[str, Any]
    audio_seconds: float
    storage_key: str
    size_bytes: int
    sha256: str


def storage_key(sid: str) -> str:
    """Where a recording is stored: derived from its SID alone, so a rerun overwrites itself."""
    return f"{sid[:4]}/{sid}.{transcode.EXTENSION}"


def process_audio(
    sid: str, wav: bytes, *, storage: Storage, work_dir: Path | None = None
) -> Processed:
    """Decode, measure, transcode and store one recording's audio; no database.

    Raises `AudioRejected` subclasses (corrupt, mono, silent: permanent) and `RecordingError`s
    for a transcode or storage failure. Safe to repeat: the key depends only on `sid` and
    `Storage.put` publishes a complete, verified file or nothing.
    """
    segment = audio.load(wav)
    measures = analysis.analyse(segment, agent_channel=AGENT_CHANNEL)
    peaks = transcode.waveform_peaks(segment).as_json()
    with tempfile.TemporaryDirectory(prefix="recording-", dir=work_dir) as folder:
        source, target = Path(folder) / "source.wav", Path(folder) / f"{sid}.mp3"
        source.write_bytes(wav)
        transcode.transcode(source, target)
        stored = storage.put(storage_key(sid), target)
    return Processed(
        measures=dataclasses.asdict(measures),
        peaks=peaks,
        audio_seconds=measures.duration_seconds,
        storage_key=stored.key,
        size_bytes=stored.size,
        sha256=stored.sha256,
    )


def mark_stored(
    session: Session, recording_id: int, result: Processed, *, now: datetime
) -> Recording | None:
    """Record a processed recording as ``stored`` (only from ``processing``); flushes.

    Returns the row, or None if it was not processing any more (e.g. a duplicate run finished
    first: the file it stored is the same key, so nothing is left behind).
    """
    rec = session.get(Recording, recording_id)
    if rec is None or rec.status is not RecordingStatus.PROCESSING:
        return None
    rec.status = RecordingStatus.STORED
    rec.measures, rec.peaks, rec.audio_seconds = result.measures, result.peaks, result.audio_seconds
    rec.storage_key, rec.size_bytes = result.storage_key, result.size_bytes
    rec.sha256 = result.sha256
    rec.content_type = transcode.CONTENT_TYPE
    rec.stored_at = rec.updated_at = now
    rec.failure_code = rec.failure_reason = None
    session.flush()
    return rec


def mark_failed(
    session: Session, recording_id: int, code: str, reason: str, *, now: datetime
) -> None:
    """Record why processing failed (visible in lists and `callcenter recordings list`)."""
    rec = session.get(Recording, recording_id)
    if rec is None or rec.status in (RecordingStatus.STORED, RecordingStatus.PURGED):
        return
    _fail(rec, code, reason)
    rec.updated_at = now
    session.flush()


def note_attempt_failed(
    session: Session, recording_id: int, code: str, reason: str, *, now: datetime
) -> None:
    """A transient failure that will be retried: keep the reason, stay ``processing``."""
    rec = session.get(Recording, recording_id)
    if rec is None or rec.status is not RecordingStatus.PROCESSING:
        return
    rec.failure_code, rec.failure_reason = code[:40], reason[:500]
    rec.updated_at = now
    session.flush()


def _fail(rec: Recording, code: str, reason: str) -> None:
    rec.status = RecordingStatus.FAILED
    rec.failure_code, rec.failure_reason = code[:40], reason[:500]


def mark_deleted_from_twilio(session: Session, recording_id: int, *, now: datetime) -> None:
    rec = session.get(Recording, recording_id)
    if rec is not None and rec.twilio_deleted_at is None:
        rec.twilio_deleted_at = now
        session.flush()


def request_retry(
    session: Session,
    *,
    sids: Sequence[str] = (),
    all_failed: bool = False,
    stuck_only: bool = False,
    live: AbstractSet[int] | None = None,
    now: datetime,
) -> list[int]:
    """Put failed (or stuck) recordings back to ``pending`` and claim a job for each.

    `sids` names recordings; `all_failed` takes every failed one whose audio Twilio has
    (absent ones have none). A ``pending`` or ``processing`` row is taken only when its job
    was queued or started more than `STALE_PROCESSING` ago (the job was lost, or its worker
    died), so a retry never runs beside a live job; `stuck_only` takes only those (the
    periodic sweep: failed ones wait for an operator). Attempts start again from zero.
    `live`, when the job queue could be read: the recordings that have a processing job
    queued, scheduled for a retry or running; the others are taken once their job was
    claimed or started `LOST_JOB_AFTER` ago, as their job is known to be lost (a worker
    killed -9), and those in `live` never. Returns the ids to enqueue after the commit.
    Flushes.
    """
    stale = now - (STALE_PROCESSING if live is None else LOST_JOB_AFTER)
    retryable = or_(
        Recording.status == RecordingStatus.FAILED,
        (Recording.status == RecordingStatus.PENDING)
        & or_(Recording.job_enqueued_at.is_(None), Recording.job_enqueued_at < stale),
        (Recording.status == RecordingStatus.PROCESSING)
        & or_(Recording.processing_started_at.is_(None), Recording.processing_started_at < stale),
    )
    if stuck_only:
        retryable = and_(retryable, Recording.status != RecordingStatus.FAILED)
    if live:
        retryable = and_(retryable, Recording.id.not_in(sorted(live)))
    query = select(Recording.id).where(retryable, Recording.twilio_status == "completed")
    if sids:
        query = query.where(Recording.sid.in_(list(sids)))
    elif not (all_failed or stuck_only):
        return []
    ids = list(session.scalars(query.order_by(Recording.id)))
    claimed = []
    for recording_id in ids:
        done = session.execute(
            update(Recording)
            .where(Recording.id == recording_id, retryable)
            .values(
                status=RecordingStatus.PENDING,
                attempts=0,
                job_enqueued_at=now,
                failure_code=None,
                failure_reason=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if rowcount(done) == 1:
            claimed.append(recording_id)
    session.expire_all()
    return claimed


@dataclass(frozen=True, slots=True)
class RecordingFilter:
    agent_id: int | None = None
    queue: str | None = None
    day_from: date | None = None  # UTC dates, inclusive
    day_to: date | None = None
    status: RecordingStatus | None = None
    limit: int = 100
    team: str | None = None  # only the recordings of this team's agents (a team lead's view)


def list_recordings(session: Session, where: RecordingFilter) -> list[Recording]:
    """Recordings newest first, filtered by agent, queue, status and creation date (UTC)."""
    from datetime import UTC

    query = select(Recording).order_by(Recording.created_at.desc(), Recording.id.desc())
    if where.agent_id is not None:
        query = query.where(Recording.agent_id == where.agent_id)
    if where.queue:
        query = query.where(Recording.queue == where.queue)
    if where.team is not None:
        query = query.where(
            Recording.agent_id.in_(select(Agent.id).where(Agent.team == where.team))
        )
    if where.status is not None:
        query = query.where(Recording.status == where.status)
    if where.day_from is not None:
        query = query.where(Recording.created_at >= datetime.combine(where.day_from, time(), UTC))
    if where.day_to is not None:
        end = datetime.combine(where.day_to + timedelta(days=1), time(), UTC)
        query = query.where(Recording.created_at < end)
    return list(session.scalars(query.limit(max(1, min(where.limit, 1000)))))


def export_rows(session: Session, where: RecordingFilter) -> list[dict[str, Any]]:
    """The listed recordings with their customer (name and calling number, in full: the caller
    masks them as the viewer's permissions say), for a CSV export. Read-only."""
    rows = []
    for rec in list_recordings(session, where):
        call = session.get(Call, rec.call_id) if rec.call_id is not None else None
        customer = session.get(Customer, rec.customer_id) if rec.customer_id is not None else None
        rows.append(
            {
                "id": rec.id,
                "created_at": rec.created_at.isoformat(),
                "agent_id": rec.agent_id or "",
                "queue": rec.queue or "",
                "status": rec.status.value,
                "seconds": rec.audio_seconds or rec.duration_s or "",
                "customer_name": customer.name if customer else "",
                "customer_number": (call.caller_e164 or "") if call else "",
            }
        )
    return rows


def in_team(session: Session, rec: Recording, team: str | None) -> bool:
    """Whether `rec` is within a viewer's reach: everything for None, else the recordings of
    `team`'s agents. Read-only."""
    if team is None:
        return True
    agent = session.get(Agent, rec.agent_id) if rec.agent_id is not None else None
    return agent is not None and agent.team == team


def playback_ttl(rec: Recording) -> timedelta:
    """How long a playback link must live: the whole recording, plus a margin for pauses."""
    seconds = rec.audio_seconds or rec.duration_s or 0
    return timedelta(seconds=float(seconds) * 2) + LINK_MARGIN


def note_replay(
    session: Session,
    rec: Recording,
    *,
    viewer_id: int,
    viewer: str,
    now: datetime,
    via: str,
) -> None:
    """Write the audit entry of one replay (opening the player, or playing from the start)."""
    audit(
        session,
        actor_id=viewer_id,
        actor=viewer,
        action="recording.replay",
        subject_type="recording",
        subject_id=rec.id,
        now=now,
        sid=rec.sid,
        via=via,
    )


def set_legal_hold(
    session: Session, recording_id: int, hold: bool, *, actor_id: int, actor: str, now: datetime
) -> Recording | None:
    """Put a recording under legal hold (kept past retention) or release it; audited."""
    rec = session.get(Recording, recording_id)
    if rec is None:
        return None
    if rec.legal_hold != hold:
        rec.legal_hold = hold
        rec.updated_at = now
        audit(
            session,
            actor_id=actor_id,
            actor=actor,
            action="recording.legal_hold" if hold else "recording.legal_hold_released",
            subject_type="recording",
            subject_id=rec.id,
            now=now,
            sid=rec.sid,
        )
    session.flush()
    return rec


def purge_expired(
    session: Session, storage: Storage, *, now: datetime, retention_days: int
) -> list[str]:
    """Delete the stored files of recordings older than the retention, except on legal hold.

    Each file is deleted first, then its row marked ``purged`` (measures kept, peaks dropped):
    if the transaction is lost after a deletion, the next purge marks the row again (deleting
    twice is harmless); a row is never ``purged`` while its file still exists. Returns the
    purged SIDs. Flushes.
    """
    cutoff = now - timedelta(days=retention_days)
    rows = session.scalars(
        select(Recording).where(
            Recording.status.in_([RecordingStatus.STORED, RecordingStatus.FAILED]),
            Recording.created_at < cutoff,
            Recording.legal_hold.is_(False),
        )
    )
    purged = []
    for rec in rows:
        if rec.storage_key:
            storage.delete(rec.storage_key)
        rec.status, rec.purged_at, rec.peaks = RecordingStatus.PURGED, now, None
        rec.updated_at = now
        purged.append(rec.sid)
    session.flush()
    audit_purge(session, purged, now=now)
    return purged


def audit_purge(session: Session, sids: Iterable[str], *, now: datetime) -> None:
    sids = list(sids)
    if sids:
        audit(
            session,
            actor_id=None,
            actor="system",
            action="recording.purge",
            subject_type="recording",
            subject_id=f"{len(sids)} recordings",
            now=now,
            sids=sids,
        )
