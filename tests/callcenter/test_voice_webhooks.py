"""The voice webhooks end to end through Flask: signed requests in, TwiML out, rows stored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from core.models import Call, CallEvent, CallStatus, Customer, OrderStatus, Tier, Voicemail
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE, call_params, new_call_sid
from tests.twiml_grammar import assert_valid_twiml

Post = Callable[..., TestResponse]


def said(response: TestResponse) -> list[str]:
    root = assert_valid_twiml(response.data)
    return [el.text or "" for el in root.iter("Say")]


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def vip(make_customer: Callable[..., Customer]) -> Customer:
    return make_customer(
        orders=(
            ("2611050001", 258850, OrderStatus.SHIPPED),
            ("2611050002", 99900, OrderStatus.PENDING_REVIEW),
        )
    )


def test_unsigned_request_gets_403_and_stores_nothing(
    client: FlaskClient, session: Session
) -> None:
    r = client.post("/twilio/voice/incoming", data=call_params(new_call_sid()))
    assert r.status_code == 403
    assert count(session, Call) == 0


def test_forged_signature_gets_403_and_stores_nothing(signed_post: Post, session: Session) -> None:
    r = signed_post("/twilio/voice/incoming", call_params(new_call_sid()), token="wrong-token")
    assert r.status_code == 403
    assert count(session, Call) == 0


def test_signature_over_other_parameters_is_refused(client: FlaskClient, session: Session) -> None:
    from tests.conftest import sign

    params = call_params(new_call_sid())
    signature = sign(PUBLIC_BASE + "/twilio/voice/incoming", params)
    r = client.post(
        "/twilio/voice/incoming",
        data={**params, "From": "+8613900000000"},
        headers={"X-Twilio-Signature": signature},
    )
    assert r.status_code == 403
    assert count(session, Call) == 0


def test_signature_is_checked_against_the_public_url_not_the_local_one(client: FlaskClient) -> None:
    from tests.conftest import sign

    params = call_params(new_call_sid())
    local = sign("http://localhost/twilio/voice/incoming", params)
    r = client.post("/twilio/voice/incoming", data=params, headers={"X-Twilio-Signature": local})
    assert r.status_code == 403


def test_every_twilio_route_requires_a_signature(client: FlaskClient) -> None:
    rules = [r for r in client.application.url_map.iter_rules() if r.rule.startswith("/twilio/")]
    assert len(rules) >= 8
    for rule in rules:
        path = rule.rule.replace("<node_id>", "main")
        assert client.post(path, data={"CallSid": new_call_sid()}).status_code == 403, rule


def test_vip_caller_is_identified_by_number_greeted_and_reads_order_status(
    signed_post: Post, session: Session, vip: Customer
) -> None:
    sid = new_call_sid()
    first = said(signed_post("/twilio/voice/incoming", call_params(sid, From="+86 138-0013-8000")))
    assert "普通话服务请按1" in first[0]
    menu = said(signed_post("/twilio/voice/menu/language?attempt=1", call_params(sid, Digits="1")))
    assert menu[0] == "王芳，您好！尊贵的VIP会员，我们将优先为您服务。"
    said(signed_post("/twilio/voice/menu/main?attempt=1", call_params(sid, Digits="2")))
    readout = said(
        signed_post(
            "/twilio/voice/menu/order_status?attempt=1", call_params(sid, Digits="2611050001#")
        )
    )
    assert (
        readout[0]
        == "您的订单二六，幺幺零五，零零零幺，金额两千五百八十八元五角，已发货，正在配送途中。"
    )
    call = session.scalar(select(Call).where(Call.sid == sid))
    assert call is not None and call.customer_id == vip.id and call.vip
    assert call.caller_e164 == "+8613800138000" and call.identified_by == "phone"
    assert call.language is not None and call.language.value == "zh"


def test_english_caller_hears_english(
    signed_post: Post, make_customer: Callable[..., Customer]
) -> None:
    make_customer(
        name="Emily Chen",
        phone="+8613700137000",
        orders=(("2611050003", 120000, OrderStatus.DELIVERED),),
    )
    sid = new_call_sid()
    signed_post("/twilio/voice/incoming", call_params(sid, From="+8613700137000"))
    signed_post("/twilio/voice/menu/language?attempt=1", call_params(sid, Digits="2"))
    signed_post("/twilio/voice/menu/main?attempt=1", call_params(sid, SpeechResult="order status"))
    r = signed_post(
        "/twilio/voice/menu/order_status?attempt=1", call_params(sid, Digits="2611050003#")
    )
    assert said(r)[0] == ("Your order 2 6, 1 1 0 5, 0 0 0 3, for 1,200 yuan, has been delivered.")
    root = assert_valid_twiml(r.data)
    assert root.find("Gather").get("language") == "en-US"  # type: ignore[union-attr]


def test_order_of_another_customer_is_not_read_out(
    signed_post: Post, vip: Customer, make_customer: Callable[..., Customer]
) -> None:
    make_customer(
        name="李伟",
        phone="+8613900139000",
        tier=Tier.RETURNING,
        orders=(("2611059999", 500, OrderStatus.SHIPPED),),
    )
    sid = new_call_sid()
    signed_post("/twilio/voice/incoming", call_params(sid))
    signed_post("/twilio/voice/menu/language?attempt=1", call_params(sid, Digits="1"))
    r = signed_post(
        "/twilio/voice/menu/order_status?attempt=1", call_params(sid, Digits="2611059999#")
    )
    assert said(r)[0] == "抱歉，没有找到您名下的这个订单。"


def test_withheld_number_identifies_by_account_number(
    signed_post: Post, session: Session, vip: Customer
) -> None:
    sid = new_call_sid()
    signed_post("/twilio/voice/incoming", call_params(sid, From="anonymous"))
    r = signed_post("/twilio/voice/menu/language?attempt=1", call_params(sid, Digits="1"))
    assert "订单号或会员账号" in said(r)[0]
    r = signed_post(
        "/twilio/voice/menu/identify?attempt=1", call_params(sid, Digits=vip.account_number + "#")
    )
    assert "王芳" in said(r)[0]
    call = session.scalar(select(Call).where(Call.sid == sid))
    assert call is not None and call.identified_by == "account" and call.vip


def test_unknown_caller_gets_three_tries_then_the_main_menu(
    signed_post: Post, session: Session
) -> None:
    sid = new_call_sid()
    signed_post("/twilio/voice/incoming", call_params(sid, From="+8613512345678"))
    signed_post("/twilio/voice/menu/language?attempt=1", call_params(sid, Digits="1"))
    for attempt in (1, 2):
        r = signed_post(
            f"/twilio/voice/menu/identify?attempt={attempt}", call_params(sid, Digits="99999999#")
        )
        root = assert_valid_twiml(r.data)
        assert root.find("Gather").get("action").endswith(f"identify?attempt={attempt + 1}")  # type: ignore[union-attr]
    r = signed_post("/twilio/voice/menu/identify?attempt=3", call_params(sid, Digits="99999999#"))
    assert "售前咨询请按1" in said(r)[-1]
    call = session.scalar(select(Call).where(Call.sid == sid))
    assert call is not None and call.customer_id is None


def test_route_to_agent_enqueues_with_router_attributes(
    signed_post: Post, session: Session, vip: Customer
) -> None:
    sid = new_call_sid()
    signed_post("/twilio/voice/incoming", call_params(sid))
    signed_post("/twilio/voice/menu/language?attempt=1", call_params(sid, Digits="1"))
    r = signed_post("/twilio/voice/menu/main?attempt=1", call_params(sid, Digits="4"))
    enqueue = assert_valid_twiml(r.data).find("Enqueue")
    assert enqueue is not None and enqueue.text == "complaints"
    assert enqueue.get("waitUrl") == f"{PUBLIC_BASE}/twilio/voice/queue/wait?queue=complaints"
    event = session.scalar(select(CallEvent).where(CallEvent.kind == "enqueued"))
    assert event is not None
    assert event.data == {
        "queue": "complaints",
        "skill": "complaints",
        "priority": 10,
        "language": "zh",
        "tier": "vip",
        "vip": True,
    }


def test_hold_loop_speaks_the_callers_language(signed_post: Post, vip: Customer) -> None:
    sid = new_call_sid()
    signed_post("/twilio/voice/incoming", call_params(sid))
    signed_post("/twilio/voice/menu/language?attempt=1", call_params(sid, Digits="2"))
    r = signed_post("/twilio/voice/queue/wait?queue=general", call_params(sid, QueuePosition="1"))
    root = assert_valid_twiml(r.data)
    assert root.find("Say").text.startswith("All of our agents are busy")  # type: ignore[union-attr]
    play = root.find("Play")
    assert play is not None and play.text == f"{PUBLIC_BASE}/media/hold-music.wav"


def test_hold_music_is_served_with_caching(client: FlaskClient) -> None:
    r = client.get("/media/hold-music.wav")
    assert r.status_code == 200 and r.mimetype == "audio/wav" and r.data[:4] == b"RIFF"
    again = client.get("/media/hold-music.wav", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("result", "verb"), [("hangup", "Hangup"), ("queue-full", "Record"), ("error", "Record")]
)
def test_leaving_a_queue_without_an_agent_offers_voicemail(
    signed_post: Post, session: Session, result: str, verb: str
) -> None:
    sid = new_call_sid()
    signed_post("/twilio/voice/incoming", call_params(sid))
    r = signed_post(
        "/twilio/voice/queue/exit?queue=general",
        call_params(sid, QueueResult=result, QueueTime="42"),
    )
    assert assert_valid_twiml(r.data).find(verb) is not None
    event = session.scalar(select(CallEvent).where(CallEvent.kind == "dequeued"))
    assert event is not None and event.data["waited_s"] == 42


def test_after_hours_a_route_to_an_agent_takes_a_voicemail_stored_once(
    make_runtime: Callable[..., object],
    session_factory: object,
    signed_post: Post,
    session: Session,
    client: FlaskClient,
) -> None:
    from callcenter.app import create_app

    night = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 00:00 in Shanghai
    app = create_app(runtime=make_runtime(session_factory, now=lambda: night))  # type: ignore[operator]
    night_client = app.test_client()
    from tests.conftest import sign

    def post(path: str, params: dict[str, str]) -> TestResponse:
        return night_client.post(
            path, data=params, headers={"X-Twilio-Signature": sign(PUBLIC_BASE + path, params)}
        )

    sid = new_call_sid()
    assert assert_valid_twiml(post("/twilio/voice/incoming", call_params(sid)).data).find("Gather")
    post("/twilio/voice/menu/language?attempt=1", call_params(sid, Digits="2"))
    r = post("/twilio/voice/menu/main?attempt=1", call_params(sid, Digits="0"))
    root = assert_valid_twiml(r.data)
    record = root.find("Record")
    assert record is not None and record.get("maxLength") == "120"
    assert [el.get("language") for el in root.iter("Say")] == ["en-US"]
    recording = {
        "RecordingSid": "RE" + "b" * 32,
        "RecordingUrl": "https://api.twilio.com/rec",
        "RecordingDuration": "17",
        "RecordingStatus": "completed",
    }
    for _ in range(2):  # the action and a repeated status callback, in either order
        assert (
            post(
                "/twilio/voice/recording/status?reason=after_hours", call_params(sid, **recording)
            ).status_code
            == 204
        )
        r = post("/twilio/voice/voicemail/done?reason=after_hours", call_params(sid, **recording))
        assert assert_valid_twiml(r.data).find("Hangup") is not None
    vm = session.scalar(select(Voicemail))
    assert count(session, Voicemail) == 1 and vm is not None
    assert (vm.duration_s, vm.reason, vm.status) == (17, "after_hours", "completed")


def test_status_callbacks_are_idempotent_and_never_go_backwards(
    signed_post: Post, session: Session
) -> None:
    sid = new_call_sid()
    signed_post("/twilio/voice/incoming", call_params(sid))
    done = call_params(
        sid,
        CallStatus="completed",
        CallDuration="95",
        SequenceNumber="3",
        Timestamp="Mon, 23 Nov 2026 03:05:00 +0000",
    )
    for params in (
        done,
        done,
        call_params(sid, CallStatus="ringing", SequenceNumber="1"),
        call_params(sid, CallStatus="in-progress", SequenceNumber="2"),
    ):
        assert signed_post("/twilio/voice/status", params).status_code == 204
    call = session.scalar(select(Call).where(Call.sid == sid))
    assert call is not None and call.status is CallStatus.COMPLETED
    assert call.duration_s == 95 and call.last_sequence == 3
    assert call.ended_at == datetime(2026, 11, 23, 3, 5, tzinfo=UTC)
    statuses = session.scalars(select(CallEvent.dedupe_key).where(CallEvent.kind == "status")).all()
    assert sorted(statuses) == ["status:completed", "status:in-progress", "status:ringing"]


def test_status_callback_for_unknown_call_creates_nothing(
    signed_post: Post, session: Session
) -> None:
    r = signed_post("/twilio/voice/status", call_params(new_call_sid(), CallStatus="completed"))
    assert r.status_code == 204
    assert count(session, Call) == 0 and count(session, CallEvent) == 0


def test_repeated_incoming_webhook_creates_one_call(signed_post: Post, session: Session) -> None:
    sid = new_call_sid()
    first = signed_post("/twilio/voice/incoming", call_params(sid))
    again = signed_post("/twilio/voice/incoming", call_params(sid))
    assert first.data == again.data
    assert count(session, Call) == 1
    assert session.scalar(select(func.count()).where(CallEvent.kind == "incoming")) == 1


@pytest.mark.parametrize(
    "params",
    [
        {},  # no CallSid at all
        {"CallSid": "not-a-sid"},
        {"CallSid": "CA" + "0" * 32, "Digits": "9" * 500},
        {"CallSid": "CA" + "0" * 32, "SpeechResult": "x" * 5000},
    ],
)
def test_junk_parameters_get_safe_twiml(signed_post: Post, params: dict[str, str]) -> None:
    for path in (
        "/twilio/voice/incoming",
        "/twilio/voice/menu/main?attempt=1",
        "/twilio/voice/menu/no_such_node?attempt=x",
        "/twilio/voice/queue/wait",
        "/twilio/voice/fallback",
    ):
        r = signed_post(path, params)
        assert r.status_code == 200, path
        assert_valid_twiml(r.data)


def test_unknown_node_apologises_and_routes_to_the_fallback_queue(signed_post: Post) -> None:
    sid = new_call_sid()
    r = signed_post("/twilio/voice/menu/no_such_node?attempt=1", call_params(sid, Digits="1"))
    root = assert_valid_twiml(r.data)
    assert root.find("Enqueue").text == "general"  # type: ignore[union-attr]
    assert "非常抱歉" in (root.find("Say").text or "")  # type: ignore[union-attr]


def test_bytes_that_are_not_utf8_get_safe_twiml(client: FlaskClient) -> None:
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from tests.conftest import sign

    body = b"CallSid=CA" + b"1" * 32 + b"&Digits=%FF%FE&From=%C3%28&SpeechResult=\xff\xfe"
    # Sign what the server will decode the bytes into, as a sender holding the token would.
    params = dict(
        Request(
            EnvironBuilder(
                method="POST", data=body, content_type=("application/x-www-form-urlencoded")
            ).get_environ()
        ).form
    )
    r = client.post(
        "/twilio/voice/menu/main?attempt=1",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={
            "X-Twilio-Signature": sign(
                PUBLIC_BASE + "/twilio/voice/menu/main?attempt=1", params, AUTH_TOKEN
            )
        },
    )
    assert r.status_code == 200
    assert_valid_twiml(r.data)


def test_malformed_status_callback_is_a_400(signed_post: Post) -> None:
    r = signed_post("/twilio/voice/status", call_params(new_call_sid(), CallStatus="exploded"))
    assert r.status_code == 400


def test_database_failure_still_answers_with_an_apology(
    make_runtime: Callable[..., object], signed_post: Post
) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from callcenter.app import create_app
    from tests.conftest import sign

    broken = sessionmaker(create_engine("sqlite:////nonexistent/dir/db.sqlite"))
    app = create_app(runtime=make_runtime(broken))  # type: ignore[operator]
    params = call_params(new_call_sid())
    r = app.test_client().post(
        "/twilio/voice/incoming",
        data=params,
        headers={"X-Twilio-Signature": sign(PUBLIC_BASE + "/twilio/voice/incoming", params)},
    )
    assert r.status_code == 200
    root = assert_valid_twiml(r.data)
    assert [el.get("language") for el in root.iter("Say")] == ["zh-CN", "en-US"]
    assert root.find("Enqueue") is not None


@pytest.mark.parametrize("value", ["²", "٣", "1e3", "-1", "9" * 12])
def test_numbers_twilio_would_never_send_are_ignored(
    signed_post: Post, session: Session, value: str
) -> None:
    sid = new_call_sid()
    signed_post("/twilio/voice/incoming", call_params(sid))
    r = signed_post(
        "/twilio/voice/status",
        call_params(sid, CallStatus="completed", CallDuration=value, SequenceNumber=value),
    )
    assert r.status_code == 204
    call = session.scalar(select(Call).where(Call.sid == sid))
    assert call is not None and call.duration_s is None and call.last_sequence is None
