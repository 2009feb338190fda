"""The `Recording` row: one Twilio recording, from its status callback to its stored copy.

Two statuses travel side by side:

- `twilio_status` is what Twilio last told us (``in-progress``, ``completed``, ``absent``,
  ``failed``); callbacks may repeat or arrive out of order, so a final status is never
  replaced by ``in-progress`` (see `recordings.services.record_status`).
- `status` is our pipeline: ``recording`` (Twilio is still recording) → ``pending`` (ready to
  download, one job claimed by `job_enqueued_at`) → ``processing`` → ``stored`` or ``failed``
  (with `failure_code`, `failure_reason` and `attempts`); ``purged`` once retention removed
  the stored file. A recording Twilio reports ``absent`` or ``failed`` is ``failed`` at once,
  with Twilio's `error_code`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.models import str_enum


class RecordingStatus(enum.StrEnum):
    RECORDING = "recording"  # Twilio is still recording (only an in-progress callback so far)
    PENDING = "pending"  # complete at Twilio; a processing job is (to be) queued
    PROCESSING = "processing"  # a job claimed it (a retry or a rerun may claim it again)
    STORED = "stored"  # analysed, transcoded and stored; playable
    FAILED = "failed"  # see failure_code / failure_reason; `callcenter recordings retry`
    PURGED = "purged"  # retention deleted the stored file; the row and its measures stay


class Recording(Base):
    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)  # RecordingSid
    status: Mapped[RecordingStatus] = mapped_column(str_enum(RecordingStatus))
    twilio_status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(10))  # Twilio's, for absent/failed
    source_url: Mapped[str] = mapped_column(String(500), default="")  # RecordingUrl
    duration_s: Mapped[int | None]  # RecordingDuration (Twilio's, whole seconds)
    channels: Mapped[int | None]  # RecordingChannels
    created_at: Mapped[datetime]  # the first callback
    updated_at: Mapped[datetime]
    # What was recorded: the recorded leg (the agent's, for a connected call), and the links.
    call_sid: Mapped[str] = mapped_column(String(64), default="")
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), index=True
    )
    queued_call_id: Mapped[int | None] = mapped_column(
        ForeignKey("queued_calls.id", ondelete="SET NULL"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    queue: Mapped[str | None] = mapped_column(String(40), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    # Processing: the one job's claim, attempts, and why it failed.
    job_enqueued_at: Mapped[datetime | None]
    processing_started_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    failure_code: Mapped[str | None] = mapped_column(String(40))
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    # The result: measures (recordings.analysis.CallMeasures as JSON), peaks (audiowaveform
    # v2 JSON) and the stored file.
    measures: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    peaks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    audio_seconds: Mapped[float | None]  # measured length of the audio
    storage_key: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int | None]
    sha256: Mapped[str | None] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(40))
    stored_at: Mapped[datetime | None]
    twilio_deleted_at: Mapped[datetime | None]
    # Retention.
    legal_hold: Mapped[bool] = mapped_column(default=False)
    purged_at: Mapped[datetime | None]
