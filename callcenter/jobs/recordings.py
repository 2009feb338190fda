"""The recording pipeline's jobs (RQ): process a recording, delete it from Twilio, purge.

Each job takes primitive ids, reaches the Runtime through the app context (the worker runs
inside the app), and may run twice: the `Recording` row decides what is still to do.

`process_recording(recording_id)` runs in three steps so no transaction is held open during
the slow part: (1) claim (``→ processing``, attempt counted) and commit; (2) download,
measure, transcode and store (no database; the storage key comes from the SID and `put` is
write-verify-rename, so a run killed anywhere leaves at most a hidden work file that the next
run reuses); (3) mark ``stored`` and commit, then enqueue the deletion from Twilio if the
settings say so. Audio that cannot be used (corrupt, mono, silent) and downloads Twilio
refuses fail at once with the reason; transient failures (Twilio 5xx, timeouts, a 404 just
after completion) raise so RQ retries with backoff, until the last attempt marks the row
failed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from redis.exceptions import RedisError
from rq.job import Job

from callcenter.runtime import Runtime, runtime
from recordings import services
from recordings.download import DownloadFailed, DownloadRefused, Fetch, fetch_for
from recordings.errors import AudioRejected, RecordingError
from recordings.storage import LocalStorage, Storage

log = logging.getLogger(__name__)

PROCESS_RETRIES = services.MAX_ATTEMPTS - 1
PROCESS_FUNC = f"{__name__}.process_recording"  # RQ's func_name of the processing job
DELETE_RETRIES = 3


def storage_for(rt: Runtime) -> Storage:
    """Where stored recordings live: ``<instance>/recordings`` (an object store would go here)."""
    return LocalStorage(Path(rt.settings.instance_path) / "recordings")


def enqueue_processing(rt: Runtime, recording_id: int) -> None:
    """Queue the processing job of a recording whose job was claimed (after the commit)."""
    rt.enqueue(process_recording, recording_id, queue="low", retries=PROCESS_RETRIES)


def process_recording(recording_id: int) -> None:
    """RQ entry point: see the module docstring."""
    rt = runtime()
    run_processing(rt, recording_id, fetch=fetch_for(rt.settings), storage=storage_for(rt))


def run_processing(rt: Runtime, recording_id: int, *, fetch: Fetch, storage: Storage) -> None:
    """`process_recording` with its collaborators given (tests inject a fetch and a storage)."""
    with rt.unit_of_work() as uow:
        claim = services.claim_processing(uow.session, recording_id, now=rt.clock())
    if claim is None:
        return
    try:
        wav = fetch(claim.url)
        result = services.process_audio(claim.sid, wav, storage=storage)
    except (AudioRejected, DownloadRefused) as exc:
        _failed(rt, recording_id, exc.code, exc.message)
        return
    except (DownloadFailed, RecordingError, OSError) as exc:
        code = getattr(exc, "code", "storage-error")
        if claim.attempt >= services.MAX_ATTEMPTS:
            _failed(rt, recording_id, code, f"gave up after {claim.attempt} attempts: {exc}")
            return
        with rt.unit_of_work() as uow:
            services.note_attempt_failed(
                uow.session, recording_id, code, f"attempt {claim.attempt}: {exc}", now=rt.clock()
            )
        raise
    with rt.unit_of_work() as uow:
        stored = services.mark_stored(uow.session, recording_id, result, now=rt.clock())
        if stored is not None and rt.settings.recordings_delete_from_twilio:
            uow.after_commit(rt.enqueue, delete_from_twilio, recording_id, retries=DELETE_RETRIES)


def _failed(rt: Runtime, recording_id: int, code: str, reason: str) -> None:
    log.warning("recording %s failed: %s: %s", recording_id, code, reason)
    with rt.unit_of_work() as uow:
        services.mark_failed(uow.session, recording_id, code, reason, now=rt.clock())


def delete_from_twilio(recording_id: int) -> None:
    """Delete a stored recording from Twilio (once; a repeat finds it done)."""
    from recordings.models import Recording, RecordingStatus

    rt = runtime()
    with rt.unit_of_work() as uow:
        rec = uow.session.get(Recording, recording_id)
        if rec is None or rec.status is not RecordingStatus.STORED or rec.twilio_deleted_at:
            return
        sid = rec.sid
    rt.telephony.delete_recording(sid)  # TelephonyUnavailable raises: RQ retries
    with rt.unit_of_work() as uow:
        services.mark_deleted_from_twilio(uow.session, recording_id, now=rt.clock())


def retry(rt: Runtime, *, sids: tuple[str, ...] = (), all_failed: bool = False) -> list[int]:
    """Re-queue failed or stuck recordings (`callcenter recordings retry`); their ids."""
    with rt.unit_of_work() as uow:
        ids = services.request_retry(uow.session, sids=sids, all_failed=all_failed, now=rt.clock())
        for recording_id in ids:
            uow.after_commit(enqueue_processing, rt, recording_id)
    return ids


def requeue_stuck() -> list[int]:
    """RQ entry point for the periodic tick: re-queue recordings whose job was lost (see
    `requeue_lost`)."""
    return requeue_lost(runtime())


def requeue_lost(rt: Runtime) -> list[int]:
    """Re-queue the recordings `pending` or `processing` whose job is no longer in the job
    queue (queued, scheduled for a retry, or running: `live_jobs`), a minute after it was
    claimed or started: its worker was killed -9, or the job was lost with Redis. If the job
    queue cannot be read, only those older than `services.STALE_PROCESSING`. Their ids;
    each is logged."""
    try:
        live: set[int] | None = live_jobs(rt)
    except RedisError as exc:
        log.warning("recordings: the job queue cannot be read (%s); only old rows re-queued", exc)
        live = None
    with rt.unit_of_work() as uow:
        ids = services.request_retry(uow.session, stuck_only=True, live=live, now=rt.clock())
        for recording_id in ids:
            uow.after_commit(enqueue_processing, rt, recording_id)
    for recording_id in ids:
        log.warning(
            "repair: recording %s is pending or processing but its job is gone; re-queued",
            recording_id,
        )
    return ids


def live_jobs(rt: Runtime) -> set[int]:
    """The recordings whose processing job RQ still holds: queued, deferred, scheduled (a
    retry waiting for its backoff) or running (the started registry, after RQ's own cleanup
    of jobs whose worker died)."""
    queue = rt.queue("low")
    ids = set(queue.get_job_ids())
    ids.update(queue.scheduled_job_registry.get_job_ids())
    ids.update(queue.deferred_job_registry.get_job_ids())
    ids.update(job_id for job_id, _ in queue.started_job_registry.get_job_and_execution_ids())
    live = set()
    for job in Job.fetch_many(sorted(ids), connection=rt.redis):
        if job is None or job.func_name != PROCESS_FUNC or not job.args:
            continue
        if isinstance(job.args[0], int):
            live.add(job.args[0])
    return live


def purge_expired() -> list[str]:
    """RQ entry point for the periodic tick: apply the retention (see `services.purge_expired`)."""
    return purge(runtime())


def purge(rt: Runtime) -> list[str]:
    with rt.unit_of_work() as uow:
        return services.purge_expired(
            uow.session,
            storage_for(rt),
            now=rt.clock(),
            retention_days=rt.settings.recordings_retention_days,
        )
