"""The outbound engine's periodic safety net (a cron duty): assignment, the automated calls that
are due, reconciling lost dials and legs, and deliveries of decisions due to the order system,
finance and logistics."""

from __future__ import annotations

import logging

from callcenter.jobs import router as router_jobs
from callcenter.jobs.outbound import (
    DIAL_RETRIES,
    deliver_decision,
    dial_agent,
    dial_automated,
    dial_customer,
    policy_for,
)
from callcenter.runtime import runtime
from core import webhooks
from outbound import automated, outcomes, tasks

log = logging.getLogger(__name__)


def tick() -> None:
    """The engine's periodic safety net."""
    rt = runtime()
    now, policy = rt.clock(), policy_for(rt)
    with rt.unit_of_work() as uow:
        tasks.assign_unassigned(uow.session)
        notices = automated.due(uow.session, now=now)
        repairs = outcomes.reconcile(uow.session, now=now, policy=policy)
        router_jobs.after_commit(uow, rt, repairs.follow)
        targets = [t for t in webhooks.TARGETS if rt.settings.webhook_endpoint(t)]
        due = webhooks.due(uow.session, now=now, targets=targets)
    for task_id in notices:  # claimed in the job: a task enqueued twice is dialled once
        rt.enqueue(dial_automated, task_id, retries=DIAL_RETRIES)
    for attempt_id in repairs.redial:
        rt.enqueue(dial_agent, attempt_id, retries=DIAL_RETRIES)
    for attempt_id in repairs.dial_customers:
        log.warning(
            "repair: attempt %s: the agent answered but the customer was never dialled; "
            "dialling now",
            attempt_id,
        )
        rt.enqueue(dial_customer, attempt_id, retries=DIAL_RETRIES)
    for delivery_id in due:
        rt.enqueue(deliver_decision, delivery_id, queue="low")
