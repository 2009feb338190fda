"""`callcenter middle-office …`: import orders from CSV, the do-not-call list, decision export,
the engine's tick (for cron or by hand)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, TextIO

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from callcenter.commands.base import require_live_redis
from callcenter.commands.exports import export_deliveries
from callcenter.jobs import outbound_tick
from callcenter.jobs import router as router_jobs
from callcenter.runtime import runtime
from core.phones import to_e164
from middle_office import intake
from middle_office.policy import ReviewPolicy
from outbound import tasks
from outbound.models import DoNotCall
from queue_callbacks import entries as callbacks
from queues.connect import Followup

#: CSV columns; `items` is JSON (a list of {sku, name, quantity, unit_price_fen}).
CSV_COLUMNS = intake.FIELDS


@click.group("middle-office", help="Middle office: order intake, do-not-call list, decisions.")
def middle_office_group() -> None:
    pass


def row_to_payload(row: dict[str, str]) -> dict[str, Any]:
    """One CSV row as the API's JSON payload (empty cells are absent values)."""
    payload: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
    if "amount_fen" in payload and str(payload["amount_fen"]).isdigit():
        payload["amount_fen"] = int(payload["amount_fen"])
    if "invoice_requested" in payload:
        payload["invoice_requested"] = str(payload["invoice_requested"]).lower() in (
            "1",
            "true",
            "yes",
        )
    if "items" in payload:
        try:
            payload["items"] = json.loads(payload["items"])
        except ValueError:
            payload["items"] = "not JSON"
    return payload


@middle_office_group.command("import", help="Import orders from a CSV file (idempotent by number).")
@click.argument("path", type=click.File("r", encoding="utf-8-sig"))
@with_appcontext
def import_command(path: TextIO) -> None:
    rt = runtime()
    rows = list(csv.DictReader(path))
    counts: dict[str, int] = {}
    errors: list[str] = []
    policy = ReviewPolicy.from_settings(rt.settings)
    with click.progressbar(rows, label="orders", show_pos=True) as bar:
        for line, row in enumerate(bar, start=2):
            try:
                data = intake.parse_order(
                    row_to_payload(row), country_code=rt.settings.default_country_code
                )
                with rt.unit_of_work() as uow:  # one order per transaction: a bad row stops nothing
                    result = intake.ingest(
                        uow.session, data, source="csv", now=rt.clock(), policy=policy
                    )
            except intake.InvalidOrder as exc:
                errors.append(
                    f"line {line}: {json.dumps(exc.details['fields'], ensure_ascii=False)}"
                )
                counts["invalid"] = counts.get("invalid", 0) + 1
                continue
            except intake.OrderClosed as exc:
                errors.append(f"line {line}: {exc.message}")
                counts["closed"] = counts.get("closed", 0) + 1
                continue
            key = (
                result.outcome
                if result.outcome == "unchanged"
                else ("review" if result.review_id else "approved")
            )
            counts[key] = counts.get(key, 0) + 1
    for message in errors:
        click.echo(message, err=True)
    click.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no rows")
    if errors:
        raise SystemExit(1)


@middle_office_group.command("dnc-add", help="Put a number on the do-not-call list.")
@click.argument("number")
@click.option("--reason", default="", help="Why (shown to supervisors).")
@with_appcontext
def dnc_add(number: str, reason: str) -> None:
    rt = runtime()
    require_live_redis(rt)  # a blocked callback leaves the waiting list
    e164 = to_e164(number, rt.settings.default_country_code)
    if e164 is None:
        raise click.BadParameter(f"{number!r} is not a phone number")
    with rt.unit_of_work() as uow:
        blocked = tasks.add_do_not_call(
            uow.session, e164, reason=reason, actor="cli", now=rt.clock()
        )
        # A blocked callback may be back in line: off the waiting list with it.
        entries = [t.subject_id for t in blocked if t.subject_type == callbacks.SUBJECT_TYPE]
        router_jobs.after_commit(uow, rt, Followup(dequeue=entries))
    click.echo(f"{e164} on the do-not-call list; {len(blocked)} pending task(s) blocked")


@middle_office_group.command("dnc-list", help="List the do-not-call list.")
@with_appcontext
def dnc_list() -> None:
    with runtime().session_factory() as db:
        for row in db.scalars(select(DoNotCall).order_by(DoNotCall.e164)):
            click.echo(f"{row.e164}\t{row.added_at:%Y-%m-%d}\t{row.added_by}\t{row.reason}")


@middle_office_group.command("export", help="Write review decisions not yet delivered as CSV.")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@with_appcontext
def export_command(path: Path) -> None:
    written = export_deliveries(
        runtime(), path, target="order_system", columns=("order", "status", "reason", "decided_at")
    )
    click.echo(f"{written} decision(s) written to {path}")


@middle_office_group.command("tick", help="Run the outbound engine's periodic work once.")
@with_appcontext
def tick_command() -> None:
    require_live_redis(runtime())  # the calls it places are jobs
    outbound_tick.tick()
    click.echo("ok")
