"""Answering-machine detection on REST-created calls: AnsweredBy on the first TwiML request,
`machine_end_beep` after a machine's greeting (DetectMessageEnd), `human` for a person, and
through the REST face and the official SDK as Twilio takes it."""

from __future__ import annotations

import pytest
from twilio.rest import Client

from phone_network.calls import NewCall
from phone_network.network import PhoneNetwork
from phone_network.parties import Answering
from phone_network.rest_api import Credentials
from phone_network.sdk import http_client_for
from phone_network.server import NetworkServer
from tests.phone.conftest import ACCOUNT_SID, AUTH_TOKEN, HOTLINE, TwimlApp, twiml

CUSTOMER = "+8613711112222"
SAY = twiml("<Say language='zh-CN'>您好</Say><Hangup/>")


def test_a_machine_is_detected_at_the_beep_after_its_greeting(
    net: PhoneNetwork, app: TwimlApp
) -> None:
    net.add_endpoint(CUSTOMER, Answering(after=2, machine=True, greeting=8))
    app.on("/notice", SAY)
    call = net.create_call(
        NewCall(
            to=CUSTOMER, from_=HOTLINE, url=app.url("/notice"), machine_detection="DetectMessageEnd"
        )
    )
    result = call.wait(10)
    (hit,) = app.requests_to("/notice")
    assert hit.params["AnsweredBy"] == "machine_end_beep" and hit.signed
    kinds = [e.kind for e in result.transcript]
    assert kinds.index("machine-greeting") < kinds.index("beep") < kinds.index("say")
    said = next(e for e in result.transcript if e.kind == "say")
    heard_at = (said.at - call.answered_at).total_seconds()  # type: ignore[operator]
    assert heard_at == pytest.approx(8, abs=0.5)  # the message starts after the greeting


@pytest.mark.parametrize(
    ("machine", "mode", "expected"),
    [
        (False, "DetectMessageEnd", "human"),
        (True, "Enable", "machine_start"),
        (False, "Enable", "human"),
    ],
)
def test_answered_by_follows_the_party_and_the_mode(
    net: PhoneNetwork, app: TwimlApp, machine: bool, mode: str, expected: str
) -> None:
    net.add_endpoint(CUSTOMER, Answering(after=1, machine=machine))
    app.on("/notice", SAY)
    net.create_call(
        NewCall(to=CUSTOMER, from_=HOTLINE, url=app.url("/notice"), machine_detection=mode)
    ).wait(10)
    assert app.requests_to("/notice")[0].params["AnsweredBy"] == expected


def test_without_machine_detection_no_answered_by_is_sent(net: PhoneNetwork, app: TwimlApp) -> None:
    net.add_endpoint(CUSTOMER, Answering(after=1, machine=True))
    app.on("/notice", SAY)
    net.create_call(NewCall(to=CUSTOMER, from_=HOTLINE, url=app.url("/notice"))).wait(10)
    assert "AnsweredBy" not in app.requests_to("/notice")[0].params


def test_the_rest_face_takes_machine_detection_and_refuses_an_unknown_mode(
    net: PhoneNetwork, app: TwimlApp
) -> None:
    net.add_endpoint(CUSTOMER, Answering(after=1, machine=True, greeting=3))
    app.on("/notice", SAY)
    server = NetworkServer(net, Credentials(ACCOUNT_SID, AUTH_TOKEN)).start()
    try:
        client = Client(
            ACCOUNT_SID, AUTH_TOKEN, ACCOUNT_SID, http_client=http_client_for(server.url)
        )
        placed = client.calls.create(
            to=CUSTOMER, from_=HOTLINE, url=app.url("/notice"), machine_detection="DetectMessageEnd"
        )
        net.call(placed.sid).wait(10)
        assert app.requests_to("/notice")[0].params["AnsweredBy"] == "machine_end_beep"
        from twilio.base.exceptions import TwilioRestException

        with pytest.raises(TwilioRestException) as refused:
            client.calls.create(
                to=CUSTOMER, from_=HOTLINE, url=app.url("/notice"), machine_detection="Sometimes"
            )
        assert refused.value.status == 400 and refused.value.code == 21208
    finally:
        server.stop()


def test_an_answering_machine_has_no_script() -> None:
    with pytest.raises(ValueError, match="no script"):
        Answering(machine=True, script=("press 1",))
