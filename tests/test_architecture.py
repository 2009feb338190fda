"""Architecture rules: domain packages never import Flask, and migrations match the models."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.db import Base

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ("ivr_menus", "queues", "recordings", "qc", "config")


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_package_does_not_import_flask(package: str) -> None:
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{path.relative_to(ROOT)}: {n}"
                for n in names
                if n.split(".")[0] in ("flask", "werkzeug")
            ]
    assert offenders == []


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_migration_config_keeps_a_url_with_percent_signs() -> None:
    from callcenter.migrate import alembic_config
    from core.db import make_engine

    url = "postgresql+psycopg://cc:p%40ss@127.0.0.1:5432/cc?host=%2Fvar%2Frun"
    engine = make_engine(url)
    assert alembic_config(engine).get_main_option("sqlalchemy.url") == \
        engine.url.render_as_string(hide_password=False)


def test_sqlite_writers_take_turns_and_a_lost_connection_frees_the_lock(tmp_path: Path) -> None:
    import threading

    from sqlalchemy import text

    from core.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))

    def add() -> None:
        for _ in range(20):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (1)"))

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conn = engine.connect()
    conn.execute(text("SELECT 1"))  # begins a transaction: holds the lock
    conn.invalidate()  # lost mid-transaction
    with engine.begin() as other:  # would wait 30 s if the lock had leaked
        assert other.scalar(text("SELECT count(*) FROM t")) == 80
    engine.dispose()


def test_insert_ignoring_conflict_tells_an_insert_from_a_skipped_duplicate(
    session: Session,
) -> None:
    from core.calls import log_event, upsert_call
    from tests.conftest import NOW, new_call_sid

    call, _ = upsert_call(
        session, new_call_sid(), direction="inbound", from_number="", to_number="", now=NOW
    )
    assert log_event(session, call, "x", now=NOW, dedupe_key="k")
    assert not log_event(session, call, "x", now=NOW, dedupe_key="k")  # on both databases
