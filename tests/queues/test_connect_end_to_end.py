"""Callers connected to agents through the local phone network: ring, answer, conference,
ring-no-answer, abandonment during the ring, and callbacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import Runtime
from callcenter.seed import DEMO_VIP_PHONE
from queues.models import QueuedCallStatus
from tests.centre import Centre, running_centre


@pytest.fixture
def centre(
    live_session_factory: sessionmaker[Session], make_runtime: Callable[..., Runtime], redis: object
) -> Iterator[Centre]:
    with running_centre(live_session_factory, make_runtime) as c:
        yield c


def test_a_caller_is_connected_to_the_available_agent(centre: Centre) -> None:
    agent = centre.agent("li.na")
    leg = centre.call(DEMO_VIP_PHONE, "press 1", "press 0")
    leg.wait(timeout=60)
    (entry,) = centre.entries(leg)
    assert entry.status is QueuedCallStatus.CONNECTED, entry
    assert entry.agent_id == agent and entry.answered_at is not None
    assert entry.talk_ended_at is not None and entry.agent_call_sid
    states = [s for s, _ in centre.agent_states(agent)]
    assert states == ["offline", "available", "reserved", "on_call", "wrap_up"]
    kinds = [e.kind for e in leg.transcript()]
    assert "conference" in " ".join(kinds), kinds
