"""Log lines that say which call, job and agent they are about, as text or as JSON.

Three context variables carry what a line is about: the CallSid, the RQ job id and the agent.
They are set where the process learns them and cleared when that work ends:

- a web request (`install_request_context`): the CallSid of a Twilio webhook (its form), and
  the signed-in agent of a console page;
- an RQ job (`LoggedJob`, the job class of our queues and workers): the job id, the CallSid
  and agent that were in context when the job was enqueued (`job_meta`, kept in the job's
  meta), and a CallSid among the job's arguments;
- a cron duty (`bound(duty=...)` around each run, in `callcenter cron`).

`ContextFilter` copies them onto every record that passes through our handler, so lines of
libraries (RQ, SQLAlchemy) carry them too. `configure_logging` installs that handler on the
root logger with the format of `CALLCENTER_LOG_FORMAT`: `text` (the default) or `json`, one
object per line, so one call can be followed across web, worker and cron with a filter on
`call_sid`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request, session
from rq.job import Job
from rq.worker import SimpleWorker, Worker

from config.settings import Settings

#: The fields of the context, in the order they are printed.
FIELDS = ("call_sid", "job_id", "agent", "duty")
_VARS: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"callcenter_log_{name}", default=None) for name in FIELDS
}
_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"
_OURS = "_callcenter_handler"
access_log = logging.getLogger("callcenter.requests")


def current() -> dict[str, str]:
    """The context known here: the fields that are set, by name."""
    return {name: value for name, var in _VARS.items() if (value := var.get()) is not None}


@contextlib.contextmanager
def bound(**values: object) -> Iterator[None]:
    """Set context fields for the block (None leaves a field as it is), then restore them."""
    tokens = [
        (_VARS[name], _VARS[name].set(str(value)[:64]))
        for name, value in values.items()
        if value is not None and value != ""
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def clear() -> None:
    """Forget every field (a thread of a web worker starts each request afresh)."""
    for var in _VARS.values():
        var.set(None)


class ContextFilter(logging.Filter):
    """Puts the context on each record: one attribute per field, and `context` for text."""

    def filter(self, record: logging.LogRecord) -> bool:
        known = current()
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, known.get(name))
        record.context = (
            " [" + " ".join(f"{k}={v}" for k, v in known.items()) + "]" if known else ""
        )
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context, any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def make_handler(log_format: str, stream: Any = None) -> logging.Handler:
    """A stream handler (stderr by default) with the context filter and the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else _text_formatter())
    return handler


def _text_formatter() -> logging.Formatter:
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(settings: Settings) -> None:
    """Install our handler on the root logger, once per process, at `settings.log_level`.

    A root logger that already has handlers of someone else (pytest's, an embedding
    application's) is left as it is, as `logging.basicConfig` would; calling this again
    (several apps in one process) changes only the format and level of our handler.
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, _OURS, False)]
    if root.handlers and not ours:
        return
    if ours:
        handler = ours[0]
        handler.setFormatter(
            JsonFormatter() if settings.log_format == "json" else _text_formatter()
        )
    else:
        handler = make_handler(settings.log_format)
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    root.setLevel(settings.log_level.upper())


# --- web requests ---------------------------------------------------------------------------


def install_request_context(app: Flask, *, agent_key: str) -> None:
    """Set the context of each request: the webhook's CallSid, the console's agent.

    Only Twilio's webhooks (under /twilio/) have their form read here; the signature check
    still runs before any view. The context is cleared at the start and end of each request,
    because a web worker's threads serve one request after another.
    """

    @app.before_request
    def _set_log_context() -> None:
        clear()
        g.log_started = time.perf_counter()
        if request.path.startswith("/twilio/") and request.method == "POST":
            sid = request.form.get("CallSid", "")
            if _CALL_SID.match(sid):
                _VARS["call_sid"].set(sid)
        agent = session.get(agent_key) if request.cookies else None
        if isinstance(agent, int):
            _VARS["agent"].set(str(agent))

    @app.after_request
    def _log_request(response: Response) -> Response:
        started = g.pop("log_started", None)
        elapsed_ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
        # Twilio's webhooks at INFO (each is a step of a call); pages and assets at DEBUG.
        level = logging.INFO if request.path.startswith("/twilio/") else logging.DEBUG
        access_log.log(
            level,
            "%s %s %s %.1f ms",
            request.method,
            request.path,
            response.status_code,
            elapsed_ms,
        )
        return response

    @app.teardown_request
    def _clear_log_context(exc: BaseException | None) -> None:
        clear()


# --- RQ jobs --------------------------------------------------------------------------------


def job_meta() -> dict[str, str]:
    """What an enqueued job should carry of the current context (the CallSid and agent)."""
    return {k: v for k, v in current().items() if k in ("call_sid", "agent")}


def job_context(job_id: str, meta: Mapping[str, Any], args: tuple[Any, ...]) -> dict[str, str]:
    """The context of a job: its id, the CallSid and agent from its meta, else a CallSid
    among its arguments."""
    found = {"job_id": job_id}
    for name in ("call_sid", "agent"):
        value = meta.get(name)
        if isinstance(value, str) and value:
            found[name] = value
    if "call_sid" not in found:
        sid = next((a for a in args if isinstance(a, str) and _CALL_SID.match(a)), None)
        if sid is not None:
            found["call_sid"] = sid
    return found


def _bind_job(job: Job) -> contextlib.AbstractContextManager[None]:
    return bound(**job_context(job.id, job.meta or {}, tuple(job.args or ())))


class LoggedJob(Job):
    """An RQ job that runs with its context bound, in a worker or run at once (tests)."""

    def perform(self) -> Any:
        with _bind_job(self):
            return super().perform()


class _BindsJobs:
    """Binds the job's context around the whole of `perform_job`, so RQ's own lines about a
    job ("Job OK", a failure's traceback) carry it too."""

    def perform_job(self, job: Job, queue: Any, execution: Any) -> bool:
        with _bind_job(job):
            return bool(super().perform_job(job, queue, execution))  # type: ignore[misc]


class LoggedWorker(_BindsJobs, Worker):
    """`callcenter worker`'s RQ worker (a work-horse process per job)."""


class LoggedSimpleWorker(_BindsJobs, SimpleWorker):
    """The same in one process (RQ's SimpleWorker: tests, `--burst` runs in a test)."""
