"""`callcenter rma …`: CSV imports report each bad row by its line and import the good ones,
the same file again changes nothing, and the daily export takes each target's hand-offs once."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from back_office import handoffs, inspections, states
from back_office.models import CatalogueItem, Inspection
from callcenter.app import create_app
from callcenter.commands.back_office import rma_group
from callcenter.commands.middle_office import middle_office_group
from callcenter.runtime import Runtime
from core import webhooks
from core.models import Rma, RmaStatus
from tests.back_office.test_intake import add_order, ingest, rma
from tests.conftest import NOW


@pytest.fixture
def cli_app(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session], redis: Redis
) -> Flask:
    return create_app(runtime=make_runtime(session_factory))


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in columns})
    return path


def count(session: Session, model: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_rma_import_reports_bad_lines_and_imports_the_good_ones(
    cli_app: Flask, session: Session, tmp_path: Path
) -> None:
    order = add_order(session)
    session.commit()
    columns = ("number", "order", "sku", "quantity", "kind", "reason", "replacement_sku",
               "opened", "description", "requested_at")  # fmt: skip
    rows = [
        rma("R-0001", order.number, description="第一行\n第二行"),  # a cell on two lines
        rma("R-0002", order.number, kind="exchange", sku="TOP-1"),  # line 4: no replacement
        rma("R-0003", order.number, sku="BAG-9", quantity=5),  # line 5: the database says no
        rma("X-0004", order.number, kind="exchange", replacement_sku="SHO-2", opened="false"),
    ]
    path = write_csv(tmp_path / "rmas.csv", columns, rows)
    runner = cli_app.test_cli_runner()
    first = runner.invoke(rma_group, ["import", str(path)])
    assert first.exit_code == 1, first.output
    assert 'line 4: {"replacement_sku": "required"}' in first.output
    assert "line 5: " in first.output and '"sku": "BAG-9 is not on order' in first.output
    assert "created: 2, updated: 0, unchanged: 0, rejected: 2" in first.output
    assert sorted(session.scalars(select(Rma.number))) == ["R-0001", "X-0004"]
    found = session.scalars(select(Rma).where(Rma.number == "R-0001")).one()
    assert (found.description, found.source) == ("第一行\n第二行", "csv")
    second = runner.invoke(rma_group, ["import", str(path)])
    assert "created: 0, updated: 0, unchanged: 2, rejected: 2" in second.output
    assert count(session, Rma) == 2


def test_a_row_with_more_cells_than_the_header_is_rejected(
    cli_app: Flask, session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "rmas.csv"
    path.write_text("number,order,sku,quantity,kind,reason\nR-1234,O-1,S,1,return,wrong_item,x\n")
    result = cli_app.test_cli_runner().invoke(rma_group, ["import", str(path)])
    assert "line 2: " in result.output and "(cells beyond the header)" in result.output
    assert count(session, Rma) == 0


def test_inspection_import_moves_rmas_and_reports_unknown_ones(
    cli_app: Flask, session: Session, tmp_path: Path
) -> None:
    order = add_order(session)
    ingest(session, rma("R-0001", order.number))
    ingest(session, rma("R-0002", order.number, sku="TOP-1"))
    session.commit()
    columns = ("rma", "passed", "notes", "inspector", "inspected_at")
    rows = [
        {"rma": "R-0001", "passed": "pass", "inspector": "李"},
        {"rma": "R-0002", "passed": "fail", "notes": "有污渍"},
        {"rma": "R-0404", "passed": "pass"},
        {"rma": "R-0001", "passed": "maybe"},
    ]
    path = write_csv(tmp_path / "inspections.csv", columns, rows)
    runner = cli_app.test_cli_runner()
    first = runner.invoke(rma_group, ["inspections", str(path)])
    assert "line 4: no RMA R-0404" in first.output
    assert 'line 5: {"passed": "must be true or false"}' in first.output
    assert "created: 2, updated: 0, unchanged: 0, rejected: 2" in first.output
    statuses = set(session.scalars(select(Rma.status)))
    assert statuses == {RmaStatus.IN_REVIEW}
    second = runner.invoke(rma_group, ["inspections", str(path)])
    assert "created: 0, updated: 0, unchanged: 2, rejected: 2" in second.output
    assert count(session, Inspection) == 2


def test_catalogue_import_is_idempotent(cli_app: Flask, session: Session, tmp_path: Path) -> None:
    columns = ("sku", "name", "category", "stock")
    rows = [
        {"sku": "SHO-1", "name": "跑鞋", "category": "shoes", "stock": "3"},
        {"sku": "LIP-1", "name": "口红", "category": "cosmetics", "stock": "-2"},
    ]
    path = write_csv(tmp_path / "catalogue.csv", columns, rows)
    runner = cli_app.test_cli_runner()
    first = runner.invoke(rma_group, ["catalogue", str(path)])
    assert "line 3: " in first.output and "stock" in first.output
    assert "created: 1, updated: 0, unchanged: 0, rejected: 1" in first.output
    rows[0]["stock"] = "0"
    write_csv(path, columns, rows[:1])
    second = runner.invoke(rma_group, ["catalogue", str(path)])
    assert second.exit_code == 0, second.output
    assert "created: 0, updated: 1, unchanged: 0, rejected: 0" in second.output
    assert session.get(CatalogueItem, "SHO-1").stock == 0  # type: ignore[union-attr]


def handed_off(session: Session, number: str, **changes: Any) -> Rma:
    order = add_order(session)
    found = session.get(Rma, ingest(session, rma(number, order.number, **changes)).rma_id)
    assert found is not None
    _, result = inspections.parse_inspection({"passed": True})
    inspections.record_inspection(session, number, result, source="api", now=NOW)
    states.move(session, found, "approve", now=NOW, decided_at=NOW, refund_amount_fen=39_900)
    handoffs.hand_off(session, found, now=NOW)
    return found


def test_the_export_takes_each_targets_hand_offs_once(
    cli_app: Flask, session: Session, tmp_path: Path
) -> None:
    handed_off(session, "R-0001")
    handed_off(session, "R-0002")
    handed_off(session, "X-0003", kind="exchange", replacement_sku="SHO-2")
    delivered = handed_off(session, "R-0004")
    handoffs.delivery_of(session, delivered).status = webhooks.DeliveryStatus.DELIVERED  # type: ignore[union-attr]
    webhooks.queue_delivery(
        session, key="review:1:approved", event="order.approved", payload={"order": "O"}, now=NOW
    )
    session.commit()
    runner = cli_app.test_cli_runner()
    finance = runner.invoke(rma_group, ["export", "finance", str(tmp_path / "finance.csv")])
    assert "2 hand-off(s) to finance" in finance.output, finance.output
    with (tmp_path / "finance.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["rma"], r["refund_amount_fen"], r["event"]) for r in rows] == [
        ("R-0001", "39900", "rma.refund_requested"),
        ("R-0002", "39900", "rma.refund_requested"),
    ]
    again = runner.invoke(rma_group, ["export", "finance", str(tmp_path / "again.csv")])
    assert "0 hand-off(s) to finance" in again.output
    logistics = runner.invoke(rma_group, ["export", "logistics", str(tmp_path / "log.csv")])
    assert "1 hand-off(s) to logistics" in logistics.output
    with (tmp_path / "log.csv").open(encoding="utf-8") as f:
        [row] = list(csv.DictReader(f))
    assert (row["rma"], row["replacement_sku"]) == ("X-0003", "SHO-2")
    # the order system's export takes only its own deliveries
    decisions = runner.invoke(middle_office_group, ["export", str(tmp_path / "orders.csv")])
    assert "1 decision(s)" in decisions.output
    bad = runner.invoke(rma_group, ["export", "order_system", str(tmp_path / "x.csv")])
    assert bad.exit_code == 2
