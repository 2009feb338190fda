"""Tests of the recordings package.

`recordings.ffmpeg` is imported first so that pydub, which the helpers also use, is loaded
through it and emits no warning about a missing ffmpeg (the import order inside a module is
fixed by isort, so this is the one place that decides it).
"""

import recordings.ffmpeg  # noqa: F401
