"""The front desk's work orders (`work_orders.desk`): one per handled call whatever the
repeats, resolved (closed on the contact) or passed on, the suggestion and the agent's override
recorded, every bad reference named; one for an earlier contact; what the screen pop lists."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import DEFAULT_WORK_ORDER_RULES
from core.models import (
    Call,
    CallDirection,
    CallStatus,
    Customer,
    OrderStatus,
    Rma,
    RmaKind,
    RmaStatus,
    Tier,
)
from queues.models import Agent, QueuedCall, QueuedCallStatus
from tests.builders import add_agent
from tests.conftest import NOW
from work_orders import desk, states, timeline
from work_orders.desk import InvalidWorkOrder, Outcome, WorkOrderInput
from work_orders.models import WorkOrder, WorkOrderCall, WorkOrderStatus
from work_orders.rules import WorkOrderRules, load_rules

LATER = NOW + timedelta(minutes=3)
CRACKED = "客户说用了一周手机碎屏了，希望维修"


@pytest.fixture(scope="module")
def rules() -> WorkOrderRules:
    return load_rules(DEFAULT_WORK_ORDER_RULES)  # the shipped file


def handled_call(
    session: Session, agent: Agent, customer: Customer | None, *, at: timedelta = timedelta()
) -> QueuedCall:
    """A call of `customer` the agent answered and ended (its queue entry)."""
    call = Call(
        sid="CA" + f"{session.scalar(select(func.count()).select_from(Call)) or 0:032d}",
        direction=CallDirection.INBOUND,
        caller_e164="+8613800138000",
        status=CallStatus.COMPLETED,
        customer_id=customer.id if customer else None,
        started_at=NOW + at,
    )
    session.add(call)
    session.flush()
    entry = QueuedCall(
        call_id=call.id,
        call_sid=call.sid,
        queue="general",
        skill="general",
        language="zh",
        tier=customer.tier.value if customer else "new",
        enqueued_at=NOW + at,
        status=QueuedCallStatus.CONNECTED,
        agent_id=agent.id,
        assigned_at=NOW + at,
        answered_at=NOW + at,
        talk_ended_at=NOW + at + timedelta(minutes=2),
    )
    session.add(entry)
    session.flush()
    return entry


def form(**changes: object) -> WorkOrderInput:
    values: dict[str, object] = {
        "category": "product_quality",
        "subcategory": None,
        "department": "aftersales-a",
        "description": CRACKED,
        "outcome": Outcome.PASS,
    }
    values.update(changes)
    return WorkOrderInput(**values)  # type: ignore[arg-type]


@pytest.fixture
def agent(session: Session) -> Agent:
    return add_agent(session, "li.na", team="front-a")


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(WorkOrder)) or 0


def test_a_passed_call_opens_one_work_order_with_the_department(
    session: Session, rules: WorkOrderRules, agent: Agent, make_customer: Callable[..., Customer]
) -> None:
    """Pass: opened, passed on (a status event), linked to the call, priority of the tier."""
    customer = make_customer(tier=Tier.VIP)
    entry = handled_call(session, agent, customer)

    opened = desk.open_for_call(
        session, rules, form(), entry=entry, agent=agent, disposition="follow_up", now=LATER
    )

    wo = opened.work_order
    assert opened.created and wo.status is WorkOrderStatus.WITH_DEPARTMENT
    assert (wo.category, wo.department, wo.customer_id) == (
        "product_quality",
        "aftersales-a",
        customer.id,
    )
    assert wo.priority == timeline.priority_for(Tier.VIP) and wo.priority > 0
    assert (wo.owner_id, wo.owner_team) == (agent.id, "front-a")
    assert not wo.resolved_on_contact and wo.closed_at is None
    assert (wo.suggested_category, wo.suggested_department) == ("product_quality", "aftersales-a")
    assert not wo.suggestion_overridden
    link = session.get(WorkOrderCall, (wo.id, entry.call_id))
    assert link is not None and link.role == "opened"
    events = [(e.kind, e.data.get("event") or e.data.get("disposition")) for e in wo.events]
    assert events == [("created", None), ("status", "pass"), ("wrap_up", "follow_up")]


def test_resolved_on_the_call_is_opened_closed_and_counts_for_the_contact(
    session: Session, rules: WorkOrderRules, agent: Agent, make_customer: Callable[..., Customer]
) -> None:
    entry = handled_call(session, agent, make_customer())

    wo = desk.open_for_call(
        session,
        rules,
        form(outcome=Outcome.RESOLVED),
        entry=entry,
        agent=agent,
        disposition="resolved",
        now=LATER,
    ).work_order

    assert wo.status is WorkOrderStatus.CLOSED and wo.resolved_on_contact
    assert wo.closed_at == LATER and wo.resolution_code == desk.RESOLVED_ON_CALL
    assert [e.kind for e in wo.events] == ["created", "wrap_up"]


def test_the_same_call_again_finds_the_same_work_order(
    session: Session, rules: WorkOrderRules, agent: Agent, make_customer: Callable[..., Customer]
) -> None:
    """A repeated wrap-up (same queue entry) opens nothing more and moves nothing more."""
    entry = handled_call(session, agent, make_customer())
    first = desk.open_for_call(
        session, rules, form(), entry=entry, agent=agent, disposition="resolved", now=NOW
    )
    again = desk.open_for_call(
        session,
        rules,
        form(outcome=Outcome.RESOLVED, category="invoice"),
        entry=entry,
        agent=agent,
        disposition="resolved",
        now=LATER,
    )

    assert not again.created and again.work_order.id == first.work_order.id
    assert count(session) == 1
    assert again.work_order.status is WorkOrderStatus.WITH_DEPARTMENT
    assert len(timeline.timeline_of(session, again.work_order)) == 3


def test_the_agents_override_of_the_suggestion_is_recorded(
    session: Session, rules: WorkOrderRules, agent: Agent, make_customer: Callable[..., Customer]
) -> None:
    """Suggested product quality → after-sales A; the agent sends it to after-sales B."""
    entry = handled_call(session, agent, make_customer())

    wo = desk.open_for_call(
        session,
        rules,
        form(department="aftersales-b"),
        entry=entry,
        agent=agent,
        disposition="follow_up",
        now=LATER,
    ).work_order

    assert wo.suggestion_overridden
    assert (wo.suggested_category, wo.suggested_department) == ("product_quality", "aftersales-a")
    assert wo.department == "aftersales-b"


def test_no_suggestion_is_no_override(
    session: Session, rules: WorkOrderRules, agent: Agent, make_customer: Callable[..., Customer]
) -> None:
    entry = handled_call(session, agent, make_customer())

    wo = desk.open_for_call(
        session,
        rules,
        form(description="客户来电，详见备注"),
        entry=entry,
        agent=agent,
        disposition="follow_up",
        now=LATER,
    ).work_order

    assert wo.suggested_category is None and not wo.suggestion_overridden


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"category": "weather"}, "category"),
        ({"department": "marketing"}, "department"),
        ({"description": "   "}, "description"),
        ({"order": "9999999999"}, "order"),
        ({"rma": "R-NOPE"}, "rma"),
    ],
)
def test_a_bad_reference_is_named_and_nothing_is_opened(
    session: Session,
    rules: WorkOrderRules,
    agent: Agent,
    make_customer: Callable[..., Customer],
    changes: dict[str, object],
    field: str,
) -> None:
    entry = handled_call(session, agent, make_customer())

    with pytest.raises(InvalidWorkOrder) as refused:
        desk.open_for_call(
            session,
            rules,
            form(**changes),
            entry=entry,
            agent=agent,
            disposition="follow_up",
            now=LATER,
        )

    assert refused.value.details["field"] == field and field in refused.value.details["fields"]
    assert count(session) == 0


def test_every_bad_field_is_named_at_once(
    session: Session, rules: WorkOrderRules, agent: Agent, make_customer: Callable[..., Customer]
) -> None:
    entry = handled_call(session, agent, make_customer())

    with pytest.raises(InvalidWorkOrder) as refused:
        desk.open_for_call(
            session,
            rules,
            form(category="weather", department="marketing", order="0"),
            entry=entry,
            agent=agent,
            disposition="follow_up",
            now=LATER,
        )

    assert set(refused.value.details["fields"]) >= {"category", "department", "order"}


def test_another_customers_order_is_refused_and_the_callers_rma_gives_its_order(
    session: Session, rules: WorkOrderRules, agent: Agent, make_customer: Callable[..., Customer]
) -> None:
    caller = make_customer(orders=(("2000000001", 100, OrderStatus.DELIVERED),))
    make_customer(name="张伟", phone=None, orders=(("2000000002", 100, OrderStatus.DELIVERED),))
    entry = handled_call(session, agent, caller)
    with pytest.raises(InvalidWorkOrder) as refused:
        desk.open_for_call(
            session,
            rules,
            form(order="2000000002"),
            entry=entry,
            agent=agent,
            disposition="follow_up",
            now=LATER,
        )
    assert refused.value.details["field"] == "order"

    order_id = caller_order_id(session, caller)
    session.add(
        Rma(
            number="R9",
            order_id=order_id,
            customer_id=caller.id,
            kind=RmaKind.RETURN,
            status=RmaStatus.IN_REVIEW,
            sku="SKU-1",
        )
    )
    session.flush()
    wo = desk.open_for_call(
        session, rules, form(rma="R9"), entry=entry, agent=agent, disposition="x", now=LATER
    ).work_order
    assert (wo.order_id, wo.rma is not None and wo.rma.number) == (order_id, "R9")


def caller_order_id(session: Session, customer: Customer) -> int:
    from core.models import Order

    return session.scalars(select(Order.id).where(Order.customer_id == customer.id)).one()


def test_an_unidentified_callers_call_still_gets_its_work_order(
    session: Session, rules: WorkOrderRules, agent: Agent
) -> None:
    entry = handled_call(session, agent, None)

    wo = desk.open_for_call(
        session, rules, form(), entry=entry, agent=agent, disposition="follow_up", now=LATER
    ).work_order

    assert wo.customer_id is None and wo.priority == timeline.priority_for(None)


# --- an earlier contact, and the screen pop's lists --------------------------------------------


def test_an_earlier_contact_gets_one_work_order_not_tied_to_this_call(
    session: Session, rules: WorkOrderRules, agent: Agent, make_customer: Callable[..., Customer]
) -> None:
    customer = make_customer()
    earlier = handled_call(session, agent, customer, at=timedelta(days=-2))
    now_entry = handled_call(session, agent, customer)
    assert [c.id for c in earlier_contacts(session, customer, now_entry)] == [earlier.call_id]

    opened = desk.open_for_contact(
        session,
        rules,
        form(outcome=Outcome.RESOLVED),
        call_id=earlier.call_id,
        customer=customer,
        current_call_id=now_entry.call_id,
        agent=agent,
        now=LATER,
    )
    again = desk.open_for_contact(
        session,
        rules,
        form(),
        call_id=earlier.call_id,
        customer=customer,
        current_call_id=now_entry.call_id,
        agent=agent,
        now=LATER,
    )

    wo = opened.work_order
    assert opened.created and not again.created and again.work_order.id == wo.id
    assert wo.status is WorkOrderStatus.CLOSED and not wo.resolved_on_contact
    linked = session.scalars(select(WorkOrderCall).where(WorkOrderCall.work_order_id == wo.id))
    assert [(c.call_id, c.role) for c in linked] == [(earlier.call_id, "opened")]
    assert earlier_contacts(session, customer, now_entry) == []


@pytest.mark.parametrize("which", ["current", "someone_elses"])
def test_only_an_earlier_call_of_the_caller_is_a_contact(
    session: Session,
    rules: WorkOrderRules,
    agent: Agent,
    make_customer: Callable[..., Customer],
    which: str,
) -> None:
    customer = make_customer()
    other = make_customer(name="张伟", phone=None)
    now_entry = handled_call(session, agent, customer)
    theirs = handled_call(session, agent, other, at=timedelta(days=-1))
    call_id = now_entry.call_id if which == "current" else theirs.call_id

    with pytest.raises(InvalidWorkOrder) as refused:
        desk.open_for_contact(
            session,
            rules,
            form(),
            call_id=call_id,
            customer=customer,
            current_call_id=now_entry.call_id,
            agent=agent,
            now=LATER,
        )

    assert refused.value.details["field"] == "contact" and count(session) == 0


def test_an_unidentified_caller_has_no_earlier_contact_to_open_for(
    session: Session, rules: WorkOrderRules, agent: Agent
) -> None:
    entry = handled_call(session, agent, None)
    with pytest.raises(InvalidWorkOrder) as refused:
        desk.open_for_contact(
            session,
            rules,
            form(),
            call_id=entry.call_id,
            customer=None,
            current_call_id=None,
            agent=agent,
            now=LATER,
        )
    assert refused.value.details["field"] == "customer"


def test_the_pop_lists_open_work_orders_then_recent_closed_ones(
    session: Session, rules: WorkOrderRules, agent: Agent, make_customer: Callable[..., Customer]
) -> None:
    customer = make_customer()
    made = {}
    for name, days, outcome in (
        ("old_closed", -40, Outcome.RESOLVED),
        ("closed", -3, Outcome.RESOLVED),
        ("open_old", -5, Outcome.PASS),
        ("open_new", -1, Outcome.PASS),
    ):
        entry = handled_call(session, agent, customer, at=timedelta(days=days))
        made[name] = desk.open_for_call(
            session,
            rules,
            form(outcome=outcome),
            entry=entry,
            agent=agent,
            disposition="x",
            now=NOW + timedelta(days=days),
        ).work_order.number
    answered = session.scalars(select(WorkOrder).where(WorkOrder.number == made["open_new"])).one()
    states.move(session, answered, "reply", author_id=None, author="gao.yan", now=NOW)

    listed = desk.caller_work_orders(session, customer.id, now=NOW)

    assert [w.number for w in listed] == [made["open_old"], made["open_new"], made["closed"]]


def earlier_contacts(session: Session, customer: Customer, entry: QueuedCall) -> list[Call]:
    return desk.earlier_contacts(session, customer.id, current_call_id=entry.call_id, now=LATER)


def test_a_double_clicked_wrap_up_racing_itself_opens_one_work_order(
    live_session_factory: sessionmaker[Session], engine: Engine, rules: WorkOrderRules
) -> None:
    """Two copies of the same wrap-up: the second has looked for the work order (none yet)
    when the first commits it; the second's insert then finds the first's, moves nothing and
    writes no second wrap-up event."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): the race cannot happen")
    with live_session_factory.begin() as s:
        agent = add_agent(s, "li.na", team="front-a")
        customer = Customer(name="王芳", account_number="60000001", tier=Tier.VIP)
        s.add(customer)
        s.flush()
        entry_id, agent_id = handled_call(s, agent, customer).id, agent.id
    won: list[timeline.Opened] = []

    def wrap_up(s: Session) -> timeline.Opened:
        entry, by = s.get(QueuedCall, entry_id), s.get(Agent, agent_id)
        assert entry is not None and by is not None
        return desk.open_for_call(
            s, rules, form(), entry=entry, agent=by, disposition="follow_up", now=LATER
        )

    with live_session_factory() as first, live_session_factory() as second:

        @event.listens_for(second, "before_flush")
        def _the_first_copy_commits_meanwhile(*_: object) -> None:
            if not won:
                won.append(wrap_up(first))
                first.commit()

        late = wrap_up(second)
        second.commit()

    assert won[0].created and not late.created
    with live_session_factory() as s:
        (wo,) = s.scalars(select(WorkOrder)).all()
        assert wo.status is WorkOrderStatus.WITH_DEPARTMENT
        assert [e.kind for e in timeline.timeline_of(s, wo)] == ["created", "status", "wrap_up"]
