"""RMA status notices: planned once per RMA and event by finance's and logistics'
confirmations, said in the customer's language with numbers as digits, the webhooks' TwiML
(the notice, 1 again, 0 the returns queue at the customer's tier, a machine's short message),
and the RMA closed when the notice's task closes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from back_office import handoffs, notices, states
from callcenter.app import create_app
from core.audit import AuditEvent
from core.models import (
    Customer,
    CustomerPhone,
    Language,
    Order,
    OrderItem,
    OrderStatus,
    PaymentType,
    Rma,
    RmaKind,
    RmaStatus,
    Tier,
)
from core.speech import say_amount, say_digits
from ivr_menus.loader import load_menus
from outbound import automated, legs, tasks
from outbound.models import OutboundAttempt, OutboundTask, TaskStatus
from outbound.policy import Policy
from queues.models import QueuedCall
from tests.conftest import NOW, PUBLIC_BASE, call_params, sign

RECIPIENT = "+8613711112222"
ACCOUNT_PHONE = "+8613811113333"


def approved_rma(
    session: Session,
    number: str,
    *,
    kind: RmaKind = RmaKind.RETURN,
    recipient_phone: str | None = RECIPIENT,
    account_phone: str | None = "",
    language: Language = Language.ZH,
    tier: Tier = Tier.VIP,
    refund_fen: int = 25_850,
    now: datetime = NOW,
) -> Rma:
    """An approved return or exchange of a delivered order, built with the models and the
    state machine (intake and review are other modules'). The account's phone defaults to one
    of its own (numbers are unique). Flushes."""
    if account_phone == "":
        account_phone = "+86138" + "".join(ch for ch in number if ch.isdigit())[-8:]
    customer = Customer(
        name="王芳", account_number=f"ACC-{number}"[:20], tier=tier, language=language
    )
    if account_phone:
        customer.phones.append(CustomerPhone(e164=account_phone))
    session.add(customer)
    session.flush()
    order = Order(
        number=f"O{number}"[:20],
        customer_id=customer.id,
        amount_fen=refund_fen,
        payment_type=PaymentType.PREPAID,
        status=OrderStatus.DELIVERED,
        placed_at=now,
        recipient_name="王芳",
        recipient_phone=recipient_phone,
        province="上海",
        city="上海",
        address="静安区南京西路 1 号",
        postal_code="200040",
    )
    order.items.append(OrderItem(sku="SKU-1", name="丝巾", quantity=1, unit_price_fen=refund_fen))
    session.add(order)
    session.flush()
    rma = Rma(
        number=number,
        order_id=order.id,
        customer_id=customer.id,
        kind=kind,
        status=states.FILED,
        reason="quality_problem",
        sku="SKU-1",
        quantity=1,
        order_item_id=order.items[0].id,
        replacement_sku="SKU-1" if kind is RmaKind.EXCHANGE else None,
        created_at=now,
        updated_at=now,
    )
    session.add(rma)
    session.flush()
    states.move(session, rma, "inspected", now=now)
    states.move(
        session,
        rma,
        "approve",
        now=now,
        decided_at=now,
        decision_reason="policy_met",
        refund_amount_fen=refund_fen if kind is RmaKind.RETURN else None,
    )
    return rma


def notice_of(session: Session, rma: Rma) -> OutboundTask | None:
    return session.scalar(
        select(OutboundTask).where(
            OutboundTask.kind == notices.RMA_NOTICE.name, OutboundTask.subject_id == rma.id
        )
    )


@pytest.fixture
def policy() -> Policy:
    return Policy()


def test_a_refund_confirmation_plans_one_notice_to_the_recipient_in_their_language(
    session: Session, policy: Policy
) -> None:
    rma = approved_rma(session, "R20261123001", language=Language.EN)
    first = handoffs.confirm_refunded(
        session, rma.number, reference="FIN-1", now=NOW, policy=policy
    )
    again = handoffs.confirm_refunded(
        session, rma.number, reference="FIN-1", now=NOW, policy=policy
    )
    assert first.changed and not again.changed
    found = session.scalars(select(OutboundTask).where(OutboundTask.subject_id == rma.id)).all()
    assert len(found) == 1
    (task,) = found
    assert (task.kind, task.to_number, task.language, task.skill) == (
        "rma_notice",
        RECIPIENT,
        "en",
        "returns",
    )
    assert task.dedupe_key == f"rma_notice:{rma.id}:refunded"
    assert task.agent_id is None and task.status is TaskStatus.PENDING
    assert task.timezone == "Asia/Shanghai" and task.next_attempt_at == NOW
    actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions.count("rma.notice_planned") == 1


def test_a_shipped_exchange_without_a_recipient_phone_calls_the_accounts_number(
    session: Session, policy: Policy
) -> None:
    rma = approved_rma(
        session,
        "R20261123002",
        kind=RmaKind.EXCHANGE,
        recipient_phone=None,
        account_phone=ACCOUNT_PHONE,
    )
    handoffs.confirm_shipped(session, rma.number, tracking="SF1234567890", now=NOW, policy=policy)
    task = notice_of(session, rma)
    assert task is not None and task.to_number == ACCOUNT_PHONE
    assert task.dedupe_key.endswith(":shipped")


def test_no_number_no_notice_and_the_rma_stays_open(session: Session, policy: Policy) -> None:
    rma = approved_rma(session, "R20261123003", recipient_phone=None, account_phone=None)
    handoffs.confirm_refunded(session, rma.number, reference="FIN-3", now=NOW, policy=policy)
    assert notice_of(session, rma) is None and rma.status is RmaStatus.REFUNDED


def test_an_rma_in_another_state_gets_no_notice(session: Session, policy: Policy) -> None:
    rma = approved_rma(session, "R20261123004")
    assert notices.plan_notice(session, rma, now=NOW, policy=policy) is None


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_script_says_the_number_as_digits_the_outcome_and_the_amount_or_tracking(
    session: Session, policy: Policy, language: str
) -> None:
    menus = load_menus(__import__("config.settings").settings.Settings().menus_path)
    refund = approved_rma(session, "R20261123005", refund_fen=25_850)
    exchange = approved_rma(session, "R20261123006", kind=RmaKind.EXCHANGE)
    handoffs.confirm_refunded(session, refund.number, reference="FIN-5", now=NOW, policy=policy)
    handoffs.confirm_shipped(session, exchange.number, tracking="SF1234567890", now=NOW)

    def said(rma: Rma, *, machine: bool) -> str:
        task = notice_of(session, rma)
        assert task is not None
        lines = notices.script(session, task, language, machine)
        return " ".join(menus.message(language, x.key, **dict(x.values)) for x in lines)

    text = said(refund, machine=False)
    assert say_digits("R20261123005", language) in text
    assert say_amount(25_850, language) in text
    shipped = said(exchange, machine=False)
    assert say_digits("R20261123006", language) in shipped
    assert notices.spoken_reference("SF1234567890", language) in shipped
    assert "S F" in shipped and say_digits("1234567890", language) in shipped
    short = said(refund, machine=True)
    assert say_digits("R20261123005", language) in short
    assert say_amount(25_850, language) not in short  # a machine gets the number and outcome
    if language == "zh":
        assert "二零二，六幺幺二，三零零五" in text  # digits in groups, 1 said 幺
        assert "二百五十八元五角" in text


def test_when_the_notice_is_heard_the_rma_closes_and_it_is_audited(
    session: Session, policy: Policy
) -> None:
    rma = approved_rma(session, "R20261123007")
    handoffs.confirm_refunded(session, rma.number, reference="FIN-7", now=NOW, policy=policy)
    task = notice_of(session, rma)
    assert task is not None
    dial = automated.claim_dial(session, task.id, now=NOW, policy=policy)
    assert dial is not None
    sid = "CA" + "7" * 32
    legs.record_customer_call(session, dial.attempt_id, sid)
    automated.answered(session, dial.attempt_id, sid, answered_by="human", now=NOW)
    assert rma.status is RmaStatus.REFUNDED  # not yet: the call is under way
    automated.heard(session, dial.attempt_id, now=NOW)
    legs.customer_leg_ended(session, dial.attempt_id, "completed", now=NOW, policy=policy)
    session.refresh(rma)
    assert task.status is TaskStatus.DONE and rma.status is RmaStatus.CLOSED
    closed = session.scalar(select(AuditEvent).where(AuditEvent.action == "rma.closed"))
    assert closed is not None and closed.subject_id == rma.number
    assert closed.data["before"] == "refunded" and closed.data["after"] == "closed"
    assert closed.data["notice"] == "done" and closed.data["outcome"] == "reached_resolved"


def test_a_notice_never_answered_fails_and_still_closes_the_rma(
    session: Session, policy: Policy
) -> None:
    rma = approved_rma(session, "R20261123008", kind=RmaKind.EXCHANGE)
    handoffs.confirm_shipped(session, rma.number, tracking="YT9988", now=NOW, policy=policy)
    task = notice_of(session, rma)
    assert task is not None
    now = NOW
    for n in range(policy.max_attempts):
        dial = automated.claim_dial(session, task.id, now=now, policy=policy)
        assert dial is not None
        legs.customer_leg_ended(session, dial.attempt_id, "busy", now=now, policy=policy)
        assert (rma.status is RmaStatus.CLOSED) == (n == policy.max_attempts - 1)
        now = task.next_attempt_at
    assert task.status is TaskStatus.FAILED


def test_a_number_on_the_do_not_call_list_blocks_the_notice_and_closes_the_rma(
    session: Session, policy: Policy
) -> None:
    tasks.add_do_not_call(session, RECIPIENT, reason="asked", actor="test", now=NOW)
    rma = approved_rma(session, "R20261123009")
    confirmed = handoffs.confirm_refunded(
        session, rma.number, reference="FIN-9", now=NOW, policy=policy
    )
    task = notice_of(session, rma)
    assert task is not None and task.status is TaskStatus.BLOCKED
    assert rma.status is RmaStatus.CLOSED and confirmed.status == "closed"
    assert automated.due(session, now=NOW) == []


# --- the webhooks -------------------------------------------------------------------------------


@pytest.fixture
def notice_app(
    make_runtime: Callable[..., Any], session_factory: sessionmaker[Session], redis: object
) -> Flask:
    return create_app(runtime=make_runtime(session_factory))


def post(client: FlaskClient, path: str, params: dict[str, str]) -> TestResponse:
    url = PUBLIC_BASE + path
    return client.post(path, data=params, headers={"X-Twilio-Signature": sign(url, params)})


def under_way(session: Session, policy: Policy, number: str, **kw: Any) -> tuple[int, str]:
    """A refunded RMA whose notice call is dialled (attempt id, customer's CallSid)."""
    rma = approved_rma(session, number, **kw)
    handoffs.confirm_refunded(session, rma.number, reference=f"F-{number}", now=NOW, policy=policy)
    task = notice_of(session, rma)
    assert task is not None
    dial = automated.claim_dial(session, task.id, now=NOW, policy=policy)
    assert dial is not None
    sid = "CA" + number[-8:].rjust(32, "0")
    legs.record_customer_call(session, dial.attempt_id, sid)
    session.commit()
    return dial.attempt_id, sid


def outbound_params(sid: str, **extra: str) -> dict[str, str]:
    return call_params(sid, "+864008001234", To=RECIPIENT, Direction="outbound-api", **extra)


def verbs(response: TestResponse) -> list[ET.Element]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return list(ET.fromstring(response.get_data(as_text=True)))


def test_a_person_hears_the_notice_in_full_then_the_menu(
    notice_app: Flask, session: Session, policy: Policy
) -> None:
    attempt_id, sid = under_way(session, policy, "R20261123010")
    client = notice_app.test_client()
    path = f"/twilio/outbound/notice?attempt={attempt_id}"
    said = verbs(post(client, path, outbound_params(sid, AnsweredBy="human")))
    assert [v.tag for v in said] == ["Say", "Gather"]
    assert said[0].get("language") == "zh-CN" and "二百五十八元五角" in (said[0].text or "")
    gather = said[1]
    assert gather.get("numDigits") == "1" and gather.get("actionOnEmptyResult") == "true"
    assert gather.get("action") == f"{PUBLIC_BASE}/twilio/outbound/notice/menu?attempt={attempt_id}"
    assert "按1" in (gather.find("Say").text or "")  # type: ignore[union-attr]
    again = verbs(post(client, path, outbound_params(sid, AnsweredBy="human")))  # Twilio retried
    assert [v.tag for v in again] == ["Say", "Gather"]
    session.expire_all()
    row = session.get(OutboundAttempt, attempt_id)
    assert row is not None and row.status.value == "connected" and row.outcome is None


def test_pressing_1_says_it_again_and_nothing_says_goodbye(
    notice_app: Flask, session: Session, policy: Policy
) -> None:
    attempt_id, sid = under_way(session, policy, "R20261123011")
    client = notice_app.test_client()
    post(client, f"/twilio/outbound/notice?attempt={attempt_id}", outbound_params(sid))
    menu = f"/twilio/outbound/notice/menu?attempt={attempt_id}"
    repeated = verbs(post(client, menu, outbound_params(sid, Digits="1")))
    assert [v.tag for v in repeated] == ["Say", "Gather"]
    assert "R" not in (repeated[0].text or "") and "二百五十八元五角" in (repeated[0].text or "")
    bye = verbs(post(client, menu, outbound_params(sid, Digits="")))
    assert [v.tag for v in bye] == ["Say", "Hangup"] and "再见" in (bye[0].text or "")
    session.expire_all()
    row = session.get(OutboundAttempt, attempt_id)
    assert row is not None and row.outcome == "reached_resolved"  # heard to the end


def test_pressing_0_puts_the_customer_in_the_returns_queue_at_their_tier(
    notice_app: Flask, session: Session, policy: Policy
) -> None:
    attempt_id, sid = under_way(session, policy, "R20261123012", tier=Tier.VIP)
    client = notice_app.test_client()
    post(client, f"/twilio/outbound/notice?attempt={attempt_id}", outbound_params(sid))
    menu = f"/twilio/outbound/notice/menu?attempt={attempt_id}"
    sent = verbs(post(client, menu, outbound_params(sid, Digits="0")))
    assert [v.tag for v in sent] == ["Say", "Enqueue"]
    enqueue = sent[1]
    assert enqueue.text == "returns"
    assert enqueue.get("waitUrl") == f"{PUBLIC_BASE}/twilio/voice/queue/wait?queue=returns"
    assert enqueue.get("action") == f"{PUBLIC_BASE}/twilio/voice/queue/exit?queue=returns"
    session.expire_all()
    (entry,) = session.scalars(select(QueuedCall).where(QueuedCall.call_sid == sid)).all()
    assert (entry.queue, entry.skill, entry.tier, entry.language) == (
        "returns",
        "returns",
        "vip",
        "zh",
    )
    post(client, menu, outbound_params(sid, Digits="0"))  # Twilio retried: still one entry
    session.expire_all()
    assert len(session.scalars(select(QueuedCall).where(QueuedCall.call_sid == sid)).all()) == 1


def test_a_machine_gets_the_short_message_and_no_menu(
    notice_app: Flask, session: Session, policy: Policy
) -> None:
    attempt_id, sid = under_way(session, policy, "R20261123013", language=Language.EN)
    client = notice_app.test_client()
    path = f"/twilio/outbound/notice?attempt={attempt_id}"
    said = verbs(post(client, path, outbound_params(sid, AnsweredBy="machine_end_beep")))
    assert [v.tag for v in said] == ["Say", "Hangup"]
    text = said[0].text or ""
    assert said[0].get("language") == "en-US" and "has been refunded" in text
    assert say_digits("R20261123013", "en") in text and "yuan" not in text
    session.expire_all()
    row = session.get(OutboundAttempt, attempt_id)
    assert row is not None and row.outcome == "reached_machine"


def test_an_unsigned_notice_request_is_refused(notice_app: Flask) -> None:
    response = notice_app.test_client().post(
        "/twilio/outbound/notice?attempt=1", data=outbound_params("CA" + "1" * 32)
    )
    assert response.status_code == 403
