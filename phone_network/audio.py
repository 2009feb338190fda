"""Real WAV files for recordings: voice-like tone bursts where someone spoke, silence elsewhere."""

from __future__ import annotations

import io
import math
import sys
import wave
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

RATE = 8000  # Twilio's recordings are 8 kHz telephone audio


@dataclass(frozen=True, slots=True)
class Speech:
    """Someone talking on `channel` (0 = the recorded leg, 1 = the other side) for a while."""

    channel: int
    start: float
    seconds: float


@cache
def _voice(channel: int) -> array[int]:
    """One second of a vowel-like sound: a pitch with harmonics and a syllable rhythm."""
    pitch = (120.0, 210.0)[channel % 2]
    samples = array("h")
    for n in range(RATE):
        t = n / RATE
        envelope = 0.55 + 0.45 * math.sin(2 * math.pi * 4 * t)
        tone = (math.sin(2 * math.pi * pitch * t) + 0.5 * math.sin(4 * math.pi * pitch * t)
                + 0.25 * math.sin(6 * math.pi * pitch * t))
        samples.append(int(6000 * envelope * tone))
    return samples


def render_wav(duration: float, speech: Sequence[Speech], *, channels: int = 1) -> bytes:
    """A 16-bit PCM WAV of `duration` seconds; mono mixes every channel's speech."""
    frames = max(0, round(duration * RATE))
    tracks = [array("h", bytes(2 * frames)) for _ in range(channels)]
    for part in speech:
        track = tracks[min(part.channel, channels - 1)]
        begin = max(0, round(part.start * RATE))
        end = min(frames, round((part.start + part.seconds) * RATE))
        voice = _voice(part.channel)
        position = begin
        while position < end:
            chunk = min(end - position, RATE)
            track[position:position + chunk] = voice[:chunk]
            position += chunk
    if channels == 1:
        pcm = tracks[0]
    else:
        pcm = array("h", bytes(2 * frames * channels))
        for index, track in enumerate(tracks):
            pcm[index::channels] = track
    if sys.byteorder == "big":
        pcm.byteswap()  # WAV samples are little-endian
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def conversation(start: float, seconds: float, *, turn: float = 3.0) -> tuple[Speech, ...]:
    """Two people taking turns (channel 0, then 1, ...) from `start` for `seconds`."""
    parts = []
    at, channel = start, 0
    while at < start + seconds:
        length = min(turn, start + seconds - at)
        parts.append(Speech(channel, at, max(0.0, length - 0.5)))
        at += length
        channel = 1 - channel
    return tuple(parts)
