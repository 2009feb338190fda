"""A connected call through the local phone network ends with its recording stored, measured,
and linked to the agent, the queue and the customer."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.jobs.recordings import storage_for
from callcenter.runtime import Runtime
from callcenter.seed import DEMO_VIP_PHONE
from core.models import Call
from recordings.models import Recording, RecordingStatus
from tests.centre import Centre, running_centre

pytestmark = pytest.mark.slow


@pytest.fixture
def centre(
    live_session_factory: sessionmaker[Session], make_runtime: Callable[..., Runtime], redis: object
) -> Iterator[Centre]:
    with running_centre(live_session_factory, make_runtime) as c:
        yield c


def recordings(centre: Centre) -> list[Recording]:
    with centre.factory() as s:
        return list(s.scalars(select(Recording)))


def test_a_connected_calls_recording_is_stored_and_linked(centre: Centre) -> None:
    agent = centre.agent("li.na")
    leg = centre.call(DEMO_VIP_PHONE, "press 1", "press 0")
    leg.wait(timeout=60)
    (entry,) = centre.entries(leg)
    centre.wait_for(
        lambda: [r.status for r in recordings(centre)] == [RecordingStatus.STORED], timeout=60
    )
    (rec,) = recordings(centre)
    with centre.factory() as s:
        call = s.scalar(select(Call).where(Call.sid == leg.sid))
        assert call is not None and call.customer_id is not None
    assert (rec.agent_id, rec.queue, rec.queued_call_id) == (agent, entry.queue, entry.id)
    assert (rec.call_id, rec.customer_id) == (call.id, call.customer_id)
    assert rec.call_sid == entry.agent_call_sid and rec.twilio_status == "completed"
    assert rec.measures is not None and rec.attempts == 1
    # The network's agent leg speaks first on channel 1 (index 0): both parties talk.
    assert (
        rec.measures["agent"]["talk_seconds"] > 0 and rec.measures["customer"]["talk_seconds"] > 0
    )
    assert abs(rec.measures["duration_seconds"] - (rec.duration_s or 0)) <= 1
    assert rec.storage_key and storage_for(centre.runtime).exists(rec.storage_key)
    assert centre.network.recording(rec.sid).sid == rec.sid  # kept at Twilio by default


def test_the_recording_is_deleted_from_the_network_once_stored_when_asked(
    live_session_factory: sessionmaker[Session], make_runtime: Callable[..., Runtime], redis: object
) -> None:
    from phone_network.network import UnknownResource

    with running_centre(
        live_session_factory, make_runtime, recordings_delete_from_twilio=True
    ) as centre:
        centre.agent("li.na")
        centre.call(DEMO_VIP_PHONE, "press 1", "press 0").wait(timeout=60)
        centre.wait_for(lambda: any(r.twilio_deleted_at for r in recordings(centre)), timeout=60)
        (rec,) = recordings(centre)
        assert rec.status is RecordingStatus.STORED
        with pytest.raises(UnknownResource):
            centre.network.recording(rec.sid)
