"""A scripted day of calls: the report API and CSV equal the figures computed here by hand.

The day is Tuesday 24 November 2026 in Shanghai; the reports are asked for at 20:00, while
two callers are still waiting. Every time below is local. Service level thresholds come from
config/queues.toml: T = 20 s for general and presales, T = 10 s for vip. Short abandons are
under 5 s.

    call  queue            arrives   what happened                                      wait
    C1    general          09:00:00  li.na answers 09:00:10; talk 180 s, wrap 30 s        10 (≤ T)
    C2    general          09:05:00  wang.wei answers 09:05:30; talk 240 s, wrap 60 s     30 (> T)
    C3    general          09:10:00  hangs up 09:10:03                                     3 (short)
    C4    vip              09:12:00  li.na answers 09:12:08; talk 120 s, wrap 30 s         8 (≤ 10)
    C5    general          09:20:00  hangs up 09:20:45                                    45 (> T)
    C6    general          09:25:00  wang.wei's leg rings 09:25:05, not answered (missed)
                                     at 09:25:10; the caller hangs up 09:25:12            12 (≤ T)
    C7    general          09:28:00  asks for a callback, off the line 09:29:00; wang.wei's
                                     callback answered 09:40:00; talk 300 s, wrap 30 s
    C8    presales         10:00:00  overflows to general 10:05:00 (arrival kept)
          general          10:00:00  zhao.lei answers 10:05:20; talk 120 s, wrap 30 s    320 (> T)
    C9    vip              10:10:00  zhao.lei answers 10:10:15; talk 120 s; wrap 20 s,
                                     then lunch                                           15 (> 10)
    C10   general          10:14:00  asks for a callback, off the line 10:14:30; pending
    C11   general          19:59:30  still waiting at 20:00                               30 (> T)
    C12   general          19:59:50  still waiting at 20:00                               10 (≤ T)

Agents (team): li.na (front-a) available 08:55-09:30; wang.wei (front-a) available
09:00-10:00 with a "missed" break 09:25:10-09:26:00; zhao.lei (front-b) available 10:00,
lunch 10:12:35-11:00, offline 12:00. Reserved = ringing, 5 s before each answer.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from core.models import Call, CallDirection, CallStatus
from queues.models import (
    Actor,
    Agent,
    AgentEvent,
    AgentState,
    QueuedCall,
    QueuedCallStatus,
    Role,
)
from tests.builders import add_agent

SHANGHAI = ZoneInfo("Asia/Shanghai")
S = QueuedCallStatus
A = AgentState


def at(hms: str, day: int = 24) -> datetime:
    h, m, s = (int(p) for p in hms.split(":"))
    return datetime(2026, 11, day, h, m, s, tzinfo=SHANGHAI)


# (agent, [(time, from, to, reason, call)]): every presence change of the day
TIMELINES: dict[str, list[tuple[str, A, A, str | None, str | None]]] = {
    "li.na": [
        ("08:55:00", A.OFFLINE, A.AVAILABLE, None, None),
        ("09:00:05", A.AVAILABLE, A.RESERVED, None, "C1"),
        ("09:00:10", A.RESERVED, A.ON_CALL, None, "C1"),
        ("09:03:10", A.ON_CALL, A.WRAP_UP, None, "C1"),
        ("09:03:40", A.WRAP_UP, A.AVAILABLE, "wrap_up_elapsed", None),
        ("09:12:03", A.AVAILABLE, A.RESERVED, None, "C4"),
        ("09:12:08", A.RESERVED, A.ON_CALL, None, "C4"),
        ("09:14:08", A.ON_CALL, A.WRAP_UP, None, "C4"),
        ("09:14:38", A.WRAP_UP, A.AVAILABLE, None, None),
        ("09:30:00", A.AVAILABLE, A.OFFLINE, None, None),
    ],
    "wang.wei": [
        ("09:00:00", A.OFFLINE, A.AVAILABLE, None, None),
        ("09:05:25", A.AVAILABLE, A.RESERVED, None, "C2"),
        ("09:05:30", A.RESERVED, A.ON_CALL, None, "C2"),
        ("09:09:30", A.ON_CALL, A.WRAP_UP, None, "C2"),
        ("09:10:30", A.WRAP_UP, A.AVAILABLE, None, None),
        ("09:25:05", A.AVAILABLE, A.RESERVED, None, "C6"),
        ("09:25:10", A.RESERVED, A.BREAK, "missed", None),
        ("09:26:00", A.BREAK, A.AVAILABLE, None, None),
        ("09:39:55", A.AVAILABLE, A.RESERVED, None, "C7"),
        ("09:40:00", A.RESERVED, A.ON_CALL, None, "C7"),
        ("09:45:00", A.ON_CALL, A.WRAP_UP, None, "C7"),
        ("09:45:30", A.WRAP_UP, A.AVAILABLE, None, None),
        ("10:00:00", A.AVAILABLE, A.OFFLINE, None, None),
    ],
    "zhao.lei": [
        ("10:00:00", A.OFFLINE, A.AVAILABLE, None, None),
        ("10:05:15", A.AVAILABLE, A.RESERVED, None, "C8"),
        ("10:05:20", A.RESERVED, A.ON_CALL, None, "C8"),
        ("10:07:20", A.ON_CALL, A.WRAP_UP, None, "C8"),
        ("10:07:50", A.WRAP_UP, A.AVAILABLE, None, None),
        ("10:10:10", A.AVAILABLE, A.RESERVED, None, "C9"),
        ("10:10:15", A.RESERVED, A.ON_CALL, None, "C9"),
        ("10:12:15", A.ON_CALL, A.WRAP_UP, None, "C9"),
        ("10:12:35", A.WRAP_UP, A.BREAK, "lunch", None),
        ("11:00:00", A.BREAK, A.AVAILABLE, None, None),
        ("12:00:00", A.AVAILABLE, A.OFFLINE, None, None),
    ],
}
TEAMS = {"li.na": "front-a", "wang.wei": "front-a", "zhao.lei": "front-b"}


def entry(call: str, queue: str, arrives: str, status: S, **times: Any) -> dict[str, Any]:
    """A queue entry; `times` values "HH:MM:SS" become local datetimes, `agent` a login."""
    row: dict[str, Any] = {"call": call, "queue": queue, "enqueued_at": at(arrives)}
    row["status"] = status
    for key, value in times.items():
        row[key] = at(value) if key.endswith("_at") else value
    return row


ENTRIES = [
    entry(
        "C1",
        "general",
        "09:00:00",
        S.CONNECTED,
        answered_at="09:00:10",
        talk_ended_at="09:03:10",
        agent="li.na",
    ),
    entry(
        "C2",
        "general",
        "09:05:00",
        S.CONNECTED,
        answered_at="09:05:30",
        talk_ended_at="09:09:30",
        agent="wang.wei",
    ),
    entry("C3", "general", "09:10:00", S.ABANDONED, left_at="09:10:03"),
    entry(
        "C4",
        "vip",
        "09:12:00",
        S.CONNECTED,
        answered_at="09:12:08",
        talk_ended_at="09:14:08",
        agent="li.na",
    ),
    entry("C5", "general", "09:20:00", S.ABANDONED, left_at="09:20:45"),
    entry("C6", "general", "09:25:00", S.ABANDONED, left_at="09:25:12", rings=1),
    entry(
        "C7",
        "general",
        "09:28:00",
        S.CONNECTED,
        callback_requested_at="09:28:40",
        answered_at="09:40:00",
        talk_ended_at="09:45:00",
        agent="wang.wei",
        callback_to="+8613900000007",
    ),
    entry(
        "C8", "presales", "10:00:00", S.OVERFLOWED, left_at="10:05:00", reason="overflow:general"
    ),
    entry(
        "C8",
        "general",
        "10:00:00",
        S.CONNECTED,
        answered_at="10:05:20",
        talk_ended_at="10:07:20",
        agent="zhao.lei",
    ),
    entry(
        "C9",
        "vip",
        "10:10:00",
        S.CONNECTED,
        answered_at="10:10:15",
        talk_ended_at="10:12:15",
        agent="zhao.lei",
    ),
    entry(
        "C10",
        "general",
        "10:14:00",
        S.CALLBACK,
        callback_requested_at="10:14:20",
        callback_to="+8613900000010",
    ),
    entry("C11", "general", "19:59:30", S.WAITING),
    entry("C12", "general", "19:59:50", S.WAITING),
]


@pytest.fixture
def scripted_day(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as s:
        ids = {}
        for login, team in TEAMS.items():
            agent = add_agent(s, login, display_name=login, now=at("18:00:00", day=23), team=team)
            ids[login] = agent.id
            for time, from_state, to_state, reason, call in TIMELINES[login]:
                s.add(
                    AgentEvent(
                        agent_id=agent.id,
                        from_state=from_state,
                        to_state=to_state,
                        reason=reason,
                        actor=Actor.SYSTEM,
                        at=at(time),
                        call_sid=f"CA{call}" if call else None,
                    )
                )
        calls: dict[str, Call] = {}
        for row in ENTRIES:
            row = dict(row)
            name = row.pop("call")
            if name not in calls:
                calls[name] = Call(
                    sid=f"CA{name}",
                    direction=CallDirection.INBOUND,
                    status=CallStatus.IN_PROGRESS,
                    started_at=row["enqueued_at"],
                )
                s.add(calls[name])
                s.flush()
            agent_login = row.pop("agent", None)
            end = row.get("answered_at") or row.get("left_at")
            s.add(
                QueuedCall(
                    call_id=calls[name].id,
                    call_sid=f"CA{name}",
                    skill="general",
                    language="zh",
                    tier="new",
                    agent_id=ids[agent_login] if agent_login else None,
                    left_at=row.pop("left_at", row.get("answered_at")),
                    wait_s=round((end - row["enqueued_at"]).total_seconds()) if end else None,
                    **row,
                )
            )


@pytest.fixture
def boss(staff_client: Callable[..., FlaskClient]) -> FlaskClient:
    return staff_client("feng.min", Role.MANAGER)


def rows(client: FlaskClient, kind: str, interval: str = "day") -> dict[tuple[str, str], dict]:
    response = client.get(f"/reports/api/{kind}?date=2026-11-24&interval={interval}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["timezone"] == "Asia/Shanghai" and body["short_abandon_s"] == 5
    key = {"queues": "queue", "agents": "agent", "teams": "team"}[kind]
    return {(r[key], r["interval_start"][11:16]): r for r in body["rows"]}


def csv_rows(client: FlaskClient, kind: str, interval: str = "day") -> list[dict[str, str]]:
    response = client.get(f"/reports/api/{kind}.csv?date=2026-11-24&interval={interval}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def pick(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: row[n] for n in names}


QUEUE_COUNTS = (
    "offered",
    "answered",
    "answered_within",
    "abandoned",
    "abandoned_within",
    "short_abandons",
    "callbacks",
    "callbacks_connected",
    "callbacks_failed",
    "voicemail",
    "waiting",
    "waiting_past_threshold",
    "overflowed_out",
    "handled",
)
QUEUE_RATES = (
    "service_level",
    "service_level_of_answered",
    "service_level_abandons_met",
    "asa_s",
    "abandon_rate",
    "aht_s",
    "talk_s",
    "hold_s",
    "wrap_s",
)


@pytest.mark.usefixtures("scripted_day")
def test_queue_figures_of_the_day_equal_the_hand_count(boss: FlaskClient) -> None:
    day = rows(boss, "queues")
    assert set(day) == {("general", "00:00"), ("presales", "00:00"), ("vip", "00:00")}
    general = day[("general", "00:00")]
    # offered: C1 C2 C3 C5 C6 C7 C8 C10 C11 C12 = 10 (C8 counts here, where it ended)
    # answered: C1 (10 s), C2 (30 s), C8 (320 s) = 3; within T = 20 s: C1 = 1
    # abandoned: C5 (45 s), C6 (12 s, within T) = 2; short: C3 (3 s) = 1
    # callbacks: C7 (connected), C10 (pending) = 2; waiting: C11 (30 s > T), C12 = 2
    # handled (talk ended): C1 C2 C7 C8 = 4
    assert pick(general, *QUEUE_COUNTS) == {
        "offered": 10,
        "answered": 3,
        "answered_within": 1,
        "abandoned": 2,
        "abandoned_within": 1,
        "short_abandons": 1,
        "callbacks": 2,
        "callbacks_connected": 1,
        "callbacks_failed": 0,
        "voicemail": 0,
        "waiting": 2,
        "waiting_past_threshold": 1,
        "overflowed_out": 0,
        "handled": 4,
    }
    # service level = 1 / (3 answered + 2 abandoned + 0 voicemail + 1 waiting past T) = 16.7 %
    # of answered = 1 / 3 = 33.3 %; abandons within T met = (1 + 1) / 6 = 33.3 %
    # ASA = (10 + 30 + 320) / 3 = 120 s; abandon rate = 2 / (10 - 1 short - 2 waiting) = 28.6 %
    # talk = 180 + 240 + 300 + 120 = 840 s; wrap = 30 + 60 + 30 + 30 = 150 s
    # AHT = (840 + 0 + 150) / 4 = 247.5 s
    assert pick(general, *QUEUE_RATES) == {
        "service_level": 16.7,
        "service_level_of_answered": 33.3,
        "service_level_abandons_met": 33.3,
        "asa_s": 120.0,
        "abandon_rate": 28.6,
        "aht_s": 247.5,
        "talk_s": 840.0,
        "hold_s": 0.0,
        "wrap_s": 150.0,
    }
    vip = day[("vip", "00:00")]
    # C4 answered in 8 s (≤ 10), C9 in 15 s (> 10): SL 1/2; ASA (8 + 15) / 2 = 11.5 s
    # AHT = (120 + 30 + 120 + 20) / 2 = 145 s
    assert pick(vip, "offered", "answered", "answered_within", "handled") == {
        "offered": 2,
        "answered": 2,
        "answered_within": 1,
        "handled": 2,
    }
    assert pick(vip, "service_level", "asa_s", "abandon_rate", "aht_s") == {
        "service_level": 50.0,
        "asa_s": 11.5,
        "abandon_rate": 0.0,
        "aht_s": 145.0,
    }
    presales = day[("presales", "00:00")]
    # C8 left presales by overflow: not offered there, counted once (in general)
    assert pick(presales, "offered", "overflowed_out", "service_level", "asa_s") == {
        "offered": 0,
        "overflowed_out": 1,
        "service_level": None,
        "asa_s": None,
    }


@pytest.mark.usefixtures("scripted_day")
def test_queue_figures_by_interval_attribute_each_call_to_its_arrival(
    boss: FlaskClient,
) -> None:
    quarter = rows(boss, "queues", "15")
    assert sorted(k for k in quarter if k[0] == "general") == [
        ("general", "09:00"),
        ("general", "09:15"),
        ("general", "10:00"),
        ("general", "19:45"),
    ]
    # 09:00-09:15: C1 (10 s), C2 (30 s), C3 (short): SL 1 / 2 = 50 %, ASA (10 + 30) / 2 = 20 s,
    # abandon rate 0 / (3 - 1) = 0 %, AHT = (210 + 300) / 2 = 255 s
    assert pick(
        quarter[("general", "09:00")], "offered", "service_level", "asa_s", "abandon_rate", "aht_s"
    ) == {
        "offered": 3,
        "service_level": 50.0,
        "asa_s": 20.0,
        "abandon_rate": 0.0,
        "aht_s": 255.0,
    }
    # 09:15-09:30: C5 (45 s), C6 (12 s), C7 (callback, answered 09:40 but offered here):
    # SL 0 / 2 = 0 %, abandons within T met: 1 / 2 = 50 %, abandon rate 2 / 3 = 66.7 %,
    # AHT of C7 = 300 + 30 = 330 s; no answered call: ASA and SL of answered are empty
    assert pick(
        quarter[("general", "09:15")],
        "offered",
        "service_level",
        "service_level_abandons_met",
        "service_level_of_answered",
        "asa_s",
        "abandon_rate",
        "aht_s",
    ) == {
        "offered": 3,
        "service_level": 0.0,
        "service_level_abandons_met": 50.0,
        "service_level_of_answered": None,
        "asa_s": None,
        "abandon_rate": 66.7,
        "aht_s": 330.0,
    }
    hour = rows(boss, "queues", "60")
    # 09:00-10:00: C1 C2 C3 C5 C6 C7: SL 1 / (2 + 2) = 25 %, of answered 1 / 2 = 50 %,
    # abandons met (1 + 1) / 4 = 50 %, abandon rate 2 / (6 - 1) = 40 %,
    # AHT (210 + 300 + 330) / 3 = 280 s
    assert pick(
        hour[("general", "09:00")],
        "offered",
        "service_level",
        "service_level_of_answered",
        "service_level_abandons_met",
        "abandon_rate",
        "aht_s",
    ) == {
        "offered": 6,
        "service_level": 25.0,
        "service_level_of_answered": 50.0,
        "service_level_abandons_met": 50.0,
        "abandon_rate": 40.0,
        "aht_s": 280.0,
    }
    # 10:00-11:00: C8 (320 s) and C10 (pending callback): SL 0 / 1, abandon rate 0 / 2
    assert pick(
        hour[("general", "10:00")],
        "offered",
        "answered",
        "callbacks",
        "service_level",
        "asa_s",
        "abandon_rate",
        "aht_s",
    ) == {
        "offered": 2,
        "answered": 1,
        "callbacks": 1,
        "service_level": 0.0,
        "asa_s": 320.0,
        "abandon_rate": 0.0,
        "aht_s": 150.0,
    }
    # 19:00-20:00: C11 waited 30 s > T so far (a miss already), C12 10 s (undecided):
    # SL 0 / 1; nothing has ended, so no abandon rate
    assert pick(
        hour[("general", "19:00")],
        "offered",
        "waiting",
        "waiting_past_threshold",
        "service_level",
        "abandon_rate",
    ) == {
        "offered": 2,
        "waiting": 2,
        "waiting_past_threshold": 1,
        "service_level": 0.0,
        "abandon_rate": None,
    }
    half = rows(boss, "queues", "30")
    assert half[("vip", "09:00")]["offered"] == 1 and half[("vip", "10:00")]["offered"] == 1


AGENT_FIELDS = (
    "answered",
    "callbacks_connected",
    "handled",
    "missed",
    "aht_s",
    "talk_s",
    "wrap_s",
    "available_s",
    "busy_s",
    "break_s",
    "staffed_s",
    "occupancy",
)


@pytest.mark.usefixtures("scripted_day")
def test_agent_and_team_figures_equal_the_hand_count(boss: FlaskClient) -> None:
    day = rows(boss, "agents")
    assert {k[0] for k in day} == {"li.na", "wang.wei", "zhao.lei"}
    # li.na: C1 and C4; talk 180 + 120, wrap 30 + 30, AHT 360 / 2 = 180 s.
    # staffed 08:55-09:30 = 2100 s; busy = reserved 5 + 5, on call 300, wrap 60 = 370 s;
    # occupancy 370 / 2100 = 17.6 %
    assert pick(day[("li.na", "00:00")], *AGENT_FIELDS) == {
        "answered": 2,
        "callbacks_connected": 0,
        "handled": 2,
        "missed": 0,
        "aht_s": 180.0,
        "talk_s": 300.0,
        "wrap_s": 60.0,
        "available_s": 1730.0,
        "busy_s": 370.0,
        "break_s": 0.0,
        "staffed_s": 2100.0,
        "occupancy": 17.6,
    }
    # wang.wei: C2 and the C7 callback; talk 240 + 300, wrap 60 + 30: AHT 630 / 2 = 315 s.
    # 09:00-10:00 less the missed break (50 s) = 3550 s staffed; busy = reserved 3 × 5,
    # on call 540, wrap 90 = 645 s; occupancy 645 / 3550 = 18.2 %
    assert pick(day[("wang.wei", "00:00")], *AGENT_FIELDS) == {
        "answered": 1,
        "callbacks_connected": 1,
        "handled": 2,
        "missed": 1,
        "aht_s": 315.0,
        "talk_s": 540.0,
        "wrap_s": 90.0,
        "available_s": 2905.0,
        "busy_s": 645.0,
        "break_s": 50.0,
        "staffed_s": 3550.0,
        "occupancy": 18.2,
    }
    # zhao.lei: C8 and C9; talk 120 + 120, wrap 30 + 20 (C9's ends when lunch starts): AHT 145 s.
    # staffed 10:00-10:12:35 (755 s) + 11:00-12:00 (3600 s) = 4355 s; lunch 2845 s;
    # busy = 10 + 240 + 50 = 300 s; occupancy 300 / 4355 = 6.9 %
    assert pick(day[("zhao.lei", "00:00")], *AGENT_FIELDS) == {
        "answered": 2,
        "callbacks_connected": 0,
        "handled": 2,
        "missed": 0,
        "aht_s": 145.0,
        "talk_s": 240.0,
        "wrap_s": 50.0,
        "available_s": 4055.0,
        "busy_s": 300.0,
        "break_s": 2845.0,
        "staffed_s": 4355.0,
        "occupancy": 6.9,
    }
    hour = rows(boss, "agents", "60")
    # li.na 08:55-09:00 staffed 300 s, idle; 09:00-09:30 staffed 1800 s, busy 370 s = 20.6 %
    assert pick(hour[("li.na", "08:00")], "staffed_s", "busy_s", "occupancy", "answered") == {
        "staffed_s": 300.0,
        "busy_s": 0.0,
        "occupancy": 0.0,
        "answered": 0,
    }
    assert pick(hour[("li.na", "09:00")], "staffed_s", "busy_s", "occupancy", "answered") == {
        "staffed_s": 1800.0,
        "busy_s": 370.0,
        "occupancy": 20.6,
        "answered": 2,
    }
    teams = rows(boss, "teams")
    # front-a = li.na + wang.wei: handled 4, AHT (360 + 630) / 4 = 247.5 s;
    # occupancy (370 + 645) / (2100 + 3550) = 1015 / 5650 = 18.0 %
    assert pick(
        teams[("front-a", "00:00")],
        "answered",
        "callbacks_connected",
        "handled",
        "missed",
        "aht_s",
        "busy_s",
        "staffed_s",
        "occupancy",
    ) == {
        "answered": 3,
        "callbacks_connected": 1,
        "handled": 4,
        "missed": 1,
        "aht_s": 247.5,
        "busy_s": 1015.0,
        "staffed_s": 5650.0,
        "occupancy": 18.0,
    }
    assert pick(teams[("front-b", "00:00")], "handled", "aht_s", "occupancy") == {
        "handled": 2,
        "aht_s": 145.0,
        "occupancy": 6.9,
    }


@pytest.mark.usefixtures("scripted_day")
def test_csv_exports_carry_the_same_figures(boss: FlaskClient) -> None:
    queues = {r["queue"]: r for r in csv_rows(boss, "queues")}
    assert pick(
        queues["general"],
        "offered",
        "short_abandons",
        "service_level",
        "asa_s",
        "abandon_rate",
        "aht_s",
    ) == {
        "offered": "10",
        "short_abandons": "1",
        "service_level": "16.7",
        "asa_s": "120.0",
        "abandon_rate": "28.6",
        "aht_s": "247.5",
    }
    assert queues["presales"]["service_level"] == ""  # no figure, not zero
    agents = {r["agent"]: r for r in csv_rows(boss, "agents")}
    assert agents["wang.wei"]["occupancy"] == "18.2" and agents["wang.wei"]["missed"] == "1"
    teams = {r["team"]: r for r in csv_rows(boss, "teams")}
    assert teams["front-a"]["aht_s"] == "247.5"
    same = boss.get("/reports/api/queues?date=2026-11-24&format=csv")
    assert same.mimetype == "text/csv" and "16.7" in same.get_data(as_text=True)


@pytest.mark.usefixtures("scripted_day")
def test_short_abandon_threshold_is_a_parameter(boss: FlaskClient) -> None:
    body = boss.get("/reports/api/queues?date=2026-11-24&short_abandon_s=0").get_json()
    general = next(r for r in body["rows"] if r["queue"] == "general")
    # no short abandons: C3 (3 s) becomes an abandon like the others:
    # SL 1 / (3 + 3 + 1) = 14.3 %, abandon rate 3 / (10 - 2) = 37.5 %
    assert pick(general, "short_abandons", "abandoned", "service_level", "abandon_rate") == {
        "short_abandons": 0,
        "abandoned": 3,
        "service_level": 14.3,
        "abandon_rate": 37.5,
    }


@pytest.mark.usefixtures("scripted_day")
def test_the_page_shows_the_three_tables(boss: FlaskClient) -> None:
    page = boss.get("/reports/?date=2026-11-24&interval=60").get_data(as_text=True)
    for text in ("队列 Queues", "坐席 Agents", "班组 Teams", "wang.wei", "front-a"):
        assert text in page, text
    assert "25.0" in page  # general 09:00-10:00 service level


@pytest.mark.parametrize(
    "query", ["date=2026-13-01", "interval=45", "short_abandon_s=-1", "short_abandon_s=99"]
)
def test_bad_parameters_are_refused(boss: FlaskClient, query: str) -> None:
    response = boss.get(f"/reports/api/queues?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad-request"


def test_empty_day_has_no_rows_and_a_csv_header(app: Flask, boss: FlaskClient) -> None:
    assert boss.get("/reports/api/queues?date=2026-11-20").get_json()["rows"] == []
    text = boss.get("/reports/api/agents.csv?date=2026-11-20").get_data(as_text=True)
    assert text.startswith("agent,interval_start,interval_end,answered,")


@pytest.mark.usefixtures("scripted_day")
def test_a_team_lead_reads_only_their_own_teams_agent_and_team_rows(
    staff_client: Callable[..., FlaskClient],
    session_factory: sessionmaker[Session],
    boss: FlaskClient,
) -> None:
    """config/permissions.toml: reports.read is `team` for team leads; queues stay centre-wide."""
    lead = staff_client("he.jing", Role.TEAM_LEAD)
    with session_factory.begin() as s:
        s.execute(update(Agent).where(Agent.login == "he.jing").values(team="front-b"))
    assert {k[0] for k in rows(lead, "agents")} == {"zhao.lei"}
    assert {k[0] for k in rows(lead, "teams")} == {"front-b"}
    assert [r["agent"] for r in csv_rows(lead, "agents")] == ["zhao.lei"]
    assert rows(lead, "queues") == rows(boss, "queues")
    assert (
        rows(lead, "agents")[("zhao.lei", "00:00")] == rows(boss, "agents")[("zhao.lei", "00:00")]
    )
