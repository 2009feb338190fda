"""The stored MP3 is decodable, shorter than the WAV, faithful; peaks are audiowaveform JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recordings.analysis import analyse
from recordings.audio import load
from recordings.errors import TranscodeFailed
from recordings.ffmpeg import AudioSegment
from recordings.transcode import Peaks, transcode, waveform_peaks
from tests.recordings.calls import AGENT, CALL_MS, CUSTOMER, channel, dual, total, wav_bytes


@pytest.fixture(scope="module")
def call_audio() -> AudioSegment:
    return dual(
        channel(AGENT, CALL_MS, peak_dbfs=-18.0),
        channel(CUSTOMER, CALL_MS, freq=300, peak_dbfs=-24.0),
    )


@pytest.fixture(scope="module")
def mp3(call_audio: AudioSegment, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("transcode")
    wav, mp3 = folder / "call.wav", folder / "call.mp3"
    wav.write_bytes(wav_bytes(call_audio))
    transcode(wav, mp3)
    return wav, mp3


def test_the_mp3_is_much_smaller_than_the_wav(mp3: tuple[Path, Path]) -> None:
    wav, out = mp3
    assert out.stat().st_size < wav.stat().st_size / 5
    # 32 kbit/s for 60 s is 240 kB, plus a header and the encoder's last frame.
    assert 235_000 < out.stat().st_size < 250_000


def test_the_mp3_decodes_to_the_same_two_channels_and_length(mp3: tuple[Path, Path]) -> None:
    _, out = mp3
    assert out.read_bytes()[:3] == b"ID3" or out.read_bytes()[:2] == b"\xff\xf3"
    decoded = load(out)
    assert decoded.channels == 2
    assert decoded.frame_rate == 16_000
    assert abs(len(decoded) - CALL_MS) <= 80  # one MP3 frame (1,152 samples at 16 kHz)


def test_the_mp3_keeps_who_talks_when(mp3: tuple[Path, Path]) -> None:
    """Stereo is kept: the parties are still apart after encoding."""
    measures = analyse(load(mp3[1]), agent_channel=0)
    assert measures.agent.talk_seconds == pytest.approx(total(AGENT) / 1000, abs=0.3)
    assert measures.customer.talk_seconds == pytest.approx(total(CUSTOMER) / 1000, abs=0.3)


def test_transcoding_is_deterministic(mp3: tuple[Path, Path], tmp_path: Path) -> None:
    wav, out = mp3
    again = tmp_path / "again.mp3"
    transcode(wav, again)
    assert again.read_bytes() == out.read_bytes()


def test_transcoding_a_corrupt_file_fails_with_ffmpegs_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEgarbage-garbage")
    with pytest.raises(TranscodeFailed, match="ffmpeg exited") as caught:
        transcode(bad, tmp_path / "out.mp3")
    assert caught.value.code == "transcode-failed"


def test_peaks_have_the_requested_shape_and_follow_the_talk(call_audio: AudioSegment) -> None:
    peaks = waveform_peaks(call_audio, points=600)
    assert (peaks.channels, peaks.sample_rate, peaks.length) == (2, 8000, 600)
    assert peaks.samples_per_pixel == 800  # 480,000 samples / 600 points
    assert len(peaks.data) == 600 * 2 * 2
    assert all(-128 <= v <= 127 for v in peaks.data)

    def channel_max(point: int, ch: int) -> int:
        return peaks.data[(point * 2 + ch) * 2 + 1]

    # 100 ms per point: point 20 (2.0 s) has only the agent, point 60 (6.0 s) only the customer.
    assert channel_max(20, 0) == 16  # -18 dBFS peak: 0.126 x 128
    assert channel_max(20, 1) <= 1  # line noise at -65 dBFS
    assert channel_max(60, 0) <= 1
    assert channel_max(60, 1) == 8  # -24 dBFS


def test_peaks_are_small_audiowaveform_json(call_audio: AudioSegment) -> None:
    document = waveform_peaks(call_audio).as_json()
    assert document.keys() == {
        "version",
        "channels",
        "sample_rate",
        "samples_per_pixel",
        "bits",
        "length",
        "data",
    }
    assert (document["version"], document["bits"], document["length"]) == (2, 8, 1000)
    assert len(json.dumps(document)) < 20_000


def test_a_recording_shorter_than_the_points_gets_one_point_per_sample() -> None:
    tiny = dual(channel([(0, 1)], 1), channel([], 1))  # 8 samples
    peaks = waveform_peaks(tiny, points=1000)
    assert (peaks.samples_per_pixel, peaks.length) == (1, 8)
    assert isinstance(peaks, Peaks)
