"""The supervisor blueprint: the wallboard page, its event stream, and the dispatch actions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, g, jsonify, render_template, request, stream_with_context

from callcenter.access import require
from callcenter.desk.auth import csrf_token
from callcenter.runtime import runtime
from callcenter.supervisor import board, services
from core.errors import DomainError
from core.telephony import TelephonyError, TelephonyUnavailable
from queues.presence import PresenceError
from supervision import alerts, dispatch, monitor

bp = Blueprint(
    "supervisor",
    __name__,
    url_prefix="/supervisor",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
require(bp, "wallboard.read")
require(
    bp,
    "dispatch.act",
    "acknowledge",
    "move",
    "priority",
    "assign",
    "agent_state",
    "agent_skills",
    "support_pull",
    "support_release",
)
require(bp, "monitor.listen", "monitor_call", "monitor_stop")


@bp.errorhandler(dispatch.DispatchError)
@bp.errorhandler(monitor.MonitorError)
@bp.errorhandler(alerts.AlertNotFound)
@bp.errorhandler(PresenceError)
@bp.errorhandler(TelephonyError)
def _refused(exc: DomainError) -> tuple[Response, int]:
    status = 503 if isinstance(exc, TelephonyUnavailable) else 409
    return jsonify(error=exc.as_dict()), status


def _staff() -> dispatch.Staff:
    return dispatch.Staff(g.staff.id, g.staff.login)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _int(name: str) -> int:
    value = _body().get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise dispatch.DispatchError(f"{name} must be a whole number")
    return value


@bp.get("/")
def wallboard() -> str:
    return render_template("supervisor/wallboard.html", staff=g.staff, csrf=csrf_token())


@bp.get("/api/snapshot")
def snapshot() -> Response:
    return Response(board.cached(runtime()), mimetype="application/json")


@bp.get("/api/stream")
def stream() -> Response | tuple[Response, int]:
    """Push snapshots (SSE). Each open stream holds a web thread for its life, so a process
    serves at most `MAX_STREAMS` at once; more viewers get 503 and their page polls
    `/api/snapshot` instead (the snapshot is shared, so polling costs no more to compute)."""
    if not _streams.acquire(blocking=False):
        response = jsonify(error={"code": "streams-busy", "message": "poll /api/snapshot"})
        response.headers["Retry-After"] = "30"
        return response, 503
    rt = runtime()
    events = board.stream(rt, lifetime_s=rt.settings.wallboard_stream_s)

    def released() -> Iterator[str]:
        try:
            yield from events
        finally:
            _streams.release()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(stream_with_context(released()), mimetype="text/event-stream", headers=headers)


MAX_STREAMS = 2  # of a web process's threads (8 in the embedded stack), the rest for webhooks
_streams = threading.BoundedSemaphore(MAX_STREAMS)


@bp.post("/api/alerts/<int:alert_id>/ack")
def acknowledge(alert_id: int) -> Response:
    alert, at = services.acknowledge(runtime(), alert_id, by=g.staff.id)
    return jsonify(id=alert, acknowledged_at=at)


@bp.post("/api/entries/<int:entry_id>/move")
def move(entry_id: int) -> Response:
    queue = str(_body().get("queue", ""))
    return jsonify(entry_id=services.move_entry(runtime(), _staff(), entry_id, queue))


@bp.post("/api/entries/<int:entry_id>/priority")
def priority(entry_id: int) -> Response:
    return jsonify(priority=services.raise_priority(runtime(), _staff(), entry_id, _int("by")))


@bp.post("/api/entries/<int:entry_id>/assign")
def assign(entry_id: int) -> Response:
    aid = services.assign_to_agent(runtime(), _staff(), entry_id, _int("agent_id"))
    return jsonify(assignment_id=aid)


@bp.post("/api/agents/<int:agent_id>/state")
def agent_state(agent_id: int) -> Response:
    body = _body()
    reason = body.get("reason") if isinstance(body.get("reason"), str) else None
    state = services.set_state(runtime(), _staff(), agent_id, str(body.get("state", "")), reason)
    return jsonify(state=state)


@bp.post("/api/agents/<int:agent_id>/skills")
def agent_skills(agent_id: int) -> Response:
    skills = _body().get("skills")
    if not isinstance(skills, dict):
        raise dispatch.DispatchError("skills must be an object {skill: level}")
    return jsonify(skills=services.set_skills(runtime(), _staff(), agent_id, skills))


@bp.post("/api/support/<group>/pull")
def support_pull(group: str) -> Response:
    queue = str(_body().get("queue", ""))
    return jsonify(agents=services.pull_group(runtime(), _staff(), group, queue))


@bp.post("/api/support/<group>/release")
def support_release(group: str) -> Response:
    queue = _body().get("queue")
    agents = services.release_group(runtime(), _staff(), group, str(queue) if queue else None)
    return jsonify(agents=agents)


@bp.post("/api/entries/<int:entry_id>/monitor")
def monitor_call(entry_id: int) -> Response:
    row = services.start_monitoring(runtime(), _staff(), entry_id, str(_body().get("mode", "")))
    return jsonify(id=row.id, mode=row.mode.value, call_sid=row.call_sid)


@bp.post("/api/monitorings/<int:monitoring_id>/stop")
def monitor_stop(monitoring_id: int) -> Response:
    services.stop_monitoring(runtime(), _staff(), monitoring_id)
    return jsonify(stopped=monitoring_id)
