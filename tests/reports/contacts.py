"""Builders of handled calls for the FCR and contact-reason tests: a call, its queue entry
answered by an agent with the wrap-up's disposition, and the work order opened on it (through
the real `work_orders.timeline`)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Call, CallDirection, CallStatus, Customer, Order, OrderStatus, PaymentType
from queues.models import Agent, QueuedCall, QueuedCallStatus
from tests.builders import add_agent
from work_orders import timeline
from work_orders.models import WorkOrder, WorkOrderStatus

SHANGHAI = ZoneInfo("Asia/Shanghai")
_sids = itertools.count(1)


def local(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A time in Shanghai in 2026, as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def agent(session: Session, login: str, team: str) -> Agent:
    found = session.scalar(select(Agent).where(Agent.login == login))
    return found or add_agent(session, login, team=team)


def customer(session: Session, name: str) -> Customer:
    found = session.scalar(select(Customer).where(Customer.account_number == f"FCR-{name}"))
    if found is None:
        found = Customer(name=name, account_number=f"FCR-{name}")
        session.add(found)
        session.flush()
    return found


def order(session: Session, who: Customer, number: str) -> Order:
    found = session.scalar(select(Order).where(Order.number == number))
    if found is None:
        found = Order(
            number=number,
            customer_id=who.id,
            amount_fen=10_000,
            payment_type=PaymentType.PREPAID,
            status=OrderStatus.DELIVERED,
            placed_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
        session.add(found)
        session.flush()
    return found


def handled(
    session: Session,
    at: datetime,
    login: str,
    team: str,
    *,
    who: str | None,
    category: str | None,
    order_number: str | None = None,
    resolved: bool = False,
    disposition: str | None = "resolved",
    queue: str = "general",
) -> WorkOrder | None:
    """A call answered by `login` at `at` in `queue`, wrapped up with `disposition`, and the
    work order opened on it (`category`; None: no work order), closed on the call if
    `resolved`. Flushes."""
    staff = agent(session, login, team)
    person = customer(session, who) if who is not None else None
    bought = order(session, person, order_number) if person and order_number else None
    sid = f"CAFCR{next(_sids):030d}"
    call = Call(
        sid=sid,
        direction=CallDirection.INBOUND,
        status=CallStatus.COMPLETED,
        customer_id=person.id if person else None,
        started_at=at - timedelta(seconds=30),
        answered_at=at,
        ended_at=at + timedelta(minutes=4),
    )
    session.add(call)
    session.flush()
    session.add(
        QueuedCall(
            call_id=call.id,
            call_sid=sid,
            queue=queue,
            skill="general",
            language="zh",
            tier="new",
            enqueued_at=at - timedelta(seconds=20),
            status=QueuedCallStatus.CONNECTED,
            agent_id=staff.id,
            answered_at=at,
            talk_ended_at=at + timedelta(minutes=4),
            disposition=disposition,
            wrapped_up_at=at + timedelta(minutes=5),
        )
    )
    session.flush()
    if category is None:
        return None
    return timeline.open_work_order(
        session,
        client_key=f"wrap-up:{sid}",
        category=category,
        description="",
        author_id=staff.id,
        author=login,
        now=at,
        status=WorkOrderStatus.CLOSED if resolved else WorkOrderStatus.OPEN,
        call_id=call.id,
        customer_id=person.id if person else None,
        order_id=bought.id if bought else None,
        owner_id=staff.id,
        owner_team=team,
        resolved_on_contact=resolved,
    ).work_order
