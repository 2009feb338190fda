"""Queue entries on the database and the Redis waiting list: enqueue, leave, hold turns, rebuild."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.commands.queues import queues_rebuild
from config.settings import DEFAULT_QUEUES
from core.calls import upsert_call
from core.models import Call
from queues.config import HoldSettings, load_queues
from queues.models import AgentState, QueuedCall, QueuedCallStatus
from queues.routing import QueueRoute
from queues.services import (
    HoldTurn,
    add_waiting,
    enqueue_call,
    hold_turn,
    leave_queue,
    rebuild_waiting_list,
    waiting_caller,
)
from queues.waiting import WaitingList
from tests.builders import add_agent
from tests.conftest import NOW, new_call_sid

GENERAL = QueueRoute("general", "general")
HOLD = HoldSettings(
    music="calm",
    announce_every_s=60,
    announce_position=True,
    announce_wait=True,
    comfort_every_s=30,
)


@pytest.fixture
def make_call(session: Session) -> Callable[[], Call]:
    def make() -> Call:
        call, _ = upsert_call(
            session,
            new_call_sid(),
            direction="inbound",
            from_number="+8613800138000",
            to_number="+864008001234",
            now=NOW,
        )
        return call

    return make


@pytest.fixture
def waiting(redis: Redis) -> WaitingList:
    return WaitingList(redis, "cc:", load_queues(DEFAULT_QUEUES).priority)


def enqueue(session: Session, call: Call, route: QueueRoute = GENERAL, **kw: object) -> QueuedCall:
    values: dict[str, object] = {"language": "zh", "tier": None, "vip": False, "now": NOW} | kw
    return enqueue_call(session, call, route, **values)  # type: ignore[arg-type]


def test_enqueue_records_the_entry_once_while_it_waits(
    session: Session, make_call: Callable[[], Call]
) -> None:
    call = make_call()
    first = enqueue(session, call, QueueRoute("complaints", "complaints", 10), tier="vip", vip=True)
    again = enqueue(
        session, call, QueueRoute("complaints", "complaints", 10), now=NOW + timedelta(seconds=3)
    )
    assert again.id == first.id
    assert session.scalar(select(func.count()).select_from(QueuedCall)) == 1
    assert (first.status, first.tier, first.route_priority, first.vip, first.enqueued_at) == (
        QueuedCallStatus.WAITING,
        "vip",
        10,
        True,
        NOW,
    )


def test_an_unidentified_caller_waits_as_a_new_customer_and_may_wait_in_two_queues(
    session: Session, make_call: Callable[[], Call]
) -> None:
    call = make_call()
    general = enqueue(session, call)
    english = enqueue(session, call, QueueRoute("english", "general"), language="en")
    assert general.tier == "new" and general.id != english.id


def test_the_same_queue_again_after_leaving_is_a_new_entry(
    session: Session, make_call: Callable[[], Call]
) -> None:
    call = make_call()
    first = enqueue(session, call)
    leave_queue(session, call.sid, "general", result="leave", now=NOW + timedelta(seconds=9))
    second = enqueue(session, call, now=NOW + timedelta(seconds=20))
    assert second.id != first.id and second.status is QueuedCallStatus.WAITING


@pytest.mark.parametrize(
    ("result", "status"),
    [
        ("hangup", QueuedCallStatus.ABANDONED),
        ("bridged", QueuedCallStatus.CONNECTED),
        ("bridging-in-process", QueuedCallStatus.CONNECTED),
        ("leave", QueuedCallStatus.VOICEMAIL),
        ("queue-full", QueuedCallStatus.VOICEMAIL),
        ("system-error", QueuedCallStatus.VOICEMAIL),
    ],
)
def test_leaving_maps_twilios_queue_result(
    session: Session, make_call: Callable[[], Call], result: str, status: QueuedCallStatus
) -> None:
    call = make_call()
    enqueue(session, call)
    entry = leave_queue(session, call.sid, "general", result=result, now=NOW + timedelta(seconds=5))
    assert entry is not None
    assert (entry.status, entry.reason, entry.left_at) == (
        status,
        result,
        NOW + timedelta(seconds=5),
    )


def test_an_abandoned_call_keeps_its_wait_and_a_repeated_callback_changes_nothing(
    session: Session, make_call: Callable[[], Call]
) -> None:
    call = make_call()
    enqueue(session, call)
    left = leave_queue(
        session, call.sid, "general", result="hangup", now=NOW + timedelta(seconds=83)
    )
    assert left is not None and (left.status, left.wait_s) == (QueuedCallStatus.ABANDONED, 83)
    again = leave_queue(
        session, call.sid, "general", result="bridged", now=NOW + timedelta(seconds=99), waited_s=99
    )
    assert again is not None and again.id == left.id
    assert (again.status, again.wait_s, again.left_at) == (
        QueuedCallStatus.ABANDONED,
        83,
        NOW + timedelta(seconds=83),
    )


def test_twilios_queue_time_is_the_wait_when_given(
    session: Session, make_call: Callable[[], Call]
) -> None:
    call = make_call()
    enqueue(session, call)
    left = leave_queue(session, call.sid, "general", result="hangup", now=NOW, waited_s=41)
    assert left is not None and left.wait_s == 41


def test_leaving_a_queue_the_call_never_joined_records_nothing(
    session: Session, make_call: Callable[[], Call]
) -> None:
    call = make_call()
    assert leave_queue(session, call.sid, "general", result="hangup", now=NOW) is None


@pytest.mark.parametrize(
    ("queue_time", "announced", "comforted", "expected"),
    [
        (0, None, None, HoldTurn(greet=True, announce=True, comfort=False)),
        (29, 0, None, HoldTurn(greet=False, announce=False, comfort=False)),
        (31, 0, None, HoldTurn(greet=False, announce=False, comfort=True)),
        (45, 0, 31, HoldTurn(greet=False, announce=False, comfort=False)),
        (62, 0, 31, HoldTurn(greet=False, announce=True, comfort=False)),
        (95, 62, 31, HoldTurn(greet=False, announce=False, comfort=True)),
        (400, 62, 95, HoldTurn(greet=False, announce=True, comfort=False)),
    ],
)
def test_hold_turn_spaces_announcements_and_comfort_messages(
    queue_time: int, announced: int | None, comforted: int | None, expected: HoldTurn
) -> None:
    assert (
        hold_turn(queue_time, HOLD, announced_at_s=announced, comforted_at_s=comforted) == expected
    )


def test_hold_turn_without_announcements_only_comforts() -> None:
    quiet = HoldSettings(
        "calm", 60, announce_position=False, announce_wait=False, comfort_every_s=30
    )
    assert hold_turn(0, quiet) == HoldTurn(greet=True, announce=False, comfort=False)
    assert hold_turn(30, quiet, comforted_at_s=0) == HoldTurn(False, False, True)


def _queue_some_callers(
    session: Session, make_call: Callable[[], Call], waiting: WaitingList
) -> list[QueuedCall]:
    entries = [
        enqueue(session, make_call(), now=NOW + timedelta(seconds=10 * i), tier=tier, vip=vip)
        for i, (tier, vip) in enumerate(
            [(None, False), ("returning", False), ("vip", True), (None, False), ("vip", True)]
        )
    ]
    entries.append(enqueue(session, make_call(), QueueRoute("complaints", "complaints", 10)))
    for entry in entries:
        add_waiting(waiting, waiting_caller(entry))
    return entries


def _positions(waiting: WaitingList, entries: list[QueuedCall]) -> dict[int, int | None]:
    return {e.id: waiting.position(str(e.id)) for e in entries}


def test_rebuild_after_redis_lost_everything_keeps_every_callers_place(
    session: Session, make_call: Callable[[], Call], waiting: WaitingList, redis: Redis
) -> None:
    entries = _queue_some_callers(session, make_call, waiting)
    leave_queue(session, entries[1].call_sid, "general", result="hangup", now=NOW)
    waiting.remove(str(entries[1].id))
    agent = add_agent(session, "li.na", display_name="李娜")
    agent.state = AgentState.AVAILABLE
    session.flush()
    before = _positions(waiting, entries)
    order = [c.entry_id for c in waiting.snapshot("general")]
    assert sorted(p for p in before.values() if p) == [1, 1, 2, 3, 4]
    redis.flushdb()
    assert set(_positions(waiting, entries).values()) == {None}

    rebuilt = rebuild_waiting_list(session, waiting)

    assert (rebuilt.callers, rebuilt.agents) == (5, 1)
    assert _positions(waiting, entries) == before
    assert [c.entry_id for c in waiting.snapshot("general")] == order
    (available,) = waiting.available_agents()
    assert available.agent_id == str(agent.id) and available.languages == {"zh"}


def test_queues_rebuild_command_restores_the_waiting_list(
    app: Flask, session: Session, make_call: Callable[[], Call], redis: Redis
) -> None:
    waiting: WaitingList = app.extensions["callcenter"].waiting_list
    entries = _queue_some_callers(session, make_call, waiting)
    before = _positions(waiting, entries)
    redis.flushdb()
    result = app.test_cli_runner().invoke(queues_rebuild)
    assert result.exit_code == 0, result.output
    assert "6 waiting callers, 0 available agents" in result.output
    assert _positions(waiting, entries) == before


def test_queued_call_timestamps_are_aware(session: Session, make_call: Callable[[], Call]) -> None:
    entry = enqueue(session, make_call())
    session.expire_all()
    stored = session.get(QueuedCall, entry.id)
    assert stored is not None and isinstance(stored.enqueued_at, datetime)
    assert stored.enqueued_at.utcoffset() == timedelta(0)


def test_recent_handle_times_are_talk_plus_saved_wrap_up_of_the_queue_s_recent_calls(
    session: Session, make_call: Callable[[], Call]
) -> None:
    from queues.services import recent_handle_times

    def handled(queue: str, talk_s: int, wrap_s: int | None, ended_ago_min: int) -> None:
        entry = enqueue(session, make_call(), QueueRoute(queue, queue))
        ended = NOW - timedelta(minutes=ended_ago_min)
        entry.status = QueuedCallStatus.CONNECTED
        entry.answered_at = ended - timedelta(seconds=talk_s)
        entry.talk_ended_at = ended
        entry.wrapped_up_at = None if wrap_s is None else ended + timedelta(seconds=wrap_s)
        session.flush()

    handled("general", 200, 40, 5)
    handled("general", 100, None, 10)  # wrap-up never saved: talk only
    handled("general", 300, 0, 180)  # too long ago
    handled("orders", 999, 0, 1)  # another queue
    assert sorted(recent_handle_times(session, "general", now=NOW)) == [100.0, 240.0]
