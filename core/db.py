"""Database plumbing: declarative Base, engine factory, unit of work with after-commit hooks."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CursorResult, DateTime, Engine, MetaData, Result, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)
SQLITE_LOCK_TIMEOUT = 30  # seconds a transaction waits for SQLite's write lock

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout for several processes."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy's documented
            # workaround: turn it off and emit BEGIN ourselves (below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        # SQLite has one write lock. IMMEDIATE takes it up front, so concurrent writers wait
        # instead of failing when a read transaction later tries to write. Threads of this
        # process queue on a Python lock first: they are woken the moment it is free, where
        # SQLite's busy handler sleeps up to 100 ms between tries (a long tail under load).
        # Other processes still meet at SQLite's lock, with busy_timeout.
        writer = threading.Lock()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            if not writer.acquire(timeout=SQLITE_LOCK_TIMEOUT):
                raise TimeoutError(f"no SQLite write lock after {SQLITE_LOCK_TIMEOUT} s")
            conn.info["callcenter_writer"] = True
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                _sqlite_end(conn)
                raise

        @event.listens_for(engine, "commit")
        @event.listens_for(engine, "rollback")
        def _sqlite_end(conn: Any) -> None:
            if conn.info.pop("callcenter_writer", False):
                writer.release()

        # A connection returned or invalidated mid-transaction must not keep the lock.
        @event.listens_for(engine.pool, "checkin")
        @event.listens_for(engine.pool, "invalidate")
        def _sqlite_lost(_dbapi_conn: Any, record: Any, *_exc: Any) -> None:
            if record is not None and record.info.pop("callcenter_writer", False):
                writer.release()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


class UnitOfWork:
    """One transaction: services flush, the boundary commits, then after-commit hooks run.

    Hooks (enqueues, outbound Twilio calls) run only once the commit succeeded; on an exception
    the transaction rolls back and the hooks are dropped.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._hooks: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []

    def after_commit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._hooks.append((fn, args, kwargs))

    def run_hooks(self) -> None:
        hooks, self._hooks = self._hooks, []
        for fn, args, kwargs in hooks:
            fn(*args, **kwargs)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[UnitOfWork]:
    """Open a session, yield a UnitOfWork, commit on success and then run its hooks."""
    session = factory()
    uow = UnitOfWork(session)
    try:
        yield uow
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    uow.run_hooks()


def insert_ignoring_conflict(
    session: Session, model: type[Base], values: dict[str, Any], conflict: list[str]
) -> bool:
    """INSERT … ON CONFLICT (conflict) DO NOTHING on SQLite or PostgreSQL; True if inserted.

    One statement, safe against a concurrent duplicate, and with no savepoint: the way every
    keyed webhook and job records "this happened once".
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = (
            pg_insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict)
        )
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(dialect)
    # RETURNING tells what happened: psycopg's rowcount for a skipped ORM-enabled insert is
    # not 0 (SQLAlchemy 2.1), so the row the insert returns, or none, is the answer.
    primary_key = list(model.__table__.primary_key)
    result = session.execute(stmt.returning(*primary_key))
    return result.first() is not None


def rowcount(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an UPDATE or DELETE matched: a compare-and-set claim won when it is 1.

    `Session.execute` is typed to return a `Result`; for those statements it returns a
    `CursorResult`, the one that carries the count.
    """
    if not isinstance(result, CursorResult):
        raise TypeError(f"a {type(result).__name__} has no rowcount: not an UPDATE or DELETE")
    return result.rowcount


def utcnow() -> datetime:
    return datetime.now(UTC)
