"""Endpoints being rung: one ringing leg of a <Dial>, and the group of legs rung together."""

from __future__ import annotations

from dataclasses import dataclass

from phone_network.calls import Call
from phone_network.parties import Answering
from phone_network.twiml import Client, Number


@dataclass(frozen=True, slots=True)
class Ring:
    """One endpoint a <Dial> rings, and how it will react."""

    call: Call
    target: Number | Client
    answering: Answering

    @property
    def answers_at(self) -> float | None:
        return self.answering.after if self.answering.mode == "answer" else None

    @property
    def status(self) -> str:
        """The DialCallStatus if it does not answer."""
        return {"busy": "busy", "reject": "busy", "fail": "failed"}.get(self.answering.mode,
                                                                        "no-answer")

    def gives_up_at(self, timeout: float) -> float:
        if self.answering.mode in ("busy", "fail"):
            return 0.0
        if self.answering.mode == "reject":
            return min(self.answering.after, timeout)
        return timeout


class RingGroup:
    """Legs rung together (one <Dial>, or one REST call); people answer or reject the ones
    ringing on manual endpoints through the network, and the first answer wins.

    Changed under the network's lock; a ringing leg's wait condition reads it without.
    """

    def __init__(self) -> None:
        self.sids: list[str] = []
        self.answered: str | None = None
        self.rejected: tuple[str, ...] = ()
        self.closed = False

    def decided(self, rejections: int = 0) -> bool:
        """Whether a leg was answered, or more than `rejections` legs rejected."""
        return self.answered is not None or len(self.rejected) > rejections
