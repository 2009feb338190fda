"""Telling partner systems about decisions: a signed JSON webhook, retried until acknowledged.

The order system hears the middle office's review decisions; finance and logistics hear the back
office's hand-offs (a refund to pay, a replacement to ship). Each target has its own URL and
secret (settings `<TARGET>_WEBHOOK_URL`, `<TARGET>_WEBHOOK_SECRET`); a target without a URL
takes its deliveries from a CSV export instead.

The delivery row is written in the same transaction as the decision, so a decision is never
lost and never sent for a decision that rolled back. The signature is HMAC-SHA256 over
`<timestamp>.<body>` with the target's secret, sent as
`X-Callcenter-Signature: t=<timestamp>,v1=<hex>`; receivers reject stale timestamps.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base
from core.models import str_enum

#: The partner systems a delivery may go to.
TARGETS = ("order_system", "finance", "logistics")


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDelivery(Base):
    """One message to a partner system (the order system, finance, logistics), sent signed
    until it is acknowledged. The table keeps its first name (the middle office's)."""

    __tablename__ = "mo_webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("ix_mo_webhook_deliveries_status_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(80))  # e.g. review:12:approved
    #: Who receives it: one of TARGETS; each has its own URL and secret (settings).
    target: Mapped[str] = mapped_column(String(20), default="order_system")
    event: Mapped[str] = mapped_column(String(40))  # order.approved, rma.refund_requested
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    exported_at: Mapped[datetime | None]


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
    session: Session,
    *,
    key: str,
    event: str,
    payload: dict[str, Any],
    now: datetime,
    target: str = "order_system",
) -> WebhookDelivery:
    """Record a decision to send to `target` (once per key). Flushes; send after the commit."""
    if target not in TARGETS:
        raise ValueError(f"unknown webhook target {target!r}")
    found = session.scalar(select(WebhookDelivery).where(WebhookDelivery.dedupe_key == key))
    if found is not None:
        return found
    delivery = WebhookDelivery(
        dedupe_key=key,
        target=target,
        event=event,
        payload=payload,
        next_attempt_at=now,
        created_at=now,
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


def due(session: Session, *, now: datetime, targets: Collection[str] = TARGETS) -> list[int]:
    """Pending deliveries to `targets` whose next attempt is due (the tick re-sends them)."""
    if not targets:
        return []
    return list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now,
                WebhookDelivery.target.in_(list(targets)),
            )
            .order_by(WebhookDelivery.id)
        )
    )


#: What a sender does once a delivery of its is acknowledged, by target (in the same
#: transaction; flush, never commit). The back office moves a hand-off on; the order system's
#: decisions need nothing more.
Acknowledged = Callable[[Session, WebhookDelivery, datetime], None]
_ON_DELIVERED: dict[str, Acknowledged] = {}


def on_delivered(target: str, hook: Acknowledged) -> None:
    """Register `hook` for acknowledged deliveries to `target` (once, at import)."""
    if target not in TARGETS:
        raise ValueError(f"unknown webhook target {target!r}")
    _ON_DELIVERED[target] = hook


def acknowledged(session: Session, delivery_id: int, *, now: datetime) -> None:
    """Run the target's hook for a delivery that is delivered (a no-op otherwise)."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status is not DeliveryStatus.DELIVERED:
        return
    hook = _ON_DELIVERED.get(delivery.target)
    if hook is not None:
        hook(session, delivery, now)
