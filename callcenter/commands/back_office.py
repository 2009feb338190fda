"""`callcenter rma …`: import RMA requests, inspection results and the catalogue from CSV, and
write the daily CSV export of the hand-offs to finance and logistics.

Every import reads the whole file, then stores one row per transaction (a bad row stops
nothing): a progress bar while it runs, each bad row reported with its line number and fields,
then a summary of created / updated / unchanged / rejected rows; the exit status is 1 if any
row was rejected. Each is idempotent: the same file again changes nothing.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import click
from flask.cli import with_appcontext

from back_office import catalogue, inspections, intake
from callcenter.commands.exports import export_deliveries
from callcenter.runtime import Runtime, runtime
from core.errors import DomainError

#: Each target's export: the payload's fields as columns (the whole payload follows as JSON).
EXPORT_COLUMNS = {
    "finance": (
        "rma",
        "order",
        "account",
        "sku",
        "quantity",
        "refund_amount_fen",
        "payment_type",
        "approved_at",
    ),
    "logistics": (
        "rma",
        "order",
        "sku",
        "quantity",
        "replacement_sku",
        "recipient_name",
        "recipient_phone",
        "province",
        "city",
        "address",
        "postal_code",
        "approved_at",
    ),
}
SUMMARY = ("created", "updated", "unchanged", "rejected")
EXTRA_CELLS = "(cells beyond the header)"

#: One row's work: store it in its own unit of work and say what happened to it.
Handle = Callable[[Runtime, dict[str, Any]], str]


@click.group("rma", help="Back office: RMA, inspection and catalogue imports; hand-off exports.")
def rma_group() -> None:
    pass


def read_rows(file: TextIO) -> list[tuple[int, dict[str, Any]]]:
    """The CSV's rows as payloads, each with the line it starts on (a quoted cell may span
    lines): empty cells are absent values, cells beyond the header an unknown field."""
    reader = csv.DictReader(file)
    rows, line = [], 2
    for row in reader:
        payload: dict[str, Any] = {
            k.strip(): v for k, v in row.items() if k is not None and v not in (None, "")
        }
        if row.get(None):
            payload[EXTRA_CELLS] = row[None]
        rows.append((line, payload))
        line = reader.line_num + 1
    return rows


def describe(exc: DomainError) -> str:
    """A rejected row's reason: its bad fields, or the refusal's message."""
    bad = exc.details.get("fields")
    return json.dumps(bad, ensure_ascii=False) if bad else exc.message


def import_rows(file: TextIO, label: str, handle: Handle) -> None:
    """Run `handle` on every row of `file`, one transaction each, and report."""
    rt = runtime()
    rows = read_rows(file)
    counts: Counter[str] = Counter()
    errors: list[str] = []
    with click.progressbar(rows, label=label, show_pos=True) as bar:
        for line, payload in bar:
            try:
                counts[handle(rt, payload)] += 1
            except DomainError as exc:
                counts["rejected"] += 1
                errors.append(f"line {line}: {describe(exc)}")
    for message in errors:
        click.echo(message, err=True)
    click.echo(
        ", ".join(f"{k}: {counts[k]}" for k in (*SUMMARY, *sorted(set(counts) - set(SUMMARY))))
    )
    if errors:
        raise SystemExit(1)


def _rma(rt: Runtime, payload: dict[str, Any]) -> str:
    data = intake.parse_rma(payload)
    with rt.unit_of_work() as uow:
        return intake.ingest(uow.session, data, source="csv", now=rt.clock()).outcome


def _inspection(rt: Runtime, payload: dict[str, Any]) -> str:
    number, result = inspections.parse_inspection(payload, with_number=True)
    with rt.unit_of_work() as uow:
        outcome = inspections.record_inspection(
            uow.session, number, result, source="csv", now=rt.clock()
        ).outcome
    return "updated" if outcome == "replaced" else outcome


def _catalogue_item(rt: Runtime, payload: dict[str, Any]) -> str:
    item = catalogue.parse_item(payload)
    with rt.unit_of_work() as uow:
        return catalogue.upsert_item(uow.session, item, now=rt.clock())


@rma_group.command("import", help="Import RMA requests from a CSV file (idempotent by number).")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@with_appcontext
def import_command(file: TextIO) -> None:
    import_rows(file, "RMAs", _rma)


@rma_group.command("inspections", help="Import inspection results from a CSV file.")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@with_appcontext
def inspections_command(file: TextIO) -> None:
    import_rows(file, "inspections", _inspection)


@rma_group.command("catalogue", help="Import catalogue items (sku, name, category, stock).")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@with_appcontext
def catalogue_command(file: TextIO) -> None:
    import_rows(file, "items", _catalogue_item)


@rma_group.command("export", help="Write the hand-offs not yet delivered nor exported as CSV.")
@click.argument("target", type=click.Choice(sorted(EXPORT_COLUMNS)))
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@with_appcontext
def export_command(target: str, path: Path) -> None:
    written = export_deliveries(runtime(), path, target=target, columns=EXPORT_COLUMNS[target])
    click.echo(f"{written} hand-off(s) to {target} written to {path}")
