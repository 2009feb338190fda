"""Dial pacing against real Redis, and the signed, retried decision webhook."""

from __future__ import annotations

import threading
from datetime import timedelta

from redis import Redis
from sqlalchemy.orm import Session

from core import webhooks
from core.webhooks import DeliveryStatus
from outbound.pacing import DialPacer
from tests.conftest import NOW


def test_the_pacer_never_exceeds_the_rate_across_threads(redis: Redis) -> None:
    """Four threads share one bucket: no one-second window holds more than `rate` calls."""
    rate, per_thread = 20, 8
    stamps: list[float] = []
    lock = threading.Lock()

    def dial() -> None:
        pacer = DialPacer(redis, "test:pacer", rate)
        for _ in range(per_thread):
            assert pacer.take(max_wait_s=10)
            with lock:
                stamps.append(pacer.granted_at_us / 1_000_000)

    threads = [threading.Thread(target=dial) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert len(stamps) == 32
    worst = max(sum(1 for s in stamps if first <= s < first + 1.0) for first in stamps)
    assert worst <= rate
    assert stamps[-1] - stamps[0] >= (32 - 1) / rate * 0.9


def test_the_pacer_reports_the_wait_without_taking(redis: Redis) -> None:
    pacer = DialPacer(redis, "test:pacer2", 2)
    assert pacer.try_take() == 0.0
    wait = pacer.try_take()
    assert 0.3 < wait <= 0.5
    assert not pacer.take(max_wait_s=0.1, sleep=lambda s: None)


def test_a_signature_verifies_and_a_tampered_body_or_old_timestamp_does_not() -> None:
    body = webhooks.body_of(1, "order.approved", {"order": "N1"})
    header = webhooks.sign("k", 1_000, body)
    assert webhooks.verify("k", header, body, now=1_100)
    assert not webhooks.verify("k", header, body + b" ", now=1_100)
    assert not webhooks.verify("other", header, body, now=1_100)
    assert not webhooks.verify("k", header, body, now=2_000)


def test_a_refused_delivery_is_retried_with_backoff_then_delivered_once(session: Session) -> None:
    delivery = webhooks.queue_delivery(
        session, key="review:1:approved", event="order.approved", payload={"order": "N1"}, now=NOW
    )
    assert (
        webhooks.queue_delivery(
            session, key="review:1:approved", event="order.approved", payload={}, now=NOW
        ).id
        == delivery.id
    )
    answers = [
        webhooks.Sent(503, "down"),
        webhooks.Sent(None, "ConnectionError"),
        webhooks.Sent(204, None),
    ]
    seen: list[dict[str, str]] = []

    def post(url: str, body: bytes, headers: dict[str, str]) -> webhooks.Sent:
        seen.append(headers)
        return answers.pop(0)

    def send(at: timedelta) -> bool | None:
        return webhooks.deliver(
            session, delivery.id, url="http://x/", secret="k", post=post, now=NOW + at
        )

    assert send(timedelta(0)) is False
    assert delivery.next_attempt_at == NOW + timedelta(seconds=10)
    assert webhooks.due(session, now=NOW) == []
    assert webhooks.due(session, now=NOW + timedelta(seconds=10)) == [delivery.id]
    assert send(timedelta(seconds=10)) is False
    assert send(timedelta(seconds=80)) is True
    assert send(timedelta(seconds=90)) is None  # already delivered: nothing sent
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 3
    assert len(seen) == 3 and seen[0]["X-Callcenter-Delivery"] == str(delivery.id)
