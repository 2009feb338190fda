"""The generated hold music is real, telephony-shaped audio that loops cleanly."""

from __future__ import annotations

import io
import wave

from pydub import AudioSegment

from recordings.music import hold_music


def test_hold_music_is_telephony_wav_of_about_thirteen_seconds() -> None:
    with wave.open(io.BytesIO(hold_music())) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert 12.5 < wav.getnframes() / wav.getframerate() < 13.5


def test_hold_music_is_audible_and_starts_and_ends_quietly() -> None:
    track = AudioSegment.from_wav(io.BytesIO(hold_music()))
    assert -30 < track.dBFS < -10
    assert track[:20].dBFS < track.dBFS - 20  # fades in: no click when it loops
    assert track[-20:].max < 50 or track[-20:].dBFS < track.dBFS - 20


def test_hold_music_is_deterministic() -> None:
    hold_music.cache_clear()
    first = hold_music()
    hold_music.cache_clear()
    assert hold_music() == first
