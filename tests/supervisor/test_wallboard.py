"""The wallboard's figures, its shared cache, and the Server-Sent Events stream."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from callcenter.runtime import Runtime
from callcenter.supervisor import board
from outbound import attempts, tasks
from outbound.policy import Policy
from queues.models import AgentState, QueuedCallStatus
from supervision import figures
from tests.conftest import NOW

C, A = QueuedCallStatus.CONNECTED, QueuedCallStatus.ABANDONED


def test_queue_figures_follow_the_formulas(
    runtime: Runtime,
    session: Session,
    make_entry: Callable[..., int],
    make_agent: Callable[..., int],
) -> None:
    agent = make_agent("li.na", state=AgentState.AVAILABLE)
    make_entry("general", waited_s=95)
    make_entry("general", waited_s=12, vip=True)
    make_entry("general", status=C, waited_s=600, answered_after_s=10, agent_id=agent)  # in time
    make_entry("general", status=C, waited_s=600, answered_after_s=30, agent_id=agent)  # late
    make_entry("general", status=C, waited_s=40 * 60, answered_after_s=5)  # today, not in 30 min
    make_entry("general", status=A, waited_s=100)
    make_entry("general", status=C, waited_s=2 * 86400, answered_after_s=1)  # another day
    make_entry("presales", status=QueuedCallStatus.CALLBACK, waited_s=300)  # booked, in line
    make_entry("presales", status=QueuedCallStatus.SCHEDULED, waited_s=900)  # booked, later
    snap = figures.snapshot(session, runtime.queues, now=NOW, timezone="Asia/Shanghai")
    general = next(q for q in snap["queues"] if q["queue"] == "general")
    assert (
        general["waiting"] == 2 and general["longest_wait_s"] == 95 and general["vip_wait_s"] == 12
    )
    # docs/METRICS.md: answered within T (20 s) / (answered + abandoned + voicemail + still
    # waiting past T). Today: 2 (10 s, 5 s) of 3 answered + 1 abandoned + 1 waiting past T.
    assert general["sl_today"] == 40.0
    assert general["sl_30m"] == 25.0  # 1 of 2 answered + 1 abandoned + 1 waiting past T
    assert general["asa_s"] == 15.0 and general["abandon_rate"] == 25.0
    assert general["agents"] == {"available": 1}
    presales = next(q for q in snap["queues"] if q["queue"] == "presales")
    assert (general["callbacks"], presales["callbacks"]) == (0, 2)
    row = next(a for a in snap["agents"] if a["id"] == agent)
    assert row["handled"] == 2 and row["state"] == "available"
    # The dispatch list: callers waiting and callbacks in line (not those booked for later).
    assert [(w["waited_s"], w["callback"]) for w in snap["waiting"]] == [
        (300, True),
        (95, False),
        (12, False),
    ]


def test_an_agent_shows_the_call_they_are_on_not_an_old_one(
    runtime: Runtime,
    session: Session,
    make_entry: Callable[..., int],
    make_agent: Callable[..., int],
) -> None:
    idle = make_agent("li.na", state=AgentState.AVAILABLE)
    make_entry("general", status=C, waited_s=600, answered_after_s=10, agent_id=idle)  # earlier
    snap = figures.snapshot(session, runtime.queues, now=NOW, timezone="Asia/Shanghai")
    row = next(a for a in snap["agents"] if a["id"] == idle)
    assert row["call"] is None  # no monitor buttons for a call that is over


def test_an_agent_on_an_outbound_call_shows_it(
    runtime: Runtime, session: Session, make_agent: Callable[..., int]
) -> None:
    agent = make_agent("huang.li", state=AgentState.AVAILABLE)
    task = tasks.create_task(
        session,
        kind="order_review",
        subject_id=1,
        to_number="+8613900139000",
        language="zh",
        skill="general",
        now=NOW,
        policy=Policy(),
    )
    attempts.start_attempt(session, task.id, agent_id=agent, now=NOW, policy=Policy())
    session.commit()
    later = NOW + timedelta(seconds=40)
    snap = figures.snapshot(session, runtime.queues, now=later, timezone="Asia/Shanghai")
    row = next(a for a in snap["agents"] if a["id"] == agent)
    assert row["state"] == "reserved"  # the inbound router offers them nobody meanwhile
    assert row["call"]["outbound"] == "Order review" and row["call"]["since_s"] == 40
    assert row["call"]["connected"] is False  # not monitored through a queue entry


def test_one_computation_is_shared_by_every_viewer_per_refresh(
    runtime: Runtime, make_entry: Callable[..., int]
) -> None:
    runtime.settings = replace(runtime.settings, wallboard_refresh_ms=60_000)
    first = json.loads(board.cached(runtime))
    make_entry("general", waited_s=5)
    assert json.loads(board.cached(runtime)) == first  # from the cache
    runtime.redis.delete(f"{runtime.settings.redis_prefix}wallboard:snapshot")
    assert json.loads(board.cached(runtime))["totals"]["waiting"] == 1
    assert len(first["history"]) == 1  # sampled once per history period


def test_the_stream_pushes_snapshots_then_ends_for_the_browser_to_reconnect(
    runtime: Runtime, supervisor: FlaskClient, make_entry: Callable[..., int]
) -> None:
    runtime.settings = replace(runtime.settings, wallboard_refresh_ms=100)
    events = list(board.stream(runtime, lifetime_s=0.35))
    assert events[0] == "retry: 500\n\n"
    snapshots = [e for e in events if e.startswith("event: snapshot")]
    assert snapshots and json.loads(snapshots[0].split("data: ", 1)[1])["at"] == NOW.isoformat()
    response = supervisor.get("/supervisor/api/stream", buffered=False)
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)  # type: ignore[arg-type]
    assert next(chunks) == b"retry: 500\n\n"
    assert next(chunks).startswith(b"event: snapshot\ndata: {")
    response.close()
    page = supervisor.get("/supervisor/")
    assert page.status_code == 200 and b"EventSource" not in page.data  # the script is a file
    script = supervisor.get("/supervisor/static/wallboard.js")
    assert script.status_code == 200 and b"EventSource" in script.data
    script.close()


def test_a_process_serves_a_few_streams_and_tells_more_viewers_to_poll(
    supervisor: FlaskClient,
) -> None:
    from callcenter.supervisor import views

    held = [views._streams.acquire(blocking=False) for _ in range(views.MAX_STREAMS)]
    try:
        assert all(held)
        busy = supervisor.get("/supervisor/api/stream")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "30"
        assert busy.get_json()["error"]["code"] == "streams-busy"
        assert supervisor.get("/supervisor/api/snapshot").status_code == 200
    finally:
        for _ in held:
            views._streams.release()
