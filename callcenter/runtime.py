"""The Runtime: every long-lived collaborator of a process (db, Redis, queues, menus, clock)."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app
from redis import Redis
from rq import Queue
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import back_office.handoffs  # noqa: F401  (registers the hand-offs' acknowledgement hook)
import back_office.notices  # noqa: F401  (registers the RMA notice's task kind)
import back_office.status_calls  # noqa: F401  (registers the RMA status call's task kind)
import middle_office.review_calls  # noqa: F401  (registers the order review's task kind)
import queue_callbacks.entries  # noqa: F401  (registers the queue callback's task kind)
from config.hours import BusinessHours
from config.settings import Settings
from core.db import UnitOfWork, make_engine, unit_of_work, utcnow
from core.telephony import Telephony, TwilioGateway, gateway_for

if TYPE_CHECKING:
    from back_office.policy import ReturnPolicy
    from config.permissions import Permissions
    from ivr_menus.model import MenuSet
    from queues.config import QueueSet
    from queues.waiting import WaitingList
    from work_orders.rules import WorkOrderRules
    from work_orders.sla_policy import SlaPolicies
    from work_orders.sweep import Sla

log = logging.getLogger(__name__)

QUEUE_NAMES = ("high", "default", "low")
RETRY_BACKOFF_S = (1, 2, 5, 10, 30, 60)  # waits between a failed job's retries


#: The longest unix socket path the kernel takes (sun_path is 108 bytes with its NUL).
_MAX_SOCKET_PATH = 107


def embedded_redis_socket(settings: Settings) -> Path:
    """Where the embedded Redis of this instance listens: `<instance>/redis.sock`.

    `callcenter run` starts the server there, and every other command of the same instance
    finds it there. A path too long for a unix socket moves to the temporary folder, under a
    name derived from the instance folder (so it is still found).
    """
    instance = settings.instance_path.resolve()
    path = instance / "redis.sock"
    if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(os.fsencode(instance)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"callcenter-{digest}.sock"


def embedded_redis_url(settings: Settings) -> str:
    return f"unix://{embedded_redis_socket(settings)}"


def connect_redis(settings: Settings) -> Redis:
    """A client of CALLCENTER_REDIS_URL, or of the embedded Redis `callcenter run` serves.

    Nothing is started here: with no stack running, the embedded socket does not answer and
    the first command raises redis's ConnectionError (commands that need Redis say so first:
    `callcenter.commands.base.require_live_redis`). The client reconnects by itself when the
    server comes back (the supervisor restarts it on the same socket).
    """
    return Redis.from_url(settings.redis_url or embedded_redis_url(settings))


def telephony_for(settings: Settings) -> TwilioGateway:
    """The composition root's one choice: real Twilio, or the local phone network in its place."""
    if settings.uses_local_network:
        from phone_network.sdk import http_client_for

        return gateway_for(settings, http_client_for(settings.phone_network_url))
    return gateway_for(settings)


@dataclass
class Runtime:
    """Built once per process by create_app (or a test); views and jobs reach it via the app."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    menus: MenuSet
    clock: Callable[[], datetime] = utcnow
    redis_factory: Callable[[], Redis] | None = None
    telephony_factory: Callable[[], Telephony] | None = None
    #: False runs every enqueued job at once in the enqueuing thread (RQ's is_async=False):
    #: for tests and one-shot commands that have no worker.
    jobs_async: bool = True
    _redis: Redis | None = field(default=None, init=False, repr=False)
    _telephony: Telephony | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        clock: Callable[[], datetime] = utcnow,
        redis_factory: Callable[[], Redis] | None = None,
    ) -> Runtime:
        """Create the engine and load menus (a bad menu file raises here, stopping start-up)."""
        from ivr_menus.loader import load_menus

        if engine is None:
            if not settings.database_url:
                Path(settings.instance_path).mkdir(parents=True, exist_ok=True)
            engine = make_engine(settings.effective_database_url)
        menus = load_menus(settings.menus_path, queues_path=settings.queues_path)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=sessionmaker(engine, expire_on_commit=False),
            menus=menus,
            clock=clock,
            redis_factory=redis_factory,
        )

    @cached_property
    def hours(self) -> BusinessHours:
        return self.settings.hours

    @cached_property
    def queues(self) -> QueueSet:
        """The inbound queues and priority rule, read once (the menus were checked against them)."""
        from queues.config import load_queues

        return load_queues(self.settings.queues_path)

    @cached_property
    def permissions(self) -> Permissions:
        """The posts and who may do what (config/permissions.toml), read once; it must name
        exactly the posts of `queues.models.Post` and `Role`."""
        from config.permissions import load_permissions
        from queues.models import Post, Role

        known = {p.value for p in Post} | {r.value for r in Role}
        return load_permissions(self.settings.permissions_path, known_posts=known)

    @cached_property
    def return_policy(self) -> ReturnPolicy:
        """The return policy (config/return_policy.toml), read once; create_app reads it at
        start-up, so a bad file stops the app with the file, line and reason."""
        from back_office.policy import load_policy

        return load_policy(self.settings.return_policy_path)

    @cached_property
    def sla_policies(self) -> SlaPolicies:
        """The work orders' SLA policies (config/sla.toml), read once; create_app reads them
        at start-up, so a bad file stops the app with the file, line and reason; its
        categories must be the work-order rules' (config/work_orders.toml)."""
        from work_orders.sla_policy import load_sla_policies

        known = self.work_order_rules.categories
        return load_sla_policies(self.settings.sla_policy_path, known_categories=known)

    @property
    def sla(self) -> Sla:
        """What the SLA clocks need besides a timeline: the policies and the calendar."""
        from work_orders.sweep import Sla

        return Sla(self.sla_policies, self.hours)

    @cached_property
    def work_order_rules(self) -> WorkOrderRules:
        """Work order categories, departments and keyword rules (config/work_orders.toml), read
        once; create_app reads them at start-up, so a bad file stops the app with the file,
        line and reason."""
        from work_orders.rules import load_rules

        return load_rules(self.settings.work_order_rules_path)

    @cached_property
    def waiting_list(self) -> WaitingList:
        """The live waiting list in Redis, under the configured key prefix."""
        from queues.waiting import WaitingList

        return WaitingList(self.redis, self.settings.redis_prefix, self.queues.priority)

    @property
    def redis(self) -> Redis:
        """The Redis client, made on first use (it connects, and reconnects, as commands need)."""
        with self._lock:
            if self._redis is None:
                factory = self.redis_factory or (lambda: connect_redis(self.settings))
                self._redis = factory()
            return self._redis

    @property
    def telephony(self) -> Telephony:
        """The Twilio REST gateway (or the local phone network's), made on first use."""
        with self._lock:
            if self._telephony is None:
                factory = self.telephony_factory or (lambda: telephony_for(self.settings))
                self._telephony = factory()
            return self._telephony

    def queue(self, name: str = "default") -> Queue:
        if name not in QUEUE_NAMES:
            raise ValueError(f"unknown job queue {name!r}")
        from callcenter.logs import LoggedJob

        return Queue(name, connection=self.redis, is_async=self.jobs_async, job_class=LoggedJob)

    def enqueue(
        self,
        fn: Callable[..., Any],
        *args: Any,
        queue: str = "high",
        retries: int = 0,
    ) -> None:
        """Run `fn(*args)` on a worker (retried `retries` times with backoff on failure).

        Jobs must be idempotent: RQ may run one twice. A Redis failure is logged, not raised:
        callers enqueue after their commit, and the periodic tick repairs what a lost job
        would have done.
        """
        from redis.exceptions import RedisError
        from rq import Retry

        from callcenter.logs import job_meta

        retry = Retry(max=retries, interval=list(RETRY_BACKOFF_S[:retries])) if retries else None
        try:
            # The job carries the CallSid and agent of what enqueued it into its own log lines.
            self.queue(queue).enqueue(fn, *args, retry=retry, result_ttl=60, meta=job_meta())
        except RedisError:
            log.exception("could not enqueue %s%r", getattr(fn, "__name__", fn), args)

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        with unit_of_work(self.session_factory) as uow:
            yield uow


def runtime() -> Runtime:
    """The Runtime of the current app (views, jobs and commands run inside an app context)."""
    rt: Runtime = current_app.extensions["callcenter"]
    return rt
