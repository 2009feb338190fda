"""The telephony gateway against the local phone network's REST face, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from callcenter.runtime import telephony_for as gateway_for
from config.settings import Settings
from core.telephony import TelephonyRejected, TelephonyUnavailable, TwilioGateway
from phone_network.clock import VirtualClock
from phone_network.network import PhoneNetwork
from phone_network.parties import Answering
from phone_network.rest_api import Credentials
from phone_network.server import NetworkServer

WAIT = "<Response><Pause length='600'/></Response>"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def local(tmp_path: object, clock: VirtualClock) -> Iterator[tuple[PhoneNetwork, Settings]]:
    settings = Settings(instance_path=tmp_path)  # type: ignore[arg-type]
    net = PhoneNetwork(
        account_sid=settings.account_sid, auth_token=settings.signing_token, clock=clock
    )
    server = NetworkServer(net, Credentials(settings.account_sid, settings.signing_token))
    server.start()
    yield net, replace(settings, phone_network_url=server.url)
    net.close()
    server.stop()


@pytest.fixture
def gateway(local: tuple[PhoneNetwork, Settings]) -> Iterator[TwilioGateway]:
    gw = gateway_for(local[1])
    yield gw
    gw.client.http_client.close()


def test_place_redirect_and_hang_up_a_call(
    local: tuple[PhoneNetwork, Settings], gateway: TwilioGateway, clock: VirtualClock
) -> None:
    net, settings = local
    net.add_endpoint("client:alice", Answering(after=0, talk=None))
    with clock.hold():
        placed = gateway.place_call(to="client:alice", from_=settings.hotline_number, twiml=WAIT)
        assert placed.sid.startswith("CA")
        net.call(placed.sid).wait_for("pause")
        gateway.hang_up(placed.sid)
        other = gateway.place_call(to="client:alice", from_=settings.hotline_number, twiml=WAIT)
        net.call(other.sid).wait_for("pause")
        gateway.redirect_call(other.sid, "http://127.0.0.1:9/not-served")
    assert net.call(placed.sid).wait(5).hung_up_by == "api"
    redirected = net.call(other.sid).wait(5)  # it left the pause to fetch the new URL
    assert any(
        step[:2] == ("webhook-error", "http://127.0.0.1:9/not-served")
        for step in redirected.steps()
    )


def test_ended_call_is_rejected_not_retried(
    local: tuple[PhoneNetwork, Settings], gateway: TwilioGateway
) -> None:
    with pytest.raises(TelephonyRejected) as err:
        gateway.redirect_call("CA" + "0" * 32, "http://127.0.0.1:9/x")
    assert err.value.status == 404 and err.value.code == "telephony-rejected"


def test_network_down_is_unavailable_so_jobs_retry(tmp_path: object) -> None:
    settings = Settings(
        instance_path=tmp_path,  # type: ignore[arg-type]
        phone_network_url="http://127.0.0.1:9",
    )
    gateway = gateway_for(settings)
    with pytest.raises(TelephonyUnavailable):
        gateway.hang_up("CA" + "0" * 32)
    gateway.client.http_client.close()


def test_monitor_whisper_barge_change_the_supervisor_participant(
    local: tuple[PhoneNetwork, Settings], gateway: TwilioGateway, clock: VirtualClock
) -> None:
    net, settings = local
    for who in ("client:agent", "client:caller", "client:sup"):
        net.add_endpoint(who, Answering(after=0, talk=None))
    room = ("<Response><Dial><Conference startConferenceOnEnter='true'>room-1</Conference>"
            "</Dial></Response>")
    with clock.hold():
        agent = gateway.place_call(to="client:agent", from_=settings.hotline_number, twiml=room)
        caller = gateway.place_call(to="client:caller", from_=settings.hotline_number, twiml=room)
        net.call(agent.sid).wait_for("conference")
        net.call(caller.sid).wait_for("conference")
        conference = net.conferences.find("room-1")
        assert conference is not None
        sup = gateway.add_participant(
            conference.sid, from_=settings.hotline_number, to="client:sup", muted=True
        )
        net.call(sup).wait_for("conference")
        gateway.update_participant(
            conference.sid, sup, muted=False, coaching=True, call_sid_to_coach=agent.sid
        )
        member = conference.participants.get(sup)
        assert member is not None and member.coaching and member.call_sid_to_coach == agent.sid
        gateway.update_participant(conference.sid, sup, coaching=False, muted=False)
        assert not member.coaching and not member.muted
        gateway.end_conference(conference.sid)
