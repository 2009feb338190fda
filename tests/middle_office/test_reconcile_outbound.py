"""Lost final callbacks of outbound calls, through the local phone network: the
reconciliation duty asks the network's REST API for the legs' real status and applies the
missing callback through the outbound webhooks' own services.

The fault is at the HTTP edge (`tests.queues.test_reconcile_end_to_end.drop`): the chosen
callbacks get a 503, and Twilio does not send them again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from callcenter.jobs import reconcile
from callcenter.runtime import Runtime
from outbound.models import AttemptStatus
from phone_network.parties import Answering
from queues.models import AgentState
from tests.centre import Centre
from tests.middle_office.conftest import order
from tests.middle_office.test_end_to_end import (
    CUSTOMER,
    OrderSystem,
    centre_at,
    last_attempt,
    middle_office_agent,
    order_system,
    signed_in,
    submit,
    task_of,
)
from tests.queues.test_reconcile_end_to_end import drop

__all__ = ["order_system"]  # the fixture, used by name
pytestmark = pytest.mark.slow
START = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 11:00 in Shanghai
LOST = ("/twilio/outbound/agent/status", {"CallStatus": "completed"})


def run_reconcile(centre: Centre) -> None:
    with centre.app.app_context():
        reconcile.tick()


def start_review_call(centre: Centre, number: str) -> tuple[int, object, dict[str, str]]:
    created = submit(centre, order(number, f"ACC-{number}", recipient_phone=CUSTOMER, address=None))
    task = task_of(centre, created["review_id"])
    client, csrf = signed_in(centre)
    headers = {"X-CSRF-Token": csrf}
    assert client.post(f"/middle/tasks/{task.id}/call", headers=headers).status_code == 202
    return task.id, client, headers


def test_a_lost_completed_callback_of_the_agents_leg_ends_the_attempt_and_frees_the_agent(
    live_session_factory: sessionmaker[Session],
    make_runtime: Callable[..., Runtime],
    redis: object,
    order_system: OrderSystem,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A review call: the agent hangs up, the agent leg's 'completed' callback never arrives
    (the customer's does). Within the reconciliation period the attempt has ended and the
    agent is in wrap-up; the outcome they save is recorded and they are available again."""
    with centre_at(START, live_session_factory, make_runtime, order_system) as centre:
        agent_id = middle_office_agent(centre, Answering(after=1, talk=20))
        centre.network.add_endpoint(CUSTOMER, Answering(after=2, talk=None))
        lost = drop(centre, LOST)
        task_id, client, headers = start_review_call(centre, "MO7001")

        def customer_ended() -> bool:
            attempt = last_attempt(centre, task_id)
            return attempt is not None and attempt.customer_status == "completed"

        centre.wait_for(customer_ended, timeout=60)
        centre.wait_for(lambda: lost.dropped == 1)
        attempt = last_attempt(centre, task_id)
        assert attempt is not None and attempt.status is AttemptStatus.CONNECTED
        assert centre.agent_row(agent_id).state is AgentState.ON_CALL  # stranded unrepaired
        ended = centre.clock.now()
        caplog.set_level(logging.WARNING, logger="callcenter.jobs.reconcile")
        run_reconcile(centre)
        took = (centre.clock.now() - ended).total_seconds()
        assert took <= centre.runtime.settings.reconcile_grace_s, took
        attempt = last_attempt(centre, task_id)
        assert attempt is not None and attempt.status is AttemptStatus.ENDED
        assert attempt.ended_at is not None and attempt.ended_at <= centre.clock.now()
        assert centre.agent_row(agent_id).state is AgentState.WRAP_UP
        assert any(
            "outbound attempt" in r.message and "missing status callback" in r.message
            for r in caplog.records
        )
        saved = client.post(  # type: ignore[attr-defined]
            f"/middle/tasks/{task_id}/outcome",
            json={"outcome": "reached_missing_info", "notes": "回电补地址"},
            headers=headers,
        )
        assert saved.status_code == 200, saved.get_data(as_text=True)
        attempt = last_attempt(centre, task_id)
        assert attempt is not None and attempt.outcome == "reached_missing_info"
        states = [s for s, _ in centre.agent_states(agent_id)]
        assert states == ["offline", "available", "reserved", "on_call", "wrap_up", "available"]
        # Idempotent: another turn, or the late callback itself, changes nothing more.
        run_reconcile(centre)
        assert [s for s, _ in centre.agent_states(agent_id)] == states


def test_a_lost_callback_of_the_agents_leg_hung_up_after_no_answer_frees_the_agent(
    live_session_factory: sessionmaker[Session],
    make_runtime: Callable[..., Runtime],
    redis: object,
    order_system: OrderSystem,
) -> None:
    """The customer does not answer: the attempt ends (no answer) and the engine hangs up the
    agent's leg, whose 'completed' callback is lost. The agent, still on call for an ended
    attempt, goes to wrap-up once the grace period has passed."""
    with centre_at(START, live_session_factory, make_runtime, order_system) as centre:
        agent_id = middle_office_agent(centre, Answering(after=1, talk=None))
        centre.network.add_endpoint(CUSTOMER, Answering(mode="no-answer"))
        lost = drop(centre, LOST)
        task_id, _, _ = start_review_call(centre, "MO7002")
        centre.wait_for(lambda: lost.dropped == 1, timeout=60)
        attempt = last_attempt(centre, task_id)
        assert attempt is not None and attempt.status is AttemptStatus.ENDED
        assert attempt.outcome == "no_answer" and attempt.ended_at is not None
        assert centre.agent_row(agent_id).state is AgentState.ON_CALL
        run_reconcile(centre)  # within the grace period: the callback may yet come
        assert centre.agent_row(agent_id).state is AgentState.ON_CALL
        due = attempt.ended_at.timestamp() + centre.runtime.settings.reconcile_grace_s
        with centre.timer():
            centre.wait_for(lambda: centre.clock.now().timestamp() >= due, timeout=30)
        run_reconcile(centre)
        assert centre.agent_row(agent_id).state is AgentState.WRAP_UP
        assert last_attempt(centre, task_id).outcome == "no_answer"  # type: ignore[union-attr]
