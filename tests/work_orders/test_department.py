"""The departments' side of a work order: claim, reply (which plans the callback), ask the
customer and their answer, resolve, notes; each in the timeline with author and time, refused
in a state that does not allow it (a reply to a closed work order names its state), once per
client key, and only within the department's own group."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from outbound.models import OutboundTask
from outbound.policy import Policy
from tests.conftest import NOW
from tests.work_orders.passing import actor_of, agent, department_user, passed
from work_orders import department, states, timeline
from work_orders.department import Actor
from work_orders.models import WorkOrder, WorkOrderEvent, WorkOrderStatus

LATER = NOW + timedelta(minutes=20)
S = WorkOrderStatus


def events(session: Session, wo: object) -> list[tuple[str, str]]:
    return [(e.kind, e.author) for e in timeline.timeline_of(session, wo)]  # type: ignore[arg-type]


def test_claim_reply_and_the_timeline_names_who_and_when(session: Session) -> None:
    owner = agent(session, "li.na", "front-a")
    gao = actor_of(department_user(session))
    wo = passed(session, owner)

    department.claim(session, wo, who=gao, now=LATER)
    done = department.reply(session, wo, " 已为您补发屏幕 ", who=gao, now=LATER, calling=Policy())

    assert wo.status is S.ANSWERED and wo.assignee_id == gao.agent_id
    reply = session.get(type(timeline.timeline_of(session, wo)[0]), done.event_id)
    assert reply is not None
    assert (reply.kind, reply.author, reply.at, reply.data["text"]) == (
        "reply",
        "gao.yan",
        LATER,
        "已为您补发屏幕",
    )
    assert events(session, wo)[-3:] == [
        ("status", "gao.yan"),
        ("reply", "gao.yan"),
        ("callback", "system"),
    ]


def test_ask_the_customer_pauses_and_their_answer_resumes(session: Session) -> None:
    gao = actor_of(department_user(session))
    wo = passed(session, agent(session, "li.na", "front-a"))
    department.claim(session, wo, who=gao, now=NOW)

    department.ask_customer(session, wo, "请提供照片 a photo please", who=gao, now=LATER)
    assert wo.status is S.WAITING_ON_CUSTOMER and wo.status in states.PAUSED
    department.customer_replied(session, wo, "照片已发 sent", who=gao, now=LATER)

    assert wo.status is S.IN_PROGRESS
    texts = [(e.kind, e.data.get("text")) for e in timeline.timeline_of(session, wo)]
    assert ("question", "请提供照片 a photo please") in texts
    assert ("customer_reply", "照片已发 sent") in texts


def test_resolve_is_a_final_reply_with_its_code(session: Session) -> None:
    gao = actor_of(department_user(session))
    wo = passed(session, agent(session, "li.na", "front-a"))

    done = department.resolve(
        session, wo, "换新 replaced", "replaced", who=gao, now=LATER, calling=Policy()
    )

    assert done.action == "resolve" and wo.status is S.ANSWERED
    reply = timeline.timeline_of(session, wo)[-2]
    assert reply.data == {"text": "换新 replaced", "final": True, "resolution_code": "replaced"}
    with pytest.raises(department.InvalidDepartmentInput) as refused:
        department.resolve(session, wo, "x", "", who=gao, now=LATER, calling=Policy())
    assert refused.value.details["fields"] == {"resolution_code": "required"}


def test_a_reply_to_a_closed_work_order_is_refused_naming_its_state(session: Session) -> None:
    gao = actor_of(department_user(session))
    wo = passed(session, agent(session, "li.na", "front-a"))
    department.reply(session, wo, "answer", who=gao, now=LATER, calling=Policy())
    states.move(session, wo, "close", author_id=None, author="li.na", now=LATER)
    before = len(timeline.timeline_of(session, wo))

    with pytest.raises(states.IllegalMove) as refused:
        department.reply(session, wo, "again", who=gao, now=LATER, calling=Policy())

    assert refused.value.details["status"] == "closed"
    assert len(timeline.timeline_of(session, wo)) == before


def test_the_same_client_key_does_it_once_and_returns_the_same_result(session: Session) -> None:
    gao = actor_of(department_user(session))
    wo = passed(session, agent(session, "li.na", "front-a"))

    first = department.reply(session, wo, "a", who=gao, now=LATER, calling=Policy(), key="k1")
    again = department.reply(session, wo, "a", who=gao, now=LATER, calling=Policy(), key="k1")
    note1 = department.note(session, wo, "n", who=gao, now=LATER, key="k2")
    note2 = department.note(session, wo, "n", who=gao, now=LATER, key="k2")

    assert not first.replayed and again.replayed and again.event_id == first.event_id
    assert note2.replayed and note2.event_id == note1.event_id
    assert [k for k, _ in events(session, wo)].count("reply") == 1
    assert session.scalar(select(func.count()).select_from(OutboundTask)) == 1


def test_bad_text_is_named_and_nothing_changes(session: Session) -> None:
    gao = actor_of(department_user(session))
    wo = passed(session, agent(session, "li.na", "front-a"))

    for raw, problem in [("", "required"), ("   ", "required"), (5, "must be text")]:
        with pytest.raises(department.InvalidDepartmentInput) as refused:
            department.reply(session, wo, raw, who=gao, now=LATER, calling=Policy())
        assert refused.value.details["fields"] == {"text": problem}
    with pytest.raises(department.InvalidDepartmentInput):
        department.note(session, wo, "x" * 4001, who=gao, now=LATER)
    assert wo.status is S.WITH_DEPARTMENT


def test_a_department_sees_only_its_own_group_oldest_first(session: Session) -> None:
    owner = agent(session, "li.na", "front-a")
    mine = passed(session, owner)
    theirs = passed(session, owner, department="logistics")
    newer = passed(session, owner)
    newer.created_at = NOW + timedelta(minutes=1)
    session.flush()

    assert [w.id for w in department.inbox(session, "aftersales-a")] == [mine.id, newer.id]
    assert {w.id for w in department.inbox(session, None)} == {mine.id, theirs.id, newer.id}
    with pytest.raises(department.NotYourDepartment):
        department.load(session, theirs.number, "aftersales-a")
    assert department.load(session, theirs.number, None).id == theirs.id
    with pytest.raises(states.UnknownWorkOrder):
        department.load(session, "WO000000999999", None)


def test_an_external_system_acts_without_an_agent(session: Session) -> None:
    wo = passed(session, agent(session, "li.na", "front-a"))
    system = Actor(None, "api:aftersales-a", "aftersales-a")

    department.claim(session, wo, who=system, now=LATER)

    assert wo.status is S.IN_PROGRESS and wo.assignee_id is None
    assert events(session, wo)[-1] == ("claim", "api:aftersales-a")


def test_two_copies_of_one_reply_at_once_answer_once(
    live_session_factory: sessionmaker[Session],
) -> None:
    """A retried API call racing the first: one moves the work order, the other returns the
    same event (replayed); one reply, one callback."""
    with live_session_factory.begin() as s:
        wo_id = passed(s, agent(s, "li.na", "front-a")).id
        gao = actor_of(department_user(s))
    start = threading.Barrier(2)
    results: list[object] = []

    def reply() -> None:
        start.wait()
        try:
            with live_session_factory.begin() as s:
                wo = s.get(WorkOrder, wo_id)
                assert wo is not None
                done = department.reply(
                    s, wo, "answer", who=gao, now=LATER, calling=Policy(), key="retry-1"
                )
                results.append((done.event_id, done.replayed))
        except Exception as exc:  # noqa: BLE001  (the test reports whatever the loser got)
            results.append(exc)

    threads = [threading.Thread(target=reply) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 2 and all(isinstance(r, tuple) for r in results), results
    (first_id, first_replayed), (second_id, second_replayed) = results  # type: ignore[misc]
    assert first_id == second_id and {first_replayed, second_replayed} == {True, False}
    with live_session_factory() as s:
        kinds = s.scalars(
            select(WorkOrderEvent.kind).where(WorkOrderEvent.work_order_id == wo_id)
        ).all()
        assert kinds.count("reply") == 1
        assert s.scalar(select(func.count()).select_from(OutboundTask)) == 1
