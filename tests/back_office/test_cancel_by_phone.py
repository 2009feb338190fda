"""A caller cancels an unshipped order from the IVR, through the local phone network: the order
is cancelled, finance's hand-off is delivered signed (and the order system told), no review
task appears (neither the back office's nor the middle office's), and a caller whose order has
shipped hears the refusal and is offered a return instead."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from callcenter.runtime import Runtime
from core import webhooks
from core.audit import AuditEvent
from core.models import Order, OrderStatus, Rma, RmaStatus
from core.speech import say_digits
from middle_office.models import ReviewStatus, ReviewTask
from outbound.models import OutboundTask, TaskStatus
from phone_network.calls import Call as NetworkCall
from tests.centre import Centre, running_centre
from tests.middle_office.conftest import API_TOKEN, WEBHOOK_SECRET, order

pytestmark = pytest.mark.slow
FINANCE_SECRET = "finance-secret-0123456789"
CALLER = "+8613566667777"  # not a customer's phone: the caller identifies by the order number
START = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 11:00 in Shanghai


class Receiver:
    """A partner system's webhook receiver (the order system, finance) on 127.0.0.1."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((self.path, dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for p, headers, body in self.received if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def centre(
    live_session_factory: sessionmaker[Session],
    make_runtime: Callable[..., Runtime],
    redis: object,
    receiver: Receiver,
) -> Iterator[Centre]:
    with running_centre(
        live_session_factory,
        make_runtime,
        start=START,
        order_api_token=API_TOKEN,
        order_webhook_url=f"{receiver.base}/orders",
        order_webhook_secret=WEBHOOK_SECRET,
        finance_webhook_url=f"{receiver.base}/finance",
        finance_webhook_secret=FINANCE_SECRET,
    ) as c:
        yield c


def submit(centre: Centre, body: dict[str, Any]) -> dict[str, Any]:
    response = centre.app.test_client().post(
        "/api/orders", json=body, headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def in_review(centre: Centre) -> int:
    """RMAs on the back office's review work list."""
    with centre.factory() as s:
        found = s.scalar(
            select(func.count()).select_from(Rma).where(Rma.status == RmaStatus.IN_REVIEW)
        )
    return int(found or 0)


def said(leg: NetworkCall) -> list[str]:
    return [e.args[0] for e in leg.transcript() if e.kind == "say"]


def order_status_call(centre: Centre, number: str, *then: str) -> NetworkCall:
    """Mandarin, identify by the order number, order status, the same order, then `then`."""
    leg = centre.call(CALLER, "press 1", f"press {number}#", "press 2", f"press {number}#", *then)
    leg.wait(60)
    return leg


def test_a_caller_cancels_an_unshipped_order_and_no_review_task_appears(
    centre: Centre, receiver: Receiver
) -> None:
    # The order is under the middle office's review (no address): an open review, and a call.
    created = submit(centre, order("2611050101", "CX-ACC-1", amount_fen=45_800, address=None))
    assert created["status"] == "pending_review" and created["review_id"]

    in_review_before = in_review(centre)

    leg = order_status_call(centre, "2611050101", "press 2", "press 1", "press 9")

    text = said(leg)
    spoken = "".join(text)
    assert "取消这个订单并退款请按2" in spoken  # offered: it has not shipped
    number = "二六，幺幺零五，零幺零幺"  # digit by digit, in groups
    assert f"您要取消订单{number}。将为您退款四百五十八元整。确认取消请按1" in spoken, text
    with centre.factory() as s:
        placed = s.scalar(select(Order).where(Order.number == "2611050101"))
        assert placed is not None and placed.status is OrderStatus.CANCELLED
        rma = s.scalars(select(Rma).where(Rma.order_id == placed.id)).one()
        assert rma.refund_amount_fen == 45_800 and rma.source == "ivr"
        # Finance acknowledged the hand-off: the refund is theirs now.
        assert rma.status is RmaStatus.REFUND_PENDING
        review = s.get(ReviewTask, created["review_id"])
        assert review is not None and review.status is ReviewStatus.CANCELLED
        open_reviews = s.scalar(
            select(func.count())
            .select_from(ReviewTask)
            .where(ReviewTask.status == ReviewStatus.OPEN)
        )
        review_calls = s.scalars(
            select(OutboundTask.status).where(OutboundTask.subject_id == review.id)
        ).all()
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert in_review(centre) == in_review_before  # the back office's work list: nothing new
    assert open_reviews == 0
    assert review_calls == [TaskStatus.CANCELLED]  # the review's call to the customer too
    assert {"order.cancelled_unshipped", "rma.filed_unreviewed", "review.withdrawn"} <= set(actions)
    assert "rma.handed_off" in actions
    refund_no = say_digits(rma.number, "zh")
    assert (
        f"订单{number}已取消，四百五十八元整将退回您的原支付账户，退款单号{refund_no}。" in spoken
    )
    # Finance got the refund once, signed with its own secret; the order system was told.
    ((headers, raw),) = receiver.bodies("/finance")
    now = int(centre.clock.now().timestamp())
    assert webhooks.verify(FINANCE_SECRET, headers["X-Callcenter-Signature"], raw, now=now)
    payload = json.loads(raw)
    assert payload["event"] == "rma.refund_requested"
    assert payload["data"]["order"] == "2611050101"
    assert payload["data"]["refund_amount_fen"] == 45_800
    ((headers, raw),) = receiver.bodies("/orders")
    assert webhooks.verify(WEBHOOK_SECRET, headers["X-Callcenter-Signature"], raw, now=now)
    assert json.loads(raw)["event"] == "order.cancelled"


def test_a_caller_whose_order_has_shipped_hears_the_refusal_and_is_offered_a_return(
    centre: Centre, receiver: Receiver
) -> None:
    submit(centre, order("2611050102", "CX-ACC-2", amount_fen=19_900))
    with centre.factory.begin() as s:  # the warehouse shipped it
        s.execute(
            update(Order)
            .where(Order.number == "2611050102")
            .values(status=OrderStatus.SHIPPED, shipped_at=START)
        )

    leg = order_status_call(centre, "2611050102", "press 2")

    text = said(leg)
    spoken = "".join(text)
    assert "取消这个订单并退款" not in spoken  # not offered for a shipped order
    assert "订单二六，幺幺零五，零幺零二已经发货，无法取消。" in spoken, text
    assert "申请退货或换货请按1" in spoken  # the return instead, or an agent
    with centre.factory() as s:
        placed = s.scalar(select(Order).where(Order.number == "2611050102"))
        assert placed is not None and placed.status is OrderStatus.SHIPPED
        assert s.scalar(select(func.count()).select_from(Rma).where(Rma.order_id == placed.id)) == 0
    assert receiver.bodies("/finance") == []
