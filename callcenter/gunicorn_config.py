"""gunicorn settings `callcenter run` adds (`--config python:callcenter.gunicorn_config`).

Each web worker is tied to its master: if the master dies (even by SIGKILL), the kernel sends
the worker SIGTERM, so it finishes the requests it holds and exits, freeing the port for the
master `callcenter run` starts in its place (callcenter/lifeline.py).
"""

from __future__ import annotations

import signal
from typing import Any

from callcenter.lifeline import die_with_parent


def post_fork(server: Any, worker: Any) -> None:
    die_with_parent(signal.SIGTERM, parent=server.pid)
