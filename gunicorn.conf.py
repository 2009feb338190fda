"""gunicorn's settings, read when gunicorn runs from the project root (`gunicorn wsgi:app`, and
`callcenter run`, which passes `--chdir` to it): the Prometheus histograms of every worker
go to one folder, emptied when the server starts (`callcenter/metrics_files.py`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def on_starting(server: Any) -> None:
    from callcenter import metrics_files
    from config.settings import DEFAULT_INSTANCE

    instance = os.environ.get("CALLCENTER_INSTANCE_PATH") or str(DEFAULT_INSTANCE)
    folder = metrics_files.prepare(Path(instance).expanduser())
    server.log.info("metrics: each worker's histograms in %s", folder)
