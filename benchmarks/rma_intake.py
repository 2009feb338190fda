"""RMA intake through the API and the CSV import, as ratios against a plain insert of the same
rows measured in the same run.

    .venv/bin/python benchmarks/rma_intake.py [--rows N] [--concurrency C] [--quick]

The database is migrated and holds N delivered orders (one line each) per target, made with
bulk Core inserts before anything is timed; each target files one RMA on each of its own
orders, so the targets do not see each other's rows. Measured, in this order:

* floor:   SQLAlchemy Core `insert(rmas)` of the same rows (status, order, customer, line,
           SKU, quantity, kind, reason, ...), one transaction per row like the others; measured
           first and again last, and the mean of the two is the ratios' base (`floor (bulk)`,
           one executemany in one transaction, is printed for scale, not as the floor);
* api:     POST /api/rmas with its Bearer token, to the app served by gunicorn (2 workers x 4
           threads) as a subprocess on a free 127.0.0.1 port, from C keep-alive connections
           (one thread each); every answer must be a 201;
* csv:     `callcenter rma import FILE` of the same rows, in this process (the click command
           through Flask's CLI runner): read, validate, one transaction per row;
* again:   the same CSV again: every row `unchanged` (the idempotency check's cost).

What the intake does per row that the floor does not: parse and validate the request, look up
the order, its line and the RMAs already on it, compare-and-set, the intake fingerprint row,
and the audit entry. The run fails (exit status 1) if any request or row is refused, if the
database does not hold exactly the rows expected afterwards, or if the server logged a failure.
SQLite in a temporary instance folder; PostgreSQL too when CALLCENTER_BENCH_DATABASE_URL names
one (a scratch schema, dropped afterwards).
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.webhooks import (  # noqa: E402
    Database,
    build_runtime,
    child_environment,
    databases,
    free_port,
    log_problems,
    revision,
    serving,
)

TOKEN = "bench-rma-token-" + "7" * 16
COLUMNS = ("number", "order", "sku", "quantity", "kind", "reason", "replacement_sku", "opened",
           "description", "requested_at")  # fmt: skip


@dataclass(frozen=True)
class Figure:
    label: str
    rows: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.rows / self.seconds

    @property
    def ms_per_row(self) -> float:
        return 1000 * self.seconds / self.rows


def requests_for(prefix: str, count: int, now: datetime) -> list[dict[str, Any]]:
    """One RMA request per order `<prefix>-<i>`: mostly returns, every fourth an exchange."""
    rows = []
    for i in range(count):
        exchange = i % 4 == 3
        rows.append(
            {
                "number": f"{prefix}R{i:06d}",
                "order": f"{prefix}-{i:06d}",
                "sku": f"SKU-{i % 50:03d}",
                "quantity": 1,
                "kind": "exchange" if exchange else "return",
                "reason": "wrong_size" if exchange else "quality_problem",
                "replacement_sku": f"SKU-{(i + 1) % 50:03d}" if exchange else None,
                "opened": i % 2 == 0,
                "description": "鞋底开胶，穿了一次就坏了",
                "requested_at": (now - timedelta(hours=1)).isoformat(),
            }
        )
    return rows


def add_orders(
    env: Mapping[str, str], prefixes: tuple[str, ...], count: int, now: datetime
) -> dict[str, dict[str, tuple[int, int, int]]]:
    """Migrate, then insert `count` delivered orders per prefix (one customer, one line each);
    (order id, customer id, line id) by order number, per prefix."""
    from sqlalchemy import insert, select

    from callcenter.migrate import upgrade
    from core.models import Customer, Order, OrderItem

    rt = build_runtime(env)
    ids: dict[str, dict[str, tuple[int, int, int]]] = {}
    try:
        upgrade(rt.engine)
        with rt.engine.begin() as conn:
            conn.execute(
                insert(Customer.__table__),
                [
                    {
                        "name": "王芳",
                        "account_number": f"BENCH{p}",
                        "tier": "new",
                        "language": "zh",
                        "created_at": now,
                    }
                    for p in prefixes
                ],
            )
            customers = dict(conn.execute(select(Customer.account_number, Customer.id)).all())
            for p in prefixes:
                conn.execute(
                    insert(Order.__table__),
                    [
                        {
                            "number": f"{p}-{i:06d}",
                            "customer_id": customers[f"BENCH{p}"],
                            "amount_fen": 19_900,
                            "payment_type": "prepaid",
                            "status": "delivered",
                            "placed_at": now - timedelta(days=5),
                            "delivered_at": now - timedelta(days=1),
                        }
                        for i in range(count)
                    ],
                )
                orders = dict(
                    conn.execute(
                        select(Order.number, Order.id).where(Order.number.like(f"{p}-%"))
                    ).all()
                )
                conn.execute(
                    insert(OrderItem.__table__),
                    [
                        {
                            "order_id": orders[f"{p}-{i:06d}"],
                            "sku": f"SKU-{i % 50:03d}",
                            "name": "跑鞋",
                            "quantity": 1,
                            "unit_price_fen": 19_900,
                        }
                        for i in range(count)
                    ],
                )
                lines = dict(
                    conn.execute(
                        select(OrderItem.order_id, OrderItem.id).where(
                            OrderItem.order_id.in_(orders.values())
                        )
                    ).all()
                )
                ids[p] = {n: (o, customers[f"BENCH{p}"], lines[o]) for n, o in orders.items()}
    finally:
        rt.engine.dispose()
    return ids


def floor_rows(
    requests: list[dict[str, Any]], ids: dict[str, tuple[int, int, int]], now: datetime
) -> list[dict[str, Any]]:
    """The same RMAs as the rows the intake stores in `rmas`."""
    rows = []
    for r in requests:
        order_id, customer_id, line_id = ids[r["order"]]
        rows.append(
            {
                "number": r["number"],
                "order_id": order_id,
                "customer_id": customer_id,
                "order_item_id": line_id,
                "kind": r["kind"],
                "status": "awaiting_inspection",
                "reason": r["reason"],
                "description": r["description"],
                "sku": r["sku"],
                "quantity": r["quantity"],
                "opened": r["opened"],
                "replacement_sku": r["replacement_sku"],
                "source": "api",
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def time_floor(env: Mapping[str, str], rows: list[dict[str, Any]], *, bulk: bool) -> float:
    from sqlalchemy import insert

    from core.models import Rma

    rt = build_runtime(env)
    statement = insert(Rma.__table__)
    try:
        start = time.perf_counter()
        if bulk:
            with rt.engine.begin() as conn:
                conn.execute(statement, rows)
        else:
            for row in rows:
                with rt.engine.begin() as conn:
                    conn.execute(statement, row)
        return time.perf_counter() - start
    finally:
        rt.engine.dispose()


def time_api(url: str, requests: list[dict[str, Any]], concurrency: int) -> float:
    """POST every request, from `concurrency` keep-alive connections; any answer but a 201
    stops the run."""
    host, port = url.removeprefix("http://").split(":")
    pending = list(reversed(requests))
    lock = threading.Lock()
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        while True:
            with lock:
                if not pending or failures:
                    break
                body = pending.pop()
            conn.request("POST", "/api/rmas", json.dumps(body).encode(), headers)
            response = conn.getresponse()
            text = response.read()
            if response.status != 201:
                failures.append(f"{body['number']}: {response.status} {text[:300]!r}")
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit("the API refused a request: " + failures[0])
    return elapsed


def time_csv(env: Mapping[str, str], path: Path, expect: str) -> float:
    """`callcenter rma import FILE` in this process; its summary must be `expect`."""
    from callcenter.app import create_app
    from callcenter.commands.back_office import rma_group

    app = create_app(runtime=build_runtime(env))
    runner = app.test_cli_runner()
    start = time.perf_counter()
    result = runner.invoke(rma_group, ["import", str(path)])
    elapsed = time.perf_counter() - start
    app.extensions["callcenter"].engine.dispose()
    if expect not in result.output:
        raise SystemExit(f"the CSV import said: {result.output[-500:]}")
    return elapsed


def count_rmas(env: Mapping[str, str], prefix: str) -> int:
    from sqlalchemy import func, select

    from core.models import Rma

    rt = build_runtime(env)
    try:
        with rt.session_factory() as s:
            return int(
                s.scalar(select(func.count(Rma.id)).where(Rma.number.like(f"{prefix}R%"))) or 0
            )
    finally:
        rt.engine.dispose()


def write_csv(path: Path, requests: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        for r in requests:
            writer.writerow({k: ("" if r[k] is None else r[k]) for k in COLUMNS})
    return path


def measure(db: Database, rows: int, concurrency: int, work: Path) -> list[Figure]:
    now = datetime.now(UTC).replace(microsecond=0)
    port = free_port()
    env = child_environment(db, f"http://127.0.0.1:{port}")
    env["CALLCENTER_RMA_API_TOKEN"] = TOKEN
    prefixes = ("F", "G", "B", "A", "C", "W")  # W: the API's warm-up
    ids = add_orders(env, prefixes, rows, now)
    wanted = {p: requests_for(p, rows, now) for p in prefixes}

    def floor(prefix: str, label: str) -> Figure:
        taken = time_floor(env, floor_rows(wanted[prefix], ids[prefix], now), bulk=False)
        return Figure(label, rows, taken)

    figures = [
        floor("F", "floor before"),
        Figure(
            "floor (bulk)", rows, time_floor(env, floor_rows(wanted["B"], ids["B"], now), bulk=True)
        ),
    ]
    log = work / f"server-{db.label}.log"
    with serving("gunicorn", "app", port, env, log) as server:
        time_api(server.url, wanted["W"][: max(rows // 10, 10)], concurrency)  # not measured
        figures.append(Figure("api", rows, time_api(server.url, wanted["A"], concurrency)))
    if problems := log_problems(log):
        raise SystemExit("the server logged failures:\n" + "\n".join(problems[:40]))
    path = write_csv(work / f"rmas-{db.label}.csv", wanted["C"])
    figures.append(Figure("csv", rows, time_csv(env, path, f"created: {rows}, updated: 0")))
    figures.append(
        Figure("csv again", rows, time_csv(env, path, f"created: 0, updated: 0, unchanged: {rows}"))
    )
    figures.append(floor("G", "floor after"))
    for prefix in ("F", "G", "B", "A", "C"):
        found = count_rmas(env, prefix)
        if found != rows:
            raise SystemExit(f"{found} RMAs of target {prefix} stored, {rows} expected")
    return figures


def report(label: str, figures: list[Figure]) -> str:
    # The floor is measured before and after the others; their mean is the ratios' base, and
    # the two apart show how much the machine drifted meanwhile.
    floors = [f.seconds for f in figures if f.label.startswith("floor ") and "bulk" not in f.label]
    base = sum(floors) / len(floors)
    lines = [
        f"{label}:",
        f"  {'target':<14}{'rows':>7}{'seconds':>10}{'rows/s':>10}{'ms/row':>9}{'x floor':>9}",
    ]
    for f in figures:
        lines.append(
            f"  {f.label:<14}{f.rows:>7}{f.seconds:>10.2f}{f.per_second:>10.0f}"
            f"{f.ms_per_row:>9.2f}{f.seconds / base:>9.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="RMAs per target (default 2000)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="API connections, one client thread each (default 4)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100 rows")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows = 100
    if args.rows < 20 or args.concurrency < 1:
        parser.error("--rows must be at least 20 and --concurrency at least 1")
    print(
        f"RMA intake, {args.rows} rows per target, API concurrency {args.concurrency}; "
        f"commit {revision()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-bo-") as tmp, databases(Path(tmp)) as dbs:
        for db in dbs:
            db.instance.mkdir(parents=True, exist_ok=True)
            print(report(db.label, measure(db, args.rows, args.concurrency, Path(tmp))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
