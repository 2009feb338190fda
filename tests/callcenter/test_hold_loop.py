"""The queue webhooks with queue entries: joining, the announcing hold loop, and leaving."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from callcenter.app import create_app
from callcenter.runtime import Runtime
from callcenter.voice.twiml import WAIT_URL_VERBS
from config.settings import Settings
from core.calls import get_call
from core.models import Customer, Language
from outbound import tasks
from queues.models import Agent, AgentState, QueuedCall, QueuedCallStatus
from queues.waiting import WaitingList
from tests.builders import add_agent
from tests.conftest import NOW, PUBLIC_BASE, call_params, new_call_sid, sign
from tests.twiml_grammar import assert_valid_twiml

Post_ = Callable[..., TestResponse]
BUSY_ZH = "目前客服人员都在忙，请您稍候，我们会尽快为您服务。"
COMFORT_ZH = "感谢您的耐心等待，您的来电对我们非常重要，请不要挂机。"
OFFER_ZH = "如果您不想继续等待，请按1，我们将保留您的排队位置并给您回电。"


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """A second passes at every webhook, so callers who join one after another keep that order."""
    ticks = itertools.count()
    return lambda: NOW + timedelta(seconds=next(ticks))


@pytest.fixture
def vip(make_customer: Callable[..., Customer]) -> Customer:
    return make_customer()


@pytest.fixture
def waiting(app: Flask) -> WaitingList:
    rt: Runtime = app.extensions["callcenter"]
    return rt.waiting_list


@pytest.fixture
def make_agent(session: Session) -> Callable[..., Agent]:
    counter = iter(range(1, 100))

    def make(state: AgentState, language: Language = Language.ZH, skill: str = "general") -> Agent:
        n = next(counter)
        agent = add_agent(
            session, f"agent{n}", display_name=f"Agent {n}", skills={skill: 3}, languages=[language]
        )
        agent.state = state
        session.flush()
        return agent

    return make


def join_general(signed_post: Post_, digits_language: str = "1") -> str:
    sid = new_call_sid()
    signed_post("/twilio/voice/incoming", call_params(sid))
    signed_post("/twilio/voice/menu/language?attempt=1", call_params(sid, Digits=digits_language))
    r = signed_post("/twilio/voice/menu/main?attempt=1", call_params(sid, Digits="0"))
    enqueue = assert_valid_twiml(r.data).find("Enqueue")
    assert enqueue is not None and enqueue.text == "general"
    return sid


def hold(signed_post: Post_, sid: str, queue_time: int) -> tuple[list[str], str | None]:
    r = signed_post(
        "/twilio/voice/queue/wait?queue=general", call_params(sid, QueueTime=str(queue_time))
    )
    root = assert_valid_twiml(r.data)
    gather = root.find("Gather")  # press 1 for a callback, at any moment of the turn
    assert gather is None or gather.get("numDigits") == "1"
    play = (root if gather is None else gather).find("Play")
    return [s.text or "" for s in root.iter("Say")], play.text if play is not None else None


def entry_of(session: Session, sid: str) -> QueuedCall:
    entry = session.scalar(select(QueuedCall).where(QueuedCall.call_sid == sid))
    assert entry is not None
    return entry


def test_joining_a_queue_records_the_entry_and_puts_it_on_the_waiting_list(
    signed_post: Post_, session: Session, waiting: WaitingList, vip: Customer
) -> None:
    sid = join_general(signed_post)
    entry = entry_of(session, sid)
    assert (entry.queue, entry.skill, entry.language, entry.tier, entry.vip) == (
        "general",
        "general",
        "zh",
        "vip",
        True,
    )
    assert entry.status is QueuedCallStatus.WAITING
    caller = waiting.waiting(str(entry.id))
    assert caller is not None and caller.call_sid == sid and waiting.position(str(entry.id)) == 1


def test_a_repeated_menu_webhook_joins_the_queue_once(
    signed_post: Post_, session: Session, waiting: WaitingList
) -> None:
    sid = join_general(signed_post)
    signed_post("/twilio/voice/menu/main?attempt=1", call_params(sid, Digits="0"))
    assert len(session.scalars(select(QueuedCall).where(QueuedCall.call_sid == sid)).all()) == 1
    assert waiting.waiting_count("general") == 1


def test_the_hold_loop_greets_announces_comforts_and_announces_again(
    signed_post: Post_, make_agent: Callable[..., Agent]
) -> None:
    make_agent(AgentState.ON_CALL)
    ahead = [join_general(signed_post) for _ in range(2)]
    sid = join_general(signed_post)
    assert len(ahead) == 2

    said, music = hold(signed_post, sid, 0)
    assert said == [BUSY_ZH, "您前面还有两位客户。", "预计等待时间约十分钟。", OFFER_ZH]
    assert music == f"{PUBLIC_BASE}/media/hold-music.wav"
    assert hold(signed_post, sid, 20)[0] == []  # nothing due: music only
    assert hold(signed_post, sid, 33)[0] == [COMFORT_ZH, OFFER_ZH]
    make_agent(AgentState.AVAILABLE)
    said, _ = hold(signed_post, sid, 61)
    assert said == ["您前面还有两位客户。", "预计等待时间约两分钟。", OFFER_ZH]


def test_position_and_wait_are_announced_in_english(
    signed_post: Post_, make_agent: Callable[..., Agent]
) -> None:
    make_agent(AgentState.AVAILABLE, Language.EN)
    sid = join_general(signed_post, digits_language="2")
    said, _ = hold(signed_post, sid, 0)
    assert said[1:3] == ["You are next in line.", "Your estimated wait is about one minute."]
    assert said[3].startswith("If you")  # the callback offer, in the caller's language


def test_with_nobody_serving_the_queue_the_caller_hears_so(
    signed_post: Post_, make_agent: Callable[..., Agent]
) -> None:
    make_agent(AgentState.BREAK)
    make_agent(AgentState.OFFLINE)
    make_agent(AgentState.AVAILABLE, Language.EN)
    sid = join_general(signed_post)
    said, _ = hold(signed_post, sid, 0)
    assert said == [
        BUSY_ZH,
        "您是下一位客户。",
        "目前暂时没有客服人员可以接听，请您耐心等候。",
        OFFER_ZH,
    ]


def test_a_long_queue_hears_more_than_the_cap(
    signed_post: Post_, session: Session, make_agent: Callable[..., Agent]
) -> None:
    make_agent(AgentState.ON_CALL)
    sids = [join_general(signed_post) for _ in range(9)]
    said, _ = hold(signed_post, sids[-1], 0)
    # 8 ahead, one busy agent, 240 s each: 120 + 8 x 240 s = 34 minutes, capped at 30.
    assert said[1:] == ["您前面还有八位客户。", "预计等待时间超过三十分钟。", OFFER_ZH]


def test_a_caller_who_hangs_up_is_abandoned_with_the_wait_and_leaves_redis(
    signed_post: Post_, session: Session, waiting: WaitingList
) -> None:
    sid = join_general(signed_post)
    entry_id = str(entry_of(session, sid).id)
    for _ in range(2):  # Twilio may send the action twice
        r = signed_post(
            "/twilio/voice/queue/exit?queue=general",
            call_params(sid, QueueResult="hangup", QueueTime="75"),
        )
        assert assert_valid_twiml(r.data).find("Hangup") is not None
    entry = entry_of(session, sid)
    assert (entry.status, entry.wait_s, entry.reason) == (QueuedCallStatus.ABANDONED, 75, "hangup")
    assert waiting.waiting(entry_id) is None and waiting.waiting_count() == 0


def test_the_fallback_queue_without_an_entry_plays_the_plain_hold_loop(signed_post: Post_) -> None:
    sid = new_call_sid()
    signed_post("/twilio/voice/incoming", call_params(sid))
    signed_post("/twilio/voice/menu/language?attempt=1", call_params(sid, Digits="1"))
    for queue_time in (0, 90):
        said, music = hold(signed_post, sid, queue_time)
        assert said == [BUSY_ZH] and music is not None


def test_a_caller_whose_number_may_not_be_called_back_is_not_offered_a_callback(
    signed_post: Post_, session: Session, make_agent: Callable[..., Agent]
) -> None:
    make_agent(AgentState.ON_CALL)
    sid = join_general(signed_post)
    call = get_call(session, sid)
    number = call.caller_e164 if call else None
    assert number is not None
    tasks.add_do_not_call(session, number, reason="asked", actor="test", now=NOW)
    session.commit()
    said, _ = hold(signed_post, sid, 0)
    assert said[-1] != OFFER_ZH and OFFER_ZH not in said


def test_while_redis_is_down_the_hold_loop_apologises_with_a_valid_wait_document(
    make_runtime: Callable[..., Runtime],
    session_factory: sessionmaker[Session],
    session: Session,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """With Redis gone the hold turn fails; its answer keeps the caller in line with only the
    verbs a waitUrl may hold (never <Enqueue>: Twilio error 12100), and no second entry."""
    rt = make_runtime(session_factory)
    rt.redis_factory = lambda: Redis(unix_socket_path=str(tmp_path / "no-redis.sock"))
    client = create_app(runtime=rt).test_client()

    def post(path: str, params: dict[str, str]) -> TestResponse:
        url = settings.public_base_url.rstrip("/") + path
        return client.post(path, data=params, headers={"X-Twilio-Signature": sign(url, params)})

    sid = join_general(post)
    for queue_time in ("0", "30"):
        r = post("/twilio/voice/queue/wait?queue=general", call_params(sid, QueueTime=queue_time))
        assert r.status_code == 200
        root = assert_valid_twiml(r.data)
        verbs = [child.tag for child in root]
        assert verbs and set(verbs) <= WAIT_URL_VERBS, verbs
        assert root.find("Say") is not None and root.find("Play") is not None
    entries = session.scalars(select(QueuedCall).where(QueuedCall.call_sid == sid)).all()
    assert [e.status for e in entries] == [QueuedCallStatus.WAITING]


@pytest.mark.parametrize("late", ["transfer", "fallback"])
def test_a_webhook_delayed_past_the_end_of_the_call_creates_no_phantom_entry(
    signed_post: Post_, session: Session, waiting: WaitingList, app: Flask, late: str
) -> None:
    """A database stall delays the caller's last IVR webhook (or Twilio's fallback after it
    failed) until after the call's completed callback: no entry, nothing to route."""
    rt: Runtime = app.extensions["callcenter"]
    sid = new_call_sid()
    signed_post("/twilio/voice/incoming", call_params(sid))
    signed_post("/twilio/voice/menu/language?attempt=1", call_params(sid, Digits="1"))
    signed_post("/twilio/voice/status", call_params(sid, CallStatus="completed", CallDuration="9"))
    if late == "transfer":
        signed_post("/twilio/voice/menu/main?attempt=1", call_params(sid, Digits="0"))
    else:
        signed_post("/twilio/voice/fallback", call_params(sid, ErrorCode="11205"))
    assert session.scalars(select(QueuedCall).where(QueuedCall.call_sid == sid)).all() == []
    assert waiting.waiting_count() == 0
    assert rt.queue("high").count == 0  # no routing job: no agent is rung
