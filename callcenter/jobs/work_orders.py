"""Work orders' periodic duty (`callcenter cron`): the SLA sweep.

Also an RQ entry point: `rt.enqueue(sweep_sla)` runs the same sweep on a worker. Running it
twice, or in two processes at once, records each warning and breach once and escalates each
breach once (`work_orders.sweep`).
"""

from __future__ import annotations

import logging

from callcenter.runtime import Runtime, runtime
from work_orders import sweep

log = logging.getLogger(__name__)

#: The most batches one run takes (a backlog is finished by the next runs).
MAX_BATCHES = 40


def run_sweep(rt: Runtime, *, batch: int = sweep.BATCH) -> sweep.SweepRun:
    """Sweep the due work orders, one unit of work per batch, until none is due; the totals."""
    total = sweep.SweepRun()
    now = rt.clock()
    for _ in range(MAX_BATCHES):
        with rt.unit_of_work() as uow:
            run = sweep.sweep(uow.session, rt.sla, now=now, batch=batch)
        total.checked += run.checked
        total.warnings += run.warnings
        total.breaches += run.breaches
        total.escalated += run.escalated
        if run.checked < batch:
            break
    if total.breaches or total.warnings:
        log.info(
            "work-order SLA: %d checked, warnings %s, breaches %s, escalated %s",
            total.checked,
            total.warnings,
            total.breaches,
            total.escalated,
        )
    return total


def sweep_sla() -> sweep.SweepRun:
    """`callcenter cron`'s work-order SLA duty, and an RQ entry point (see `run_sweep`)."""
    return run_sweep(runtime())
