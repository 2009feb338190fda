"""Contact reasons and dispositions over a scripted week: the top reasons with shares adding up
to 100.0 (rounding by the largest remainder), the escalation and complaint rates per agent, team
and queue, per day, week and month; JSON and CSV. Expected figures worked out by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from queues.models import Role
from reports import contact_reasons as cr
from tests.reports.contacts import SHANGHAI, handled, local
from work_orders import timeline

A, B = "front-a", "front-b"


def script(session: Session) -> None:
    """Eight handled calls in the week of 16-22 November, one just after it (#9)."""

    def call(at: Any, login: str, team: str, disp: str | None, cat: str | None, **kw: Any) -> None:
        escalated = kw.pop("escalated", False)
        wo = handled(session, at, login, team, who=None, category=cat, disposition=disp, **kw)
        if escalated:
            assert wo is not None
            timeline.add_event(session, wo, "escalated", author_id=None, author="system", now=at)

    call(local(16, 9), "li.na", A, "resolved", "usage_question")  # 1
    call(local(16, 10), "li.na", A, "resolved", "usage_question")  # 2
    call(local(16, 11), "li.na", A, "passed_on", "product_quality", escalated=True)  # 3
    call(local(18, 14), "wang.wei", A, "passed_on", "complaint")  # 4
    call(local(18, 15), "wang.wei", A, "resolved", "invoice", queue="vip")  # 5
    call(local(21, 10), "zhao.min", B, None, None, queue="vip")  # 6: no disposition, no order
    call(local(21, 11), "zhao.min", B, "passed_on", "complaint", escalated=True)  # 7
    call(local(22, 23), "zhao.min", B, "resolved", "usage_question")  # 8: Sunday 23:00
    call(local(23, 0, 30), "li.na", A, "resolved", "invoice")  # 9: Monday 23, 00:30


def report(session: Session, kind: str, period: str = "week", day: int = 18) -> list[Any]:
    return cr.contact_reasons_report(
        session, kind, day=date(2026, 11, day), period=period, tz=SHANGHAI
    )


def reasons(rows: list[dict[str, Any]]) -> list[tuple[str, int, float]]:
    return [(r["reason"], r["contacts"], r["share_percent"]) for r in rows]


def test_the_weeks_top_categories_and_dispositions(session: Session) -> None:
    """#1-#8 (8 contacts; #9 is the next week). Categories: usage 3 (#1 #2 #8) = 37.5 %,
    complaint 2 (#4 #7) = 25.0 %, and invoice, no work order (#6), product quality 1 each =
    12.5 %: 37.5 + 25 + 3 × 12.5 = 100.0. Dispositions: resolved 4 (#1 #2 #5 #8) = 50.0,
    passed_on 3 = 37.5, unrecorded 1 (#6) = 12.5."""
    script(session)

    assert reasons(report(session, "categories")) == [
        ("usage_question", 3, 37.5),
        ("complaint", 2, 25.0),
        ("invoice", 1, 12.5),
        ("no_work_order", 1, 12.5),
        ("product_quality", 1, 12.5),
    ]
    assert reasons(report(session, "dispositions")) == [
        ("resolved", 4, 50.0),
        ("passed_on", 3, 37.5),
        ("unrecorded", 1, 12.5),
    ]


def test_a_days_shares_are_rounded_to_add_up_to_one_hundred(session: Session) -> None:
    """Monday 16: #1 #2 #3. usage 2/3 = 66.67 % → 666 tenths (remainder .67), product quality
    1/3 = 33.33 % → 333 tenths (.33): 999, so the tenth left goes to the larger remainder:
    66.7 + 33.3 = 100.0."""
    script(session)

    assert reasons(report(session, "categories", "day", 16)) == [
        ("usage_question", 2, 66.7),
        ("product_quality", 1, 33.3),
    ]


def test_the_months_shares_add_up_to_one_hundred(session: Session) -> None:
    """November: #1-#9, 9 contacts. usage 3/9 = 33.33 (333 tenths, remainder .33), complaint
    and invoice 2/9 = 22.22 (222, .22), no work order and product quality 1/9 = 11.11 (111,
    .11): 333 + 2×222 + 2×111 = 999; the tenth left goes to usage (largest remainder):
    33.4 + 22.2 + 22.2 + 11.1 + 11.1 = 100.0."""
    script(session)

    rows = reasons(report(session, "categories", "month"))

    assert rows == [
        ("usage_question", 3, 33.4),
        ("complaint", 2, 22.2),
        ("invoice", 2, 22.2),
        ("no_work_order", 1, 11.1),
        ("product_quality", 1, 11.1),
    ]
    assert sum(round(share * 10) for *_, share in rows) == 1000


def test_escalation_and_complaint_rates_per_agent_team_and_queue(session: Session) -> None:
    """li.na #1 #2 #3: 3 work orders, 1 escalated (#3) = 33.3 %, no complaint = 0.0 %.
    wang.wei #4 #5: 0 escalated = 0.0 %, 1 complaint of 2 = 50.0 %. zhao.min #6 #7 #8:
    2 work orders (#6 has none), 1 escalated (#7) = 50.0 %, 1 complaint of 3 = 33.3 %.
    front-a: 5 contacts, 1 of 5 escalated = 20.0 %, 1 of 5 complaints = 20.0 %.
    general (#1-#4 #7 #8): 2 of 6 escalated = 33.3 %, 2 of 6 complaints = 33.3 %;
    vip (#5 #6): 1 work order, none escalated, no complaint."""
    script(session)

    def rates(kind: str) -> list[tuple[Any, ...]]:
        return [tuple(r.values()) for r in report(session, kind)]

    assert rates("agents") == [
        ("li.na", 3, 3, 1, 33.3, 0, 0.0),
        ("wang.wei", 2, 2, 0, 0.0, 1, 50.0),
        ("zhao.min", 3, 2, 1, 50.0, 1, 33.3),
    ]
    assert rates("teams") == [(A, 5, 5, 1, 20.0, 1, 20.0), (B, 3, 2, 1, 50.0, 1, 33.3)]
    assert rates("queues") == [
        ("general", 6, 6, 2, 33.3, 2, 33.3),
        ("vip", 2, 1, 0, 0.0, 0, 0.0),
    ]


def test_beyond_the_top_reasons_the_rest_is_other() -> None:
    """Seven reasons of one contact each, top 3: three named (1/7 = 14.29 % → 142 tenths)
    and "other" with 4 (57.14 % → 571): 3 × 142 + 571 = 997; the three tenths left go to the
    largest remainders (.86 for each 142, .43 for 571; ties by name): 14.3 × 3 + 57.1 = 100.0."""
    records = [
        cr.ContactRecord(i, "a", A, "general", "resolved", f"cat{i}", True, False) for i in range(7)
    ]

    assert reasons(cr.top_reasons(records, "categories", top=3)) == [
        ("cat0", 1, 14.3),
        ("cat1", 1, 14.3),
        ("cat2", 1, 14.3),
        ("other", 4, 57.1),
    ]


def test_shares_of_nothing_and_the_periods() -> None:
    assert cr.shares({}) == {}
    # Rounding each third alone would give 99.9; the tenth left goes to the first by name.
    assert cr.shares({"a": 1, "b": 1, "c": 1}) == {"a": 33.4, "b": 33.3, "c": 33.3}
    assert cr.period_days(date(2026, 11, 18), "week") == (date(2026, 11, 16), date(2026, 11, 22))
    assert cr.period_days(date(2026, 2, 10), "month") == (date(2026, 2, 1), date(2026, 2, 28))
    with pytest.raises(ValueError, match="period"):
        cr.period_days(date(2026, 2, 10), "year")


def test_served_as_json_and_csv_and_a_bad_period_is_a_400(
    session: Session, staff_client: Callable[..., FlaskClient]
) -> None:
    script(session)
    session.commit()
    client = staff_client("boss", Role.MANAGER)

    body = client.get("/reports/api/contact_reasons/queues?period=week&date=2026-11-18").get_json()
    text = client.get("/reports/api/contact_reasons/dispositions.csv?period=week&date=2026-11-18")
    bad = client.get("/reports/api/contact_reasons/queues?period=year")

    assert (body["from"], body["to"], body["period"]) == ("2026-11-16", "2026-11-22", "week")
    assert body["rows"][0]["escalation_rate_percent"] == 33.3
    assert text.get_data(as_text=True).splitlines() == [
        "rank,reason,contacts,share_percent",
        "1,resolved,4,50.0",
        "2,passed_on,3,37.5",
        "3,unrecorded,1,12.5",
    ]
    assert bad.status_code == 400 and "period" in bad.get_json()["error"]["message"]


def test_the_reports_page_shows_fcr_and_contact_reasons(
    session: Session, staff_client: Callable[..., FlaskClient]
) -> None:
    script(session)
    session.commit()

    page = staff_client("boss", Role.MANAGER).get("/reports/?date=2026-11-22")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="fcr-agents"' in html and 'id="reasons-categories"' in html
    assert "usage_question" in html and "37.5" in html
