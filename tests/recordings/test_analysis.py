"""Talk, silence, overtalk and level of generated dual-channel calls, within stated tolerances."""

from __future__ import annotations

import math

import pytest

from recordings.analysis import DEFAULT_DETECTOR, CallMeasures, TalkDetector, analyse
from recordings.audio import load
from recordings.errors import CorruptAudio, SilentRecording, UnsupportedAudio
from tests.recordings.calls import (
    AGENT,
    CALL_MS,
    CUSTOMER,
    Segments,
    channel,
    dual,
    gaps,
    intersect,
    silence,
    total,
    wav_bytes,
)

FRAME_S = DEFAULT_DETECTOR.frame_ms / 1000
LEVEL_TOL_DB = 0.5
# A sine's RMS is 3.01 dB below its peak.
SINE_CREST_DB = 20 * math.log10(math.sqrt(2))


def edges(*segment_lists: Segments) -> int:
    """Segment edges inside the call (an edge at 0 or at the end is exact)."""
    return sum(
        (start > 0) + (end < CALL_MS) for segments in segment_lists for start, end in segments
    )


def close(measured: float, expected_ms: int, n_edges: int) -> bool:
    """Within one frame per edge: the stated tolerance of the detector."""
    return abs(measured - expected_ms / 1000) <= n_edges * FRAME_S + 1e-9


@pytest.fixture(scope="module")
def call() -> CallMeasures:
    audio = dual(
        channel(AGENT, CALL_MS, freq=440, peak_dbfs=-18.0),
        channel(CUSTOMER, CALL_MS, freq=300, peak_dbfs=-24.0),
    )
    return analyse(load(wav_bytes(audio)), agent_channel=0)


def test_duration_is_exact(call: CallMeasures) -> None:
    assert call.duration_seconds == CALL_MS / 1000


def test_talk_time_per_channel_within_one_frame_per_edge(call: CallMeasures) -> None:
    assert close(call.agent.talk_seconds, total(AGENT), edges(AGENT))
    assert close(call.customer.talk_seconds, total(CUSTOMER), edges(CUSTOMER))


def test_overtalk_within_one_frame_per_edge(call: CallMeasures) -> None:
    both = intersect(AGENT, CUSTOMER)
    assert total(both) == 3_330
    assert close(call.overtalk_seconds, total(both), 2 * len(both))


def test_silence_share_and_longest_silence(call: CallMeasures) -> None:
    quiet = gaps(AGENT + CUSTOMER, CALL_MS)
    assert close(call.silence_seconds, total(quiet), edges(quiet))
    assert call.silence_share == pytest.approx(call.silence_seconds / 60, abs=1e-4)
    longest = max(quiet, key=lambda g: g[1] - g[0])
    assert longest == (52_590, 55_270)
    assert close(call.longest_silence_seconds, longest[1] - longest[0], 2)


def test_talk_and_silence_add_up(call: CallMeasures) -> None:
    spoken = call.agent.talk_seconds + call.customer.talk_seconds - call.overtalk_seconds
    assert spoken + call.silence_seconds == pytest.approx(call.duration_seconds, abs=0.002)


def test_levels_are_the_talkers_levels(call: CallMeasures) -> None:
    assert call.agent.peak_dbfs == pytest.approx(-18.0, abs=LEVEL_TOL_DB)
    assert call.customer.peak_dbfs == pytest.approx(-24.0, abs=LEVEL_TOL_DB)
    assert call.peak_dbfs == call.agent.peak_dbfs
    assert call.agent.level_dbfs == pytest.approx(-18.0 - SINE_CREST_DB, abs=LEVEL_TOL_DB)
    assert call.customer.level_dbfs == pytest.approx(-24.0 - SINE_CREST_DB, abs=LEVEL_TOL_DB)


def test_thresholds_are_relative_to_the_channel_but_never_below_the_floor(
    call: CallMeasures,
) -> None:
    # Agent: level -21 dBFS, 25 dB below is -46; customer: -27 - 25 = -52, floored at -50.
    assert call.agent.threshold_dbfs == pytest.approx(-46.0, abs=LEVEL_TOL_DB)
    assert call.customer.threshold_dbfs == DEFAULT_DETECTOR.floor_dbfs


def test_agent_channel_selects_which_channel_is_the_agent() -> None:
    audio = dual(channel(CUSTOMER, CALL_MS), channel(AGENT, CALL_MS))
    swapped = analyse(audio, agent_channel=1)
    assert close(swapped.agent.talk_seconds, total(AGENT), edges(AGENT))
    assert close(swapped.customer.talk_seconds, total(CUSTOMER), edges(CUSTOMER))


def test_pauses_up_to_the_hangover_are_talk_longer_ones_are_silence() -> None:
    agent = [(1_000, 3_000), (3_150, 5_000), (5_400, 7_000)]  # gaps of 150 ms and 400 ms
    measures = analyse(dual(channel(agent, 8_000), silence(8_000)), agent_channel=0)
    assert close(measures.agent.talk_seconds, 7_000 - 1_000 - 400, 4)
    assert close(measures.longest_silence_seconds, 1_000, 1)  # trailing second
    assert close(measures.silence_seconds, 1_000 + 400 + 1_000, 4)


def test_echo_under_a_loud_talker_is_not_talk() -> None:
    """The customer's voice leaking into the agent's loud channel at -40 dBFS is ignored."""
    agent_talk, customer_talk = [(0, 5_000)], [(6_000, 10_000)]
    agent = channel(agent_talk, 10_000, peak_dbfs=-6.0).overlay(
        channel(customer_talk, 10_000, freq=300, peak_dbfs=-40.0, noise_dbfs=None)
    )
    measures = analyse(dual(agent, channel(customer_talk, 10_000, freq=300)), agent_channel=0)
    assert close(measures.agent.talk_seconds, 5_000, 1)
    assert measures.overtalk_seconds == 0
    assert close(measures.silence_seconds, 1_000, 2)


def test_a_coarser_detector_frame_is_reported_and_still_within_tolerance() -> None:
    detector = TalkDetector(frame_ms=50)
    measures = analyse(
        dual(channel(AGENT, CALL_MS), channel(CUSTOMER, CALL_MS)),
        agent_channel=0,
        detector=detector,
    )
    assert measures.frame_ms == 50
    assert abs(measures.agent.talk_seconds - total(AGENT) / 1000) <= edges(AGENT) * 0.05


def test_one_silent_party_is_measured_not_refused() -> None:
    measures = analyse(dual(channel(AGENT, CALL_MS), silence(CALL_MS)), agent_channel=0)
    assert measures.customer.talk_seconds == 0
    assert measures.customer.level_dbfs is None
    assert measures.customer.peak_dbfs is None
    assert measures.overtalk_seconds == 0


@pytest.mark.parametrize("noise_dbfs", [None, -65.0], ids=["digital-silence", "line-noise"])
def test_a_recording_with_nobody_talking_is_refused_as_silent(noise_dbfs: float | None) -> None:
    quiet = channel([], 10_000, noise_dbfs=noise_dbfs)
    with pytest.raises(SilentRecording) as caught:
        analyse(load(wav_bytes(dual(quiet, quiet))), agent_channel=0)
    assert caught.value.code == "silent-recording"


def test_a_mono_recording_is_refused_with_the_reason() -> None:
    with pytest.raises(UnsupportedAudio, match="RequestedChannels=2"):
        analyse(channel(AGENT, CALL_MS), agent_channel=0)


def test_agent_channel_must_be_0_or_1() -> None:
    with pytest.raises(ValueError, match="agent_channel"):
        analyse(dual(channel(AGENT, 1_000), silence(1_000)), agent_channel=2)


def _wav() -> bytes:
    return wav_bytes(dual(channel(AGENT, 5_000), channel(CUSTOMER, 5_000)))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (wav_bytes(silence(0)), "no audio samples"),
        (_wav()[:44], "truncated"),
        (_wav()[: len(_wav()) // 2], "truncated"),
        (_wav()[:-1], "truncated"),
        (b"RIFF\x00\x00\x00\x00WAVEjunk", "no format chunk"),
        (b"this is not audio at all" * 100, "not decodable"),
    ],
    ids=["empty", "no-samples", "header-only", "half", "one-byte-short", "no-fmt", "garbage"],
)
def test_corrupt_audio_is_refused_with_a_clear_error(data: bytes, reason: str) -> None:
    with pytest.raises(CorruptAudio, match=reason) as caught:
        load(data)
    assert caught.value.code == "corrupt-audio"
