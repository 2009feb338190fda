"""Phone network fixtures: a scripted TwiML app over real HTTP on 127.0.0.1, and the network."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from werkzeug.serving import BaseWSGIServer, make_server

from phone_network.clock import VirtualClock
from phone_network.network import PhoneNetwork

ACCOUNT_SID = "AC" + "b2" * 16
AUTH_TOKEN = "phone-network-test-token"
HOTLINE = "+864008001234"
CALLER = "+8613800138000"


@dataclass(frozen=True)
class Hit:
    """One request the app received, with whether its X-Twilio-Signature was valid."""

    path: str
    method: str
    params: dict[str, str]
    signed: bool
    headers: dict[str, str]


Handler = Callable[[Hit], Any]


def constant(text: str) -> Handler:
    def reply(hit: Hit) -> str:
        return text

    return reply


class ServedApp:
    """A WSGI app served by werkzeug on 127.0.0.1 in a thread; `stop()` joins it."""

    def __init__(self, app: Any) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self._thread.join(5)
        self.server.server_close()


class TwimlApp:
    """Serves TwiML per path from handlers and checks every signature like our app does."""

    def __init__(self, token: str) -> None:
        self._validator = RequestValidator(token)
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self.hits: list[Hit] = []
        self.flask = Flask("twiml-test-app")
        self.flask.add_url_rule("/<path:path>", view_func=self._serve, methods=["GET", "POST"])
        self._served = ServedApp(self.flask)
        self.base = self._served.url

    def url(self, path: str) -> str:
        return self.base + path

    def on(self, path: str, reply: str | Handler) -> None:
        """Answer requests to `path` with TwiML text, or with whatever `reply(hit)` returns."""
        self._handlers[path] = constant(reply) if isinstance(reply, str) else reply

    def requests_to(self, path: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path == path]

    def await_requests(self, path: str, count: int = 1, timeout: float = 5.0) -> list[Hit]:
        """The requests to `path` once there are `count` (callbacks another thread sends after
        a leg has ended, e.g. a conference's recording, may still be on their way)."""
        deadline = time.monotonic() + timeout
        while len(hits := self.requests_to(path)) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return hits

    def stop(self) -> None:
        self._served.stop()

    def _serve(self, path: str) -> Any:
        params = request.form.to_dict() if request.method == "POST" else request.args.to_dict()
        signed = self._validator.validate(
            request.url, request.form.to_dict() if request.method == "POST" else {},
            request.headers.get("X-Twilio-Signature", ""))
        hit = Hit("/" + path, request.method, params, signed, dict(request.headers))
        with self._lock:
            self.hits.append(hit)
        if not signed:
            return Response("bad signature", status=403)
        handler = self._handlers.get(hit.path)
        if handler is None:
            return Response("<Response/>", content_type="text/xml")
        result = handler(hit)
        if isinstance(result, str):
            return Response(result, content_type="text/xml")
        return result


def twiml(*verbs: str) -> str:
    return "<?xml version='1.0' encoding='UTF-8'?><Response>" + "".join(verbs) + "</Response>"


@pytest.fixture
def app() -> Iterator[TwimlApp]:
    served = TwimlApp(AUTH_TOKEN)
    yield served
    served.stop()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def net(clock: VirtualClock, app: TwimlApp) -> Iterator[PhoneNetwork]:
    network = PhoneNetwork(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, clock=clock)
    network.add_number(HOTLINE, voice_url=app.url("/voice"), status_callback=app.url("/status"),
                       fallback_url=app.url("/fallback"))
    yield network
    network.close()
