"""RQ entry point of the calls-retention duty: call records and voicemails past their retention."""

from __future__ import annotations

from callcenter.runtime import Runtime, runtime
from queues.retention import Purged
from queues.retention import purge_expired_calls as purge_records


def purge_expired_calls() -> Purged:
    """The cron's `calls-retention` duty (see `queues.retention.purge_expired_calls`)."""
    return purge(runtime())


def purge(rt: Runtime) -> Purged:
    with rt.unit_of_work() as uow:
        return purge_records(
            uow.session,
            now=rt.clock(),
            calls_days=rt.settings.calls_retention_days,
            voicemails_days=rt.settings.voicemails_retention_days,
        )
