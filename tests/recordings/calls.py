"""Generated dual-channel calls with known talk segments: tones for voices, noise for the line."""

from __future__ import annotations

import functools
import io
import math

from pydub.generators import Sine, WhiteNoise

from recordings.ffmpeg import AudioSegment

RATE = 8000  # Twilio's recordings: 8 kHz, 16-bit
Segments = list[tuple[int, int]]  # [start_ms, end_ms) of each talk segment


@functools.cache
def _second(kind: str, freq: int, peak_dbfs: float) -> AudioSegment:
    """One second of a tone or of noise; whole cycles, so it loops without a click."""
    generator = Sine(freq, sample_rate=RATE) if kind == "sine" else WhiteNoise(sample_rate=RATE)
    return generator.to_audio_segment(duration=1000, volume=peak_dbfs)


def _looped(kind: str, ms: int, freq: int, peak_dbfs: float) -> AudioSegment:
    return (_second(kind, freq, peak_dbfs) * math.ceil(ms / 1000))[:ms]


def silence(ms: int) -> AudioSegment:
    return AudioSegment.silent(duration=ms, frame_rate=RATE)


def channel(
    segments: Segments,
    total_ms: int,
    *,
    freq: int = 440,
    peak_dbfs: float = -18.0,
    noise_dbfs: float | None = -65.0,
) -> AudioSegment:
    """A mono channel of `total_ms`: a tone in each segment, line noise (or digital silence)."""
    line = silence(total_ms) if noise_dbfs is None else _looped("noise", total_ms, 0, noise_dbfs)
    for start, end in segments:
        line = line.overlay(_looped("sine", end - start, freq, peak_dbfs), position=start)
    return line


def dual(first: AudioSegment, second: AudioSegment) -> AudioSegment:
    """A two-channel recording: `first` on channel 0, `second` on channel 1."""
    return AudioSegment.from_mono_audiosegments(first, second)


def wav_bytes(audio: AudioSegment) -> bytes:
    out = io.BytesIO()
    audio.export(out, format="wav")
    return out.getvalue()


def total(segments: Segments) -> int:
    return sum(end - start for start, end in segments)


def intersect(a: Segments, b: Segments) -> Segments:
    return [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b if max(s1, s2) < min(e1, e2)]


def gaps(talk: Segments, total_ms: int) -> Segments:
    """The stretches of [0, total_ms) that no segment covers."""
    out, at = [], 0
    for start, end in sorted(talk):
        if start > at:
            out.append((at, start))
        at = max(at, end)
    if at < total_ms:
        out.append((at, total_ms))
    return out


# A 60-second call. Segment edges are deliberately off the 20 ms frame grid, every pause is
# longer than the 200 ms hangover, and the customer talks over the agent three times.
CALL_MS = 60_000
AGENT: Segments = [(0, 4_310), (9_870, 21_450), (30_030, 38_770), (44_110, 52_590)]
CUSTOMER: Segments = [(4_990, 10_650), (22_230, 29_510), (37_130, 45_020), (55_270, 58_890)]
