"""Where the web processes keep their Prometheus histograms, emptied when gunicorn starts.

gunicorn's master calls `prepare` (from `callcenter/gunicorn_config.py`'s `on_starting`)
before it forks a worker: the folder's files from an earlier run are deleted and
PROMETHEUS_MULTIPROC_DIR points every worker at it, so each worker writes its observations
to a file of its own (named by its pid) and `/metrics`, whichever worker answers, adds them
all up. A worker that dies and is replaced leaves its file, so the totals never go backwards
while the server runs; they start from zero when the server starts again, as a restarted
process's counters would.

This module must not import prometheus_client: the variable has to be set before that import,
which chooses between in-memory and file-backed values once.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(instance_path: Path, environ: MutableMapping[str, str] = os.environ) -> Path:
    """Empty the metrics folder (PROMETHEUS_MULTIPROC_DIR, else `<instance>/metrics`) and point
    the variable at it; returns the folder. Only the `.db` files prometheus_client writes are
    removed."""
    folder = Path(environ.get(ENV) or instance_path / "metrics").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)
    environ[ENV] = str(folder)
    return folder


def folder(environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """The folder of this process's file-backed metrics, or None (in-memory: one process)."""
    value = environ.get(ENV)
    return Path(value) if value else None
