"""Recording bytes to a pydub `AudioSegment`: PCM WAV read and checked here, the rest via ffmpeg.

Twilio serves 16-bit PCM WAV (8 kHz; two channels for dual-channel recordings). That is read
without ffmpeg after checking its chunks, so a download cut short is refused instead of being
measured as a shorter call (pydub's own reader silently keeps whatever bytes are there). Any
other input (MP3, mu-law or float WAV, 8-bit WAV) is converted by ffmpeg to 16-bit PCM WAV
first; input ffmpeg cannot decode is `CorruptAudio`.
"""

from __future__ import annotations

import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from recordings.errors import CorruptAudio, TranscodeFailed
from recordings.ffmpeg import AudioSegment, run_ffmpeg

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
DECODE_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class _PcmLayout:
    channels: int
    frame_rate: int
    sample_width: int
    start: int
    size: int


def load(source: bytes | Path, *, timeout: float = DECODE_TIMEOUT_S) -> AudioSegment:
    """The audio in `source` (bytes, or a file path) as an `AudioSegment`.

    Raises `CorruptAudio` for a truncated or undecodable file or one with no samples. Pure
    apart from reading `source` and, for non-PCM input, one ffmpeg run in a temporary folder.
    """
    data = source.read_bytes() if isinstance(source, Path) else source
    if not data:
        raise CorruptAudio("the recording is empty (0 bytes)")
    layout = _pcm_wav_layout(data)
    if layout is not None:
        return _segment(data, layout)
    with tempfile.TemporaryDirectory(prefix="recording-decode-") as folder:
        src = source if isinstance(source, Path) else Path(folder) / "input"
        if not isinstance(source, Path):
            src.write_bytes(data)
        wav = Path(folder) / "decoded.wav"
        try:
            run_ffmpeg(
                ["-i", src, "-map", "0:a:0", "-c:a", "pcm_s16le", "-f", "wav", wav],
                timeout=timeout,
            )
        except TranscodeFailed as exc:
            raise CorruptAudio(f"not decodable audio: {exc.message}") from exc
        decoded = wav.read_bytes()
    layout = _pcm_wav_layout(decoded)
    if layout is None:  # ffmpeg was asked for exactly this format
        raise CorruptAudio("ffmpeg did not produce 16-bit PCM WAV")
    return _segment(decoded, layout)


def _segment(data: bytes, layout: _PcmLayout) -> AudioSegment:
    raw = data[layout.start : layout.start + layout.size]
    if not raw:
        raise CorruptAudio("the recording contains no audio samples")
    return AudioSegment(
        data=raw,
        sample_width=layout.sample_width,
        frame_rate=layout.frame_rate,
        channels=layout.channels,
    )


def _pcm_wav_layout(data: bytes) -> _PcmLayout | None:
    """Where the samples of a 16/24/32-bit PCM WAV are; None for any other format.

    Raises `CorruptAudio` for a RIFF/WAVE file whose chunks are cut short or inconsistent.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt ":
            if size < 16 or body + size > len(data):
                raise CorruptAudio("the WAV format chunk is cut short")
            tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == WAVE_FORMAT_EXTENSIBLE and size >= 26:
                tag = int.from_bytes(data[body + 24 : body + 26], "little")  # sub-format GUID
            fmt = (tag, channels, rate, block_align, bits)
        elif chunk == b"data":
            if fmt is None:
                raise CorruptAudio("the WAV has samples before its format chunk")
            tag, channels, rate, block_align, bits = fmt
            if tag != WAVE_FORMAT_PCM or bits not in (16, 24, 32):
                return None  # valid, but not a layout pydub reads as-is: ffmpeg converts it
            if channels < 1 or rate < 1 or block_align != channels * bits // 8:
                raise CorruptAudio(
                    "inconsistent WAV format chunk", channels=channels, rate=rate, bits=bits
                )
            if body + size > len(data):
                raise CorruptAudio(
                    f"truncated: the header announces {size} bytes of samples, "
                    f"the file holds {len(data) - body}",
                    announced=size,
                    present=len(data) - body,
                )
            if size % block_align:
                raise CorruptAudio("the WAV ends in the middle of a sample frame")
            return _PcmLayout(channels, rate, bits // 8, body, size)
        pos = body + size + (size & 1)  # RIFF chunks are padded to an even length
    raise CorruptAudio("the WAV has no " + ("samples" if fmt else "format chunk"))
