"""Queue callbacks made by the outbound engine, through the local phone network.

A caller asks to be called back from the hold loop; their entry waits off the line
(`scheduled`), goes back on the waiting list in its place once the call has ended and the task
is due (`callback`), and the router hands it to the engine when an agent is free. Checked here:
retries after the backoff and failure after the last attempt, an answer on a later attempt,
calling hours, the do-not-call list, the callback's place in line, and the agent's presence
while they work a callback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.commands.middle_office import middle_office_group
from callcenter.runtime import Runtime
from callcenter.seed import DEMO_RETURNING_PHONE, DEMO_VIP_HOME_PHONE, DEMO_VIP_PHONE
from outbound.models import AttemptStatus, OutboundTask, TaskStatus
from phone_network.calls import Call as NetworkCall
from phone_network.parties import Answering
from queues.models import AgentEvent, AgentState, QueuedCall, QueuedCallStatus
from tests.centre import Centre, running_centre

pytestmark = pytest.mark.slow

S = QueuedCallStatus
ASK_FOR_CALLBACK = ("press 1", "press 0", "press 1", "press 1")  # general queue, 1, confirm
#: An agent who answers their leg and stays until the engine or the customer ends the call.
STAYS = Answering(after=2, talk=None, max_hold=3600)
#: An agent who hangs up 30 s into a talk (a caller from the hold loop stays until then).
TALKS = Answering(after=2, talk=30, max_hold=3600)
NO_ANSWER = Answering(mode="no-answer")
ANSWERS = Answering(after=3, talk=20, max_hold=3600)
OTHER_NUMBER = "+8613912345678"

Factory = sessionmaker[Session]
MakeRuntime = Callable[..., Runtime]


@pytest.fixture
def centre(
    live_session_factory: Factory, make_runtime: MakeRuntime, redis: object
) -> Iterator[Centre]:
    with running_centre(live_session_factory, make_runtime) as c:
        yield c


# --- helpers ---------------------------------------------------------------------------------


def entry_of(centre: Centre, leg: NetworkCall) -> QueuedCall:
    (entry,) = centre.entries(leg)
    return entry


def reload(centre: Centre, entry_id: int) -> QueuedCall:
    with centre.factory() as s:
        entry = s.get(QueuedCall, entry_id)
        assert entry is not None
        return entry


def task_of(centre: Centre, entry_id: int) -> OutboundTask | None:
    with centre.factory() as s:
        task = s.scalar(
            select(OutboundTask).where(
                OutboundTask.subject_type == "queue_entry", OutboundTask.subject_id == entry_id
            )
        )
        if task is not None:
            task.attempt_rows  # noqa: B018  (loaded while the session is open)
        return task


def all_tasks(centre: Centre) -> list[OutboundTask]:
    with centre.factory() as s:
        return list(s.scalars(select(OutboundTask)))


def dialled(centre: Centre, number: str) -> list[NetworkCall]:
    """Legs the centre placed to `number`, oldest first (the caller's own inbound call is not
    one of them)."""
    legs = [c for c in centre.network.calls() if c.to == number and c.direction != "inbound"]
    return sorted(legs, key=lambda c: c.created_at)


def agent_legs(centre: Centre, agent_id: int) -> list[NetworkCall]:
    return dialled(centre, f"client:{centre.agent_row(agent_id).client_identity}")


def agent_events(centre: Centre, agent_id: int) -> list[AgentEvent]:
    with centre.factory() as s:
        return list(
            s.scalars(
                select(AgentEvent).where(AgentEvent.agent_id == agent_id).order_by(AgentEvent.id)
            )
        )


def quiet(centre: Centre) -> bool:
    """No leg of the network is still up."""
    return not any(c.live for c in centre.network.calls())


def do_not_call(centre: Centre, number: str) -> None:
    result = centre.app.test_cli_runner().invoke(
        middle_office_group, ["dnc-add", number, "--reason", "asked not to be called"]
    )
    assert result.exit_code == 0, result.output


def book_callback(centre: Centre, phone: str = DEMO_VIP_PHONE) -> QueuedCall:
    """A caller asks to be called back on their own number and hangs up after the goodbye.

    Nobody must be available (the router would connect the caller before they press 1)."""
    leg = centre.call(phone, *ASK_FOR_CALLBACK)
    leg.wait(timeout=60)
    entry = entry_of(centre, leg)
    assert entry.callback_to == phone, entry
    return entry


# --- retries ---------------------------------------------------------------------------------


def test_an_unanswered_callback_is_retried_after_the_backoff_then_abandoned(
    live_session_factory: Factory, make_runtime: MakeRuntime, redis: object
) -> None:
    with running_centre(
        live_session_factory, make_runtime, outbound_backoff_s="60", outbound_max_attempts=2
    ) as centre:
        centre.network.add_endpoint(DEMO_VIP_PHONE, NO_ANSWER)
        agent = centre.agent("li.na", answering=STAYS, available=False)
        entry = book_callback(centre)
        assert entry.status is S.CALLBACK  # the caller's call has ended: back in line
        centre.set_state(agent, AgentState.AVAILABLE)

        # First attempt: the agent answers, the customer does not. Without the router's tick
        # nothing moves on afterwards (the wrap-up does not end, nothing is released).
        def first_over() -> bool:
            task = task_of(centre, entry.id)
            return (
                task is not None
                and task.attempts == 1
                and task.status is TaskStatus.PENDING
                and centre.agent_row(agent).state is AgentState.WRAP_UP
                and quiet(centre)
            )

        centre.wait_for(first_over, timeout=60)
        task = task_of(centre, entry.id)
        assert task is not None
        (first,) = task.attempt_rows
        assert first.status is AttemptStatus.ENDED and first.outcome == "no_answer"
        assert first.customer_status == "no-answer" and first.ended_at is not None
        assert task.last_outcome == "no_answer"
        assert task.next_attempt_at == first.ended_at + timedelta(seconds=60)
        entry = reload(centre, entry.id)
        assert entry.status is S.SCHEDULED, entry
        assert entry.agent_id is None and entry.assigned_at is None
        assert entry.agent_call_sid is None
        assert centre.runtime.waiting_list.position(str(entry.id)) is None  # off the list
        assert len(dialled(centre, DEMO_VIP_PHONE)) == 1

        # The tick ends the wrap-up, releases the callback when it is due, and the router
        # gives it to the agent again: the second attempt, unanswered too, is the last.
        with centre.timer():
            centre.wait_for(
                lambda: task_of(centre, entry.id).status is TaskStatus.FAILED,  # type: ignore[union-attr]
                timeout=60,
            )
            centre.wait_for(lambda: quiet(centre), timeout=30)

        task = task_of(centre, entry.id)
        assert task is not None and task.attempts == 2 and task.last_outcome == "no_answer"
        first, second = task.attempt_rows
        assert second.outcome == "no_answer" and second.customer_status == "no-answer"
        entry = reload(centre, entry.id)
        assert entry.status is S.ABANDONED, entry
        assert entry.reason is not None and entry.reason.startswith("callback_"), entry.reason
        assert entry.left_at is not None and entry.answered_at is None
        assert centre.runtime.waiting_list.position(str(entry.id)) is None

        back = dialled(centre, DEMO_VIP_PHONE)
        assert len(back) == 2, back
        assert {c.sid for c in back} == {first.customer_call_sid, second.customer_call_sid}
        assert all(c.status == "no-answer" for c in back)
        # Not dialled again before the backoff had passed.
        assert back[1].created_at >= task.next_attempt_at
        assert back[1].created_at >= first.ended_at + timedelta(seconds=60)  # type: ignore[operator]

        # The agent: reserved for the callback, on call, wrap-up, each time; nothing else was
        # offered to them (only the two attempts' legs rang at their desk).
        events = agent_events(centre, agent)
        states = [e.to_state.value for e in events]
        assert states[:2] == ["offline", "available"]
        assert states[2:9] == [
            "reserved",
            "on_call",
            "wrap_up",
            "available",
            "reserved",
            "on_call",
            "wrap_up",
        ], states
        assert states[9:] in ([], ["available"]), states
        assert all(
            e.call_sid == entry.call_sid for e in events if e.to_state is AgentState.RESERVED
        )
        legs = agent_legs(centre, agent)
        assert [c.sid for c in legs] == [first.agent_call_sid, second.agent_call_sid]
        assert {first.agent_id, second.agent_id} == {agent}


def test_a_callback_answered_on_the_second_attempt_is_connected(
    live_session_factory: Factory, make_runtime: MakeRuntime, redis: object
) -> None:
    with running_centre(
        live_session_factory, make_runtime, outbound_backoff_s="60", outbound_max_attempts=3
    ) as centre:
        centre.network.add_endpoint(DEMO_VIP_PHONE, NO_ANSWER)
        agent = centre.agent("li.na", answering=STAYS, available=False)
        entry = book_callback(centre)
        centre.set_state(agent, AgentState.AVAILABLE)

        def first_over() -> bool:
            task = task_of(centre, entry.id)
            return (
                task is not None
                and task.attempts == 1
                and task.status is TaskStatus.PENDING
                and quiet(centre)
            )

        centre.wait_for(first_over, timeout=60)
        assert reload(centre, entry.id).status is S.SCHEDULED
        centre.network.add_endpoint(DEMO_VIP_PHONE, ANSWERS)  # picks up next time

        with centre.timer():
            centre.wait_for(
                lambda: reload(centre, entry.id).talk_ended_at is not None,
                timeout=60,
            )
            centre.wait_for(lambda: quiet(centre), timeout=30)

        entry = reload(centre, entry.id)
        assert entry.status is S.CONNECTED and entry.agent_id == agent, entry
        assert entry.answered_at is not None and entry.talk_ended_at is not None
        assert entry.answered_at < entry.talk_ended_at
        task = task_of(centre, entry.id)
        assert task is not None and task.status is TaskStatus.DONE and task.attempts == 2
        first, second = task.attempt_rows
        assert first.outcome == "no_answer"
        assert second.outcome == "reached_resolved" and second.status is AttemptStatus.ENDED
        assert entry.agent_call_sid == second.agent_call_sid
        back = dialled(centre, DEMO_VIP_PHONE)
        assert [c.sid for c in back] == [first.customer_call_sid, second.customer_call_sid]
        assert [c.status for c in back] == ["no-answer", "completed"]
        assert back[1].created_at >= first.ended_at + timedelta(seconds=60)  # type: ignore[operator]
        heard = [e.args[0] for e in back[1].transcript() if e.kind == "say"]
        assert heard[0].startswith("您好，这里是银泰客服，您之前请求了回电"), heard
        assert "conference" in " ".join(e.kind for e in back[1].transcript())


def test_an_agent_who_misses_the_callback_leg_is_on_break_and_another_makes_it(
    centre: Centre,
) -> None:
    centre.network.add_endpoint(DEMO_VIP_PHONE, ANSWERS)
    sleepy = centre.agent("sleepy", answering=NO_ANSWER, available=False)
    awake = centre.agent("awake", answering=STAYS, available=False)
    entry = book_callback(centre)
    centre.set_state(sleepy, AgentState.AVAILABLE)

    def missed() -> bool:
        task = task_of(centre, entry.id)
        return (
            task is not None
            and task.status is TaskStatus.PENDING
            and len(task.attempt_rows) == 1
            and centre.agent_row(sleepy).state is AgentState.BREAK
            and quiet(centre)
        )

    centre.wait_for(missed, timeout=60)
    assert centre.agent_row(sleepy).state_reason == "missed"
    task = task_of(centre, entry.id)
    assert task is not None
    (first,) = task.attempt_rows
    assert first.outcome == "agent_unreachable" and first.customer_call_sid is None
    assert task.attempts == 0  # the customer was not dialled: not counted
    assert task.next_attempt_at == first.ended_at + timedelta(minutes=1)  # type: ignore[operator]
    assert reload(centre, entry.id).status is S.SCHEDULED
    assert dialled(centre, DEMO_VIP_PHONE) == []

    centre.set_state(awake, AgentState.AVAILABLE)
    with centre.timer():
        centre.wait_for(lambda: reload(centre, entry.id).talk_ended_at is not None, timeout=60)
        centre.wait_for(lambda: quiet(centre), timeout=30)
    entry = reload(centre, entry.id)
    assert entry.status is S.CONNECTED and entry.agent_id == awake, entry
    task = task_of(centre, entry.id)
    assert task is not None and task.status is TaskStatus.DONE and task.attempts == 1
    assert [a.agent_id for a in task.attempt_rows] == [sleepy, awake]
    assert len(dialled(centre, DEMO_VIP_PHONE)) == 1
    assert [s for s, _ in centre.agent_states(sleepy)] == [
        "offline",
        "available",
        "reserved",
        "break",
    ]


# --- calling hours ---------------------------------------------------------------------------


def test_a_callback_booked_after_calling_hours_waits_for_the_morning(
    live_session_factory: Factory, make_runtime: MakeRuntime, redis: object
) -> None:
    start = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 21:00 in Shanghai: calls have ended
    with running_centre(
        live_session_factory,
        make_runtime,
        start=start,
        business_hours="mon-sun 00:00-24:00",  # the hotline itself is open
    ) as centre:
        centre.network.add_endpoint(DEMO_VIP_PHONE, ANSWERS)
        agent = centre.agent("li.na", answering=STAYS, available=False)
        entry = book_callback(centre)
        centre.set_state(agent, AgentState.AVAILABLE)  # someone could call now
        morning = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai

        with centre.timer():
            later = centre.clock.now() + timedelta(seconds=20)
            centre.wait_for(lambda: centre.clock.now() >= later, timeout=30)

        entry = reload(centre, entry.id)
        assert entry.status is S.SCHEDULED, entry
        assert centre.runtime.waiting_list.position(str(entry.id)) is None
        task = task_of(centre, entry.id)
        assert task is not None and task.status is TaskStatus.PENDING
        assert task.timezone == "Asia/Shanghai"
        assert task.next_attempt_at == morning
        assert task.attempts == 0 and task.attempt_rows == []
        assert dialled(centre, DEMO_VIP_PHONE) == []
        assert agent_legs(centre, agent) == []
        states = [s for s, _ in centre.agent_states(agent)]
        assert states == ["offline", "available"], states  # never reserved for it


def test_a_callback_due_before_closing_but_reached_after_it_waits_for_the_morning(
    live_session_factory: Factory, make_runtime: MakeRuntime, redis: object
) -> None:
    start = datetime(2026, 11, 23, 12, 59, tzinfo=UTC)  # 20:59 in Shanghai
    closing = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    with running_centre(
        live_session_factory, make_runtime, start=start, business_hours="mon-sun 00:00-24:00"
    ) as centre:
        centre.network.add_endpoint(DEMO_VIP_PHONE, ANSWERS)
        agent = centre.agent("li.na", answering=STAYS, available=False)
        entry = book_callback(centre)
        task = task_of(centre, entry.id)
        assert task is not None and task.next_attempt_at < closing  # due at once
        assert entry.status is S.CALLBACK  # back in line, but nobody is free before 21:00
        with centre.timer():
            centre.wait_for(lambda: centre.clock.now() >= closing + timedelta(seconds=5))
        centre.set_state(agent, AgentState.AVAILABLE)  # the router gives them the callback
        centre.wait_for(lambda: reload(centre, entry.id).status is S.SCHEDULED, timeout=30)

        entry = reload(centre, entry.id)
        assert entry.agent_id is None and entry.assigned_at is None
        assert centre.runtime.waiting_list.position(str(entry.id)) is None
        task = task_of(centre, entry.id)
        assert task is not None and task.status is TaskStatus.PENDING
        assert task.next_attempt_at == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
        assert task.attempts == 0 and task.attempt_rows == []
        centre.wait_for(lambda: centre.agent_row(agent).state is AgentState.AVAILABLE)
        states = [s for s, _ in centre.agent_states(agent)]
        assert states == ["offline", "available", "reserved", "available"], states
        assert dialled(centre, DEMO_VIP_PHONE) == []
        assert agent_legs(centre, agent) == []


# --- the do-not-call list --------------------------------------------------------------------


def test_a_caller_on_the_do_not_call_list_is_not_offered_a_callback(centre: Centre) -> None:
    do_not_call(centre, DEMO_VIP_PHONE)
    leg = centre.call(DEMO_VIP_PHONE, *ASK_FOR_CALLBACK, max_hold=60)
    result = leg.wait(timeout=60)
    assert result.hung_up_by == "party"  # the caller gave up holding; we did not hang up on them
    entry = entry_of(centre, leg)
    assert entry.status is S.ABANDONED, entry
    assert entry.callback_to is None and entry.callback_requested_at is None
    assert entry.wait_s is not None and entry.wait_s >= 50  # held on until max_hold
    assert all_tasks(centre) == []
    assert dialled(centre, DEMO_VIP_PHONE) == []
    said = " ".join(e.args[0] for e in leg.transcript() if e.kind == "say")
    assert "您是下一位客户" in said and "保留您的排队位置" not in said  # held, never offered


def test_a_keyed_number_on_the_do_not_call_list_is_refused(centre: Centre) -> None:
    do_not_call(centre, OTHER_NUMBER)
    centre.network.add_endpoint(OTHER_NUMBER, ANSWERS)
    centre.network.add_endpoint(DEMO_VIP_PHONE, ANSWERS)
    # The caller keys the listed number, is asked again, and confirms their own.
    leg = centre.call(
        DEMO_VIP_PHONE, "press 1", "press 0", "press 1", "press 13912345678#", "press 1"
    )
    leg.wait(timeout=60)
    entry = entry_of(centre, leg)
    assert entry.callback_to == DEMO_VIP_PHONE, entry
    assert entry.status is S.CALLBACK
    (task,) = all_tasks(centre)
    assert task.to_number == DEMO_VIP_PHONE and task.status is TaskStatus.PENDING

    # The callback goes to the caller's own number, never to the listed one.
    centre.agent("li.na", answering=STAYS)
    centre.wait_for(lambda: entry_of(centre, leg).talk_ended_at is not None, timeout=60)
    centre.wait_for(lambda: quiet(centre), timeout=30)
    assert entry_of(centre, leg).status is S.CONNECTED
    assert len(dialled(centre, DEMO_VIP_PHONE)) == 1
    assert dialled(centre, OTHER_NUMBER) == []


def blocked_after_booking(centre: Centre) -> tuple[int, QueuedCall, NetworkCall]:
    """A callback back in line (nobody free), a caller waiting behind it, and then the
    callback's number put on the do-not-call list. Returns the agent (unavailable), the
    callback's entry and the leg of the caller behind."""
    centre.network.add_endpoint(DEMO_VIP_PHONE, ANSWERS)
    agent = centre.agent("li.na", answering=TALKS, available=False)
    callback = book_callback(centre)
    assert callback.status is S.CALLBACK  # back in line, waiting for an agent
    behind = centre.call(DEMO_RETURNING_PHONE, "press 1", "press 0", max_hold=900)
    centre.wait_for(lambda: any(e.status is S.WAITING for e in centre.entries(behind)))
    assert centre.runtime.waiting_list.position(str(entry_of(centre, behind).id)) == 2
    do_not_call(centre, DEMO_VIP_PHONE)
    return agent, reload(centre, callback.id), behind


def test_a_number_put_on_the_do_not_call_list_after_booking_is_not_called_back(
    centre: Centre,
) -> None:
    agent, callback, behind = blocked_after_booking(centre)
    assert callback.status is S.ABANDONED and callback.reason == "callback_blocked", callback
    task = task_of(centre, callback.id)
    assert task is not None and task.status is TaskStatus.BLOCKED

    centre.set_state(agent, AgentState.AVAILABLE)
    behind.wait(timeout=60)
    centre.wait_for(lambda: quiet(centre), timeout=30)
    assert entry_of(centre, behind).agent_id == agent
    assert dialled(centre, DEMO_VIP_PHONE) == []
    assert task_of(centre, callback.id).attempt_rows == []  # type: ignore[union-attr]
    assert all(e.call_sid != callback.call_sid for e in agent_events(centre, agent))


def test_a_callback_blocked_after_booking_leaves_the_waiting_list(centre: Centre) -> None:
    _, callback, behind = blocked_after_booking(centre)
    assert callback.status is S.ABANDONED
    assert centre.runtime.waiting_list.position(str(callback.id)) is None
    assert centre.runtime.waiting_list.position(str(entry_of(centre, behind).id)) == 1


# --- the callback's place and the agent's presence -------------------------------------------


def test_a_callback_keeps_its_place_ahead_of_a_later_caller(centre: Centre) -> None:
    centre.network.add_endpoint(DEMO_VIP_PHONE, ANSWERS)
    agent = centre.agent("li.na", answering=TALKS, available=False)
    # The first caller holds for 30 s before asking for a callback; meanwhile the same
    # customer calls again from home and waits (same tier, later arrival).
    first = centre.call(DEMO_VIP_PHONE, "press 1", "press 0", "wait 30", "press 1", "press 1")
    centre.wait_for(lambda: any(e.status is S.WAITING for e in centre.entries(first)))
    later = centre.call(DEMO_VIP_HOME_PHONE, "press 1", "press 0", max_hold=900)
    centre.wait_for(lambda: any(e.status is S.WAITING for e in centre.entries(later)))
    first.wait(timeout=60)
    callback, waiting = entry_of(centre, first), entry_of(centre, later)
    assert callback.status is S.CALLBACK and callback.callback_to == DEMO_VIP_PHONE, callback
    # Booked (and off the line) after the later caller had joined, yet back in its place.
    assert waiting.status is S.WAITING
    assert callback.callback_requested_at > waiting.enqueued_at  # type: ignore[operator]
    assert centre.runtime.waiting_list.position(str(callback.id)) == 1
    assert centre.runtime.waiting_list.position(str(waiting.id)) == 2
    centre.set_state(agent, AgentState.AVAILABLE)

    with centre.timer():  # the wrap-up after the callback ends, then the later caller's turn
        later.wait(timeout=90)
        centre.wait_for(lambda: quiet(centre), timeout=30)

    callback = reload(centre, callback.id)
    waited = entry_of(centre, later)
    assert callback.status is S.CONNECTED and callback.agent_id == agent, callback
    assert waited.status is S.CONNECTED and waited.agent_id == agent, waited
    assert callback.assigned_at is not None and waited.assigned_at is not None
    assert callback.assigned_at < waited.assigned_at
    assert callback.enqueued_at < waited.enqueued_at
    assert callback.tier == waited.tier == "vip"  # only the arrival tells them apart
    # Dialled through the engine: its attempt holds the agent's leg the entry names.
    task = task_of(centre, callback.id)
    assert task is not None and task.status is TaskStatus.DONE
    (attempt,) = task.attempt_rows
    assert attempt.agent_id == agent
    assert attempt.agent_call_sid is not None
    assert attempt.agent_call_sid == callback.agent_call_sid
    assert attempt.customer_call_sid == dialled(centre, DEMO_VIP_PHONE)[0].sid
    assert waited.agent_call_sid not in (None, attempt.agent_call_sid)


def test_an_agent_on_a_callback_is_not_given_a_new_caller(centre: Centre) -> None:
    centre.network.add_endpoint(DEMO_VIP_PHONE, ANSWERS)
    agent = centre.agent("li.na", answering=TALKS, available=False)
    callback = book_callback(centre)
    centre.set_state(agent, AgentState.AVAILABLE)
    centre.wait_for(lambda: centre.agent_row(agent).state is not AgentState.AVAILABLE)
    newcomer = centre.call(DEMO_RETURNING_PHONE, "press 1", "press 0", max_hold=900)
    # Without the tick the wrap-up never ends: the agent stays busy with the callback.
    centre.wait_for(
        lambda: (
            reload(centre, callback.id).talk_ended_at is not None
            and centre.agent_row(agent).state is AgentState.WRAP_UP
        ),
        timeout=60,
    )
    with centre.clock.hold():
        (waiting,) = centre.entries(newcomer)
        assert waiting.status is S.WAITING and waiting.agent_id is None, waiting
        assert waiting.rings == 0 and waiting.assigned_at is None
        assert len(agent_legs(centre, agent)) == 1  # only the callback's leg rang

    with centre.timer():  # the wrap-up ends: now the newcomer gets the agent
        newcomer.wait(timeout=90)
        centre.wait_for(lambda: quiet(centre), timeout=30)

    waiting = entry_of(centre, newcomer)
    assert waiting.status is S.CONNECTED and waiting.agent_id == agent, waiting
    events = agent_events(centre, agent)
    states = [e.to_state.value for e in events]
    assert states[:9] == [
        "offline",
        "available",
        "reserved",
        "on_call",
        "wrap_up",
        "available",
        "reserved",
        "on_call",
        "wrap_up",
    ], states
    assert states[9:] in ([], ["available"]), states
    # The newcomer arrived while the agent was reserved or on call for the callback, and was
    # given to them only once they were available again after its wrap-up.
    reserved, wrap_up, back = events[2], events[4], events[5]
    assert reserved.at <= waiting.enqueued_at < wrap_up.at
    assert back.at <= waiting.assigned_at  # type: ignore[operator]
    assert events[2].call_sid == callback.call_sid
    assert events[6].call_sid == newcomer.sid
