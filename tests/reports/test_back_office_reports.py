"""The back office's reports from known rows: RMAs received, approved and rejected by reason,
time to decision (median and p90, exact), refunds in CNY, RMA notice calls reached on the first
attempt; per day and per agent, as JSON and CSV, with the other reports' access rules."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from core.audit import record
from core.models import Customer, Order, OrderStatus, PaymentType, Rma, RmaKind, RmaStatus
from outbound.models import AttemptStatus, OutboundAttempt, OutboundTask, TaskStatus
from queues.models import Agent, Role
from reports import back_office as bo
from tests.builders import add_agent

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


#: number, reason, kind, status, filed, entered review (None: no audit entry), decided, by,
#: refund, finance reference
RMAS = [
    ("R1", "quality_problem", "return", "refund_pending", local(24, 9), local(24, 10),
     local(24, 10, 10), "a1", 10_000, None),  # 600 s
    ("R2", "quality_problem", "return", "rejected", local(24, 9), local(24, 10),
     local(24, 10, 30), "a1", None, None),  # 1800 s
    ("R3", "wrong_item", "exchange", "replacement_shipped", local(24, 9), local(24, 10),
     local(24, 11), "a2", None, None),  # 3600 s
    ("R4", "no_longer_wanted", "return", "closed", local(24, 9), local(24, 10),
     local(24, 10, 20), "a1", 5_000, "FIN-4"),  # 1200 s; closed after its refund
    ("R5", "no_longer_wanted", "return", "closed", local(24, 9), None,
     local(24, 9, 40), "a2", 3_000, None),  # 2400 s from filing; closed after a rejection
    ("R6", "unshipped_cancel", "return", "approved", local(24, 12), None,
     local(24, 12), None, 45_800, None),  # no review
    ("R7", "quality_problem", "return", "awaiting_inspection", local(24, 11), None,
     None, None, None, None),  # received, not decided
    ("R8", "wrong_item", "return", "refunded", local(23, 15), local(23, 16),
     local(24, 9), "a1", 2_000, "FIN-8"),  # 61200 s, filed the day before
]  # fmt: skip


@pytest.fixture
def known_rows(session_factory: sessionmaker[Session]) -> dict[str, int]:
    with session_factory.begin() as s:
        agents = {
            "a1": add_agent(s, "a1", display_name="王一", team="front-a").id,
            "a2": add_agent(s, "a2", display_name="李二", team="front-b").id,
        }
        customer = Customer(name="王芳", account_number="BO-REP-1")
        s.add(customer)
        s.flush()
        order = Order(
            number="2611240001",
            customer_id=customer.id,
            amount_fen=99_900,
            payment_type=PaymentType.PREPAID,
            status=OrderStatus.DELIVERED,
        )
        s.add(order)
        s.flush()
        for number, reason, kind, status, filed, review, decided, by, refund, ref in RMAS:
            s.add(
                Rma(
                    number=number,
                    order_id=order.id,
                    customer_id=customer.id,
                    kind=RmaKind(kind),
                    status=RmaStatus(status),
                    reason=reason,
                    sku="SKU-1",
                    refund_amount_fen=refund,
                    decided_at=decided,
                    decided_by=agents[by] if by else None,
                    finance_reference=ref,
                    created_at=filed,
                    updated_at=decided or filed,
                )
            )
            if review is not None:
                record(s, actor_id=None, actor="warehouse", action="rma.inspected",
                       subject_type="rma", subject_id=number, now=review,
                       before="awaiting_inspection", after="in_review")  # fmt: skip
        notices = [
            ("rma_notice", ["reached_resolved"]),  # reached on the first attempt
            ("rma_notice", ["no_answer", "reached_resolved"]),  # on the second
            ("rma_notice", []),  # not called yet
            ("rma_notice", ["reached_machine"]),  # a machine took the message: not reached
            ("order_review", ["reached_resolved"]),  # another kind: not counted
        ]
        for i, (kind, outcomes) in enumerate(notices):
            task = OutboundTask(
                kind=kind,
                dedupe_key=f"{kind}:{i}",
                subject_type="rma",
                subject_id=i,
                customer_id=customer.id,
                to_number="+8613800138000",
                timezone="Asia/Shanghai",
                language="zh",
                skill="aftersales",
                queued_at=local(24, 14),
                status=TaskStatus.DONE if outcomes else TaskStatus.PENDING,
                max_attempts=3,
                next_attempt_at=local(24, 14),
                created_at=local(24, 14),
            )
            s.add(task)
            s.flush()
            for n, outcome in enumerate(outcomes):
                s.add(
                    OutboundAttempt(
                        task_id=task.id,
                        status=AttemptStatus.ENDED,
                        created_at=local(24, 15 + n),
                        outcome=outcome,
                    )
                )
    return agents


def rows_of(session: Session, kind: str, **kw: object) -> dict[tuple[str, str], dict]:
    args = {"first": local(24, 0).date(), "last": local(24, 0).date(), "tz": SHANGHAI, **kw}
    rows = bo.back_office_report(session, kind, **args)  # type: ignore[arg-type]
    key = "day" if kind == "days" else "agent"
    return {(r[key], r["reason"]): r for r in rows}


def test_the_day_row_counts_each_figure_from_known_rows(
    session: Session, known_rows: dict[str, int]
) -> None:
    rows = rows_of(session, "days", first=local(23, 0).date())
    day = rows[("2026-11-24", "all")]
    assert day == {
        "day": "2026-11-24",
        "reason": "all",
        "received": 7,  # R1-R7 (R8 was filed the day before)
        "approved": 4,  # R1, R3, R4 (closed after its refund), R8
        "rejected": 2,  # R2, R5 (closed without a refund or a parcel)
        "unshipped_refunds": 1,  # R6: approved without review, not a decision
        "decision_median_s": 2100.0,  # [600, 1200, 1800, 2400, 3600, 61200]: (1800+2400)/2
        "decision_p90_s": 61200.0,  # the 6th of 6 (nearest rank ⌈5.4⌉)
        "refunds_fen": 62_800,  # R1 10,000 + R4 5,000 + R6 45,800 + R8 2,000 (not R5: rejected)
        "refunds_cny": "628.00",
        "notice_calls": 4,
        "notice_calls_reached_first": 1,
    }
    assert rows[("2026-11-23", "all")]["received"] == 1  # R8
    assert rows[("2026-11-23", "all")]["approved"] == 0
    assert rows[("2026-11-23", "all")]["notice_calls"] == 0


def test_each_reason_has_its_own_row(session: Session, known_rows: dict[str, int]) -> None:
    rows = rows_of(session, "days")
    assert sorted(reason for _, reason in rows) == [
        "all",
        "no_longer_wanted",
        "quality_problem",
        "unshipped_cancel",
        "wrong_item",
    ]
    quality = rows[("2026-11-24", "quality_problem")]
    assert (quality["received"], quality["approved"], quality["rejected"]) == (3, 1, 1)
    assert (quality["decision_median_s"], quality["decision_p90_s"]) == (1200.0, 1800.0)
    assert quality["notice_calls"] is None  # notices are not per reason
    cancel = rows[("2026-11-24", "unshipped_cancel")]
    assert (cancel["unshipped_refunds"], cancel["refunds_cny"], cancel["approved"]) == (
        1,
        "458.00",
        0,
    )
    assert cancel["decision_median_s"] is None


def test_the_agent_rows_count_each_agents_decisions(
    session: Session, known_rows: dict[str, int]
) -> None:
    rows = rows_of(session, "agents")
    a1, a2 = rows[("a1", "all")], rows[("a2", "all")]
    assert (a1["approved"], a1["rejected"], a1["received"]) == (3, 1, None)
    assert (a1["decision_median_s"], a1["decision_p90_s"]) == (1500.0, 61200.0)
    assert (a1["refunds_fen"], a1["refunds_cny"]) == (17_000, "170.00")
    assert (a1["name"], a1["team"], a1["notice_calls"]) == ("王一", "front-a", None)
    assert (a2["approved"], a2["rejected"]) == (1, 1)
    assert (a2["decision_median_s"], a2["decision_p90_s"]) == (3000.0, 3600.0)
    assert a2["refunds_fen"] == 0
    assert rows_of(session, "agents", team="front-a").keys() == {
        ("a1", "all"),
        ("a1", "no_longer_wanted"),
        ("a1", "quality_problem"),
        ("a1", "wrong_item"),
    }


@pytest.mark.parametrize(
    ("values", "median", "p90"),
    [
        ([], None, None),
        ([5], 5.0, 5.0),
        ([1, 2, 3, 4], 2.5, 4.0),
        (list(range(1, 11)), 5.5, 9.0),  # ⌈9.0⌉ = 9th
        (list(range(1, 12)), 6.0, 10.0),  # ⌈9.9⌉ = 10th
    ],
)
def test_median_and_nearest_rank_p90(
    values: list[int], median: float | None, p90: float | None
) -> None:
    assert bo.median(values) == median
    assert bo.percentile(values, 0.9) == p90


def test_yuan_text_is_exact() -> None:
    assert [bo.yuan_text(f) for f in (0, 5, 45_800, 123_456_789, -250)] == [
        "0.00",
        "0.05",
        "458.00",
        "1234567.89",
        "-2.50",
    ]


def test_json_and_csv_beside_the_other_reports(
    staff_client: Callable[..., FlaskClient], known_rows: dict[str, int]
) -> None:
    manager = staff_client("boss", Role.MANAGER)
    got = manager.get("/reports/api/back_office/days?date=2026-11-24&days=2").get_json()
    assert (got["report"], got["from"], got["to"], got["currency"]) == (
        "back_office_days",
        "2026-11-23",
        "2026-11-24",
        "CNY",
    )
    alls = [r for r in got["rows"] if r["reason"] == "all"]
    assert [(r["day"], r["received"], r["refunds_cny"]) for r in alls] == [
        ("2026-11-23", 1, "0.00"),
        ("2026-11-24", 7, "628.00"),
    ]
    exported = manager.get("/reports/api/back_office/agents.csv?date=2026-11-24")
    assert exported.mimetype == "text/csv"
    lines = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert list(lines[0]) == bo.AGENT_COLUMNS
    first = lines[0]
    assert (first["agent"], first["reason"], first["approved"], first["refunds_cny"]) == (
        "a1",
        "all",
        "3",
        "170.00",
    )
    same = manager.get("/reports/api/back_office/agents?date=2026-11-24&format=csv")
    assert same.get_data() == exported.get_data()
    page = manager.get("/reports/?date=2026-11-24").get_data(as_text=True)
    assert 'id="back-office-days"' in page and "628.00" in page


def test_a_team_lead_sees_only_their_teams_agents(
    staff_client: Callable[..., FlaskClient],
    known_rows: dict[str, int],
    session_factory: sessionmaker[Session],
) -> None:
    lead = staff_client("lead", Role.TEAM_LEAD)
    with session_factory.begin() as s:
        s.execute(update(Agent).where(Agent.login == "lead").values(team="front-a"))
    rows = lead.get("/reports/api/back_office/agents?date=2026-11-24").get_json()["rows"]
    assert {r["agent"] for r in rows} == {"a1"}
    days = lead.get("/reports/api/back_office/days?date=2026-11-24").get_json()["rows"]
    assert days[0]["received"] == 7  # the day rows are the centre's


@pytest.mark.parametrize("query", ["date=24-11-2026", "days=0", "days=32", "days=x"])
def test_bad_arguments_are_400_naming_the_problem(
    staff_client: Callable[..., FlaskClient], query: str
) -> None:
    response = staff_client("boss2", Role.MANAGER).get(f"/reports/api/back_office/days?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad-request"


def test_a_day_with_nothing_has_only_its_empty_total_row(
    session: Session, known_rows: dict[str, int]
) -> None:
    later = local(25, 0).date()
    rows = rows_of(session, "days", first=later, last=later)
    assert list(rows) == [("2026-11-25", "all")]
    empty = rows[("2026-11-25", "all")]
    assert (empty["received"], empty["approved"], empty["decision_median_s"]) == (0, 0, None)
    assert (empty["refunds_cny"], empty["notice_calls"]) == ("0.00", 0)
