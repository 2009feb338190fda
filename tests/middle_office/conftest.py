"""Fixtures of the middle-office tests: order payloads, an API client, a telephony fake."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from core.telephony import PlacedCall
from outbound.policy import Policy
from tests.conftest import NOW

API_TOKEN = "order-system-token-0123456789"
WEBHOOK_SECRET = "webhook-secret-abcdef"


def order(
    number: str,
    account: str = "A0001",
    *,
    at: datetime = NOW,
    amount_fen: int = 19_900,
    sku: str = "SKU-1",
    **changes: Any,
) -> dict[str, Any]:
    """A complete, valid order payload as the order system sends it."""
    body: dict[str, Any] = {
        "number": number,
        "account": account,
        "customer_name": "王芳",
        "amount_fen": amount_fen,
        "payment_type": "prepaid",
        "placed_at": at.isoformat(),
        "recipient_name": "王芳",
        "recipient_phone": "+8613800138000",
        "province": "上海",
        "city": "上海",
        "address": "静安区南京西路 1 号",
        "postal_code": "200040",
        "invoice_requested": False,
        "items": [{"sku": sku, "name": "丝巾", "quantity": 1, "unit_price_fen": amount_fen}],
    }
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@dataclass
class RecordingTelephony:
    """Telephony that records what it was asked to do and answers with fresh CallSids."""

    placed: list[dict[str, Any]] = field(default_factory=list)
    hung_up: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def place_call(self, **kwargs: Any) -> PlacedCall:
        self.placed.append(kwargs)
        return PlacedCall(f"CA{next(self._ids):032x}", "queued", None)

    def hang_up(self, call_sid: str) -> None:
        self.hung_up.append(call_sid)


@pytest.fixture
def policy() -> Policy:
    return Policy()


@pytest.fixture
def telephony() -> RecordingTelephony:
    return RecordingTelephony()


@pytest.fixture
def api_app(
    make_runtime: Callable[..., Any], session_factory: Any, redis: Any, telephony: Any
) -> Any:
    from callcenter.app import create_app

    rt = make_runtime(session_factory, telephony=telephony, order_api_token=API_TOKEN)
    return create_app(runtime=rt)
