"""gunicorn's settings for this app: `callcenter run` passes them
(`--config python:callcenter.gunicorn_config`), and so should any other gunicorn serving it
(docs/examples/systemd/).

- `on_starting`: the Prometheus histograms of every web worker go to one folder, emptied when
  the server starts (`callcenter/metrics_files.py`), so `/metrics` adds them all up.
- `post_fork`: each web worker is tied to its master: if the master dies (even by SIGKILL),
  the kernel sends the worker SIGTERM, so it finishes the requests it holds and exits, freeing
  the port for the master `callcenter run` starts in its place (callcenter/lifeline.py).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from callcenter import metrics_files
from callcenter.lifeline import die_with_parent
from config.settings import DEFAULT_INSTANCE


def on_starting(server: Any) -> None:
    instance = os.environ.get("CALLCENTER_INSTANCE_PATH") or str(DEFAULT_INSTANCE)
    folder = metrics_files.prepare(Path(instance).expanduser())
    server.log.info("metrics: each worker's histograms in %s", folder)


def post_fork(server: Any, worker: Any) -> None:
    die_with_parent(signal.SIGTERM, parent=server.pid)
