"""Where legs meet: Twilio queues, two-party bridges, conferences, and the recordings made there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from phone_network.audio import Speech
from phone_network.calls import Call
from phone_network.twiml import RecordingOptions

DEFAULT_MAX_QUEUE_SIZE = 1000


class Bridge:
    """Two legs talking to each other (a <Dial> to a number, client or queue)."""

    def __init__(self, first: Call, second: Call) -> None:
        self.legs = (first.sid, second.sid)
        self.connected_at: datetime | None = None
        self.ended_by: str | None = None

    @property
    def ended(self) -> bool:
        return self.ended_by is not None

    def end(self, by: str) -> bool:
        """End the bridge on behalf of leg `by`; False if it had already ended."""
        if self.ended_by is not None:
            return False
        self.ended_by = by
        return True

    def peer_of(self, sid: str) -> str:
        return self.legs[1] if self.legs[0] == sid else self.legs[0]


@dataclass(frozen=True, slots=True)
class Dequeue:
    """An agent leg's claim on a waiting caller: the bridge to join and the whisper URL."""

    by: Call
    bridge: Bridge
    url: str | None
    method: str


@dataclass(eq=False, slots=True)
class QueueEntry:
    call: Call
    enqueued_at: datetime
    claim: Dequeue | None = None


class CallQueue:
    """A Twilio queue: FIFO of waiting callers, created by the first <Enqueue> of its name."""

    def __init__(self, name: str, sid: str, created_at: datetime,
                 max_size: int = DEFAULT_MAX_QUEUE_SIZE) -> None:
        self.name = name
        self.sid = sid
        self.created_at = created_at
        self.max_size = max_size
        self.entries: list[QueueEntry] = []
        self._dequeued = 0
        self._waited = 0.0

    @property
    def size(self) -> int:
        return len(self.entries)

    def position(self, entry: QueueEntry) -> int:
        return self.entries.index(entry) + 1 if entry in self.entries else 0

    def average_wait(self) -> int:
        return round(self._waited / self._dequeued) if self._dequeued else 0

    def first_unclaimed(self) -> QueueEntry | None:
        return next((e for e in self.entries if e.claim is None), None)

    def remove(self, entry: QueueEntry, now: datetime, *, dequeued: bool) -> None:
        if entry in self.entries:
            self.entries.remove(entry)
            if dequeued:
                self._dequeued += 1
                self._waited += (now - entry.enqueued_at).total_seconds()


@dataclass(eq=False, slots=True)
class Participant:
    """A leg in a conference, with the flags the Participants API shows and changes."""

    call: Call
    created_at: datetime
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    muted: bool = False
    hold: bool = False
    hold_url: str | None = None
    hold_method: str = "POST"
    coaching: bool = False
    call_sid_to_coach: str | None = None
    label: str | None = None
    beep: str = "true"
    wait_url: str | None = None
    wait_method: str = "POST"
    status: str = "connected"
    updated_at: datetime | None = None
    kicked: bool = False
    version: int = 0

    def changed(self, now: datetime) -> None:
        self.updated_at = now
        self.version += 1


@dataclass(frozen=True, slots=True)
class ConferenceCallback:
    url: str
    method: str
    events: frozenset[str]


class ConferenceRoom:
    """A named conference: it starts when a moderator enters and ends when the last one leaves."""

    def __init__(self, name: str, sid: str, created_at: datetime) -> None:
        self.friendly_name = name
        self.sid = sid
        self.created_at = created_at
        self.updated_at = created_at
        self.status = "init"
        self.started_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.reason_ended: str | None = None
        self.call_sid_ending: str | None = None
        self.participants: dict[str, Participant] = {}
        self.callback: ConferenceCallback | None = None
        self.record: RecordingOptions | None = None
        self.sequence = 0
        self.version = 0

    @property
    def started(self) -> bool:
        return self.status == "in-progress"

    @property
    def ended(self) -> bool:
        return self.status == "completed"

    def changed(self, now: datetime) -> None:
        self.updated_at = now
        self.version += 1


@dataclass(frozen=True, slots=True)
class Recording:
    """A finished recording; its WAV is rendered from `speech` when someone fetches it."""

    sid: str
    account_sid: str
    call_sid: str
    conference_sid: str | None
    created_at: datetime
    start_time: datetime
    duration: int
    seconds: float
    channels: int
    source: str
    speech: tuple[Speech, ...]
    status: str = "completed"
