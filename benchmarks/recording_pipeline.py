"""Processing a 5-minute dual-channel call, against a plain ffmpeg transcode of the same file.

    .venv/bin/python benchmarks/recording_pipeline.py [--minutes M] [--repeat N] [--quick]

The call is generated in the run: 8 kHz 16-bit stereo WAV like Twilio's dual-channel
recordings, agent (440 Hz) and customer (300 Hz) taking turns of 2-12 s with pauses of
0.3-2.5 s and some overtalk, over line noise at -65 dBFS (seeded, so every run processes the
same audio). Processing is what the recording job does to it, each step timed:

* decode:    `recordings.audio.load` of the WAV file (read, check chunks, build the segment);
* analyse:   `recordings.analysis.analyse` (talk, silence, overtalk, levels);
* transcode: `recordings.transcode.transcode` to the stored MP3 (ffmpeg, as a subprocess);
* peaks:     `recordings.transcode.waveform_peaks`, 1,000 points.

The floor is one plain ffmpeg run on the same WAV with the same encoder settings and nothing
else: the least a pipeline that stores an MP3 must spend. Each repetition runs the floor and
then the pipeline, so both see the same machine; the medians are reported, as wall time and
as CPU time (this process plus its ffmpeg children, less disturbed by other load).
`storage.put` (copy, fsync, read back, rename) is timed apart and not counted in processing:
its cost is the disk's.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# First, so that pydub loads through it and does not warn about a missing ffmpeg.
import recordings.ffmpeg  # noqa: E402, F401, I001
from pydub.generators import Sine, WhiteNoise  # noqa: E402

from benchmarks.provenance import tree  # noqa: E402
from recordings.analysis import analyse  # noqa: E402
from recordings.audio import load  # noqa: E402
from recordings.ffmpeg import AudioSegment, ffmpeg_path  # noqa: E402
from recordings.storage import LocalStorage  # noqa: E402
from recordings.transcode import MP3_ARGS, transcode, waveform_peaks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RATE = 8000
STEPS = ("decode", "analyse", "transcode", "peaks")
T = TypeVar("T")


def looped(generator: Sine | WhiteNoise, ms: int, volume: float) -> AudioSegment:
    second = generator.to_audio_segment(duration=1000, volume=volume)
    return (second * (ms // 1000 + 1))[:ms]


Segments = list[tuple[int, int]]


def generate_call(minutes: float, seed: int = 5) -> tuple[AudioSegment, list[Segments]]:
    """A seeded two-party call of `minutes`, and the [start, end) ms of each party's turns."""
    rnd = random.Random(seed)
    total = int(minutes * 60_000)
    lines = [looped(WhiteNoise(sample_rate=RATE), total, -65.0) for _ in range(2)]
    voices = [
        looped(Sine(440, sample_rate=RATE), 12_000, -18.0),
        looped(Sine(300, sample_rate=RATE), 12_000, -22.0),
    ]
    turns: list[Segments] = [[], []]
    at, speaker = 500, 0
    while at < total - 2_000:
        length = min(rnd.randint(2_000, 12_000), total - at)
        lines[speaker] = lines[speaker].overlay(voices[speaker][:length], position=at)
        turns[speaker].append((at, at + length))
        if rnd.random() < 0.25:  # the next party starts before this one finishes
            at += length - rnd.randint(300, 1_500)
        else:
            at += length + rnd.randint(300, 2_500)
        speaker = 1 - speaker
    return AudioSegment.from_mono_audiosegments(*lines), turns


def expected(turns: list[Segments], total: int) -> dict[str, float]:
    """The true measures of the generated call, in seconds, from its turns (1 ms steps)."""
    talking = [bytearray(total) for _ in turns]
    for flags, segments in zip(talking, turns, strict=True):
        for start, end in segments:
            flags[start:end] = b"\x01" * (end - start)
    both = sum(a and b for a, b in zip(*talking, strict=True))
    silent = [not (a or b) for a, b in zip(*talking, strict=True)]
    longest = run = 0
    for quiet in silent:
        run = run + 1 if quiet else 0
        longest = max(longest, run)
    return {
        "agent talk": sum(talking[0]) / 1000,
        "customer talk": sum(talking[1]) / 1000,
        "overtalk": both / 1000,
        "silence": sum(silent) / 1000,
        "longest silence": longest / 1000,
    }


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the ffmpeg runs)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def plain_ffmpeg(wav: Path, out: Path) -> None:
    subprocess.run(  # noqa: S603  (our ffmpeg, our arguments)
        [ffmpeg_path(), "-nostdin", "-loglevel", "error", "-y", "-i", wav, *MP3_ARGS, out],
        check=True,
    )


def ffmpeg_version() -> str:
    done = subprocess.run(  # noqa: S603
        [ffmpeg_path(), "-version"], capture_output=True, text=True, check=True
    )
    return done.stdout.split("\n", 1)[0].removeprefix("ffmpeg version ").split(" ")[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the call")
    parser.add_argument("--repeat", type=int, default=7, help="repetitions (medians reported)")
    parser.add_argument("--quick", action="store_true", help="1-minute call, 3 repetitions")
    args = parser.parse_args(argv)
    minutes, repeat = (1.0, 3) if args.quick else (args.minutes, args.repeat)
    started = time.monotonic()
    binary = ffmpeg_path()
    source = "system" if "imageio_ffmpeg" not in binary else "imageio-ffmpeg wheel"
    print(
        f"Recordings: processing of a {minutes:g}-minute dual-channel call (8 kHz, 16-bit WAV),"
        f" {repeat} repetitions, medians; ffmpeg {ffmpeg_version()} ({source});"
        f" {os.cpu_count()} CPUs, Python {platform.python_version()}; {tree()}."
    )
    with tempfile.TemporaryDirectory(prefix="recordings-bench-") as folder:
        work = Path(folder)
        audio, turns = generate_call(minutes)
        truth = expected(turns, len(audio))
        edges = sum(2 * len(t) for t in turns)
        wav = work / "call.wav"
        audio.export(wav, format="wav").close()
        storage = LocalStorage(work / "store")
        wall: dict[str, list[float]] = {step: [] for step in (*STEPS, "floor", "put")}
        cpu: dict[str, list[float]] = {step: [] for step in wall}

        def record(step: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
            c0, t0 = cpu_seconds(), time.perf_counter()
            value = fn(*args, **kwargs)
            wall[step].append(time.perf_counter() - t0)
            cpu[step].append(cpu_seconds() - c0)
            return value

        for n in range(repeat):
            mp3 = work / f"call-{n}.mp3"
            record("floor", plain_ffmpeg, wav, work / f"floor-{n}.mp3")
            segment = record("decode", load, wav)
            measures = record("analyse", analyse, segment, agent_channel=0)
            record("transcode", transcode, wav, mp3)
            record("peaks", waveform_peaks, segment)
            record("put", storage.put, f"recordings/RE{n}.mp3", mp3)
        mp3_size, wav_size = mp3.stat().st_size, wav.stat().st_size
    seconds = minutes * 60
    med_wall = {step: statistics.median(v) for step, v in wall.items()}
    med_cpu = {step: statistics.median(v) for step, v in cpu.items()}
    # Medians of per-repetition totals, not sums of medians.
    total_wall = statistics.median(sum(wall[s][i] for s in STEPS) for i in range(repeat))
    total_cpu = statistics.median(sum(cpu[s][i] for s in STEPS) for i in range(repeat))
    print(f"(the run took {time.monotonic() - started:.0f} s)")
    print(f"{'step':<22} {'wall ms':>9} {'CPU ms':>9} {'x real time':>12} {'/ ffmpeg':>9}")
    for step in STEPS:
        print(
            f"{step:<22} {med_wall[step] * 1000:>9.1f} {med_cpu[step] * 1000:>9.1f}"
            f" {med_wall[step] / seconds:>12.5f} {med_wall[step] / med_wall['floor']:>8.2f}x"
        )
    print(
        f"{'processing (total)':<22} {total_wall * 1000:>9.1f} {total_cpu * 1000:>9.1f}"
        f" {total_wall / seconds:>12.5f} {total_wall / med_wall['floor']:>8.2f}x"
    )
    print(
        f"{'plain ffmpeg (floor)':<22} {med_wall['floor'] * 1000:>9.1f}"
        f" {med_cpu['floor'] * 1000:>9.1f} {med_wall['floor'] / seconds:>12.5f} {1:>8.2f}x"
    )
    print(
        f"{'storage.put (apart)':<22} {med_wall['put'] * 1000:>9.1f} {med_cpu['put'] * 1000:>9.1f}"
    )
    print(
        f"Processing {seconds:g} s of audio takes {total_wall:.2f} s of wall time:"
        f" {total_wall / seconds:.4f} x real time ({seconds / total_wall:.0f} times faster than"
        f" the call lasted),\n{total_wall / med_wall['floor']:.2f} x a plain ffmpeg transcode of"
        f" the same file (CPU: {total_cpu / med_cpu['floor']:.2f} x)."
        f" WAV {wav_size / 1e6:.2f} MB -> MP3 {mp3_size / 1e6:.2f} MB"
        f" ({wav_size / mp3_size:.1f} x smaller)."
    )
    assert measures is not None
    found = {
        "agent talk": measures.agent.talk_seconds,
        "customer talk": measures.customer.talk_seconds,
        "overtalk": measures.overtalk_seconds,
        "silence": measures.silence_seconds,
        "longest silence": measures.longest_silence_seconds,
    }
    print(
        f"Measures against the generated truth ({edges} turn edges; stated tolerance: 20 ms"
        " per edge involved):\n"
        + ", ".join(f"{k} {found[k]:.2f}/{truth[k]:.2f} s" for k in truth)
        + f"; levels agent {measures.agent.level_dbfs} / customer"
        f" {measures.customer.level_dbfs} dBFS (sines of -18 / -22 dBFS peak: -21.0 / -25.0)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
