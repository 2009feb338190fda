"""Hold music of our own: a calm pentatonic piece generated with pydub, no recording copied.

Generated, not stored: the notes below are the score, and `hold_music()` renders them to a
telephony WAV (8 kHz, 16-bit mono, what a phone line carries) that loops without a click
(it starts and ends on silence). Pure: the same call gives the same bytes.
"""

from __future__ import annotations

import io
from functools import cache

from recordings.ffmpeg import AudioSegment  # first: pydub without its ffmpeg and audioop warnings

SAMPLE_RATE = 8000
BEAT_MS = 400
# A major pentatonic, in Hz; the melody and a slow bass line, one entry per beat (None = rest).
_NOTES = {
    "A3": 220.0,
    "C#4": 277.18,
    "E4": 329.63,
    "F#4": 369.99,
    "A4": 440.0,
    "B4": 493.88,
    "C#5": 554.37,
    "E5": 659.25,
    "D3": 146.83,
    "E3": 164.81,
    "F#3": 185.0,
}
MELODY: tuple[str | None, ...] = (
    "E4",
    "A4",
    "C#5",
    "B4",
    "A4",
    "F#4",
    "E4",
    None,
    "F#4",
    "A4",
    "B4",
    "C#5",
    "E5",
    "C#5",
    "B4",
    None,
    "A4",
    "C#5",
    "B4",
    "A4",
    "F#4",
    "E4",
    "C#4",
    None,
    "E4",
    "F#4",
    "A4",
    "B4",
    "A4",
    None,
    None,
    None,
)
BASS = ("A3", "A3", "F#3", "F#3", "D3", "D3", "E3", "E3")  # one entry per four beats


def _tone(freq: float, duration_ms: int, volume_db: float) -> AudioSegment:
    from pydub.generators import Sine  # after recordings.ffmpeg has loaded pydub quietly

    tone = Sine(freq, sample_rate=SAMPLE_RATE).to_audio_segment(
        duration=duration_ms, volume=volume_db
    )
    return tone.fade_in(20).fade_out(min(120, duration_ms // 3))


@cache
def hold_music() -> bytes:
    """The hold music as WAV bytes (about 13 s, loops cleanly)."""
    length = BEAT_MS * len(MELODY)
    track = AudioSegment.silent(duration=length, frame_rate=SAMPLE_RATE)
    for i, note in enumerate(MELODY):
        if note:
            track = track.overlay(_tone(_NOTES[note], BEAT_MS - 30, -16.0), position=i * BEAT_MS)
    for i, note in enumerate(BASS):
        track = track.overlay(
            _tone(_NOTES[note], 4 * BEAT_MS - 60, -22.0), position=i * 4 * BEAT_MS
        )
    track = track.set_channels(1).set_sample_width(2).fade_in(300).fade_out(600)
    out = io.BytesIO()
    track.export(out, format="wav")
    return out.getvalue()
