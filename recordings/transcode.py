"""The stored, browser-playable copy of a recording, and the waveform peaks of its replay page.

Format: MP3, constant 32 kbit/s, 16 kHz, stereo (`MP3_ARGS`).

- MP3 is the compressed format every browser's `<audio>` element plays, Safari and older iOS
  included; Opus would be smaller at the same quality, but Opus in Ogg does not play on
  older Apple devices. Twilio itself serves recordings as MP3 too.
- Constant bitrate makes a byte offset proportional to a time, so a browser seeking with a
  Range request lands where it means to without an index (variable-bitrate MP3 seeks only
  approximately). A 5-minute call is 1.2 MB, against 9.6 MB of dual-channel 8 kHz WAV.
- 16 kHz is the lowest MPEG-2 (ISO) rate; 8 kHz MP3 is "MPEG 2.5", an extension outside the
  standard that a decoder need not play. Telephone audio carries nothing above 4 kHz, so
  nothing is lost and the encoder spends no bits on the empty upper band.
- Stereo keeps agent and customer apart: QC can pan or mute one party, and overtalk stays
  intelligible. Each side gets about 16 kbit/s, ample for telephone speech.

Peaks follow the JSON format of BBC's audiowaveform (version 2, 8-bit), which waveform-data.js
and peaks.js read directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recordings.ffmpeg import AudioSegment, run_ffmpeg

CONTENT_TYPE = "audio/mpeg"
EXTENSION = "mp3"
MP3_ARGS = ("-c:a", "libmp3lame", "-b:a", "32k", "-ar", "16000", "-ac", "2")
TRANSCODE_TIMEOUT_S = 300.0
PEAK_POINTS = 1000


def transcode(source: Path, target: Path, *, timeout: float = TRANSCODE_TIMEOUT_S) -> None:
    """Write the stored MP3 of the recording in `source` (any format ffmpeg reads) to `target`.

    `target` is overwritten; write it to a work folder and hand it to `Storage.put`, which
    publishes it atomically. Metadata is not copied, so the output depends only on the audio
    and the ffmpeg build. Raises `TranscodeFailed` (with ffmpeg's own message) on failure.
    """
    args: list[str | Path] = ["-y", "-i", source, "-map", "0:a:0", "-map_metadata", "-1", *MP3_ARGS]
    run_ffmpeg([*args, "-f", "mp3", target], timeout=timeout)


@dataclass(frozen=True, slots=True)
class Peaks:
    """Min/max pairs per point and channel, 8-bit (-128..127), interleaved as audiowaveform's:
    point 0 channel 0 min, max, point 0 channel 1 min, max, point 1 channel 0 min, ..."""

    channels: int
    sample_rate: int
    samples_per_pixel: int
    data: tuple[int, ...]

    @property
    def length(self) -> int:
        """How many points (pixels)."""
        return len(self.data) // (2 * self.channels)

    def as_json(self) -> dict[str, Any]:
        """The audiowaveform version-2 JSON object (a plain dict for `json.dumps`)."""
        return {
            "version": 2,
            "channels": self.channels,
            "sample_rate": self.sample_rate,
            "samples_per_pixel": self.samples_per_pixel,
            "bits": 8,
            "length": self.length,
            "data": list(self.data),
        }


def waveform_peaks(audio: AudioSegment, *, points: int = PEAK_POINTS) -> Peaks:
    """At most `points` min/max pairs per channel of `audio`, evenly spread over its length.

    Computed from the original PCM (before transcoding) so the picture matches what was
    recorded. Pure. 1,000 points of a two-channel call make about 15 kB of JSON.
    """
    if points < 1:
        raise ValueError("points must be at least 1")
    total, channels = int(audio.frame_count()), audio.channels
    per_point = max(1, math.ceil(total / points))
    shift = 8 * audio.sample_width - 8  # keep the top 8 bits of each sample
    samples = audio.get_array_of_samples()  # interleaved: frame 0 channel 0, channel 1, ...
    data: list[int] = []
    for start in range(0, total, per_point):
        end = min(total, start + per_point)
        for channel in range(channels):
            window = samples[start * channels + channel : end * channels : channels]
            data += (min(window) >> shift, max(window) >> shift)
    return Peaks(audio.channels, audio.frame_rate, per_point, tuple(data))
