"""Whole calls through the local phone network, against the app served over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import BaseWSGIServer, make_server

from callcenter.app import create_app
from callcenter.runtime import Runtime
from callcenter.seed import (
    DEMO_EN_PHONE,
    DEMO_EN_RMA,
    DEMO_RETURNING_ACCOUNT,
    DEMO_VIP_PHONE,
    DEMO_VIP_SHIPPED_ORDER,
    seed_demo,
)
from core.models import Call, CallEvent, CallStatus, Voicemail
from phone_network.calls import Call as NetworkCall
from phone_network.clock import VirtualClock
from phone_network.network import PhoneNetwork
from phone_network.parties import ScriptedCaller
from queues.models import AgentState, QueuedCall, QueuedCallStatus
from tests.builders import add_agent
from tests.conftest import AUTH_TOKEN, NOW

HOTLINE = "+864008001234"
NIGHT = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # midnight in Shanghai


@dataclass
class Hotline:
    network: PhoneNetwork
    factory: sessionmaker[Session]
    app_now: list[datetime]
    runtime: Runtime

    def call(self, from_: str, *actions: str, max_hold: float = 120) -> NetworkCall:
        leg = self.network.place_call(
            from_=from_, to=HOTLINE, party=ScriptedCaller(actions, max_hold=max_hold)
        )
        leg.wait(timeout=30)
        return leg

    def said(self, leg: NetworkCall) -> list[str]:
        return [e.args[0] for e in leg.transcript() if e.kind == "say"]

    def db_call(self, leg: NetworkCall) -> Call:
        with self.factory() as s:
            call = s.scalar(select(Call).where(Call.sid == leg.sid))
            assert call is not None
            return call

    def events(self, leg: NetworkCall, kind: str) -> list[CallEvent]:
        with self.factory() as s:
            return list(
                s.scalars(
                    select(CallEvent).where(CallEvent.call_sid == leg.sid, CallEvent.kind == kind)
                )
            )


@pytest.fixture
def hotline(
    live_session_factory: sessionmaker[Session], make_runtime: Callable[..., Runtime], redis: object
) -> Iterator[Hotline]:
    with live_session_factory.begin() as s:
        seed_demo(s, now=NOW)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, lambda env, start: [], threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app_now = [NOW]
    runtime = make_runtime(live_session_factory, now=lambda: app_now[0], public_base_url=base)
    server.app = create_app(runtime=runtime)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    network = PhoneNetwork(
        account_sid=runtime.settings.account_sid, auth_token=AUTH_TOKEN, clock=VirtualClock(NOW)
    )
    network.add_number(
        HOTLINE,
        voice_url=f"{base}/twilio/voice/incoming",
        fallback_url=f"{base}/twilio/voice/fallback",
        status_callback=f"{base}/twilio/voice/status",
        all_status_events=True,
    )
    yield Hotline(network, live_session_factory, app_now, runtime)
    server.shutdown()
    thread.join(5)
    server.server_close()


def assert_clean(leg: NetworkCall) -> None:
    """No webhook failed, no fallback was used, and the call ended normally."""
    kinds = [e.kind for e in leg.transcript()]
    assert "fallback" not in kinds and "webhook-error" not in kinds and "error" not in kinds
    assert leg.failures == ()
    assert leg.wait().status == "completed"


def test_vip_hears_her_order_status_and_the_call_is_recorded(hotline: Hotline) -> None:
    leg = hotline.call(DEMO_VIP_PHONE, "press 1", "press 2", f"press {DEMO_VIP_SHIPPED_ORDER}#")
    assert_clean(leg)
    said = hotline.said(leg)
    assert said[2] == "王芳，您好！尊贵的VIP会员，我们将优先为您服务。"
    assert any(s.startswith("您的订单二零，零零零零，零零幺幺") and "已发货" in s for s in said)
    call = hotline.db_call(leg)
    assert call.status is CallStatus.COMPLETED and call.vip and call.identified_by == "phone"
    assert call.last_sequence is not None and call.duration_s is not None
    assert [e.data["found"] for e in hotline.events(leg, "self_service")] == [True]


def test_unknown_caller_identifies_with_an_account_number(hotline: Hotline) -> None:
    leg = hotline.call(
        "+8613512345678", "press 1", "press 12345678#", f"press {DEMO_RETURNING_ACCOUNT}#"
    )
    assert_clean(leg)
    said = hotline.said(leg)
    assert "抱歉，没有找到这个订单号或会员账号。" in said
    assert "李伟，您好，欢迎再次致电银泰。" in said
    assert hotline.db_call(leg).identified_by == "account"


def test_english_caller_checks_an_exchange_by_speech(hotline: Hotline) -> None:
    leg = hotline.call(
        DEMO_EN_PHONE,
        "say English",
        "say returns and exchanges",
        "press 1",
        f"press {DEMO_EN_RMA}#",
    )
    assert_clean(leg)
    readout = next(s for s in hotline.said(leg) if s.startswith("Your exchange request"))
    assert readout.startswith("Your exchange request 8 0 0 0, 0 0 0 2 is open.")
    assert readout.endswith(" arrives. The replacement item is SHO-505101-38.")


def test_caller_waiting_for_an_agent_hears_the_hold_loop_and_the_hangup_is_logged(
    hotline: Hotline,
) -> None:
    leg = hotline.call(DEMO_VIP_PHONE, "press 1", "press 0", max_hold=90)
    assert_clean(leg)
    kinds = [e.kind for e in leg.transcript()]
    assert "enqueue" in kinds and kinds.count("queue-wait") >= 2
    assert "目前客服人员都在忙，请您稍候，我们会尽快为您服务。" in hotline.said(leg)
    (enqueued,) = hotline.events(leg, "enqueued")
    assert enqueued.data["queue"] == "general" and enqueued.data["vip"] is True
    (left,) = hotline.events(leg, "dequeued")
    assert left.data["result"] == "hangup"


def test_a_waiting_caller_hears_position_and_wait_then_hangs_up_and_is_abandoned(
    hotline: Hotline,
) -> None:
    with hotline.factory.begin() as s:
        agent = add_agent(s, "busy.agent", display_name="忙碌的客服")
        agent.state = AgentState.ON_CALL
    leg = hotline.call(DEMO_VIP_PHONE, "press 1", "press 0", max_hold=90)
    assert_clean(leg)
    said = hotline.said(leg)
    # Next in line, one agent busy on a call: half the default handle time of 240 s.
    assert "您是下一位客户。" in said and "预计等待时间约两分钟。" in said
    with hotline.factory() as s:
        entry = s.scalar(select(QueuedCall).where(QueuedCall.call_sid == leg.sid))
    assert entry is not None and entry.status is QueuedCallStatus.ABANDONED
    assert entry.reason == "hangup" and entry.wait_s is not None and entry.wait_s >= 85
    (left,) = hotline.events(leg, "dequeued")
    assert left.data["waited_s"] == entry.wait_s
    waiting = hotline.runtime.waiting_list
    assert waiting.waiting(str(entry.id)) is None and waiting.waiting_count() == 0


def test_after_hours_the_caller_leaves_a_voicemail(hotline: Hotline) -> None:
    hotline.app_now[0] = NIGHT
    leg = hotline.call(DEMO_VIP_PHONE, "press 1", "press 0", "speak 6")
    assert_clean(leg)
    assert any("非工作时间" in s for s in hotline.said(leg))
    with hotline.factory() as s:
        vm = s.scalar(select(Voicemail))
        assert vm is not None and vm.reason == "after_hours" and vm.status == "completed"
        assert vm.duration_s is not None and vm.duration_s >= 5
        assert vm.recording_url.startswith("http://127.0.0.1")


def test_twenty_callers_at_once(hotline: Hotline) -> None:
    legs = [
        hotline.network.place_call(
            from_=DEMO_VIP_PHONE if i % 2 else f"+86135000000{i:02d}",
            to=HOTLINE,
            party=ScriptedCaller(["press 1", "press 2", f"press {DEMO_VIP_SHIPPED_ORDER}#"]),
        )
        for i in range(20)
    ]
    for leg in legs:
        leg.wait(timeout=60)
        assert_clean(leg)
    with hotline.factory() as s:
        calls = s.scalars(select(Call)).all()
    assert len(calls) == 20 and all(c.status is CallStatus.COMPLETED for c in calls)
    # Half are known by their number; the others key the order number when asked who they are.
    assert sorted(c.identified_by or "" for c in calls) == ["order"] * 10 + ["phone"] * 10
