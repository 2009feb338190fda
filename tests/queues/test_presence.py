"""Agent presence: the transition table, compare-and-set changes, wrap-up expiry, the event log."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from core.models import Language
from queues.models import Actor, Agent, AgentEvent, AgentState, Post
from queues.presence import (
    ActorNotAllowed,
    AgentExists,
    AgentInactive,
    AgentNotFound,
    AgentStateConflict,
    InvalidAgent,
    InvalidReason,
    Presence,
    TransitionNotAllowed,
    change_state,
    create_agent,
    decide_change,
    finish_wrap_up_due,
    list_agents,
)

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
S, A = AgentState, Actor
OFF, AV, RES, ON, WU, BRK = S.OFFLINE, S.AVAILABLE, S.RESERVED, S.ON_CALL, S.WRAP_UP, S.BREAK
AG, SY, SU = A.AGENT, A.SYSTEM, A.SUPERVISOR

# The specification, written out independently of queues.presence.TRANSITIONS.
ALLOWED: dict[tuple[AgentState, AgentState], set[Actor]] = {
    (OFF, AV): {AG, SU},
    (OFF, BRK): {AG, SU},
    (AV, RES): {SY},
    (AV, BRK): {AG, SU},
    (AV, OFF): {AG, SU, SY},
    (RES, ON): {SY},
    (RES, AV): {SY},
    (RES, BRK): {SY},
    (ON, WU): {SY},
    (WU, AV): {AG, SU, SY},
    (WU, BRK): {AG, SU},
    (WU, OFF): {AG, SU},
    (BRK, BRK): {AG, SU},
    (BRK, AV): {AG, SU},
    (BRK, OFF): {AG, SU, SY},
}


def snapshot(state: AgentState, *, reason: str | None = None, active: bool = True) -> Presence:
    call = "CA1" if state in (RES, ON, WU) else None
    if state is BRK and reason is None:
        reason = "training"
    return Presence(state=state, reason=reason, call_sid=call, since=NOW, active=active)


def request(to: AgentState, actor: Actor) -> dict[str, Any]:
    """The arguments a well-formed request for `to` carries."""
    reason = ("missed" if actor is SY else "lunch") if to is BRK else None
    return {"reason": reason, "actor": actor, "call_sid": "CA1" if to is RES else None}


CASES = [
    (f, t, a)
    for f, t, a in itertools.product(S, S, A)
    if f is not t or f is BRK  # same state is a no-op, tested below; break→break changes reason
]


@pytest.mark.parametrize(("from_state", "to_state", "actor"), CASES)
def test_transition_table(from_state: AgentState, to_state: AgentState, actor: Actor) -> None:
    current = snapshot(from_state)
    if actor in ALLOWED.get((from_state, to_state), set()):
        change = decide_change(current, to_state, **request(to_state, actor))
        assert change is not None
        assert (change.from_state, change.to_state) == (from_state, to_state)
    elif (from_state, to_state) in ALLOWED:
        with pytest.raises(ActorNotAllowed) as err:
            decide_change(current, to_state, **request(to_state, actor))
        assert err.value.code == "actor-not-allowed"
    else:
        with pytest.raises(TransitionNotAllowed) as err2:
            decide_change(current, to_state, **request(to_state, actor))
        assert err2.value.code == "transition-not-allowed"


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("actor", list(A))
def test_asking_for_the_current_state_is_a_no_op(state: AgentState, actor: Actor) -> None:
    current = snapshot(state, reason="lunch" if state is BRK else None)
    kwargs = request(state, actor) | {"reason": "lunch" if state is BRK else None}
    assert decide_change(current, state, **kwargs) is None


def test_reserving_an_agent_reserved_for_another_call_is_a_conflict() -> None:
    with pytest.raises(AgentStateConflict) as err:
        decide_change(snapshot(RES), RES, reason=None, actor=SY, call_sid="CA2")
    assert err.value.code == "agent-state-conflict" and err.value.details["call_sid"] == "CA1"


def test_answering_another_call_than_the_reserved_one_is_a_conflict() -> None:
    with pytest.raises(AgentStateConflict):
        decide_change(snapshot(RES), ON, reason=None, actor=SY, call_sid="CA2")


def test_call_states_carry_the_call_and_other_states_clear_it() -> None:
    reserve = decide_change(snapshot(AV), RES, reason=None, actor=SY, call_sid="CA9")
    answer = decide_change(snapshot(RES), ON, reason=None, actor=SY)
    end = decide_change(snapshot(ON), WU, reason=None, actor=SY)
    done = decide_change(snapshot(WU), AV, reason=None, actor=AG)
    assert reserve and answer and end and done
    assert (reserve.call_sid, answer.call_sid, end.call_sid, done.call_sid) == (
        "CA9",
        "CA1",
        "CA1",
        None,
    )
    assert done.event_call_sid == "CA1" and end.ends_call and not done.ends_call


@pytest.mark.parametrize(
    ("reason", "actor", "error"),
    [
        (None, AG, InvalidReason),
        ("nap", AG, InvalidReason),
        ("missed", AG, InvalidReason),  # only the system marks a missed call
        ("missed", SU, InvalidReason),
        ("x" * 41, AG, InvalidReason),
    ],
)
def test_break_needs_a_configured_reason(
    reason: str | None, actor: Actor, error: type[Exception]
) -> None:
    with pytest.raises(error):
        decide_change(snapshot(AV), BRK, reason=reason, actor=actor)


def test_break_reasons_come_from_the_configured_list() -> None:
    change = decide_change(
        snapshot(AV), BRK, reason="coaching", actor=AG, break_reasons=["coaching"]
    )
    assert change is not None and change.reason == "coaching"
    with pytest.raises(InvalidReason) as err:
        decide_change(snapshot(AV), BRK, reason="lunch", actor=AG, break_reasons=["coaching"])
    assert err.value.code == "invalid-reason"


def test_break_to_break_changes_the_reason() -> None:
    change = decide_change(snapshot(BRK, reason="lunch"), BRK, reason="meeting", actor=AG)
    assert change is not None and change.reason == "meeting"


def test_reserving_needs_a_call() -> None:
    with pytest.raises(InvalidReason):
        decide_change(snapshot(AV), RES, reason=None, actor=SY)


def test_a_disabled_agent_may_only_go_offline() -> None:
    with pytest.raises(AgentInactive) as err:
        decide_change(snapshot(OFF, active=False), AV, reason=None, actor=AG)
    assert err.value.code == "agent-inactive"
    assert decide_change(snapshot(AV, active=False), OFF, reason=None, actor=SU) is not None


# --- The service, on the database -------------------------------------------------------------


@pytest.fixture
def make_agent(session: Session) -> Callable[..., Agent]:
    counter = itertools.count(1)

    def make(**overrides: Any) -> Agent:
        n = next(counter)
        values: dict[str, Any] = {
            "login": f"agent{n}",
            "display_name": f"Agent {n}",
            "posts": [Post.FRONT_DESK],
            "skills": {"general": 3},
            "languages": [Language.ZH],
            "now": NOW,
        }
        return create_agent(session, **(values | overrides))

    return make


def events(session: Session, agent_id: int) -> list[tuple[Any, ...]]:
    rows = session.scalars(
        select(AgentEvent).where(AgentEvent.agent_id == agent_id).order_by(AgentEvent.id)
    )
    return [(e.from_state, e.to_state, e.reason, e.actor, e.at, e.call_sid) for e in rows]


def test_create_agent_stores_posts_skills_languages_and_logs_creation(
    session: Session, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent(
        login="Li.Na",
        posts=[Post.FRONT_DESK, Post.BACK_OFFICE, Post.FRONT_DESK],
        skills={"general": 4, "presales": 2},
        languages=[Language.ZH, Language.EN],
        team="front-a",
        phone_e164="+8613900139001",
    )
    session.expire_all()
    (stored,) = [a for a in list_agents(session) if a.id == agent.id]
    assert stored.login == "li.na" and stored.client_identity == "agent_li_na"
    assert sorted(stored.posts) == ["back_office", "front_desk"]
    assert stored.skill_levels() == {"general": 4, "presales": 2}
    assert sorted(stored.languages) == ["en", "zh"]
    assert stored.state is OFF and stored.state_since == NOW and stored.password_hash is None
    assert events(session, agent.id) == [(None, OFF, "created", SU, NOW, None)]


def test_create_agent_lists_every_problem(session: Session) -> None:
    with pytest.raises(InvalidAgent) as err:
        create_agent(
            session,
            login="X",
            display_name=" ",
            posts=[],
            skills={"generl": 3, "orders": 6},
            languages=[],
            phone_e164="13800138000",
            known_skills={"general", "orders"},
            now=NOW,
        )
    assert err.value.code == "invalid-agent"
    assert len(err.value.details["problems"]) == 7


def test_create_agent_refuses_a_taken_login(make_agent: Callable[..., Agent]) -> None:
    make_agent(login="li.na")
    with pytest.raises(AgentExists):
        make_agent(login="LI.NA")


def test_a_call_from_reservation_to_wrap_up_is_logged_step_by_step(
    session: Session, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    t = [NOW + timedelta(seconds=s) for s in range(6)]
    change_state(session, agent.id, AV, reason="login", actor=AG, now=t[1])
    change_state(session, agent.id, RES, reason=None, actor=SY, now=t[2], call_sid="CA1")
    on_call = change_state(session, agent.id, ON, reason=None, actor=SY, now=t[3])
    assert on_call.call_sid == "CA1" and on_call.state is ON and on_call.state_since == t[3]
    wrap = change_state(session, agent.id, WU, reason=None, actor=SY, now=t[4], call_sid="CA1")
    assert wrap.last_call_ended_at == t[4] and wrap.call_sid == "CA1"
    done = change_state(session, agent.id, AV, reason=None, actor=AG, now=t[5])
    assert done.call_sid is None and done.state is AV and done.last_call_ended_at == t[4]
    assert events(session, agent.id)[1:] == [
        (OFF, AV, "login", AG, t[1], None),
        (AV, RES, None, SY, t[2], "CA1"),
        (RES, ON, None, SY, t[3], "CA1"),
        (ON, WU, None, SY, t[4], "CA1"),
        (WU, AV, None, AG, t[5], "CA1"),
    ]


def test_the_same_change_twice_changes_and_logs_once(
    session: Session, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    first = change_state(session, agent.id, BRK, reason="lunch", actor=AG, now=NOW)
    again = change_state(
        session, agent.id, BRK, reason="lunch", actor=AG, now=NOW + timedelta(minutes=1)
    )
    assert again.state is BRK and again.state_since == first.state_since == NOW
    assert [e[1] for e in events(session, agent.id)] == [OFF, BRK]


def test_a_refused_change_leaves_the_agent_and_the_log_alone(
    session: Session, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    with pytest.raises(TransitionNotAllowed):
        change_state(session, agent.id, ON, reason=None, actor=SY, now=NOW, call_sid="CA1")
    session.expire_all()
    assert session.get(Agent, agent.id).state is OFF  # type: ignore[union-attr]
    assert len(events(session, agent.id)) == 1


def test_unknown_agent(session: Session) -> None:
    with pytest.raises(AgentNotFound) as err:
        change_state(session, 999_999, AV, reason=None, actor=AG, now=NOW)
    assert err.value.code == "agent-not-found"


def test_a_stale_expected_state_is_a_conflict(
    session: Session, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    change_state(session, agent.id, AV, reason=None, actor=AG, now=NOW)
    with pytest.raises(AgentStateConflict):
        change_state(session, agent.id, BRK, reason="lunch", actor=AG, now=NOW, expected=OFF)


def test_naive_now_is_refused(session: Session, make_agent: Callable[..., Agent]) -> None:
    agent = make_agent()
    with pytest.raises(ValueError, match="timezone-aware"):
        change_state(session, agent.id, AV, reason=None, actor=AG, now=NOW.replace(tzinfo=None))


def test_wrap_up_ends_by_itself_after_the_configured_seconds(
    session: Session, make_agent: Callable[..., Agent]
) -> None:
    early, late, busy = make_agent(), make_agent(), make_agent()
    for agent, ended in ((early, NOW), (late, NOW + timedelta(seconds=10)), (busy, None)):
        change_state(session, agent.id, AV, reason=None, actor=AG, now=NOW - timedelta(minutes=5))
        change_state(
            session,
            agent.id,
            RES,
            reason=None,
            actor=SY,
            now=NOW - timedelta(minutes=4),
            call_sid=f"CA{agent.id}",
        )
        change_state(session, agent.id, ON, reason=None, actor=SY, now=NOW - timedelta(minutes=4))
        if ended is not None:
            change_state(session, agent.id, WU, reason=None, actor=SY, now=ended)

    assert finish_wrap_up_due(session, now=NOW + timedelta(seconds=29), wrap_up_s=30) == []
    assert finish_wrap_up_due(session, now=NOW + timedelta(seconds=30), wrap_up_s=30) == [early.id]
    assert finish_wrap_up_due(session, now=NOW + timedelta(seconds=30), wrap_up_s=30) == []
    assert finish_wrap_up_due(session, now=NOW + timedelta(seconds=45), wrap_up_s=30) == [late.id]
    session.expire_all()
    states = {a.id: a.state for a in session.scalars(select(Agent))}
    assert (states[early.id], states[late.id], states[busy.id]) == (AV, AV, ON)
    assert events(session, early.id)[-1] == (
        WU,
        AV,
        "wrap_up_elapsed",
        SY,
        NOW + timedelta(seconds=30),
        f"CA{early.id}",
    )


def test_wrap_up_timer_leaves_an_agent_who_moved_on(
    session: Session, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    change_state(session, agent.id, AV, reason=None, actor=AG, now=NOW)
    change_state(session, agent.id, RES, reason=None, actor=SY, now=NOW, call_sid="CA1")
    change_state(session, agent.id, ON, reason=None, actor=SY, now=NOW)
    change_state(session, agent.id, WU, reason=None, actor=SY, now=NOW)
    change_state(session, agent.id, BRK, reason="personal", actor=AG, now=NOW)
    assert finish_wrap_up_due(session, now=NOW + timedelta(hours=1), wrap_up_s=30) == []


# --- Concurrency: several sessions, real commits ------------------------------------------------


def test_two_sessions_reserving_one_agent_at_once_only_one_wins(
    live_session_factory: sessionmaker[Session],
) -> None:
    with live_session_factory() as s:
        agent = create_agent(
            s,
            login="racer",
            display_name="Racer",
            posts=[Post.FRONT_DESK],
            skills={"general": 3},
            languages=[Language.ZH],
            now=NOW,
        )
        change_state(s, agent.id, AV, reason=None, actor=AG, now=NOW)
        s.commit()
        agent_id = agent.id

    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def reserve(n: int) -> None:
        with live_session_factory() as s:
            barrier.wait()
            try:
                change_state(s, agent_id, RES, reason=None, actor=SY, now=NOW, call_sid=f"CA{n}")
                s.commit()
                outcomes.append("won")
            except AgentStateConflict as exc:
                s.rollback()
                outcomes.append(exc.code)

    threads = [threading.Thread(target=reserve, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["agent-state-conflict"] * 5 + ["won"]
    with live_session_factory() as s:
        reserved = s.scalar(
            select(func.count()).select_from(AgentEvent).where(AgentEvent.to_state == RES)
        )
        assert reserved == 1


def test_a_change_committed_between_read_and_write_makes_the_write_a_conflict(
    live_session_factory: sessionmaker[Session], engine: Engine
) -> None:
    """The compare-and-set itself: another session commits after this one read the state."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite's BEGIN IMMEDIATE serialises writers: the window cannot open")
    with live_session_factory() as s:
        agent = create_agent(
            s,
            login="cas",
            display_name="CAS",
            posts=[Post.FRONT_DESK],
            skills={"general": 3},
            languages=[Language.ZH],
            now=NOW,
        )
        change_state(s, agent.id, AV, reason=None, actor=AG, now=NOW)
        s.commit()
        agent_id = agent.id

    first = live_session_factory()
    conn = first.connection()
    fired = []

    def other_session_wins(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("UPDATE agents") and not fired:
            fired.append(True)
            with live_session_factory() as second:
                change_state(second, agent_id, BRK, reason="lunch", actor=AG, now=NOW)
                second.commit()

    event.listen(conn, "before_cursor_execute", other_session_wins)
    try:
        with pytest.raises(AgentStateConflict, match="changed while moving"):
            change_state(first, agent_id, RES, reason=None, actor=SY, now=NOW, call_sid="CA1")
    finally:
        event.remove(conn, "before_cursor_execute", other_session_wins)
        first.rollback()
        first.close()
    with live_session_factory() as s:
        assert s.get(Agent, agent_id).state is BRK  # type: ignore[union-attr]
        assert [e.to_state for e in s.scalars(select(AgentEvent).order_by(AgentEvent.id))] == [
            OFF,
            AV,
            BRK,
        ]
