"""The alerts' periodic duty (`callcenter cron`): raise and clear the floor's alerts."""

from __future__ import annotations

from callcenter.jobs import router
from callcenter.runtime import Runtime, runtime
from supervision import alerts


def run_alerts(rt: Runtime) -> alerts.AlertRun:
    """Evaluate the alerts in a unit of work of their own; the support groups an alert pulled
    in or released are republished to the router after the commit."""
    with rt.unit_of_work() as uow:
        run = alerts.evaluate_configured(uow.session, rt.queues, rt.settings, now=rt.clock())
        router.after_commit(uow, rt, run.followup)
    return run


def tick() -> None:
    """`callcenter cron`'s alerts duty (the worker's app context gives the Runtime)."""
    run_alerts(runtime())
