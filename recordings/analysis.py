"""What a dual-channel call recording says about the conversation: talk, silence, overtalk, level.

Twilio's dual-channel recordings keep each party on a channel of its own, so who talks when is
read from the energy of each channel separately; no speech recognition is involved.

The detector (`TalkDetector`, defaults below) works on frames of 20 ms, the frame of most
telephony voice-activity detectors (160 samples at Twilio's 8 kHz):

- A frame is *loud* when its RMS level is above the channel's threshold:
  ``max(floor_dbfs, reference - relative_db)`` = ``max(-50 dBFS, reference - 25 dB)``.
  The *reference* is the level the channel reaches for at least one second in total (its
  50th-loudest frame), so a click cannot raise it and a party who talks for a second sets it.
  Being relative, the threshold ignores the other party's echo and background chatter under
  a loud talker; the absolute floor keeps line noise (typically -60 to -70 dBFS) out of talk
  on a quiet channel.
- Gaps of at most `hangover_ms` (200 ms, as ITU-T P.56's hangover) between loud frames count
  as talk, so the pauses between words are talk and only longer pauses are silence.
- Talk per channel is its loud-or-bridged frames; *silence* is the frames in which neither
  channel talks (leading and trailing silence included); *overtalk* those in which both do.

Tolerance: a frame that straddles the start or end of a talk segment may fall either way, so
each measure is exact to within one frame (20 ms) per talk-segment edge involved, plus the
deliberate bridging of gaps up to 200 ms. Levels are pydub's dBFS (RMS relative to a full-scale
square wave: a full-scale sine is -3 dBFS). This is an energy detector: steady noise louder
than -50 dBFS on a channel with no speech at all counts as talk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from recordings.errors import SilentRecording, UnsupportedAudio
from recordings.ffmpeg import AudioSegment


@dataclass(frozen=True, slots=True)
class TalkDetector:
    """The settings of the talk detector (see the module docstring for their meaning)."""

    frame_ms: int = 20
    floor_dbfs: float = -50.0
    relative_db: float = 25.0
    hangover_ms: int = 200
    reference_ms: int = 1000


DEFAULT_DETECTOR = TalkDetector()


@dataclass(frozen=True, slots=True)
class ChannelMeasures:
    """One party's channel."""

    talk_seconds: float
    level_dbfs: float | None  # RMS over the loud frames; None if the party never talked
    peak_dbfs: float | None  # highest sample; None for digital silence
    threshold_dbfs: float  # the talk threshold this channel was measured with


@dataclass(frozen=True, slots=True)
class CallMeasures:
    """The measures of one dual-channel recording (seconds are rounded to the millisecond)."""

    duration_seconds: float
    agent: ChannelMeasures
    customer: ChannelMeasures
    silence_seconds: float  # neither party talking
    silence_share: float  # silence_seconds / duration_seconds, 0..1
    longest_silence_seconds: float
    overtalk_seconds: float  # both parties talking at once
    peak_dbfs: float | None  # the higher of the two channels' peaks
    frame_ms: int


def analyse(
    audio: AudioSegment, *, agent_channel: int, detector: TalkDetector = DEFAULT_DETECTOR
) -> CallMeasures:
    """Measure a two-channel recording whose channel `agent_channel` (0 or 1) is the agent.

    Which channel holds the agent depends on how the call was recorded (Twilio puts the
    *parent* leg on the first channel), so the caller says so explicitly. Pure: same audio,
    same measures. Raises `UnsupportedAudio` unless the audio has exactly two channels (a mono
    download of a dual-channel recording lacks `RequestedChannels=2`), and `SilentRecording`
    when neither channel has a single frame above the floor.
    """
    if audio.channels != 2:
        raise UnsupportedAudio(
            f"expected 2 channels (agent and customer), got {audio.channels}; "
            "download dual-channel recordings with RequestedChannels=2",
            channels=audio.channels,
        )
    if agent_channel not in (0, 1):
        raise ValueError(f"agent_channel must be 0 or 1, not {agent_channel}")
    rate = audio.frame_rate
    frame = max(1, rate * detector.frame_ms // 1000)
    total = int(audio.frame_count())
    lengths = [min(frame, total - start) for start in range(0, total, frame)]
    channels = audio.split_to_mono()
    mono = (channels[agent_channel], channels[1 - agent_channel])
    full_scale = float(mono[0].max_possible_amplitude)
    rms = [
        [m.get_sample_slice(start, start + frame).rms for start in range(0, total, frame)]
        for m in mono
    ]
    thresholds = [_threshold(r, full_scale, frame, rate, detector) for r in rms]
    loud = [[v > t for v in r] for r, t in zip(rms, thresholds, strict=True)]
    if not any(loud[0]) and not any(loud[1]):
        raise SilentRecording(
            f"no sound above {detector.floor_dbfs:g} dBFS on either channel",
            floor_dbfs=detector.floor_dbfs,
        )
    hangover = detector.hangover_ms * rate // 1000
    talk = [_bridge(flags, lengths, hangover) for flags in loud]
    silence = overtalk = longest = run = 0
    for agent_talks, customer_talks, n in zip(*talk, lengths, strict=True):
        if agent_talks and customer_talks:
            overtalk += n
        if agent_talks or customer_talks:
            run = 0
        else:
            silence += n
            run += n
            longest = max(longest, run)
    measures = [
        ChannelMeasures(
            talk_seconds=_seconds(sum(n for t, n in zip(flags, lengths, strict=True) if t), rate),
            level_dbfs=_active_level(levels, loud_flags, lengths, full_scale),
            peak_dbfs=_db(channel.max, full_scale),
            threshold_dbfs=round(20 * math.log10(threshold / full_scale), 2),
        )
        for channel, levels, loud_flags, flags, threshold in zip(
            mono, rms, loud, talk, thresholds, strict=True
        )
    ]
    peaks = [m.peak_dbfs for m in measures if m.peak_dbfs is not None]
    return CallMeasures(
        duration_seconds=_seconds(total, rate),
        agent=measures[0],
        customer=measures[1],
        silence_seconds=_seconds(silence, rate),
        silence_share=round(silence / total, 4),
        longest_silence_seconds=_seconds(longest, rate),
        overtalk_seconds=_seconds(overtalk, rate),
        peak_dbfs=max(peaks) if peaks else None,
        frame_ms=detector.frame_ms,
    )


def _threshold(
    rms: list[int], full_scale: float, frame: int, rate: int, detector: TalkDetector
) -> float:
    """The RMS a frame must exceed to be loud: relative to the channel's reference, floored."""
    floor = full_scale * 10 ** (detector.floor_dbfs / 20)
    reference_frames = max(1, math.ceil(detector.reference_ms * rate / 1000 / frame))
    ordered = sorted(rms, reverse=True)
    reference = ordered[min(reference_frames, len(ordered)) - 1]
    return max(floor, reference * 10 ** (-detector.relative_db / 20))


def _bridge(loud: list[bool], lengths: list[int], hangover: int) -> list[bool]:
    """`loud`, with every gap of at most `hangover` samples between two loud frames filled."""
    talk = list(loud)
    previous = None
    for i, flag in enumerate(loud):
        if not flag:
            continue
        if previous is not None and i - previous > 1 and sum(lengths[previous + 1 : i]) <= hangover:
            talk[previous + 1 : i] = [True] * (i - previous - 1)
        previous = i
    return talk


def _active_level(
    rms: list[int], loud: list[bool], lengths: list[int], full_scale: float
) -> float | None:
    """The RMS level, in dBFS, of the loud frames only (the talker's level, pauses excluded)."""
    energy = samples = 0
    for value, flag, n in zip(rms, loud, lengths, strict=True):
        if flag:
            energy += value * value * n
            samples += n
    return _db(math.sqrt(energy / samples), full_scale) if samples else None


def _db(value: float, full_scale: float) -> float | None:
    return round(20 * math.log10(value / full_scale), 2) if value > 0 else None


def _seconds(samples: int, rate: int) -> float:
    return round(samples / rate, 3)
