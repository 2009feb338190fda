"""Finding work orders: each filter alone and together, a phone written any way a person
writes it (E.164 with core.phones), a department user kept to their own group, keyset pages
that stay stable while new work orders arrive, and 422s naming each bad field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from config.hours import BusinessHours, parse_hours
from core.models import Customer, CustomerPhone, Order, OrderStatus, Rma, RmaKind, RmaStatus
from tests.conftest import NOW
from work_orders import search, states, sweep, timeline
from work_orders.models import WorkOrder, WorkOrderStatus
from work_orders.sla_policy import SlaPolicies

CC = "86"


def find(session: Session, team: str | None = None, **form: str) -> list[str]:
    filters = search.parse_filters(form, country_code=CC)
    return [r.number for r in search.search(session, filters, team=team, limit=100).rows]


def open_one(
    session: Session,
    n: int,
    *,
    customer: Customer | None = None,
    order: Order | None = None,
    rma: Rma | None = None,
    department: str = "aftersales-a",
    owner_team: str = "front-a",
) -> WorkOrder:
    return timeline.open_work_order(
        session,
        client_key=None,
        category="product_quality",
        description=f"第{n}个 问题",
        author_id=None,
        author="li.na",
        now=NOW + timedelta(minutes=n),
        customer_id=customer.id if customer else None,
        order_id=order.id if order else None,
        rma_id=rma.id if rma else None,
        department=department,
        owner_team=owner_team,
    ).work_order


@pytest.fixture
def orders(session: Session, make_customer: Callable[..., Customer]) -> dict[str, WorkOrder]:
    """Five work orders: two of 王芳's (one about an order, one about its RMA), one of 李伟's
    with logistics, two of nobody's; one passed on to its department."""
    wang = make_customer(orders=(("2000000011", 19900, OrderStatus.SHIPPED),))
    wang.phones.append(CustomerPhone(e164="+861065138000", label="home"))
    li = make_customer(name="李伟", phone="+8613900139000")
    session.flush()
    order = wang.orders[0]
    rma = Rma(
        number="80000001",
        order_id=order.id,
        customer_id=wang.id,
        kind=RmaKind.RETURN,
        status=RmaStatus.IN_REVIEW,
        reason="quality_problem",
        sku="PHO-1",
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(rma)
    session.flush()
    made = {
        "wang-order": open_one(session, 1, customer=wang, order=order),
        "wang-rma": open_one(session, 2, customer=wang, rma=rma),
        "li": open_one(session, 3, customer=li, department="logistics", owner_team="front-b"),
        "nobody": open_one(session, 4),
        "passed": open_one(session, 5, department="finance"),
    }
    states.move(session, made["passed"], "pass", author_id=None, author="li.na", now=NOW)
    return made


def numbers(orders: dict[str, WorkOrder], *names: str) -> list[str]:
    return [orders[n].number for n in names]


def test_an_empty_search_finds_every_work_order_newest_first(
    session: Session, orders: dict[str, WorkOrder]
) -> None:
    assert find(session) == numbers(orders, "passed", "nobody", "li", "wang-rma", "wang-order")


def test_by_number_in_any_case_and_width(session: Session, orders: dict[str, WorkOrder]) -> None:
    number = orders["li"].number
    wide = "".join(chr(ord(c) + 0xFEE0) for c in number.lower())  # ｗｏ２６…

    assert find(session, number=number) == [number]
    assert find(session, number=wide) == [number]
    assert find(session, number="WO000000000000") == []


@pytest.mark.parametrize(
    "written",
    ["+8613800138000", "13800138000", "138-0013-8000", "+86 138 0013 8000", "008613800138000"],
)
def test_by_the_customers_phone_however_it_is_written(
    session: Session, orders: dict[str, WorkOrder], written: str
) -> None:
    assert find(session, phone=written) == numbers(orders, "wang-rma", "wang-order")


def test_by_any_of_the_customers_phones(session: Session, orders: dict[str, WorkOrder]) -> None:
    assert find(session, phone="010-6513 8000") == numbers(orders, "wang-rma", "wang-order")
    assert find(session, phone="13900139000") == numbers(orders, "li")
    assert find(session, phone="13700137000") == []


def test_by_order_and_by_rma_number(session: Session, orders: dict[str, WorkOrder]) -> None:
    assert find(session, order="2000000011") == numbers(orders, "wang-order")
    assert find(session, rma="80000001") == numbers(orders, "wang-rma")
    assert find(session, order="2999999999") == []


def test_by_status_and_department_and_together(
    session: Session, orders: dict[str, WorkOrder]
) -> None:
    assert find(session, status="with_department") == numbers(orders, "passed")
    assert find(session, department="logistics") == numbers(orders, "li")
    assert find(session, status="open", department="aftersales-a") == numbers(
        orders, "nobody", "wang-rma", "wang-order"
    )
    assert find(session, status="open", department="finance") == []
    assert find(session, phone="13800138000", rma="80000001") == numbers(orders, "wang-rma")


def test_a_team_sees_only_what_concerns_it_its_department_or_its_agents(
    session: Session, orders: dict[str, WorkOrder]
) -> None:
    assert find(session, team="logistics") == numbers(orders, "li")  # a department
    assert find(session, team="logistics", department="finance") == []
    assert find(session, team="front-b") == numbers(orders, "li")  # a front-desk team
    assert len(find(session, team="front-a")) == 4


def test_bad_fields_are_each_named_and_nothing_is_searched() -> None:
    with pytest.raises(search.InvalidSearch) as refused:
        search.parse_filters(
            {"phone": "call me", "status": "lost", "order": "9" * 41, "rma": ""}, country_code=CC
        )

    assert refused.value.code == "invalid-search"
    assert set(refused.value.details) == {"phone", "status", "order"}


def test_paging_is_by_keyset_and_stable_while_work_orders_arrive(
    session: Session, orders: dict[str, WorkOrder]
) -> None:
    everything = search.Filters()
    first = search.search(session, everything, limit=2)
    open_one(session, 6)  # a new one arrives between pages
    second = search.search(session, everything, after=first.next_after, limit=2)
    third = search.search(session, everything, after=second.next_after, limit=2)

    assert [r.number for r in first.rows] == numbers(orders, "passed", "nobody")
    assert [r.number for r in second.rows] == numbers(orders, "li", "wang-rma")
    assert [r.number for r in third.rows] == numbers(orders, "wang-order")
    assert third.next_after is None


def test_a_row_carries_the_customer_order_and_rma(
    session: Session, orders: dict[str, WorkOrder]
) -> None:
    (row,) = search.search(session, search.Filters(rma="80000001")).rows

    assert (row.customer_name, row.customer_phone, row.rma, row.status) == (
        "王芳",
        "+8613800138000",
        "80000001",
        "open",
    )


def test_the_export_reads_every_row_a_page_at_a_time_up_to_its_limit(
    session: Session, orders: dict[str, WorkOrder]
) -> None:
    for n in range(6, 1206):
        open_one(session, n)

    rows = list(search.export_rows(session, search.Filters(status=WorkOrderStatus.OPEN)))
    capped = list(search.export_rows(session, search.Filters(), limit=7))

    assert len(rows) == 1204 and len({r.id for r in rows}) == 1204
    assert [r.id for r in rows] == sorted((r.id for r in rows), reverse=True)
    assert len(capped) == 7


def test_paging_arguments_fall_back_to_the_first_page_within_bounds() -> None:
    assert search.parse_paging({}) == (None, search.PAGE_SIZE)
    assert search.parse_paging({"after": "42", "limit": "10"}) == (42, 10)
    assert search.parse_paging({"after": "x", "limit": "100000"}) == (None, search.MAX_PAGE_SIZE)
    assert search.parse_paging({"limit": "0"}) == (None, 1)


def test_by_breach_state_from_the_sla_sweeps_snapshot(session: Session) -> None:
    """The real sweep (work_orders.sweep) writes the snapshot the breach filter reads: opened at
    11:00, 11:25 and 12:00 on a Monday, swept at 13:00 and 13:02 (2 h target, warning at 80 %:
    96 minutes)."""
    made = []
    for minutes in (0, 25, 60):
        wo = open_one(session, minutes)  # opened NOW + minutes
        states.move(session, wo, "pass", author_id=None, author="li.na", now=wo.created_at)
        made.append(wo.number)
    late, warned, fresh = made
    sla = sweep.Sla(
        SlaPolicies(),  # the defaults: 2 h first feedback, warning at 80 %
        BusinessHours(parse_hours("mon-fri 09:00-18:00"), frozenset(), ZoneInfo("Asia/Shanghai")),
    )
    sweep.sweep(session, sla, now=NOW + timedelta(hours=2))
    sweep.sweep(session, sla, now=NOW + timedelta(minutes=122))

    assert find(session, breach="breached") == [late]
    assert find(session, breach="escalated") == [late]
    assert find(session, breach="warning") == [warned]
    assert find(session, breach="not_escalated") == [fresh, warned]
    assert find(session, breach="escalated", status="closed") == []
    with pytest.raises(search.InvalidSearch) as refused:
        find(session, breach="late")
    assert set(refused.value.details) == {"breach"}
