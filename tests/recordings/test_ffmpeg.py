"""Which ffmpeg is used, and pydub configured with it without a warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recordings.errors import FfmpegNotFound
from recordings.ffmpeg import AudioSegment, ffmpeg_path, find_ffmpeg

ROOT = Path(__file__).resolve().parents[2]


def test_the_system_ffmpeg_on_path_comes_first() -> None:
    found = find_ffmpeg(which=lambda name: f"/usr/bin/{name}", bundled=lambda: "/wheel/ffmpeg")
    assert found == "/usr/bin/ffmpeg"


def test_without_a_system_ffmpeg_the_wheel_binary_is_used() -> None:
    found = find_ffmpeg(which=lambda name: None)
    assert "imageio_ffmpeg" in found
    assert os.access(found, os.X_OK)


def test_no_ffmpeg_at_all_is_a_clear_error() -> None:
    with pytest.raises(FfmpegNotFound, match="imageio-ffmpeg"):
        find_ffmpeg(which=lambda name: None, bundled=lambda: None)


def test_pydub_is_pointed_at_the_ffmpeg_found() -> None:
    assert AudioSegment.converter == ffmpeg_path()
    assert ffmpeg_path() == find_ffmpeg()


def test_importing_and_configuring_raises_no_warning_even_when_warnings_are_errors() -> None:
    """A fresh interpreter, every warning an error, no ffmpeg on PATH: pydub stays quiet."""
    code = (
        "from recordings.ffmpeg import AudioSegment, ffmpeg_path; "
        "path = ffmpeg_path(); "
        "assert AudioSegment.converter == path, path"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=ROOT,
        env={"PATH": "/nonexistent", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
