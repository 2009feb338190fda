"""1,000 correctly signed but randomly malformed requests: never a 5xx, only well-formed TwiML."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from tests.conftest import ACCOUNT_SID
from tests.twiml_grammar import assert_valid_twiml

CALLBACK_PATHS = ("/twilio/voice/status", "/twilio/voice/recording/status")
PATHS = (
    "/twilio/voice/incoming",
    "/twilio/voice/menu/{node}",
    "/twilio/voice/queue/wait",
    "/twilio/voice/queue/exit",
    "/twilio/voice/voicemail/done",
    "/twilio/voice/fallback",
    *CALLBACK_PATHS,
)
NODES = (
    "language",
    "identify",
    "main",
    "order_status",
    "rma_status",
    "order_done",
    "welcome",
    "agent",
    "after_hours",
    "goodbye",
    "x" * 300,
    "..",
    "%00",
    "菜单",
)

junk = st.text(max_size=600) | st.sampled_from(
    ["", " ", "\x00", "1" * 500, "#", "*#", "-1", "NaN", "<Response/>", "]]>", "\ud7ff\ue000"]
)
sid = st.sampled_from(["CA" + "0" * 32, "CA" + "f" * 32]) | st.text(max_size=40)
values = {
    "CallSid": sid,
    "AccountSid": st.just(ACCOUNT_SID) | junk,
    "From": st.sampled_from(["+8613800138000", "anonymous", "client:alice", "", "+"]) | junk,
    "To": junk,
    "CallStatus": st.sampled_from(["ringing", "completed", "in-progress"]) | junk,
    "Direction": st.sampled_from(["inbound", "outbound-api"]) | junk,
    "Digits": st.from_regex(r"[0-9*#]{0,30}", fullmatch=True) | junk,
    "SpeechResult": junk,
    "Confidence": junk,
    "QueueResult": st.sampled_from(["bridged", "hangup", "leave", "queue-full"]) | junk,
    "QueueTime": st.integers(-5, 10**12).map(str) | junk,
    "RecordingSid": st.sampled_from(["RE" + "1" * 32]) | junk,
    "RecordingUrl": st.sampled_from(["https://api.twilio.com/r", "javascript:x"]) | junk,
    "RecordingDuration": junk,
    "RecordingStatus": junk,
    "SequenceNumber": junk,
    "Timestamp": st.sampled_from(["Mon, 23 Nov 2026 03:05:00 +0000", "yesterday"]) | junk,
    "CallDuration": junk,
    "ErrorCode": junk,
}
params = st.dictionaries(st.sampled_from(sorted(values)), st.just(None), max_size=12).flatmap(
    lambda keys: st.fixed_dictionaries({k: values[k] for k in keys})
)
query = st.dictionaries(st.sampled_from(["attempt", "queue", "reason"]), junk, max_size=3)


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(path=st.sampled_from(PATHS), node=st.sampled_from(NODES), form=params, args=query)
def test_signed_malformed_requests_never_fail(
    signed_post: Callable[..., TestResponse],
    path: str,
    node: str,
    form: dict[str, str],
    args: dict[str, str],
) -> None:
    target = path.format(node=quote(node, safe="")) + (f"?{urlencode(args)}" if args else "")
    response = signed_post(target, form)
    assert response.status_code < 500, (target, form)
    if path in CALLBACK_PATHS:
        assert response.status_code in (204, 400)
    else:
        assert response.status_code in (200, 404), (target, form)
        if response.status_code == 200:
            assert response.content_type.startswith("text/xml")
            assert_valid_twiml(response.data)
