"""A whole contact centre for end-to-end tests: the app over HTTP, the phone network with its
REST face (the telephony gateway talks to it through the official SDK), agents whose
`client:` endpoints answer as told, and jobs run at once (RQ's synchronous mode)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from twilio.rest import Client
from werkzeug.serving import BaseWSGIServer, make_server

from callcenter.app import create_app
from callcenter.jobs import router as jobs
from callcenter.runtime import Runtime
from callcenter.seed import seed_demo
from core.models import Language
from core.telephony import TwilioGateway
from phone_network.calls import Call as NetworkCall
from phone_network.clock import RealClock, VirtualClock
from phone_network.network import PhoneNetwork
from phone_network.parties import Answering, ScriptedCaller
from phone_network.rest_api import Credentials
from phone_network.sdk import http_client_for
from phone_network.server import NetworkServer
from queues.models import Actor, Agent, AgentEvent, AgentState, QueuedCall
from tests.builders import add_agent
from tests.conftest import AUTH_TOKEN, NOW

HOTLINE = "+864008001234"


@dataclass
class Centre:
    network: PhoneNetwork
    clock: VirtualClock
    factory: sessionmaker[Session]
    runtime: Runtime
    app: Flask

    def call(self, from_: str, *actions: str, max_hold: float = 600) -> NetworkCall:
        """Place a caller's call; returns at once (use `.wait()`)."""
        return self.network.place_call(
            from_=from_, to=HOTLINE, party=ScriptedCaller(actions, max_hold=max_hold)
        )

    def agent(
        self,
        login: str,
        *,
        skills: dict[str, int] | None = None,
        languages: tuple[Language, ...] = (Language.ZH, Language.EN),
        answering: Answering | None = None,
        available: bool = True,
    ) -> int:
        """Create an agent whose browser (`client:agent_<login>`) answers as `answering`."""
        with self.factory.begin() as s:
            agent = add_agent(
                s,
                login,
                skills=skills or {"general": 3},
                languages=list(languages),
                now=self.clock.now(),
            )
            agent_id, identity = agent.id, agent.client_identity
        self.network.add_endpoint(
            f"client:{identity}", answering or Answering(after=2, talk=30, max_hold=3600)
        )
        if available:
            self.set_state(agent_id, AgentState.AVAILABLE)
        return agent_id

    def set_state(
        self, agent_id: int, to: AgentState, reason: str | None = None, actor: Actor = Actor.AGENT
    ) -> None:
        with self.app.app_context(), self.runtime.unit_of_work() as uow:
            jobs.set_agent_state(self.runtime, uow, agent_id, to, reason=reason, actor=actor)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        """Poll `condition` (real seconds; virtual time runs on meanwhile) until it holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached within {timeout} s")
            time.sleep(0.02)

    def tick(self) -> None:
        with self.app.app_context():
            jobs.tick()

    @contextmanager
    def timer(self, every_s: float = 2.0) -> Iterator[None]:
        """The router's tick every `every_s` seconds of clock time, as `callcenter cron` does.

        The timer is one of the clock's actors, so virtual time keeps moving while nothing
        else happens (wrap-ups end, stale rings are given up).
        """
        stop = threading.Event()
        actor = self.clock.actor()

        def run() -> None:
            try:
                while not stop.is_set():
                    self.tick()
                    actor.sleep(every_s, stop.is_set)
            finally:
                actor.close()

        thread = threading.Thread(target=run, name="centre-timer", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            self.clock.notify()
            thread.join(10)

    def entries(self, leg: NetworkCall | None = None) -> list[QueuedCall]:
        with self.factory() as s:
            query = select(QueuedCall).order_by(QueuedCall.id)
            if leg is not None:
                query = query.where(QueuedCall.call_sid == leg.sid)
            return list(s.scalars(query))

    def agent_row(self, agent_id: int) -> Agent:
        with self.factory() as s:
            agent = s.get(Agent, agent_id)
            assert agent is not None
            return agent

    def agent_states(self, agent_id: int) -> list[tuple[str | None, str]]:
        with self.factory() as s:
            events = s.scalars(
                select(AgentEvent).where(AgentEvent.agent_id == agent_id).order_by(AgentEvent.id)
            )
            return [(e.to_state.value, e.reason) for e in events]


@contextmanager
def running_centre(
    factory: sessionmaker[Session],
    make_runtime: Callable[..., Runtime],
    *,
    start: datetime = NOW,
    clock: VirtualClock | RealClock | None = None,
    **settings: object,
) -> Iterator[Centre]:
    """`clock`: the network's and the app's (default virtual, from `start`); a RealClock for a
    browser driving the desk in real time."""
    with factory.begin() as s:
        seed_demo(s, now=start)
    clock = clock or VirtualClock(start)
    app_server: BaseWSGIServer = make_server("127.0.0.1", 0, lambda env, sr: [], threaded=True)
    base = f"http://127.0.0.1:{app_server.server_port}"
    runtime = make_runtime(
        factory, now=clock.now, jobs_async=False, public_base_url=base, **settings
    )
    network = PhoneNetwork(
        account_sid=runtime.settings.account_sid, auth_token=AUTH_TOKEN, clock=clock
    )
    net_server = NetworkServer(network, Credentials(runtime.settings.account_sid, AUTH_TOKEN))
    net_server.start()
    runtime.settings = replace(runtime.settings, phone_network_url=net_server.url)  # the desk's
    sid = runtime.settings.account_sid
    runtime.telephony_factory = lambda: TwilioGateway(
        Client(sid, AUTH_TOKEN, sid, http_client=http_client_for(net_server.url))
    )
    app = create_app(runtime=runtime)
    app_server.app = app
    thread = threading.Thread(target=app_server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    network.add_number(
        HOTLINE,
        voice_url=f"{base}/twilio/voice/incoming",
        fallback_url=f"{base}/twilio/voice/fallback",
        status_callback=f"{base}/twilio/voice/status",
        all_status_events=True,
    )
    try:
        yield Centre(network, clock, factory, runtime, app)  # type: ignore[arg-type]
    finally:
        network.close()
        net_server.stop()
        app_server.shutdown()
        thread.join(5)
        app_server.server_close()
