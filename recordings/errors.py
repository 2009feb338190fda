"""Why a recording could not be decoded, measured, transcoded, stored or replayed.

Every error is a `DomainError` with a stable `code` slug, so the processing job can store the
code as the failure reason and the console can map it to a status. Subclasses of
`AudioRejected` are permanent (the audio itself is unusable: retrying downloads the same bytes);
the others may be transient or a deployment problem.
"""

from __future__ import annotations

from core.errors import DomainError


class RecordingError(DomainError):
    code = "recording-error"


class FfmpegNotFound(RecordingError):
    code = "ffmpeg-not-found"


class AudioRejected(RecordingError):
    """The audio cannot be used; a retry would see the same bytes, so the job should fail."""

    code = "audio-rejected"


class CorruptAudio(AudioRejected):
    code = "corrupt-audio"


class UnsupportedAudio(AudioRejected):
    code = "unsupported-audio"


class SilentRecording(AudioRejected):
    code = "silent-recording"


class TranscodeFailed(RecordingError):
    code = "transcode-failed"


class StorageError(RecordingError):
    code = "storage-error"


class InvalidKey(StorageError):
    code = "invalid-storage-key"


class NotStored(StorageError):
    code = "not-stored"


class VerifyFailed(StorageError):
    """What landed on disk is not what was given: nothing was published under the key."""

    code = "storage-verify-failed"


class LinkRefused(RecordingError):
    """A playback link that must not play (all of them mean 403 at the HTTP edge)."""

    code = "link-refused"


class LinkTampered(LinkRefused):
    """Not signed by us with this secret and purpose: altered, truncated or forged."""

    code = "link-tampered"


class LinkExpired(LinkRefused):
    code = "link-expired"


class LinkMismatch(LinkRefused):
    """Genuine and current, but for another recording or another viewer."""

    code = "link-mismatch"
