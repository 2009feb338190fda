"""The work orders' SLA sweep over many open work orders, as ratios against a plain SELECT of
the same rows measured in the same run; and how long a search takes.

    .venv/bin/python benchmarks/wo_sweep.py [--rows N] [--database-url URL]

A migrated database (SQLite in a temporary folder; with --database-url, a scratch schema in
that PostgreSQL database, dropped afterwards) gets N open work orders (default 100,000) with
their "created" and "pass" events and 10,000 customers with a phone each, by bulk Core inserts
before anything is timed. They were opened over the last 100 minutes, with the default policy
(2 h first feedback, warning at 80 % = 96 minutes), so the oldest 4 % are due a warning. Timed:

* floor:     `SELECT` of the same open work orders (every column, fetched), first and again
             last; the mean of the two is the ratios' base;
* backfill:  the first sweep, when every work order is due (migration 0015 makes every open
             one due once): each one's timeline read and both clocks computed, the snapshot
             columns written, and the warnings due recorded;
* idle tick: the sweep a moment later, when nothing is due (the steady state between
             deadlines): one indexed read of `next_check_at`;
* cron tick: the sweep 15 s later (the duty's period): the warnings that fell due meanwhile;
* catch-up:  the sweep after 10 minutes without one: a tenth of the work orders warn at once;
* recompute: what a sweep without the snapshot would cost each time: every open work order's
             timeline read and its clocks computed (no writes);
* search:    `work_orders.search.search` by number and by phone (a page, as the console asks),
             the mean of 200 lookups each.

The run fails (exit status 1) if the warnings recorded are not exactly those the pure clocks
say are due.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, func, insert, select, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

import callcenter.schema  # noqa: E402, F401  (every table on the metadata)
from benchmarks.webhooks import revision  # noqa: E402
from callcenter.migrate import upgrade  # noqa: E402
from config.hours import BusinessHours, parse_hours  # noqa: E402
from core.db import make_engine  # noqa: E402
from core.models import Customer, CustomerPhone  # noqa: E402
from work_orders import search as wo_search  # noqa: E402
from work_orders import sweep  # noqa: E402
from work_orders.models import WorkOrder, WorkOrderEvent, WorkOrderStatus  # noqa: E402
from work_orders.sla_policy import SlaPolicies  # noqa: E402

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 11:00 in Shanghai
SPREAD = timedelta(minutes=100)  # the work orders were opened over this long before NOW
CUSTOMERS = 10_000
CHUNK = 5_000
SLA = sweep.Sla(
    SlaPolicies(),
    BusinessHours(parse_hours("mon-fri 08:30-21:00"), frozenset(), ZoneInfo("Asia/Shanghai")),
)
CATEGORIES = ("product_quality", "damaged_in_transit", "usage_question", "logistics_delay")
DEPARTMENTS = ("aftersales-a", "aftersales-b", "logistics", "technical")


@dataclass(frozen=True)
class Figure:
    label: str
    rows: int  # rows read or work orders checked
    seconds: float
    note: str = ""


def opened_at(i: int, rows: int) -> datetime:
    return NOW - SPREAD + SPREAD * (i / rows)


def seed(factory: sessionmaker[Session], rows: int) -> None:
    """N open work orders passed to a department, their two events, customers and phones."""
    with factory.begin() as s:
        s.execute(
            insert(Customer),
            [
                {"id": c + 1, "name": f"Customer {c}", "account_number": f"A{c:08d}"}
                for c in range(CUSTOMERS)
            ],
        )
        s.execute(
            insert(CustomerPhone),
            [{"customer_id": c + 1, "e164": f"+86138{c:08d}"} for c in range(CUSTOMERS)],
        )
    for start in range(0, rows, CHUNK):
        with factory.begin() as s:
            orders, events = [], []
            for i in range(start, min(rows, start + CHUNK)):
                at = opened_at(i, rows)
                orders.append({
                    "id": i + 1,
                    "number": f"WO{at:%y%m%d}{i + 1:06d}",
                    "customer_id": i % CUSTOMERS + 1,
                    "category": CATEGORIES[i % len(CATEGORIES)],
                    "department": DEPARTMENTS[i % len(DEPARTMENTS)],
                    "priority": 0,
                    "status": WorkOrderStatus.WITH_DEPARTMENT,
                    "description": "屏幕碎了 cracked screen",
                    "owner_team": "front-desk",
                    "suggestion_overridden": False,
                    "resolved_on_contact": False,
                    "created_at": at,
                    "updated_at": at,
                    "next_check_at": at,  # what migration 0015 and a new work order set
                })  # fmt: skip
                events.append({"work_order_id": i + 1, "kind": "created", "at": at,
                               "author": "li.na", "data": {"status": "open"}})  # fmt: skip
                passed = {"event": "pass", "before": "open", "after": "with_department"}
                events.append({"work_order_id": i + 1, "kind": "status", "at": at,
                               "author": "li.na", "data": passed})  # fmt: skip
            s.execute(insert(WorkOrder), orders)
            s.execute(insert(WorkOrderEvent), events)


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    rows = fn()
    return rows, time.perf_counter() - started


def plain_select(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        table = WorkOrder.__table__
        return len(s.execute(select(table).where(table.c.status != "closed")).all())


def sweep_at(factory: sessionmaker[Session], now: datetime) -> Callable[[], int]:
    """The cron duty's loop (`callcenter.jobs.work_orders.run_sweep`) without the Runtime."""

    def run() -> int:
        checked = 0
        while True:
            with factory.begin() as s:
                done = sweep.sweep(s, SLA, now=now).checked
            checked += done
            if done < sweep.BATCH:
                return checked

    return run


def recompute(factory: sessionmaker[Session]) -> int:
    """Every open work order's clocks from its timeline, without the snapshot (read-only)."""
    with factory() as s:
        orders = list(s.scalars(select(WorkOrder).where(WorkOrder.status != "closed")))
        ids = [w.id for w in orders]
        timelines: dict[int, list[sweep.EventLike]] = {}
        for start in range(0, len(ids), 2000):
            timelines.update(sweep.events_of(s, ids[start : start + 2000]))
        for wo in orders:
            sweep.clocks_of(wo, timelines[wo.id], SLA, now=NOW)
        return len(orders)


def warnings_recorded(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).where(WorkOrderEvent.kind == "sla_warning")) or 0


def expected_warnings(rows: int, now: datetime) -> int:
    """How many work orders the pure clocks say are past 96 minutes at `now`."""
    return sum(1 for i in range(rows) if opened_at(i, rows) + timedelta(minutes=96) <= now)


def search_ms(factory: sessionmaker[Session], rows: int) -> tuple[float, float, float]:
    """Mean milliseconds of a search by number, by phone, and of a department's first page."""
    numbers, phones = [], []
    with factory() as s:
        for n in range(200):
            wo = s.get(WorkOrder, (n * 7919) % rows + 1)
            assert wo is not None
            numbers.append(wo.number)
            phones.append(f"+86138{(n * 31) % min(rows, CUSTOMERS):08d}")

    def mean_ms(filters: list[wo_search.Filters]) -> float:
        times = []
        with factory() as s:
            for f in filters:
                started = time.perf_counter()
                page = wo_search.search(s, f)
                times.append(time.perf_counter() - started)
                if not page.rows:
                    raise SystemExit(f"search found nothing for {f}")
                s.expunge_all()
        return 1000 * statistics.mean(times)

    by_number = mean_ms([wo_search.Filters(number=n) for n in numbers])
    by_phone = mean_ms([wo_search.Filters(phone=p) for p in phones])
    by_department = mean_ms([wo_search.Filters(department=DEPARTMENTS[n % 4]) for n in range(40)])
    return by_number, by_phone, by_department


@contextlib.contextmanager
def database(url: str | None) -> Iterator[tuple[str, Engine]]:
    if not url:
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
            yield "sqlite", engine
            engine.dispose()
        return
    schema = f"cc_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield "postgres", engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def benchmark(url: str | None, rows: int) -> int:
    with database(url) as (label, engine):
        upgrade(engine)
        factory = sessionmaker(engine, expire_on_commit=False)
        started = time.perf_counter()
        seed(factory, rows)
        print(f"{label}: {rows} open work orders seeded in {time.perf_counter() - started:.1f} s")
        figures: list[Figure] = []
        problems: list[str] = []

        def measure(label_: str, fn: Callable[[], int], checked_at: datetime | None = None) -> None:
            count, seconds = timed(fn)
            note = check(checked_at) if checked_at is not None else ""
            figures.append(Figure(label_, count, seconds, note))

        def check(now: datetime) -> str:
            got, want = warnings_recorded(factory), expected_warnings(rows, now)
            if got != want:
                problems.append(f"{want} warnings due at {now}, {got} recorded")
            return f"{got} warnings in all"

        measure("floor before", lambda: plain_select(factory))
        for name, at in (
            ("backfill sweep", NOW),
            ("idle tick", NOW + timedelta(seconds=1)),
            ("cron tick +15 s", NOW + timedelta(seconds=16)),
            ("catch-up +10 min", NOW + timedelta(minutes=10)),
        ):
            measure(name, sweep_at(factory, at), at)
        measure("recompute all", lambda: recompute(factory))
        measure("floor after", lambda: plain_select(factory))
        floor = statistics.mean(f.seconds for f in figures if f.label.startswith("floor"))
        print(f"  {'target':<18}{'rows':>8}{'seconds':>10}{'x floor':>10}  note")
        for f in figures:
            print(
                f"  {f.label:<18}{f.rows:>8}{f.seconds:>10.3f}{f.seconds / floor:>10.3f}  {f.note}"
            )
        by_number, by_phone, by_department = search_ms(factory, rows)
        print(
            f"  search (work_orders.search, a page of 50): by number {by_number:.2f} ms, "
            f"by phone {by_phone:.2f} ms, a department's first page {by_department:.2f} ms"
        )
        for problem in problems:
            print(f"  FAILED: {problem}")
        return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL database to measure in a scratch schema (default: SQLite)",
    )
    args = parser.parse_args()
    print(f"Work-order SLA sweep, {args.rows} open work orders; commit {revision()}")
    return benchmark(args.database_url or None, args.rows)


if __name__ == "__main__":
    sys.exit(main())
