"""First-contact resolution over a scripted week of contacts (Monday 16 to Sunday 22 November
2026, Shanghai), with every expected figure worked out by hand below, and the rule's edges:
the same order, the same category, the window's end, an unidentified caller, a work order that
was not opened on a call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from queues.models import Role
from reports import fcr
from tests.reports.conftest import REPORT_NOW
from tests.reports.contacts import SHANGHAI, handled, local
from work_orders import timeline

WEEK = (date(2026, 11, 16), date(2026, 11, 22))
A, B = "front-a", "front-b"


def script_the_week(session: Session) -> None:
    """Nine contacts in the week, one the Monday after, one after the window, and one work
    order that is not a contact. `#n` below names them in the expected figures."""
    # 1 Mon 10:00 li.na: A about order A-1, usage question, closed on the call.
    #   A calls again on Wed about A-1 (#5): a repeat (same order) → not FCR.
    handled(
        session,
        local(16, 10),
        "li.na",
        A,
        who="A",
        category="usage_question",
        order_number="A-1",
        resolved=True,
    )
    # 2 Mon 11:00 li.na: B, no order, invoice, closed. B calls on Fri about invoices (#7):
    #   a repeat (same category, 4 days later) → not FCR.
    handled(session, local(16, 11), "li.na", A, who="B", category="invoice", resolved=True)
    # 3 Mon 14:00 wang.wei: C about C-1, product quality, passed to a department → not FCR.
    handled(
        session,
        local(16, 14),
        "wang.wei",
        A,
        who="C",
        category="product_quality",
        order_number="C-1",
    )
    # 4 Tue 09:30 zhao.min: D about D-1, logistics delay, closed. D calls again about a
    #   logistics delay on Tue 24 at 10:00, 7 days 30 minutes later: outside the window → FCR.
    handled(
        session,
        local(17, 9, 30),
        "zhao.min",
        B,
        who="D",
        category="logistics_delay",
        order_number="D-1",
        resolved=True,
    )
    # 5 Wed 15:00 wang.wei: A about A-1 again, now a refund, closed; nothing after → FCR.
    handled(
        session,
        local(18, 15),
        "wang.wei",
        A,
        who="A",
        category="refund",
        order_number="A-1",
        resolved=True,
    )
    # 6 Thu 10:00 li.na: an unidentified caller, usage question, closed → FCR (cannot be
    #   seen calling again: condition 1 alone).
    handled(session, local(19, 10), "li.na", A, who=None, category="usage_question", resolved=True)
    # Not a contact: a work order opened from the screen pop for D's earlier contact (no
    # call opened it), Thu, logistics delay. Were it counted, #4 would be a repeat.
    timeline.open_work_order(
        session,
        client_key=None,
        category="logistics_delay",
        description="",
        author_id=None,
        author="zhao.min",
        now=local(19, 11),
        owner_team=B,
    )
    # 7 Fri 16:00 zhao.min: B, invoice again, closed; nothing after → FCR.
    handled(session, local(20, 16), "zhao.min", B, who="B", category="invoice", resolved=True)
    # 8 Sat 11:00 zhao.min: E about E-1, a complaint, passed on → not FCR.
    handled(
        session, local(21, 11), "zhao.min", B, who="E", category="complaint", order_number="E-1"
    )
    # 9 Sun 20:00 li.na: C about C-2, usage question, closed. C calls on Mon 23 09:00 about
    #   another order but again a usage question (#10): a repeat → not FCR.
    handled(
        session,
        local(22, 20),
        "li.na",
        A,
        who="C",
        category="usage_question",
        order_number="C-2",
        resolved=True,
    )
    # 10 Mon 23 09:00 (after the week: not counted, but it is #9's repeat).
    handled(
        session,
        local(23, 9),
        "wang.wei",
        A,
        who="C",
        category="usage_question",
        order_number="C-3",
        resolved=True,
    )
    # 11 Tue 24 10:00 (D again, after #4's window).
    handled(
        session,
        local(24, 10),
        "zhao.min",
        B,
        who="D",
        category="logistics_delay",
        order_number="D-2",
        resolved=True,
    )


def report(session: Session, kind: str, team: str | None = None) -> list[dict[str, Any]]:
    return fcr.fcr_report(
        session, kind, first=WEEK[0], last=WEEK[1], tz=SHANGHAI, now=REPORT_NOW, team=team
    )


def row(
    contacts: int, closed: int, repeated: int, fcr_: int, pct: float | None, open_: int
) -> dict[str, Any]:
    return {
        "contacts": contacts,
        "resolved_on_contact": closed,
        "repeated": repeated,
        "resolved_first_contact": fcr_,
        "fcr_percent": pct,
        "window_open": open_,
    }


def test_the_centres_fcr_for_the_scripted_week(session: Session) -> None:
    """Contacts #1-#9 = 9. Closed on the call: #1 #2 #4 #5 #6 #7 #9 = 7. Came back within
    7 days: #1 (by #5, same order), #2 (by #7, same category), #9 (by #10) = 3. So FCR =
    7 - 3 = 4 (#4 #5 #6 #7), and 4 / 9 = 44.44 % → 44.4. The report is asked on Tue 24 at
    20:00: windows still open are those of contacts after Tue 17 20:00: #5 #6 #7 #8 #9 = 5."""
    script_the_week(session)

    assert report(session, "centre") == [{"centre": "all", **row(9, 7, 3, 4, 44.4, 5)}]


def test_fcr_per_agent_team_and_category(session: Session) -> None:
    """li.na: #1 #2 #6 #9 = 4 contacts, all closed, 3 repeats (#1 #2 #9), FCR 1 (#6) = 25.0 %,
    open windows #6 #9 = 2. wang.wei: #3 #5 = 2, closed 1 (#5), FCR 1 = 50.0 %, open #5 = 1.
    zhao.min: #4 #7 #8 = 3, closed 2 (#4 #7), FCR 2 = 2/3 = 66.67 → 66.7 %, open #7 #8 = 2.
    Team front-a = li.na + wang.wei: 6, closed 5, repeats 3, FCR 2 = 33.33 → 33.3 %, open 3.
    Categories: usage #1 #6 #9: 3, closed 3, repeats 2 (#1 #9), FCR 1 = 33.3 %, open 2;
    invoice #2 #7: 2, closed 2, repeat 1, FCR 1 = 50.0 %, open 1 (#7); the rest one each."""
    script_the_week(session)

    assert report(session, "agents") == [
        {"agent": "li.na", **row(4, 4, 3, 1, 25.0, 2)},
        {"agent": "wang.wei", **row(2, 1, 0, 1, 50.0, 1)},
        {"agent": "zhao.min", **row(3, 2, 0, 2, 66.7, 2)},
    ]
    assert report(session, "teams") == [
        {"team": A, **row(6, 5, 3, 2, 33.3, 3)},
        {"team": B, **row(3, 2, 0, 2, 66.7, 2)},
    ]
    assert report(session, "categories") == [
        {"category": "complaint", **row(1, 0, 0, 0, 0.0, 1)},
        {"category": "invoice", **row(2, 2, 1, 1, 50.0, 1)},
        {"category": "logistics_delay", **row(1, 1, 0, 1, 100.0, 0)},
        {"category": "product_quality", **row(1, 0, 0, 0, 0.0, 0)},
        {"category": "refund", **row(1, 1, 0, 1, 100.0, 1)},
        {"category": "usage_question", **row(3, 3, 2, 1, 33.3, 2)},
    ]


def test_a_team_leads_view_keeps_repeats_made_to_other_teams(session: Session) -> None:
    """front-b alone: #4 #7 #8, the same figures as its row in the centre's report."""
    script_the_week(session)

    assert report(session, "agents", team=B) == [{"agent": "zhao.min", **row(3, 2, 0, 2, 66.7, 2)}]


def test_the_window_is_a_setting_and_its_edge_is_inclusive() -> None:
    """Seven days to the minute is still a repeat; a minute more is not; another customer,
    another order and another category is never one."""
    base = fcr.Contact(1, local(16, 10), 7, 70, "invoice", "li.na", A, True)
    week = timedelta(days=7)
    same = fcr.Contact(2, base.at + week, 7, None, "invoice", "li.na", A, True)
    late = fcr.Contact(3, base.at + week + timedelta(minutes=1), 7, None, "invoice", "x", A, True)
    other = fcr.Contact(4, base.at + timedelta(days=1), 7, 71, "refund", "x", A, True)
    stranger = fcr.Contact(5, base.at + timedelta(days=1), 8, 70, "invoice", "x", A, True)

    assert fcr.came_back(base, same, week)
    assert not fcr.came_back(base, late, week)
    assert not fcr.came_back(base, other, week)
    assert not fcr.came_back(base, stranger, week)
    assert not fcr.came_back(base, same, timedelta(days=6))


def test_no_contacts_gives_no_percentage() -> None:
    nothing = fcr.figures([], set(), now=REPORT_NOW, window=fcr.DEFAULT_WINDOW)
    assert nothing.fcr_percent is None and nothing.contacts == 0


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_the_fcr_report_is_served_as_json_and_csv(
    session: Session, staff_client: Callable[..., FlaskClient], fmt: str
) -> None:
    """The week's agent rows through /reports/api/fcr/agents (a manager)."""
    script_the_week(session)
    session.commit()
    client = staff_client("boss", Role.MANAGER)
    args = "date=2026-11-22&days=7"

    if fmt == "json":
        body = client.get(f"/reports/api/fcr/agents?{args}").get_json()
        assert body["window_days"] == 7 and body["from"] == "2026-11-16"
        assert [r["resolved_first_contact"] for r in body["rows"]] == [1, 1, 2]
    else:
        text = client.get(f"/reports/api/fcr/agents.csv?{args}").get_data(as_text=True)
        lines = text.splitlines()
        assert lines[0] == ",".join(fcr.COLUMNS["agents"])
        assert lines[3] == "zhao.min,3,2,0,2,66.7,2"


def test_the_wallboard_shows_the_last_seven_days_fcr(session: Session) -> None:
    """Asked on Tue 24 at 20:00: Wed 18 to Tue 24 holds #5 #6 #7 #8 #9 #10 #11 = 7 contacts.
    Not FCR: #8 (passed on) and #9 (C came back, #10): 5 of 7 = 71.43 → 71.4 %.
    li.na #6 #9: 1/2 = 50.0; wang.wei #5 #10: 2/2 = 100.0; zhao.min #7 #8 #11: 2/3 = 66.7."""
    from supervision.figures import fcr_figures

    script_the_week(session)

    shown = fcr_figures(
        session, now=REPORT_NOW, timezone="Asia/Shanghai", window=fcr.DEFAULT_WINDOW
    )

    assert shown == {
        "centre": 71.4,
        "agents": {"li.na": 50.0, "wang.wei": 100.0, "zhao.min": 66.7},
    }


def test_the_wallboard_snapshot_carries_the_fcr(session: Session, app: Flask) -> None:
    """The centre's figure in the totals and each agent's beside their AHT (none signed in
    here: the agents' rows list only those present)."""
    from callcenter.supervisor import board

    script_the_week(session)
    session.commit()

    snap = board.compute(app.extensions["callcenter"])

    assert snap["totals"]["fcr_7d"] == 71.4
