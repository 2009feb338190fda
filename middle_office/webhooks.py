"""Telling the order system about decisions: a signed JSON webhook, retried until acknowledged.

The delivery row is written in the same transaction as the decision, so a decision is never
lost and never sent for a decision that rolled back. The signature is HMAC-SHA256 over
`<timestamp>.<body>` with ORDER_WEBHOOK_SECRET, sent as
`X-Callcenter-Signature: t=<timestamp>,v1=<hex>`; receivers reject stale timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from middle_office.models import DeliveryStatus, WebhookDelivery

BACKOFF = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
SIGNATURE_HEADER = "X-Callcenter-Signature"


def body_of(delivery_id: int, event: str, payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): stable key order, UTF-8."""
    return json.dumps(
        {"id": delivery_id, "event": event, "data": payload},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp` (pure)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does: check the HMAC in constant time and the timestamp's age."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    expected = sign(secret, timestamp, body)
    return abs(now - timestamp) <= tolerance_s and hmac.compare_digest(expected, header)


def queue_delivery(
    session: Session, *, key: str, event: str, payload: dict[str, Any], now: datetime
) -> WebhookDelivery:
    """Record a decision to send (once per key). Flushes; send after the commit."""
    found = session.scalar(select(WebhookDelivery).where(WebhookDelivery.dedupe_key == key))
    if found is not None:
        return found
    delivery = WebhookDelivery(
        dedupe_key=key, event=event, payload=payload, next_attempt_at=now, created_at=now
    )
    session.add(delivery)
    session.flush()
    return delivery


@dataclass(frozen=True, slots=True)
class Sent:
    status_code: int | None
    error: str | None


Post = Callable[[str, bytes, dict[str, str]], Sent]


def deliver(
    session: Session,
    delivery_id: int,
    *,
    url: str,
    secret: str,
    post: Post,
    now: datetime,
) -> bool | None:
    """Send one pending delivery. True: acknowledged (2xx); False: failed, retried later (or
    given up after MAX_ATTEMPTS); None: nothing to do (unknown or already final).

    The POST happens inside the transaction on purpose: the outcome is recorded with it,
    and the receiver de-duplicates by the delivery id, so a repeat after a crash is harmless.
    """
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status is not DeliveryStatus.PENDING:
        return None
    body = body_of(delivery.id, delivery.event, delivery.payload)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, int(now.timestamp()), body),
        "X-Callcenter-Delivery": str(delivery.id),
        "X-Callcenter-Event": delivery.event,
    }
    sent = post(url, body, headers)
    delivery.attempts += 1
    delivery.last_status_code = sent.status_code
    delivery.last_error = (sent.error or "")[:200] or None
    ok = sent.status_code is not None and 200 <= sent.status_code < 300
    if ok:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
    else:
        delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
    session.flush()
    return ok


def due(session: Session, *, now: datetime) -> list[int]:
    """Pending deliveries whose next attempt is due (the tick re-sends them)."""
    return list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.id)
        )
    )
