"""Work orders passed to a department, as the department's tests need them: a customer with a
number, the owning front-desk agent in their team, and the department's user."""

from __future__ import annotations

from datetime import datetime
from itertools import count

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.models import Customer, CustomerPhone, Language, Tier
from queues.models import Agent, AgentState, Post, Role
from tests.builders import add_agent
from tests.conftest import NOW
from work_orders import states, timeline
from work_orders.department import Actor
from work_orders.models import WorkOrder

PHONE = "+8613800138000"
_ACCOUNTS = count(60000042)


def customer(session: Session, phone: str | None = PHONE) -> Customer:
    """The customer with `phone` (made once), or a new one without a number."""
    if phone is not None:
        on_file = session.scalar(select(CustomerPhone).where(CustomerPhone.e164 == phone))
        if on_file is not None:
            return on_file.customer
    found = Customer(
        name="王芳", account_number=str(next(_ACCOUNTS)), tier=Tier.VIP, language=Language.ZH
    )
    if phone:
        found.phones.append(CustomerPhone(e164=phone))
    session.add(found)
    session.flush()
    return found


def agent(
    session: Session, login: str, team: str, *, state: AgentState = AgentState.AVAILABLE
) -> Agent:
    """A front-desk agent of `team` in `state` (set directly: the tests start from it)."""
    made = add_agent(session, login, team=team, posts=[Post.FRONT_DESK])
    session.execute(update(Agent).where(Agent.id == made.id).values(state=state))
    session.refresh(made)
    return made


def department_user(session: Session, login: str = "gao.yan", team: str = "aftersales-a") -> Agent:
    return add_agent(session, login, team=team, posts=[], skills={}, roles=[Role.DEPARTMENT])


def actor_of(user: Agent) -> Actor:
    return Actor(user.id, user.login, user.team)


def passed(
    session: Session,
    owner: Agent | None,
    *,
    department: str = "aftersales-a",
    who: Customer | None = None,
    key: str | None = None,
    now: datetime = NOW,
) -> WorkOrder:
    """A work order opened by `owner` and passed to `department` (the customer's number on file)."""
    opened = timeline.open_work_order(
        session,
        client_key=key,
        category="product_quality",
        description="屏幕碎了 the screen is cracked",
        author_id=owner.id if owner else None,
        author=owner.login if owner else "system",
        now=now,
        customer_id=(who or customer(session)).id,
        department=department,
        priority=2,
        owner_id=owner.id if owner else None,
        owner_team=owner.team if owner else "",
    )
    wo = opened.work_order
    states.move(
        session,
        wo,
        "pass",
        author_id=wo.owner_id,
        author=owner.login if owner else "system",
        now=now,
    )
    return wo
