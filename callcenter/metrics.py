"""GET /metrics: the centre's figures in Prometheus' text format (prometheus_client).

Two kinds of figure:

- **Request latency** (`callcenter_http_request_duration_seconds`, a histogram by route,
  method and status), observed by every web process around every request. Under gunicorn
  several processes serve requests; `callcenter/gunicorn_config.py` points them at one
  folder of files (`callcenter/metrics_files.py`) and the answer adds all of them up. A
  single process (the Flask dev server, tests) keeps them in memory.
- **The state of the centre**, read from the database and Redis at scrape time by
  `CentreCollector` (so every process answers alike, and nothing is counted twice): calls by
  status, callers waiting per queue, agents by state, RQ's queues and registries, outbound
  attempts by outcome, the recording backlog, and service-level figures and breaches per queue
  (the formulas of docs/METRICS.md, the same as the wallboard's).

Who may read it: with `CALLCENTER_METRICS_TOKEN` set, a request with `Authorization: Bearer
<token>`; without it, only a request made directly from this machine (a loopback address and
no X-Forwarded-For, so a reverse proxy on the same host does not open it to the world).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Iterator
from datetime import datetime

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from callcenter import metrics_files
from callcenter.runtime import QUEUE_NAMES, Runtime, runtime
from core.models import Call, CallStatus
from outbound.models import AttemptStatus, OutboundAttempt
from queues.models import Agent, AgentState
from recordings.models import Recording, RecordingStatus
from supervision.figures import RECENT, day_start, waiting_by_queue, window_stats
from supervision.models import Alert, AlertKind

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

#: Twilio gives up on a webhook after 15 s; the buckets resolve the ~10 ms a webhook takes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
REQUEST_SECONDS = Histogram(
    "callcenter_http_request_duration_seconds",
    "Time to answer an HTTP request (webhooks, pages, APIs), by route (Flask's URL rule).",
    ("route", "method", "status"),
    buckets=LATENCY_BUCKETS,
    registry=None,  # exposed by `registry()`, from memory or from every worker's files
)
UNMATCHED = "(unmatched)"  # 404s and the like: one label, not one per URL tried


# --- the endpoint ---------------------------------------------------------------------------


@bp.get("/metrics")
def metrics() -> Response:
    rt = runtime()
    if not may_read(rt.settings.metrics_token):
        return Response("metrics: forbidden\n", 403, content_type="text/plain")
    return Response(generate_latest(registry(rt)), 200, content_type=CONTENT_TYPE_LATEST)


def may_read(token: str) -> bool:
    """The bearer token if one is configured, else a direct request from this machine."""
    if token:
        sent = request.headers.get("Authorization", "")
        return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def registry(rt: Runtime) -> CollectorRegistry:
    """What one scrape shows: the latency histograms and the centre's state, read now."""
    reg = CollectorRegistry(auto_describe=False)
    folder = metrics_files.folder()
    if folder is not None:
        MultiProcessCollector(reg, path=str(folder))
    else:
        reg.register(REQUEST_SECONDS)
    reg.register(CentreCollector(rt))
    return reg


def install_request_timing(app: Flask) -> None:
    """Observe every request's duration in `REQUEST_SECONDS`."""

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is not None:
            route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
            REQUEST_SECONDS.labels(route, request.method, str(response.status_code)).observe(
                time.perf_counter() - started
            )
        return response


# --- the centre's state, at scrape time -----------------------------------------------------


class CentreCollector(Collector):
    """Reads the database and Redis on each scrape. A part that cannot be read is left out
    and counted in `callcenter_metrics_read_failures` (so a scrape never fails with it)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        failed = GaugeMetricFamily(
            "callcenter_metrics_read_failures",
            "1 when this scrape could not read a source (database or redis); see the log.",
            labels=["source"],
        )
        now = self.rt.clock()
        try:
            with self.rt.session_factory() as session:
                found = list(self._database(session, now))
        except SQLAlchemyError:
            log.exception("metrics: the database could not be read")
            failed.add_metric(["database"], 1)
        else:
            failed.add_metric(["database"], 0)
            yield from found
        try:
            found = list(self._jobs())
        except RedisError:
            log.exception("metrics: Redis could not be read")
            failed.add_metric(["redis"], 1)
        else:
            failed.add_metric(["redis"], 0)
            yield from found
        yield failed

    def _database(self, session: Session, now: datetime) -> Iterator[Metric]:
        yield from _calls(session)
        yield from _waiting(session, self.rt, now)
        yield from _agents(session)
        yield from _outbound(session)
        yield from _recordings(session, now)
        yield from _service_level(session, self.rt, now)
        yield from _alerts(session)

    def _jobs(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "callcenter_jobs",
            "RQ jobs per queue and state: queued (waiting for a worker), started, scheduled "
            "(a retry's delay), deferred, failed (RQ's failed registry: retries exhausted).",
            labels=["queue", "state"],
        )
        redis = self.rt.redis
        for name in QUEUE_NAMES:
            queue = self.rt.queue(name)
            jobs.add_metric([name, "queued"], queue.count)
            for state, kind in (
                ("started", StartedJobRegistry),
                ("scheduled", ScheduledJobRegistry),
                ("deferred", DeferredJobRegistry),
                ("failed", FailedJobRegistry),
            ):
                jobs.add_metric([name, state], kind(name, connection=redis).count)
        yield jobs


def _calls(session: Session) -> Iterator[Metric]:
    counts = dict(session.execute(select(Call.status, func.count()).group_by(Call.status)).all())
    live = GaugeMetricFamily(
        "callcenter_calls_active",
        "Calls (legs, by CallSid) not yet ended, by Twilio status.",
        labels=["status"],
    )
    ended = CounterMetricFamily(
        "callcenter_calls_ended",
        "Calls (legs) that ended, by final Twilio status (a row reaches one once).",
        labels=["status"],
    )
    for status in CallStatus:
        (ended if status.is_final else live).add_metric([status.value], counts.get(status, 0))
    yield live
    yield ended


def _waiting(session: Session, rt: Runtime, now: datetime) -> Iterator[Metric]:
    waiting = GaugeMetricFamily(
        "callcenter_queue_waiting_callers", "Callers waiting in each queue.", labels=["queue"]
    )
    oldest = GaugeMetricFamily(
        "callcenter_queue_oldest_wait_seconds",
        "How long the longest-waiting caller of each queue has waited (0: nobody waits).",
        labels=["queue"],
    )
    booked = GaugeMetricFamily(
        "callcenter_queue_callbacks_booked",
        "Queue callbacks booked and not yet being made, per queue.",
        labels=["queue"],
    )
    found = waiting_by_queue(session)
    for queue in sorted(set(rt.queues) | set(found)):
        w = found.get(queue)
        waiting.add_metric([queue], w.count if w else 0)
        since = w.oldest if w else None
        oldest.add_metric([queue], max(0.0, (now - since).total_seconds()) if since else 0.0)
        booked.add_metric([queue], w.callbacks if w else 0)
    yield from (waiting, oldest, booked)


def _agents(session: Session) -> Iterator[Metric]:
    counts = dict(
        session.execute(
            select(Agent.state, func.count()).where(Agent.active.is_(True)).group_by(Agent.state)
        ).all()
    )
    agents = GaugeMetricFamily(
        "callcenter_agents", "Active agents by presence state.", labels=["state"]
    )
    for state in AgentState:
        agents.add_metric([state.value], counts.get(state, 0))
    yield agents


def _outbound(session: Session) -> Iterator[Metric]:
    rows = session.execute(
        select(OutboundAttempt.status, OutboundAttempt.outcome, func.count()).group_by(
            OutboundAttempt.status, OutboundAttempt.outcome
        )
    ).all()
    open_ = GaugeMetricFamily(
        "callcenter_outbound_attempts_open",
        "Outbound call attempts under way, by status.",
        labels=["status"],
    )
    ended = CounterMetricFamily(
        "callcenter_outbound_attempts_ended",
        "Outbound call attempts that ended, by outcome ('none': ended without one).",
        labels=["outcome"],
    )
    live: dict[str, int] = {s.value: 0 for s in AttemptStatus if s is not AttemptStatus.ENDED}
    outcomes: dict[str, int] = {}
    for status, outcome, count in rows:
        if status is AttemptStatus.ENDED:
            key = outcome or "none"
            outcomes[key] = outcomes.get(key, 0) + count
        else:
            live[status.value] = live.get(status.value, 0) + count
    for status_name, count in live.items():
        open_.add_metric([status_name], count)
    for outcome_name, count in sorted(outcomes.items()):
        ended.add_metric([outcome_name], count)
    yield open_
    yield ended


def _recordings(session: Session, now: datetime) -> Iterator[Metric]:
    counts = dict(
        session.execute(select(Recording.status, func.count()).group_by(Recording.status)).all()
    )
    recordings = GaugeMetricFamily(
        "callcenter_recordings",
        "Call recordings by status; pending + processing is the processing backlog.",
        labels=["status"],
    )
    for status in RecordingStatus:
        recordings.add_metric([status.value], counts.get(status, 0))
    backlog = (RecordingStatus.PENDING, RecordingStatus.PROCESSING)
    oldest_at = session.scalar(
        select(func.min(Recording.created_at)).where(Recording.status.in_(backlog))
    )
    yield recordings
    yield GaugeMetricFamily(
        "callcenter_recording_backlog_oldest_seconds",
        "Age of the oldest recording waiting to be processed (0: none waits).",
        value=_age(oldest_at, now),
    )


def _age(since: datetime | None, now: datetime) -> float:
    if since is None:
        return 0.0
    if since.tzinfo is None:  # SQLite hands back naive UTC
        since = since.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - since).total_seconds())


def _service_level(session: Session, rt: Runtime, now: datetime) -> Iterator[Metric]:
    """Per queue, for today (since the centre's local midnight) and the last 30 minutes."""
    level = GaugeMetricFamily(
        "callcenter_service_level_percent",
        "Service level (default formula, docs/METRICS.md): answered within the queue's "
        "answer_within_s / (answered + abandoned + voicemail + waiting past it).",
        labels=["queue", "window"],
    )
    target = GaugeMetricFamily(
        "callcenter_service_level_target_percent",
        "The queue's service-level target (config/queues.toml target_percent).",
        labels=["queue"],
    )
    breaches = GaugeMetricFamily(
        "callcenter_sla_breaches",
        "Calls that missed the queue's answer_within_s: the service level's misses (answered "
        "late, abandoned, voicemail, still waiting past it), today and in the last 30 minutes.",
        labels=["queue", "window"],
    )
    overdue = GaugeMetricFamily(
        "callcenter_sla_waiting_past_target",
        "Callers waiting now who have already waited longer than the queue's answer_within_s.",
        labels=["queue"],
    )
    today, recent = window_stats(
        session,
        rt.queues,
        day_start(now, rt.settings.timezone),
        now - RECENT,
        now=now,
    )
    for queue in sorted(rt.queues):
        target.add_metric([queue], rt.queues[queue].service_level.target_percent)
        for window, stats in (("today", today[queue]), ("30m", recent[queue])):
            f = stats.figures
            missed = stats.ended - f.answered_within if f is not None else 0
            breaches.add_metric([queue, window], missed)
            if f is not None and f.service_level is not None:
                level.add_metric([queue, window], f.service_level)
        figures = today[queue].figures
        overdue.add_metric([queue], figures.waiting_past_threshold if figures else 0)
    yield from (level, target, breaches, overdue)


def _alerts(session: Session) -> Iterator[Metric]:
    counts = dict(
        session.execute(
            select(Alert.kind, func.count()).where(Alert.open_key.is_not(None)).group_by(Alert.kind)
        ).all()
    )
    alerts = GaugeMetricFamily(
        "callcenter_alerts_open",
        "The floor supervisor's alerts whose condition holds, by kind (service_level: a "
        "queue below its target over the last 30 minutes).",
        labels=["kind"],
    )
    for kind in AlertKind:
        alerts.add_metric([kind.value], counts.get(kind, 0))
    yield alerts
