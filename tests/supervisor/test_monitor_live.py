"""Listen → whisper → barge on a live call of the local phone network, as Twilio's
Participants API expects: the supervisor's participant muted, then coaching the agent's leg,
then unmuted and not coaching; every step audited, and the agent's desk told if configured."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import Runtime
from callcenter.seed import DEMO_VIP_PHONE
from callcenter.supervisor import services
from callcenter.voice.twiml import conference_name
from core.audit import AuditEvent
from phone_network.clock import RealClock
from phone_network.parties import Answering
from queues.models import QueuedCallStatus, Role
from supervision import monitor
from supervision.dispatch import Staff
from tests.builders import add_agent
from tests.centre import Centre, running_centre

pytestmark = pytest.mark.slow


@pytest.fixture
def centre(
    live_session_factory: sessionmaker[Session], make_runtime: Callable[..., Runtime], redis: object
) -> Iterator[Centre]:
    clock = RealClock()  # virtual time would run the whole call out between two polls
    with running_centre(
        live_session_factory,
        make_runtime,
        start=clock.now(),
        clock=clock,
        business_hours="mon-sun 00:00-24:00",
    ) as c:
        yield c


def _supervisor(centre: Centre) -> Staff:
    with centre.factory.begin() as s:
        sup = add_agent(
            s,
            "ma.chao2",
            display_name="Ma Chao",
            posts=[],
            skills={},
            now=centre.clock.now(),
            roles=[Role.SUPERVISOR],
        )
        staff, identity = Staff(sup.id, sup.login), sup.client_identity
    centre.network.add_endpoint(f"client:{identity}", Answering(after=1, talk=None))
    return staff


def test_monitor_whisper_barge_change_the_supervisors_participant(centre: Centre) -> None:
    agent = centre.agent("li.na", answering=Answering(after=1, talk=120))
    leg = centre.call(DEMO_VIP_PHONE, "press 1", "press 0", max_hold=300)
    staff = _supervisor(centre)

    def connected() -> bool:
        entries = centre.entries(leg)
        if not entries or entries[-1].status is not QueuedCallStatus.CONNECTED:
            return False
        rooms = centre.network.conferences.all(friendly_name=conference_name(entries[-1].id))
        return bool(rooms) and len(rooms[0].participants) == 2

    centre.wait_for(connected, timeout=60)
    entry = centre.entries(leg)[-1]
    room = centre.network.conferences.all(friendly_name=conference_name(entry.id))[0]
    rt = centre.runtime

    row = services.start_monitoring(rt, staff, entry.id, "listen")
    sup_leg = row.call_sid
    assert sup_leg
    centre.wait_for(lambda: sup_leg in room.participants, timeout=30)
    p = room.participants[sup_leg]
    assert (p.muted, p.coaching, p.call_sid_to_coach) == (True, False, None)
    with centre.factory() as s:
        seen = monitor.monitoring_of(s, agent)
        assert seen is not None and seen["mode"] == "listen"
        assert monitor.monitoring_of(s, agent, visible=False) is None

    services.start_monitoring(rt, staff, entry.id, "whisper")
    p = room.participants[sup_leg]
    assert (p.muted, p.coaching, p.call_sid_to_coach) == (False, True, entry.agent_call_sid)

    services.start_monitoring(rt, staff, entry.id, "barge")
    p = room.participants[sup_leg]
    assert (p.muted, p.coaching, p.call_sid_to_coach) == (False, False, None)
    assert len(room.participants) == 3  # caller, agent, supervisor

    with centre.app.app_context():  # the hang-up job runs at once and reaches `runtime()`
        services.stop_monitoring(rt, staff, row.id)
    centre.wait_for(lambda: sup_leg not in room.participants, timeout=30)
    with centre.factory() as s:
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        assert monitor.monitoring_of(s, agent) is None
    assert actions == ["monitor.listen", "monitor.whisper", "monitor.barge", "monitor.stop"]
