"""`callcenter call` (scripted, interactive, remote, app started here) and `phone-network`."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

from callcenter.commands.phone import (
    CallEnvironment,
    answer_command,
    call_command,
    phone_network_command,
)
from config.settings import Settings
from phone_network.clock import VirtualClock
from phone_network.network import PhoneNetwork
from phone_network.parties import Answering
from phone_network.rest_api import Credentials
from phone_network.server import NetworkServer
from tests.phone.conftest import AUTH_TOKEN, CALLER, HOTLINE, Hit, TwimlApp, twiml

INCOMING = "/twilio/voice/incoming"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def settings(tmp_path: Path, app: TwimlApp) -> Settings:
    return Settings(instance_path=tmp_path, twilio_auth_token=AUTH_TOKEN,
                    public_base_url=app.base, hotline_number=HOTLINE,
                    phone_network_url=f"http://127.0.0.1:{free_port()}")


def run(command: Any, args: list[str], env: CallEnvironment, stdin: str | None = None) -> Result:
    return CliRunner().invoke(command, args, obj=env, input=stdin)


def menu(app: TwimlApp) -> None:
    app.on(INCOMING, twiml('<Say language="zh-CN">欢迎致电银泰客服</Say>',
                           '<Gather numDigits="1" action="/twilio/voice/menu"/>'))
    app.on("/twilio/voice/menu", lambda hit: twiml(
        f"<Say>You pressed {hit.params['Digits']}</Say>",
        '<Gather input="speech" action="/twilio/voice/speech"/>'))
    app.on("/twilio/voice/speech", lambda hit: twiml(
        f"<Say>Looking up {hit.params['SpeechResult']}</Say>",
        '<Enqueue waitUrl="/twilio/voice/hold">general</Enqueue>'))
    app.on("/twilio/voice/hold", twiml('<Play>https://cdn.test/music.mp3</Play>'))


def test_a_scripted_call_runs_the_network_here_and_prints_what_is_heard(
        app: TwimlApp, settings: Settings) -> None:
    menu(app)
    result = run(call_command, ["--from", CALLER, "--press", "1", "--say", "order status",
                                "--max-hold", "60"], CallEnvironment(settings))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:4] == ["[zh-CN] 欢迎致电银泰客服", "(waiting for keys)", "> pressed 1",
                         "[en-US] You pressed 1"]
    assert '> said "order status"' in lines
    assert '(waiting in queue "general", position 1)' in lines
    assert lines.count("(music: https://cdn.test/music.mp3)") == 1
    assert lines[-1] == "(call ended: you hung up)"
    assert all(hit.signed for hit in app.hits)
    assert app.requests_to("/twilio/voice/status")[0].params["CallStatus"] == "completed"


def test_press_and_say_keep_their_command_line_order(app: TwimlApp, settings: Settings) -> None:
    app.on(INCOMING, twiml('<Gather input="dtmf speech" action="/a"/>'))
    app.on("/a", twiml('<Gather input="dtmf speech" action="/b"/>'))
    app.on("/b", twiml('<Gather input="dtmf speech" action="/c"/>'))
    app.on("/c", twiml("<Hangup/>"))
    result = run(call_command, ["--from", CALLER, "--say", "hello", "--press", "2",
                                "--say", "bye"], CallEnvironment(settings))
    assert result.exit_code == 0, result.output
    assert [h.params.get("SpeechResult", h.params.get("Digits")) for h in app.hits
            if h.path in ("/a", "/b", "/c")] == ["hello", "2", "bye"]


def test_a_script_file_with_comments(app: TwimlApp, settings: Settings, tmp_path: Path) -> None:
    app.on(INCOMING, twiml('<Gather numDigits="1" action="/menu"/>'))
    app.on("/menu", twiml('<Record action="/saved"/>'))
    app.on("/saved", lambda hit: twiml(f"<Say>Saved {hit.params['RecordingDuration']} s</Say>"))
    script = tmp_path / "caller.txt"
    script.write_text("# a caller leaving a message\npress 3\nspeak 7\n\nhangup\n")
    result = run(call_command, ["--from", CALLER, "--script", str(script)],
                 CallEnvironment(settings))
    assert result.exit_code == 0, result.output
    assert "> speaks for 7 s" in result.output
    assert app.requests_to("/saved")[0].params["Digits"] == "hangup"


def test_a_bad_script_line_is_a_usage_error(settings: Settings, tmp_path: Path) -> None:
    script = tmp_path / "caller.txt"
    script.write_text("press 1\ndance\n")
    result = run(call_command, ["--from", CALLER, "--script", str(script)],
                 CallEnvironment(settings))
    assert result.exit_code == 2
    assert "line 2" in result.output


def test_a_failing_app_makes_the_command_fail(app: TwimlApp, settings: Settings) -> None:
    app.on(INCOMING, lambda hit: Response("boom", status=500))
    app.on("/twilio/voice/fallback", lambda hit: Response("down", status=500))
    result = run(call_command, ["--from", CALLER, "--press", "1"], CallEnvironment(settings))
    assert result.exit_code == 1
    assert "(call ended: the phone network ended it)" in result.output
    assert "Error: application error: error 11200" in result.output


def test_interactive_keys_come_from_the_terminal(app: TwimlApp, settings: Settings) -> None:
    app.on(INCOMING, twiml('<Gather numDigits="1" action="/menu"><Say>Press a key</Say></Gather>',
                           '<Say>Nothing pressed</Say>'))
    app.on("/menu", lambda hit: twiml(f"<Say>Key {hit.params['Digits']}</Say>",
                                      '<Gather action="/menu2"/>'))
    result = run(call_command, ["--from", CALLER, "--fast"], CallEnvironment(settings),
                 stdin="5\nh\n")
    assert result.exit_code == 0, result.output
    assert "[en-US] Key 5" in result.output
    assert result.output.rstrip().endswith("(call ended: you hung up)")


def test_a_running_network_takes_the_call_over_its_control_api(
        app: TwimlApp, settings: Settings) -> None:
    menu(app)
    net = PhoneNetwork(account_sid=settings.account_sid, auth_token=settings.signing_token,
                       clock=VirtualClock())
    net.add_number(HOTLINE, voice_url=app.url(INCOMING))
    with NetworkServer(net, Credentials(settings.account_sid, settings.signing_token)) as server:
        result = run(call_command, ["--from", CALLER, "--press", "4", "--say", "refund",
                                    "--max-hold", "30"],
                     CallEnvironment(replace(settings, phone_network_url=server.url)))
        assert result.exit_code == 0, result.output
        assert "[en-US] Looking up refund" in result.output
        [call] = net.calls()
        assert call.from_ == CALLER


def test_answer_makes_a_number_on_the_running_network_pick_up(settings: Settings) -> None:
    net = PhoneNetwork(account_sid=settings.account_sid, auth_token=settings.signing_token,
                       clock=VirtualClock())
    with NetworkServer(net, Credentials(settings.account_sid, settings.signing_token)) as server:
        env = CallEnvironment(replace(settings, phone_network_url=server.url))
        result = run(answer_command, [CALLER, "--after", "3", "--talk", "20"], env)
        assert result.exit_code == 0, result.output
        assert net.endpoints()[CALLER] == Answering(mode="answer", after=3.0, talk=20.0)
        busy = run(answer_command, [CALLER, "--mode", "busy"], env)
        assert busy.exit_code == 0 and net.endpoints()[CALLER].mode == "busy"


def test_answer_without_a_network_says_how_to_start_one(
        settings: Settings, closed_url: str) -> None:
    result = run(answer_command, [CALLER], CallEnvironment(replace(settings,
                                                                   phone_network_url=closed_url)))
    assert result.exit_code == 1 and "callcenter run" in result.output


@pytest.fixture
def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_without_an_app_running_the_command_starts_one_here(
        settings: Settings, closed_url: str) -> None:
    seen: list[Settings] = []
    hits: list[Hit] = []

    def create_app(local: Settings) -> Flask:
        seen.append(local)
        flask = Flask("in-process-app")
        validator = RequestValidator(local.signing_token)

        @flask.post(INCOMING)
        def incoming() -> Response:
            signed = validator.validate(local.public_base_url + INCOMING, request.form.to_dict(),
                                        request.headers.get("X-Twilio-Signature", ""))
            hits.append(Hit(INCOMING, "POST", request.form.to_dict(), signed, {}))
            return Response(twiml("<Say>Served in-process</Say>"), content_type="text/xml")

        @flask.post("/twilio/voice/status")
        def status() -> tuple[str, int]:
            return "", 204

        return flask

    env = CallEnvironment(replace(settings, public_base_url=closed_url), create_app)
    result = run(call_command, ["--from", CALLER, "--press", "1"], env)
    assert result.exit_code == 0, result.output
    assert "[en-US] Served in-process" in result.output
    [local] = seen
    assert local.public_base_url.startswith("http://127.0.0.1:")
    assert local.public_base_url != closed_url
    assert local.phone_network_url == settings.phone_network_url
    assert [h.signed for h in hits] == [True]


def test_an_app_that_cannot_start_is_reported(settings: Settings, closed_url: str) -> None:
    def create_app(local: Settings) -> Flask:
        raise RuntimeError("no database")

    env = CallEnvironment(replace(settings, public_base_url=closed_url), create_app)
    result = run(call_command, ["--from", CALLER, "--press", "1"], env)
    assert result.exit_code == 1
    assert "could not be started here: no database" in result.output


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def test_phone_network_reports_a_port_in_use(settings: Settings, busy_port: int) -> None:
    result = run(phone_network_command, ["--port", str(busy_port)], CallEnvironment(settings))
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{busy_port}" in result.output
