"""Which ffmpeg the recordings pipeline runs: the system one, else the imageio-ffmpeg wheel's.

Import pydub's `AudioSegment` from here, not from pydub: pydub looks for ffmpeg on PATH while
its module loads and warns when there is none (we point it at our binary in `ffmpeg_path`), and
on Python 3.11-3.12 it imports the deprecated `audioop` (pydub issue 725). Both warnings are
known and harmless, and are silenced for that one import only.

pydub needs ffmpeg only for formats other than WAV, and then also ffprobe, which the wheel
does not ship; so nothing here calls pydub's `from_file` on non-WAV input: `recordings.audio`
asks ffmpeg itself for a WAV first.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from recordings.errors import FfmpegNotFound, TranscodeFailed

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Couldn't find ffmpeg or avconv", RuntimeWarning)
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    from pydub import AudioSegment

__all__ = ["AudioSegment", "ffmpeg_path", "find_ffmpeg", "run_ffmpeg"]


def _wheel_ffmpeg() -> str | None:
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError:  # the wheel has no binary for this platform
        return None


def find_ffmpeg(
    *,
    which: Callable[[str], str | None] = shutil.which,
    bundled: Callable[[], str | None] = _wheel_ffmpeg,
) -> str:
    """The ffmpeg to run: `ffmpeg` on PATH if there is one, else the imageio-ffmpeg binary.

    The system build comes first because distributions patch and update it; the wheel's static
    build is the fallback that lets `make run` and `make test` work with nothing installed.
    Raises `FfmpegNotFound` when there is neither. Reads the filesystem; changes nothing.
    """
    found = which("ffmpeg") or bundled()
    if not found:
        raise FfmpegNotFound(
            "no ffmpeg on PATH and no imageio-ffmpeg binary: pip install imageio-ffmpeg"
        )
    return found


@functools.cache
def ffmpeg_path() -> str:
    """`find_ffmpeg()`, looked up once per process; also makes pydub use that binary."""
    path = find_ffmpeg()
    AudioSegment.converter = path
    return path


def run_ffmpeg(args: Sequence[str | Path], *, timeout: float) -> None:
    """Run ffmpeg with `args` (no stdin, errors only); raise `TranscodeFailed` if it fails.

    The message carries the end of ffmpeg's stderr, which names the real cause (an unknown
    format, a truncated file). A timeout kills the process and raises too.
    """
    command = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", *map(str, args)]
    try:
        done = subprocess.run(  # noqa: S603  (our own binary, arguments we build)
            command, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise TranscodeFailed(f"ffmpeg ran longer than {timeout:g} s", timeout=timeout) from exc
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip()[-500:]
        raise TranscodeFailed(
            f"ffmpeg exited with {done.returncode}: {tail}", returncode=done.returncode
        )
