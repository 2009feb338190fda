"""Lost callbacks through the local phone network: the reconciliation duty asks the network's
REST API (through the official SDK) for the real status and recovers.

The fault is at the HTTP edge: a WSGI layer in front of the app answers 503 to the callbacks
chosen, as a stalled or failing webhook would; Twilio does not send them again."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.jobs import reconcile
from callcenter.runtime import Runtime
from callcenter.seed import DEMO_VIP_PHONE
from core.models import Call, CallEvent, CallStatus
from phone_network.parties import Answering
from queues.models import AgentState, QueuedCallStatus
from recordings.models import Recording, RecordingStatus
from tests.centre import Centre, running_centre

pytestmark = pytest.mark.slow


@pytest.fixture
def centre(
    live_session_factory: sessionmaker[Session], make_runtime: Callable[..., Runtime], redis: object
) -> Iterator[Centre]:
    with running_centre(live_session_factory, make_runtime) as c:
        yield c


class Dropping:
    """WSGI middleware: answers 503 to the POSTs to `path` whose form matches `when`."""

    def __init__(self, app: Any, drops: Iterable[tuple[str, dict[str, str]]]) -> None:
        self.app, self.drops, self.dropped = app, list(drops), 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if any(path == p for p, _ in self.drops):
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size)
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if any(
                p == path and all(form.get(k) == v for k, v in w.items()) for p, w in self.drops
            ):
                self.dropped += 1
                start_response("503 Service Unavailable", [("Content-Length", "0")])
                return [b""]
            environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


def drop(centre: Centre, *drops: tuple[str, dict[str, str]]) -> Dropping:
    layer = Dropping(centre.app.wsgi_app, drops)
    centre.app.wsgi_app = layer  # type: ignore[method-assign]
    return layer


def run_reconcile(centre: Centre) -> None:
    with centre.app.app_context():
        reconcile.tick()


def test_a_lost_completed_callback_of_a_connected_call_frees_the_agent(
    centre: Centre, caplog: pytest.LogCaptureFixture
) -> None:
    """The agent's leg 'completed' callback never arrives: within the reconciliation period
    the agent is in wrap-up, then available, and the call's record is complete."""
    lost = drop(centre, ("/twilio/voice/agent/status", {"CallStatus": "completed"}))
    agent = centre.agent("li.na", answering=Answering(after=2, talk=20))
    leg = centre.call(DEMO_VIP_PHONE, "press 1", "press 0")
    leg.wait(timeout=60)
    (entry,) = centre.entries(leg)
    assert lost.dropped == 1 and entry.talk_ended_at is None
    assert centre.agent_row(agent).state is AgentState.ON_CALL  # stranded without a repair
    ended = centre.clock.now()
    caplog.set_level(logging.WARNING, logger="callcenter.jobs.reconcile")
    with centre.timer():
        centre.wait_for(
            lambda: run_reconcile(centre) or centre.agent_row(agent).state is AgentState.AVAILABLE,
            timeout=60,
        )
    took = (centre.clock.now() - ended).total_seconds()
    wrap_up_s = centre.runtime.queues.presence.wrap_up_s
    assert took <= centre.runtime.settings.reconcile_grace_s + wrap_up_s + 15, took
    (entry,) = centre.entries(leg)
    assert entry.status is QueuedCallStatus.CONNECTED and entry.talk_ended_at is not None
    assert entry.answered_at is not None and entry.talk_ended_at > entry.answered_at
    states = [s for s, _ in centre.agent_states(agent)]
    assert states == ["offline", "available", "reserved", "on_call", "wrap_up", "available"]
    with centre.factory() as s:
        call = s.scalar(select(Call).where(Call.sid == leg.sid))
        assert call is not None and call.status is CallStatus.COMPLETED
        kinds = set(s.scalars(select(CallEvent.kind).where(CallEvent.call_sid == leg.sid)))
    assert {"enqueued", "assigned", "agent_answered", "bridged", "status"} <= kinds
    assert any("applying the missing status callback" in r.message for r in caplog.records)
    # The repair is idempotent: another turn, or the late callback itself, changes nothing.
    run_reconcile(centre)
    assert [s for s, _ in centre.agent_states(agent)] == states


def test_a_lost_recording_callback_is_recovered_from_the_networks_list(centre: Centre) -> None:
    """The recording's only callback gets a 503 (a database stall): the duty finds it in the
    network's list for the agent's leg and ingests it; the pipeline stores it."""
    lost = drop(centre, ("/twilio/voice/recording/call", {}))
    agent = centre.agent("li.na", answering=Answering(after=2, talk=15))
    leg = centre.call(DEMO_VIP_PHONE, "press 1", "press 0")
    leg.wait(timeout=60)
    (entry,) = centre.entries(leg)
    centre.wait_for(lambda: lost.dropped >= 1, timeout=30)
    with centre.factory() as s:
        assert s.scalars(select(Recording)).all() == []
    assert entry.talk_ended_at is not None
    due = entry.talk_ended_at + timedelta(seconds=centre.runtime.settings.reconcile_grace_s + 1)
    with centre.timer():
        centre.wait_for(lambda: centre.clock.now() >= due)
    with centre.app.app_context():
        reconcile.recordings()
    with centre.factory() as s:
        (rec,) = s.scalars(select(Recording)).all()
    held = centre.network.recordings(call_sid=entry.agent_call_sid)
    assert [r.sid for r in held] == [rec.sid]
    assert (rec.call_sid, rec.queued_call_id, rec.agent_id) == (
        entry.agent_call_sid,
        entry.id,
        agent,
    )
    assert rec.status is RecordingStatus.STORED and rec.twilio_status == "completed"
    with centre.app.app_context():  # a second turn finds nothing more to do
        reconcile.recordings()
    with centre.factory() as s:
        assert len(s.scalars(select(Recording)).all()) == 1
