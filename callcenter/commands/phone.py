"""`callcenter call` phones the hotline from a terminal; `callcenter phone-network` serves it;
`callcenter answer` makes a number on it pick up (a customer being called back)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import requests
from werkzeug.serving import make_server

from config.settings import Settings
from phone_network.clock import Clock, RealClock, VirtualClock
from phone_network.events import CallResult
from phone_network.network import PhoneNetwork
from phone_network.parties import (
    ANSWERING_MODES,
    Action,
    Answering,
    Digits,
    GatherPrompt,
    HangUp,
    InteractiveCaller,
    NoInput,
    Party,
    ScriptedCaller,
    ScriptError,
    Speech,
    Talk,
    parse_action,
    parse_script,
    read_gather_input,
    read_record_input,
)
from phone_network.parties import Response as PartyResponse
from phone_network.remote import RemoteError, RemoteNetwork, network_answers
from phone_network.rest_api import Credentials
from phone_network.server import NetworkServer
from phone_network.transcript import Printer

AppFactory = Callable[[Settings], Any]
_ORDER = "callcenter.commands.phone.order"


@dataclass(frozen=True)
class CallEnvironment:
    """What the commands run against: settings, and how to build the app in-process.

    Pass one as the click context object (tests do); otherwise the settings come from the
    environment and the app from `callcenter.app.create_app`.
    """

    settings: Settings
    create_app: AppFactory | None = None


def _environment(ctx: click.Context) -> CallEnvironment:
    found = ctx.find_object(CallEnvironment)
    if found is not None:
        return found
    from callcenter.commands.base import load_settings

    return CallEnvironment(load_settings())


def _credentials(settings: Settings) -> Credentials:
    return Credentials(
        settings.account_sid, settings.signing_token, settings.twilio_api_secret or None
    )


def _add_hotline(net: PhoneNetwork, number: str, app_url: str) -> None:
    net.add_number(
        number,
        voice_url=f"{app_url}/twilio/voice/incoming",
        status_callback=f"{app_url}/twilio/voice/status",
        fallback_url=f"{app_url}/twilio/voice/fallback",
    )


class _InOrder(click.Command):
    """Remembers the command-line order of --press and --say, which click keeps apart."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        _, _, order = self.make_parser(ctx).parse_args(args=list(args))
        ctx.meta[_ORDER] = [p.name for p in order if p.name in ("press", "say")]
        return super().parse_args(ctx, args)


def _actions(
    ctx: click.Context, press: Sequence[str], say: Sequence[str], script: Path | None
) -> list[Action] | None:
    """The caller's script, or None when a person answers the prompts."""
    try:
        if script is not None:
            return list(parse_script(script.read_text(encoding="utf-8")))
        presses, words = list(press), list(say)
        order = ctx.meta.get(_ORDER, [])
        if not order:
            return None
        return [
            parse_action(f"press {presses.pop(0)}")
            if name == "press"
            else parse_action(f"say {words.pop(0)}")
            for name in order
        ]
    except ScriptError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("call", cls=_InOrder)
@click.option(
    "--from",
    "from_",
    required=True,
    metavar="NUMBER",
    help="The caller's number, e.g. +8613800138000.",
)
@click.option("--to", metavar="NUMBER", help="The number to call (default: the hotline).")
@click.option(
    "--press",
    multiple=True,
    metavar="KEYS",
    help="Keys to press at the next prompt; repeatable, kept in order with --say.",
)
@click.option(
    "--say",
    multiple=True,
    metavar="TEXT",
    help="Words to say at the next prompt; repeatable, kept in order with --press.",
)
@click.option(
    "--script",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of caller actions: press KEYS, say TEXT, wait [S], speak S, hangup.",
)
@click.option(
    "--max-hold",
    type=float,
    default=600.0,
    show_default=True,
    help="Seconds the caller waits in a queue with nothing left to do.",
)
@click.option(
    "--realtime/--fast",
    default=None,
    help="Real time, or virtual time that skips waits (default: fast when scripted).",
)
@click.pass_context
def call_command(
    ctx: click.Context,
    from_: str,
    to: str | None,
    press: tuple[str, ...],
    say: tuple[str, ...],
    script: Path | None,
    max_hold: float,
    realtime: bool | None,
) -> None:
    """Phone the hotline and print what the caller hears.

    Without --press/--say/--script you answer each prompt at the terminal (Enter = no
    input, h = hang up). Uses the phone network at CALLCENTER_PHONE_NETWORK_URL if one is
    running, else runs one here (and the app too, if nothing answers at the public URL).
    """
    env = _environment(ctx)
    actions = _actions(ctx, press, say, script)
    to = to or env.settings.hotline_number
    try:
        if network_answers(env.settings.phone_network_url):
            result = _call_remote(env.settings, from_, to, actions, max_hold)
        else:
            fast = realtime is False or (realtime is None and actions is not None)
            result = _call_here(env, from_, to, actions, max_hold, fast)
    except RemoteError as exc:
        raise click.ClickException(str(exc)) from None
    if not result.ok:
        raise click.ClickException(result.error or "the call failed")


def _read_line(prompt: str) -> str:
    return input(prompt)


def _answer_prompt(prompt: dict[str, Any]) -> dict[str, Any]:
    """Ask the person at the terminal what to do at a remote call's prompt."""
    if prompt.get("kind") == "record":
        response: PartyResponse = read_record_input(_read_line)
    else:
        gather = GatherPrompt(
            frozenset(prompt.get("input", ["dtmf"])),
            float(prompt.get("timeout", 5)),
            prompt.get("num_digits"),
            str(prompt.get("finish_on_key", "#")),
        )
        try:
            response = read_gather_input(gather, _read_line, click.echo)
        except EOFError:
            response = HangUp()
    return _response_json(response)


def _response_json(response: PartyResponse) -> dict[str, Any]:
    if isinstance(response, Digits):
        return {"digits": response.keys}
    if isinstance(response, Speech):
        return {"speech": response.text}
    if isinstance(response, Talk):
        return {"seconds": response.seconds}
    if isinstance(response, HangUp):
        return {"hangup": True}
    assert isinstance(response, NoInput)
    return {"no_input": True}


def _call_remote(
    settings: Settings, from_: str, to: str, actions: list[Action] | None, max_hold: float
) -> CallResult:
    with RemoteNetwork(
        settings.phone_network_url, settings.account_sid, settings.signing_token
    ) as remote:
        script = [str(a) for a in actions] if actions is not None else None
        sid = remote.place_call(from_=from_, to=to, script=script, max_hold=max_hold)
        printer = Printer(click.echo)
        try:
            return remote.follow(sid, printer, None if actions is not None else _answer_prompt)
        except KeyboardInterrupt:
            remote.hang_up(sid)
            return remote.follow(sid, printer)


def _call_here(
    env: CallEnvironment,
    from_: str,
    to: str,
    actions: list[Action] | None,
    max_hold: float,
    fast: bool,
) -> CallResult:
    settings = env.settings
    clock: Clock = VirtualClock(settle=0.05) if fast else RealClock()
    net = PhoneNetwork(
        account_sid=settings.account_sid,
        auth_token=settings.signing_token,
        clock=clock,
        default_client=Answering(),
    )
    with contextlib.ExitStack() as stack:
        server = _serve_network(net, settings).start()
        stack.callback(server.stop, 2.0)
        app_url = settings.public_base_url
        if not _answers(app_url):
            local = replace(settings, phone_network_url=server.url)
            app_url = stack.enter_context(_app_here(env, local))
        _add_hotline(net, to, app_url)
        printer = Printer(click.echo)
        party: Party = (
            ScriptedCaller(actions, max_hold=max_hold, on_event=printer)
            if actions is not None
            else InteractiveCaller(_read_line, click.echo, printer, max_hold=max_hold)
        )
        call = net.place_call(from_=from_, to=to, party=party)
        try:
            return call.wait(None)
        except KeyboardInterrupt:
            net.hang_up(call.sid)
            try:
                return call.wait(2)
            except TimeoutError:  # the call's thread still waits for a line from the terminal
                raise click.Abort from None


def _serve_network(net: PhoneNetwork, settings: Settings) -> NetworkServer:
    """Serve at CALLCENTER_PHONE_NETWORK_URL's port if it is free (the app's REST calls go
    there), else on any free port."""
    parts = urlsplit(settings.phone_network_url)
    if parts.hostname in ("127.0.0.1", "localhost") and parts.port:
        try:
            return NetworkServer(net, _credentials(settings), port=parts.port)
        except OSError:
            pass
    return NetworkServer(net, _credentials(settings))


def _answers(url: str) -> bool:
    """Does anything answer HTTP at `url`?"""
    try:
        with requests.Session() as session:
            session.trust_env = False
            session.get(url, timeout=1.0, allow_redirects=False).close()
    except requests.RequestException:
        return False
    return True


class _Later:
    """A WSGI app that is plugged in once the server's port, and so its URL, is known."""

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@contextlib.contextmanager
def _app_here(env: CallEnvironment, settings: Settings) -> Iterator[str]:
    """Run the app in this process on a free loopback port; yields its URL."""
    holder = _Later()
    server = make_server("127.0.0.1", 0, holder, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        factory = env.create_app or _default_app_factory()
        holder.app = factory(replace(settings, public_base_url=url))
    except Exception as exc:
        server.server_close()
        raise click.ClickException(
            f"nothing answers at {settings.public_base_url} and the app could not be started "
            f"here: {exc}"
        ) from None
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        daemon=True,
        name="callcenter-app",
    )
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def _default_app_factory() -> AppFactory:
    from callcenter.app import create_app
    from callcenter.migrate import upgrade
    from core.db import make_engine

    def create(settings: Settings) -> Any:
        if not settings.database_url:  # the embedded SQLite: migrate it, as `make run` would
            settings.instance_path.mkdir(parents=True, exist_ok=True)
            engine = make_engine(settings.effective_database_url)
            upgrade(engine)
            engine.dispose()
        return create_app(settings)

    return create


@click.command("phone-network")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=int,
    default=None,
    help="Port (default: the one in CALLCENTER_PHONE_NETWORK_URL).",
)
@click.option(
    "--realtime/--fast", default=True, help="Real time (default), or virtual time that skips waits."
)
@click.option(
    "--auto-answer-clients/--no-auto-answer-clients",
    default=True,
    help="Unregistered client:<identity> endpoints answer after a second.",
)
@click.pass_context
def phone_network_command(
    ctx: click.Context, host: str, port: int | None, realtime: bool, auto_answer_clients: bool
) -> None:
    """Run the local phone network: Twilio's REST API and webhooks, without Twilio."""
    settings = _environment(ctx).settings
    port = port if port is not None else (urlsplit(settings.phone_network_url).port or 5001)
    net = PhoneNetwork(
        account_sid=settings.account_sid,
        auth_token=settings.signing_token,
        clock=RealClock() if realtime else VirtualClock(settle=0.05),
        default_client=Answering() if auto_answer_clients else None,
    )
    _add_hotline(net, settings.hotline_number, settings.public_base_url)
    try:
        server = NetworkServer(net, _credentials(settings), host=host, port=port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
    click.echo(
        f"Local phone network on {server.url} (account {settings.account_sid}); "
        f"{settings.hotline_number} rings {settings.public_base_url}/twilio/voice/incoming"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        net.close()


@click.command("answer")
@click.argument("number")
@click.option(
    "--after",
    type=float,
    default=2.0,
    show_default=True,
    help="Seconds it rings before it picks up.",
)
@click.option(
    "--talk",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds into a conversation that it hangs up.",
)
@click.option(
    "--mode",
    type=click.Choice(ANSWERING_MODES),
    default="answer",
    show_default=True,
    help="How it answers (no-answer, busy: try the engine's retries).",
)
@click.pass_context
def answer_command(ctx: click.Context, number: str, after: float, talk: float, mode: str) -> None:
    """Make NUMBER on the running local phone network answer its calls (e.g. a customer who
    asked to be called back), until the network stops."""
    settings = _environment(ctx).settings
    username, password = settings.account_sid, settings.signing_token
    try:
        with RemoteNetwork(settings.phone_network_url, username, password) as network:
            network.register_endpoint(number, Answering(mode=mode, after=after, talk=talk))
    except RemoteError as exc:
        raise click.ClickException(
            f"the phone network at {settings.phone_network_url} did not take it: {exc} "
            "(is `callcenter run` running, with this instance's settings?)"
        ) from None
    click.echo(f"{number} now answers ({mode}) on {settings.phone_network_url}")
