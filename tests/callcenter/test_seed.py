"""Tests of the demo data set: counts, determinism, idempotence and plausibility."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import core.models  # noqa: F401  (registers the tables on Base.metadata)
from back_office import intake
from back_office.models import CatalogueItem, Inspection
from callcenter.seed import (
    DEMO_CUSTOMERS,
    DEMO_DUPLICATE_ORDERS,
    DEMO_EN_ACCOUNT,
    DEMO_EN_PHONE,
    DEMO_HIGH_VALUE_THRESHOLD_FEN,
    DEMO_NEW_ACCOUNT,
    DEMO_NEW_PHONE,
    DEMO_OUT_OF_STOCK_SKUS,
    DEMO_RETURNING_ACCOUNT,
    DEMO_RETURNING_INCOMPLETE_ORDER,
    DEMO_RETURNING_PHONE,
    DEMO_VIP_ACCOUNT,
    DEMO_VIP_HIGH_VALUE_ORDER,
    DEMO_VIP_HOME_PHONE,
    DEMO_VIP_PHONE,
    DEMO_VIP_RMA,
    DEMO_VIP_SHIPPED_ORDER,
    POLICY_CATEGORY,
    SeedSummary,
    seed_demo,
)
from core.db import Base, make_engine
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
    RmaReason,
    RmaStatus,
    Tier,
)

NOW = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
CN_MOBILE = re.compile(r"^\+861[35789]\d{9}$")
CN_LANDLINE = re.compile(r"^\+86(10|2\d|[3-9]\d\d)[2-8]\d{7}$")
TABLES = (Customer, CustomerPhone, Order, OrderItem, Rma, Inspection, CatalogueItem)

SessionFactory = Callable[[], Session]


@pytest.fixture
def new_session() -> Iterator[SessionFactory]:
    """Sessions on fresh in-memory databases, each with the schema created."""
    opened: list[tuple[Engine, Session]] = []

    def make() -> Session:
        engine = make_engine("sqlite://")
        Base.metadata.create_all(engine)
        session = Session(engine)
        opened.append((engine, session))
        return session

    yield make
    for engine, session in opened:
        session.close()
        engine.dispose()


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[Session, SeedSummary]]:
    """One database seeded once, shared by the read-only checks of this module."""
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    session = Session(engine)
    summary = seed_demo(session, now=NOW)
    yield session, summary
    session.close()
    engine.dispose()


def rows(session: Session) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the seeded tables as plain tuples, in id order."""
    return {
        model.__tablename__: [
            tuple(row)
            for row in session.execute(
                select(model.__table__).order_by(*model.__table__.primary_key.columns)
            )
        ]
        for model in TABLES
    }


def is_incomplete(order: Order) -> bool:
    return order.address is None or order.recipient_phone is None or order.province is None


def duplicate_groups(orders: list[Order]) -> list[list[Order]]:
    """Orders of one customer with the same items placed within two minutes of each other."""
    groups: dict[tuple[object, ...], list[Order]] = {}
    for order in orders:
        key = (order.customer_id, tuple(sorted((i.sku, i.quantity) for i in order.items)))
        groups.setdefault(key, []).append(order)
    found = []
    for group in groups.values():
        group.sort(key=lambda o: o.placed_at)
        for first, second in zip(group, group[1:], strict=False):
            if second.placed_at - first.placed_at <= timedelta(minutes=2):
                found.append([first, second])
    return found


def test_summary_counts_match_the_rows_created(seeded: tuple[Session, SeedSummary]) -> None:
    session, summary = seeded
    assert summary.created
    counts = {model: session.scalar(select(func.count()).select_from(model)) for model in TABLES}
    assert summary == SeedSummary(
        customers=counts[Customer],
        phones=counts[CustomerPhone],
        orders=counts[Order],
        items=counts[OrderItem],
        rmas=counts[Rma],
        created=True,
        inspections=counts[Inspection],
        catalogue=counts[CatalogueItem],
    )
    assert summary.customers == 40
    assert summary.customers < summary.phones < 2 * summary.customers
    assert 80 <= summary.orders <= 160
    assert summary.orders < summary.items <= 3 * summary.orders
    assert summary.rmas >= 14
    assert str(summary.customers) in summary.describe()


def test_tiers_are_about_15_50_35_percent_with_some_english_speakers(
    seeded: tuple[Session, SeedSummary],
) -> None:
    session, _ = seeded
    tiers = Counter(session.scalars(select(Customer.tier)))
    assert tiers == {Tier.VIP: 6, Tier.RETURNING: 20, Tier.NEW: 14}
    languages = Counter(session.scalars(select(Customer.language)))
    assert 3 <= languages[Language.EN] <= 6
    for customer in session.scalars(select(Customer).where(Customer.language == Language.ZH)):
        assert re.fullmatch(r"[\u4e00-\u9fff]{2,4}", customer.name), customer.name


def test_same_seed_and_now_give_identical_rows(new_session: SessionFactory) -> None:
    first, second = new_session(), new_session()
    seed_demo(first, now=NOW)
    seed_demo(second, now=NOW)
    assert rows(first) == rows(second)


def test_another_seed_changes_the_crowd_but_not_the_well_known_customers(
    new_session: SessionFactory,
) -> None:
    first, second = new_session(), new_session()
    seed_demo(first, now=NOW, seed=1)
    seed_demo(second, now=NOW, seed=2)
    assert rows(first) != rows(second)
    query = select(Customer.name, Customer.account_number).where(
        Customer.account_number.in_([c.account for c in DEMO_CUSTOMERS])
    )
    assert set(first.execute(query)) == set(second.execute(query))


def test_second_call_creates_nothing(new_session: SessionFactory) -> None:
    session = new_session()
    seed_demo(session, now=NOW)
    before = rows(session)
    again = seed_demo(session, now=NOW + timedelta(days=1), seed=7)
    assert again == SeedSummary(customers=0, phones=0, orders=0, items=0, rmas=0, created=False)
    assert "nothing created" in again.describe()
    assert rows(session) == before


def test_seed_flushes_but_leaves_the_commit_to_the_caller(new_session: SessionFactory) -> None:
    session = new_session()
    seed_demo(session, now=NOW)
    assert session.scalar(select(func.count()).select_from(Customer)) == 40
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_naive_now_is_refused(new_session: SessionFactory) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        seed_demo(new_session(), now=datetime(2026, 3, 2, 9, 30))  # noqa: DTZ001


def test_every_order_status_and_payment_type_is_present(
    seeded: tuple[Session, SeedSummary],
) -> None:
    session, _ = seeded
    statuses = Counter(session.scalars(select(Order.status)))
    assert set(statuses) == set(OrderStatus)
    assert statuses[OrderStatus.CANCELLED] >= 2
    settled = statuses[OrderStatus.APPROVED] + statuses[OrderStatus.SHIPPED]
    assert settled + statuses[OrderStatus.DELIVERED] > sum(statuses.values()) / 2
    assert set(session.scalars(select(Order.payment_type))) == set(PaymentType)


def test_every_rma_status_is_present_at_least_twice(seeded: tuple[Session, SeedSummary]) -> None:
    session, _ = seeded
    statuses = Counter(session.scalars(select(Rma.status)))
    assert set(statuses) == set(RmaStatus)
    assert min(statuses.values()) >= 2
    assert set(session.scalars(select(Rma.kind))) == set(RmaKind)


def test_all_three_kinds_of_special_order_wait_for_review(
    seeded: tuple[Session, SeedSummary],
) -> None:
    session, _ = seeded
    pending = list(session.scalars(select(Order).where(Order.status == OrderStatus.PENDING_REVIEW)))
    high_value = [o for o in pending if o.amount_fen > DEMO_HIGH_VALUE_THRESHOLD_FEN]
    incomplete = [o for o in pending if is_incomplete(o)]
    duplicates = duplicate_groups(pending)
    assert high_value
    assert {PaymentType.PREPAID, PaymentType.COD} <= {o.payment_type for o in high_value}
    assert any(o.address is None for o in incomplete)
    assert any(o.recipient_phone is None for o in incomplete)
    assert [[o.number for o in group] for group in duplicates] == [list(DEMO_DUPLICATE_ORDERS)]
    flagged = {o.number for o in high_value + incomplete} | set(DEMO_DUPLICATE_ORDERS)
    assert flagged == {o.number for o in pending}, "every held order has a reason to be held"


def test_well_known_customers_are_as_documented(seeded: tuple[Session, SeedSummary]) -> None:
    session, _ = seeded
    for demo in DEMO_CUSTOMERS:
        customer = session.scalar(select(Customer).where(Customer.account_number == demo.account))
        assert customer is not None, demo.name
        assert (customer.name, customer.tier, customer.language) == (
            demo.name,
            demo.tier,
            demo.language,
        )
        assert demo.phone in {p.e164 for p in customer.phones}
        assert {o.number for o in customer.orders} == set(demo.orders)
        rmas = session.scalars(select(Rma.number).where(Rma.customer_id == customer.id))
        assert set(rmas) == set(demo.rmas)
    assert [c.account for c in DEMO_CUSTOMERS[:4]] == [
        DEMO_VIP_ACCOUNT,
        DEMO_EN_ACCOUNT,
        DEMO_RETURNING_ACCOUNT,
        DEMO_NEW_ACCOUNT,
    ]
    assert [c.phone for c in DEMO_CUSTOMERS[:4]] == [
        DEMO_VIP_PHONE,
        DEMO_EN_PHONE,
        DEMO_RETURNING_PHONE,
        DEMO_NEW_PHONE,
    ]


def test_vip_demo_customer_has_shipped_latest_delivered_and_high_value_pending(
    seeded: tuple[Session, SeedSummary],
) -> None:
    session, _ = seeded
    wang = session.scalar(select(Customer).where(Customer.account_number == DEMO_VIP_ACCOUNT))
    assert wang is not None
    assert (wang.name, wang.tier) == ("王芳", Tier.VIP)
    assert {(p.e164, p.label) for p in wang.phones} == {
        (DEMO_VIP_PHONE, "mobile"),
        (DEMO_VIP_HOME_PHONE, "home"),
    }
    latest = max(wang.orders, key=lambda o: o.placed_at)
    assert (latest.number, latest.status) == (DEMO_VIP_SHIPPED_ORDER, OrderStatus.SHIPPED)
    assert OrderStatus.DELIVERED in {o.status for o in wang.orders}
    held = next(o for o in wang.orders if o.number == DEMO_VIP_HIGH_VALUE_ORDER)
    assert held.status is OrderStatus.PENDING_REVIEW
    assert held.amount_fen > DEMO_HIGH_VALUE_THRESHOLD_FEN
    assert not is_incomplete(held)
    rma = session.scalar(select(Rma).where(Rma.number == DEMO_VIP_RMA))
    assert rma is not None
    assert rma.customer_id == wang.id


def test_returning_and_new_demo_customers(seeded: tuple[Session, SeedSummary]) -> None:
    session, _ = seeded
    li = session.scalar(select(Customer).where(Customer.account_number == DEMO_RETURNING_ACCOUNT))
    assert li is not None
    assert (li.name, li.tier, li.language) == ("李伟", Tier.RETURNING, Language.ZH)
    incomplete = next(o for o in li.orders if o.number == DEMO_RETURNING_INCOMPLETE_ORDER)
    assert incomplete.status is OrderStatus.PENDING_REVIEW
    assert incomplete.address is None
    assert incomplete.amount_fen <= DEMO_HIGH_VALUE_THRESHOLD_FEN
    zhang = session.scalar(select(Customer).where(Customer.account_number == DEMO_NEW_ACCOUNT))
    assert zhang is not None
    assert (zhang.name, zhang.tier, len(zhang.orders)) == ("张敏", Tier.NEW, 1)
    emily = session.scalar(select(Customer).where(Customer.account_number == DEMO_EN_ACCOUNT))
    assert emily is not None
    assert (emily.name, emily.tier, emily.language) == ("Emily Chen", Tier.VIP, Language.EN)
    assert len(emily.orders) >= 2


def test_phones_are_valid_unique_e164(seeded: tuple[Session, SeedSummary]) -> None:
    session, _ = seeded
    phones = list(session.scalars(select(CustomerPhone)))
    numbers = [p.e164 for p in phones]
    assert len(numbers) == len(set(numbers))
    for phone in phones:
        assert E164.match(phone.e164), phone.e164
        pattern = CN_MOBILE if phone.label == "mobile" else CN_LANDLINE
        assert pattern.match(phone.e164), (phone.label, phone.e164)
    assert {p.label for p in phones} == {"mobile", "home"}
    mobiles = Counter(p.customer_id for p in phones if p.label == "mobile")
    assert set(mobiles.values()) == {1}
    assert len(mobiles) == 40
    for order in session.scalars(select(Order).where(Order.recipient_phone.is_not(None))):
        assert CN_MOBILE.match(order.recipient_phone or ""), order.recipient_phone


def test_numbers_can_be_keyed_on_a_phone_keypad(seeded: tuple[Session, SeedSummary]) -> None:
    session, _ = seeded
    for account in session.scalars(select(Customer.account_number)):
        assert re.fullmatch(r"6\d{7}", account), account
    for number in session.scalars(select(Order.number)):
        assert re.fullmatch(r"2\d{9}", number), number
    for number in session.scalars(select(Rma.number)):
        assert re.fullmatch(r"8\d{7}", number), number


def test_orders_are_plausible(seeded: tuple[Session, SeedSummary]) -> None:
    session, _ = seeded
    for order in session.scalars(select(Order)):
        assert 1 <= len(order.items) <= 3, order.number
        assert order.amount_fen == sum(i.unit_price_fen * i.quantity for i in order.items)
        assert order.customer.created_at <= order.placed_at <= NOW
        shipped = order.status in {OrderStatus.SHIPPED, OrderStatus.DELIVERED}
        assert (order.shipped_at is not None) == shipped, order.number
        assert (order.delivered_at is not None) == (order.status is OrderStatus.DELIVERED)
        if order.shipped_at is not None:
            assert order.placed_at < order.shipped_at <= NOW
        if order.delivered_at is not None:
            assert order.shipped_at is not None
            assert order.shipped_at < order.delivered_at <= NOW
        if order.status is not OrderStatus.PENDING_REVIEW:
            assert not is_incomplete(order), order.number
        if order.address is not None:
            assert order.province
            assert order.city
            assert re.fullmatch(r"\d{6}", order.postal_code or ""), order.postal_code
        for stamp in (order.placed_at, order.shipped_at, order.delivered_at):
            assert stamp is None or stamp.utcoffset() == timedelta(0)


def test_rmas_are_plausible(seeded: tuple[Session, SeedSummary]) -> None:
    session, _ = seeded
    for rma in session.scalars(select(Rma)):
        order = rma.order
        assert order.status in {OrderStatus.SHIPPED, OrderStatus.DELIVERED}, rma.number
        assert rma.customer_id == order.customer_id
        arrived = order.delivered_at or order.shipped_at
        assert arrived is not None
        assert arrived < rma.created_at <= rma.updated_at <= NOW
        assert rma.created_at.utcoffset() == timedelta(0)
        item = next(i for i in order.items if i.sku == rma.sku)
        assert rma.reason
        if rma.kind is RmaKind.RETURN:
            assert rma.replacement_sku is None
            assert rma.status is not RmaStatus.REPLACEMENT_SHIPPED
            if rma.status in {RmaStatus.APPROVED, RmaStatus.REFUNDED}:
                assert rma.refund_amount_fen is not None
            if rma.refund_amount_fen is not None:
                assert 0 < rma.refund_amount_fen <= item.unit_price_fen
        else:
            assert rma.replacement_sku, rma.number
            assert rma.refund_amount_fen is None
            assert rma.status is not RmaStatus.REFUNDED
            assert rma.replacement_sku.split("-")[:2] == rma.sku.split("-")[:2]


def test_rmas_name_their_order_line_and_a_reason_code(seeded: tuple[Session, SeedSummary]) -> None:
    session, _ = seeded
    held: Counter[int] = Counter()
    for rma in session.scalars(select(Rma)):
        line = session.get(OrderItem, rma.order_item_id)
        assert line is not None and line.order_id == rma.order_id, rma.number
        assert line.sku == rma.sku
        assert rma.reason in intake.REASONS, rma.reason
        assert rma.description and not rma.description.startswith(rma.reason)
        assert rma.opened == (rma.reason != RmaReason.NO_LONGER_WANTED.value
                              and rma.reason != RmaReason.DAMAGED_IN_TRANSIT.value)  # fmt: skip
        if intake.holds_quantity(rma):
            held[line.id] += rma.quantity
        if rma.status in {RmaStatus.REFUNDED, RmaStatus.CLOSED} and rma.kind is RmaKind.RETURN:
            assert rma.finance_reference, rma.number
        if rma.status in {RmaStatus.REPLACEMENT_SHIPPED, RmaStatus.CLOSED}:
            assert (rma.tracking_number is not None) == (rma.kind is RmaKind.EXCHANGE)
    for line_id, quantity in held.items():
        line = session.get(OrderItem, line_id)
        assert line is not None and quantity <= line.quantity
    assert {r.reason for r in session.scalars(select(Rma))} >= {
        RmaReason.QUALITY_PROBLEM.value,
        RmaReason.WRONG_SIZE.value,
    }


def test_every_rma_past_awaiting_inspection_was_inspected(
    seeded: tuple[Session, SeedSummary],
) -> None:
    session, _ = seeded
    inspected = {i.rma_id: i for i in session.scalars(select(Inspection))}
    results: Counter[tuple[RmaStatus, bool]] = Counter()
    for rma in session.scalars(select(Rma)):
        found = inspected.get(rma.id)
        if rma.status is RmaStatus.AWAITING_INSPECTION:
            assert found is None, rma.number
            continue
        assert found is not None, rma.number
        assert rma.created_at <= found.inspected_at <= rma.updated_at
        results[rma.status, found.passed] += 1
    assert results[RmaStatus.IN_REVIEW, True] >= 1
    assert results[RmaStatus.IN_REVIEW, False] >= 1
    assert results[RmaStatus.REJECTED, True] == 0


def test_the_catalogue_holds_every_sku_sold_or_offered(seeded: tuple[Session, SeedSummary]) -> None:
    session, _ = seeded
    items = {c.sku: c for c in session.scalars(select(CatalogueItem))}
    sold = set(session.scalars(select(OrderItem.sku)))
    offered = {s for s in session.scalars(select(Rma.replacement_sku)) if s}
    assert sold | offered <= set(items)
    assert {c.category for c in items.values()} == set(POLICY_CATEGORY.values())
    assert {s for s, c in items.items() if c.stock == 0} == set(DEMO_OUT_OF_STOCK_SKUS)
    assert all(c.stock >= 2 for s, c in items.items() if s not in DEMO_OUT_OF_STOCK_SKUS)


def test_an_existing_catalogue_item_is_kept(new_session: SessionFactory) -> None:
    session = new_session()
    session.add(CatalogueItem(sku="BAG-101201", name="自有", category="bags", stock=99,
                              updated_at=NOW))  # fmt: skip
    session.flush()
    summary = seed_demo(session, now=NOW)
    assert session.get(CatalogueItem, "BAG-101201").stock == 99  # type: ignore[union-attr]
    assert summary.catalogue == session.scalar(select(func.count(CatalogueItem.sku))) - 1
