"""What the parts of the network need from each other, declared as Protocols.

The executors of a leg's TwiML (twiml_exec, dial_exec, queue_exec, conference_exec) reach the
network only through a `Switchboard`, the conferences reach it only through a
`ConferenceHost`; `PhoneNetwork` (network.py, the composition of the parts) is both. So no
part below network.py imports it, and the module graph of the package has no circle.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from phone_network.audio import Speech
from phone_network.calls import Call
from phone_network.clock import Clock
from phone_network.leg import Leg, Source
from phone_network.rings import Ring, RingGroup
from phone_network.rooms import (
    Bridge,
    CallQueue,
    ConferenceRoom,
    Participant,
    QueueEntry,
    Recording,
)
from phone_network.twiml import Client, Conference, Number, RecordingOptions
from phone_network.webhooks import WebhookClient


class ConferenceHost(Protocol):
    """What the conferences need of the network that holds them."""

    @property
    def lock(self) -> threading.RLock:
        """The network's lock, under which every conference changes."""
        ...

    @property
    def clock(self) -> Clock: ...

    @property
    def account_sid(self) -> str: ...

    @property
    def auth_token(self) -> str: ...

    def store_recording(self, hooks: WebhookClient, call: Call | None, *, call_sid: str,
                        conference_sid: str | None, started: datetime, duration: float,
                        channels: int, source: str, speech: Sequence[Speech],
                        options: RecordingOptions, document_url: str | None,
                        sid: str | None = None) -> Recording:
        """Keep a finished recording and send its `completed` status callback."""
        ...


class ConferenceDesk(Protocol):
    """What a leg in a <Dial><Conference> (or a REST participant) needs of the conferences."""

    def enter(self, leg: Leg, noun: Conference, url: str | None,
              room: ConferenceRoom | None = None) -> tuple[ConferenceRoom, Participant] | None:
        """Join (creating the room if needed); None if the room is full or already over."""
        ...

    def leave(self, leg: Leg, room: ConferenceRoom, participant: Participant) -> None: ...


class Switchboard(Protocol):
    """What the executors of a leg's TwiML need of the network: other calls, recordings,
    queues, bridges, ringing endpoints and conferences."""

    @property
    def play_seconds(self) -> float:
        """How long one <Play> of an audio URL lasts."""
        ...

    @property
    def conferences(self) -> ConferenceDesk: ...

    def call(self, sid: str) -> Call: ...

    # -- recordings --------------------------------------------------------------------------

    def recording_url(self, sid: str) -> str: ...

    def make_recording(self, leg: Leg, *, started: datetime, duration: float, channels: int,
                       source: str, speech: Sequence[Speech], options: RecordingOptions,
                       document_url: str | None, sid: str | None = None) -> Recording: ...

    def recording_event(self, leg: Leg, options: RecordingOptions, document_url: str | None,
                        status: str, sid: str) -> None: ...

    # -- queues ------------------------------------------------------------------------------

    def find_queue(self, name_or_sid: str) -> CallQueue | None: ...

    def join_queue(self, call: Call, name: str) -> tuple[CallQueue, QueueEntry | None]: ...

    def leave_queue(self, queue: CallQueue, entry: QueueEntry, *,
                    dequeued: bool = False) -> None: ...

    def claim_caller(self, queue: CallQueue, agent: Call,
                     whisper: Source | None) -> tuple[Call, Bridge] | None: ...

    # -- bridges and dialling ----------------------------------------------------------------

    def connect_bridge(self, bridge: Bridge, now: datetime) -> bool: ...

    def end_bridge(self, bridge: Bridge, by: str) -> None: ...

    def ring(self, leg: Leg, target: Number | Client, caller_id: str, document_url: str | None,
             group: RingGroup) -> Ring: ...

    def stop_ringing(self, group: RingGroup) -> str | None: ...

    def hang_up_unanswered(self, leg: Leg, call: Call, status: str) -> None: ...

    def start_callee(self, ring: Ring, bridge: Bridge, whisper: Source | None) -> None: ...
