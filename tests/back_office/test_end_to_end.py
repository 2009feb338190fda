"""The back office's hand-offs and notice calls through the local phone network: an approved
return reaches finance as a signed webhook, finance confirms, and the customer's automated
notice call says the amount in Mandarin and again when they press 1; an exchange reaches
logistics and its notice gives the tracking number; a number on the do-not-call list is never
dialled; an answering machine gets the short message; 0 puts the customer in the returns
queue, where a back-office agent answers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from back_office import handoffs, notices, states
from callcenter.jobs import outbound as jobs
from callcenter.jobs import outbound_tick, reconcile
from callcenter.runtime import Runtime
from core import webhooks
from core.models import Call, CallStatus, Language, Rma, RmaKind, RmaStatus, Tier
from core.speech import say_amount, say_digits
from outbound import tasks
from outbound.models import AttemptStatus, OutboundAttempt, OutboundTask, TaskStatus
from outbound.policy import Policy
from phone_network.calls import Call as NetworkCall
from phone_network.parties import Answering
from queues.models import AgentState, Post, QueuedCall
from tests.back_office.test_notices import approved_rma
from tests.builders import add_agent
from tests.centre import HOTLINE, Centre, running_centre
from tests.queues.test_reconcile_end_to_end import drop

pytestmark = pytest.mark.slow
START = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 11:00 in Shanghai
FINANCE_SECRET = "finance-secret-0123456789"
LOGISTICS_SECRET = "logistics-secret-0123456789"


class Partner:
    """Finance's or logistics' webhook receiver on 127.0.0.1: it checks the signature
    (`core.webhooks.verify`, on the centre's clock) and refuses a bad one with 401."""

    def __init__(self, secret: str, now: Callable[[], datetime]) -> None:
        self.received: list[bytes] = []
        self.refused = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                header = self.headers.get(webhooks.SIGNATURE_HEADER, "")
                if webhooks.verify(secret, header, body, now=int(now().timestamp())):
                    outer.received.append(body)
                    self.send_response(204)
                else:
                    outer.refused += 1
                    self.send_response(401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/rma"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Clock:
    """The centre's clock, known once the centre runs (the receivers start before it)."""

    def __init__(self) -> None:
        self.now: Callable[[], datetime] = lambda: START

    def __call__(self) -> datetime:
        return self.now()


@pytest.fixture
def centre(
    live_session_factory: sessionmaker[Session],
    make_runtime: Callable[..., Runtime],
    redis: object,
) -> Iterator[tuple[Centre, Partner, Partner]]:
    clock = Clock()
    finance, logistics = Partner(FINANCE_SECRET, clock), Partner(LOGISTICS_SECRET, clock)
    try:
        with running_centre(
            live_session_factory,
            make_runtime,
            start=START,
            finance_webhook_url=finance.url,
            finance_webhook_secret=FINANCE_SECRET,
            logistics_webhook_url=logistics.url,
            logistics_webhook_secret=LOGISTICS_SECRET,
            outbound_cps=5,
        ) as running:
            clock.now = running.clock.now
            yield running, finance, logistics
    finally:
        finance.close()
        logistics.close()


def approve_and_hand_off(centre: Centre, number: str, **kw: Any) -> int:
    """An approved RMA (corrected refund amount for a return), handed off: the delivery is
    queued in the approval's transaction and sent by its job after the commit."""
    with centre.factory.begin() as s:
        rma = approved_rma(s, number, now=centre.clock.now(), **kw)
        delivery = handoffs.hand_off(s, rma, now=centre.clock.now())
        rma_id, delivery_id = rma.id, delivery.id
    with centre.app.app_context():
        jobs.deliver_decision(delivery_id)
    return rma_id


def rma_row(centre: Centre, rma_id: int) -> Rma:
    with centre.factory() as s:
        rma = s.get(Rma, rma_id)
        assert rma is not None
        return rma


def notice_task(centre: Centre, rma_id: int) -> OutboundTask | None:
    with centre.factory() as s:
        return s.scalar(
            select(OutboundTask).where(
                OutboundTask.kind == "rma_notice", OutboundTask.subject_id == rma_id
            )
        )


def last_attempt(centre: Centre, task_id: int) -> OutboundAttempt | None:
    with centre.factory() as s:
        return s.scalar(
            select(OutboundAttempt)
            .where(OutboundAttempt.task_id == task_id)
            .order_by(OutboundAttempt.id.desc())
        )


def confirm(centre: Centre, number: str, **kw: str) -> handoffs.Confirmed:
    """Finance or logistics confirms (their API's service), in one unit of work."""
    rt = centre.runtime
    with centre.app.app_context(), rt.unit_of_work() as uow:
        now, policy = rt.clock(), jobs.policy_for(rt)
        if "reference" in kw:
            return handoffs.confirm_refunded(
                uow.session, number, reference=kw["reference"], now=now, policy=policy
            )
        return handoffs.confirm_shipped(
            uow.session, number, tracking=kw["tracking"], now=now, policy=policy
        )


def tick_outbound(centre: Centre) -> None:
    """The outbound engine's cron duty once: due notices are dialled (jobs run at once)."""
    with centre.app.app_context():
        outbound_tick.tick()


def calls_to(centre: Centre, number: str) -> list[NetworkCall]:
    return [c for c in centre.network.calls() if c.to == number]


def said(leg: NetworkCall) -> list[tuple[str, str]]:
    return [(e.args[0], e.args[1]) for e in leg.transcript() if e.kind == "say"]


def closed(centre: Centre, rma_id: int) -> Callable[[], bool]:
    return lambda: rma_row(centre, rma_id).status is RmaStatus.CLOSED


def test_a_refund_reaches_finance_and_the_customer_hears_it_twice_in_mandarin(
    centre: tuple[Centre, Partner, Partner],
) -> None:
    c, finance, _ = centre
    customer, listed = "+8613711112222", "+8613744445555"
    c.network.add_endpoint(customer, Answering(after=2, talk=None, script=("press 1",)))
    c.network.add_endpoint(listed, Answering(after=1, talk=None, script=("press 1",)))
    # An agent corrected the proposed amount to 258.50 yuan before approving.
    rma_id = approve_and_hand_off(c, "R2026112301", recipient_phone=customer, refund_fen=25_850)
    assert finance.refused == 0 and len(finance.received) == 1
    assert b'"event":"rma.refund_requested"' in finance.received[0]
    assert b'"refund_amount_fen":25850' in finance.received[0]
    assert rma_row(c, rma_id).status is RmaStatus.REFUND_PENDING  # acknowledged

    # The do-not-call list: a second return to a listed number is never dialled.
    with c.factory.begin() as s:
        tasks.add_do_not_call(s, listed, reason="asked", actor="test", now=c.clock.now())
    blocked_id = approve_and_hand_off(c, "R2026112302", recipient_phone=listed)

    assert confirm(c, "R2026112301", reference="FIN-0001").changed
    assert not confirm(c, "R2026112301", reference="FIN-0001").changed  # finance retried
    confirm(c, "R2026112302", reference="FIN-0002")
    tick_outbound(c)
    task = notice_task(c, rma_id)
    assert task is not None
    c.wait_for(closed(c, rma_id), timeout=60)

    (leg,) = calls_to(c, customer)
    assert leg.from_ == HOTLINE
    lines = said(leg)
    amount, number = say_amount(25_850, "zh"), say_digits("R2026112301", "zh")
    notices = [text for text, lang in lines if amount in text and lang == "zh-CN"]
    assert len(notices) == 2, lines  # the notice, then again after 1
    assert number in notices[0] and "已完成退款" in notices[0]
    pressed = [e.args[0] for e in leg.transcript() if e.kind == "pressed"]
    assert pressed == ["1"]
    attempt = last_attempt(c, task.id)
    assert attempt is not None and attempt.outcome == "reached_resolved"
    assert attempt.customer_call_sid == leg.sid and attempt.agent_id is None
    assert notice_task(c, rma_id).status is TaskStatus.DONE  # type: ignore[union-attr]

    blocked = notice_task(c, blocked_id)
    assert blocked is not None and blocked.status is TaskStatus.BLOCKED
    assert calls_to(c, listed) == []
    assert rma_row(c, blocked_id).status is RmaStatus.CLOSED


def test_an_exchange_reaches_logistics_and_a_machine_gets_the_short_message(
    centre: tuple[Centre, Partner, Partner],
) -> None:
    c, _, logistics = centre
    person, machine = "+8613722223333", "+8613755556666"
    c.network.add_endpoint(person, Answering(after=2, talk=None, script=("wait",)))
    c.network.add_endpoint(machine, Answering(after=3, machine=True, greeting=6))
    exchange = approve_and_hand_off(c, "R2026112303", kind=RmaKind.EXCHANGE, recipient_phone=person)
    refund = approve_and_hand_off(
        c, "R2026112304", recipient_phone=machine, language=Language.EN, refund_fen=9_900
    )
    assert len(logistics.received) == 1 and logistics.refused == 0
    assert b'"event":"rma.replacement_requested"' in logistics.received[0]
    assert rma_row(c, exchange).status is RmaStatus.REPLACEMENT_PENDING

    confirm(c, "R2026112303", tracking="SF1234567890")
    confirm(c, "R2026112304", reference="FIN-0004")
    tick_outbound(c)
    c.wait_for(closed(c, exchange), timeout=60)
    c.wait_for(closed(c, refund), timeout=60)

    (leg,) = calls_to(c, person)
    text = " ".join(t for t, _ in said(leg))
    assert say_digits("1234567890", "zh") in text and "快递单号" in text
    assert "再见" in text  # no key: goodbye
    (answered,) = calls_to(c, machine)
    kinds = [e.kind for e in answered.transcript()]
    assert "machine-greeting" in kinds and "gather" not in kinds  # no menu for a machine
    (message,) = said(answered)
    assert message[1] == "en-US" and "has been refunded" in message[0]
    assert say_digits("R2026112304", "en") in message[0]
    task = notice_task(c, refund)
    assert task is not None and task.status is TaskStatus.DONE
    assert task.last_outcome == "reached_machine"


def test_pressing_0_puts_the_customer_through_to_a_back_office_agent_at_their_tier(
    centre: tuple[Centre, Partner, Partner],
) -> None:
    c, _, _ = centre
    customer = "+8613733334444"
    c.network.add_endpoint(customer, Answering(after=2, talk=None, script=("press 0",)))
    with c.factory.begin() as s:
        agent = add_agent(
            s,
            "wu.fang",
            posts=[Post.BACK_OFFICE],
            skills={"returns": 4, "aftersales": 4},
            now=c.clock.now(),
        )
        agent_id, identity = agent.id, agent.client_identity
    c.network.add_endpoint(f"client:{identity}", Answering(after=1, talk=5))
    c.set_state(agent_id, AgentState.AVAILABLE)
    rma_id = approve_and_hand_off(c, "R2026112305", recipient_phone=customer, tier=Tier.VIP)
    confirm(c, "R2026112305", reference="FIN-0005")
    with c.timer():
        tick_outbound(c)
        c.wait_for(closed(c, rma_id), timeout=90)
    (leg,) = calls_to(c, customer)
    with c.factory() as s:
        (entry,) = s.scalars(select(QueuedCall).where(QueuedCall.call_sid == leg.sid)).all()
    assert (entry.queue, entry.tier, entry.agent_id) == ("returns", "vip", agent_id)
    events = leg.transcript()
    said_transfer = [e for e in events if e.kind == "say" and "转接" in e.args[0]]
    joined = [e for e in events if e.kind == "conference-start"]
    assert said_transfer and joined and said_transfer[0].at <= joined[0].at
    assert joined[0].args[0] == f"cc-entry-{entry.id}"  # the inbound flow's own conference
    (agent_leg,) = calls_to(c, f"client:{identity}")
    rooms = [e.args[0] for e in agent_leg.transcript() if e.kind == "conference"]
    assert rooms == [f"cc-entry-{entry.id}"]  # the agent talked to the customer there
    leg.wait(30)
    with c.factory() as s:  # the inbound flow knows the call, and saw it end
        row = s.scalar(select(Call).where(Call.sid == leg.sid))
        assert row is not None and row.status is CallStatus.COMPLETED and row.vip


def test_a_notice_whose_final_callback_was_lost_is_repaired_and_the_rma_closed(
    live_session_factory: sessionmaker[Session],
    make_runtime: Callable[..., Runtime],
    redis: object,
) -> None:
    """The customer heard the notice, but the leg's 'completed' callback never came: the
    attempt stays connected until the reconciliation duty, past MAX_CALL_S, asks the
    network's REST API and applies it through the webhook's own service."""
    customer = "+8613766667777"
    with running_centre(
        live_session_factory, make_runtime, start=START, outbound_cps=5, max_call_s=120
    ) as c:
        c.network.add_endpoint(customer, Answering(after=1, talk=None, script=("wait",)))
        lost = drop(c, ("/twilio/outbound/customer/status", {"CallStatus": "completed"}))
        with c.factory.begin() as s:
            rma = approved_rma(s, "R2026112306", recipient_phone=customer, now=c.clock.now())
            states.move(s, rma, "refunded", now=c.clock.now(), finance_reference="FIN-6")
            task = notices.plan_notice(s, rma, now=c.clock.now(), policy=Policy())
            assert task is not None
            rma_id, task_id = rma.id, task.id
        tick_outbound(c)
        c.wait_for(lambda: lost.dropped == 1, timeout=60)
        attempt = last_attempt(c, task_id)
        assert attempt is not None and attempt.status is AttemptStatus.CONNECTED
        assert attempt.outcome == "reached_resolved"  # heard: it reached the menu
        assert rma_row(c, rma_id).status is RmaStatus.REFUNDED  # stranded unrepaired
        due = attempt.customer_claimed_at.timestamp() + 121  # type: ignore[union-attr]
        with c.timer():
            c.wait_for(lambda: c.clock.now().timestamp() >= due, timeout=30)
        with c.app.app_context():
            reconcile.tick()
        attempt = last_attempt(c, task_id)
        assert attempt is not None and attempt.status is AttemptStatus.ENDED
        assert attempt.customer_status == "completed"
        assert notice_task(c, rma_id).status is TaskStatus.DONE  # type: ignore[union-attr]
        assert rma_row(c, rma_id).status is RmaStatus.CLOSED
        with c.app.app_context():
            reconcile.tick()  # another turn changes nothing
        assert last_attempt(c, task_id).id == attempt.id  # type: ignore[union-attr]
