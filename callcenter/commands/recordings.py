"""`callcenter recordings`: list recordings, retry failed ones, apply the retention."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from callcenter.commands.base import require_live_redis
from callcenter.jobs import recordings as jobs
from callcenter.runtime import runtime
from recordings import services
from recordings.models import RecordingStatus


@click.group("recordings", help="Call recordings: list, retry failed processing, purge.")
def recordings_group() -> None:
    pass


@recordings_group.command("list", help="List recordings, newest first, with failure reasons.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in RecordingStatus]),
    default=None,
    help="Only these.",
)
@click.option("--limit", default=50, show_default=True)
@with_appcontext
def list_command(status: str | None, limit: int) -> None:
    where = services.RecordingFilter(
        status=RecordingStatus(status) if status else None, limit=limit
    )
    with runtime().session_factory() as db:
        for r in services.list_recordings(db, where):
            reason = f"  {r.failure_code}: {r.failure_reason}" if r.failure_code else ""
            hold = "  [legal hold]" if r.legal_hold else ""
            click.echo(
                f"{r.sid}  {r.status.value:<10}  {r.created_at:%Y-%m-%d %H:%M}  "
                f"agent={r.agent_id or '-'}  queue={r.queue or '-'}  "
                f"attempts={r.attempts}{reason}{hold}"
            )


@recordings_group.command("retry", help="Re-queue the processing of failed (or stuck) recordings.")
@click.option("--all-failed", is_flag=True, help="Every failed recording Twilio has audio for.")
@click.argument("sids", nargs=-1)
@with_appcontext
def retry_command(all_failed: bool, sids: tuple[str, ...]) -> None:
    if not all_failed and not sids:
        raise click.UsageError("name recording SIDs, or pass --all-failed")
    require_live_redis(runtime())  # the processing is a job
    ids = jobs.retry(runtime(), sids=sids, all_failed=all_failed)
    click.echo(f"re-queued {len(ids)} recording(s)")


@recordings_group.command("purge", help="Delete stored recordings past the retention period.")
@with_appcontext
def purge_command() -> None:
    rt = runtime()
    purged = jobs.purge(rt)
    click.echo(
        f"purged {len(purged)} recording(s) older than "
        f"{rt.settings.recordings_retention_days} days (legal holds kept)"
    )
