"""Transcript events as lines a person reads: what the caller hears, does and sees happen."""

from __future__ import annotations

from collections.abc import Callable

from phone_network.events import Event

ENDED_BY = {
    "party": "you hung up",
    "hotline": "hung up by the hotline",
    "api": "ended by the hotline (REST API)",
    "peer": "the other side hung up",
    "network": "the phone network ended it",
}


def describe(event: Event) -> str | None:
    """One human line for `event`, or None for bookkeeping events nobody hears."""
    a = event.args

    def arg(index: int) -> str:
        return a[index] if len(a) > index else ""

    lines: dict[str, Callable[[], str | None]] = {
        "say": lambda: f"[{arg(1)}] {arg(0)}",
        "play": lambda: f"(music: {arg(0)})",
        "play-digits": lambda: f"(tones: {arg(0)})",
        "pause": lambda: f"(pause {arg(0)} s)",
        "gather": lambda: "(waiting for " + (
            "keys or speech" if "speech" in arg(0) and "dtmf" in arg(0)
            else "speech" if "speech" in arg(0) else "keys") + ")",
        "pressed": lambda: f"> pressed {arg(0)}",
        "speech": lambda: f'> said "{arg(0)}"',
        "no-input": lambda: "> (no input)",
        "record": lambda: f"(recording, up to {arg(0)} s)",
        "beep": lambda: "(beep)",
        "speaking": lambda: f"> speaks for {arg(0)} s",
        "recording": lambda: f"(recording {arg(0)} saved, {arg(1)} s)",
        "queue-wait": lambda: f'(waiting in queue "{arg(0)}", position {arg(1)})',
        "dequeued": lambda: "(an agent takes the call)",
        "leave": lambda: f'(left queue "{arg(0)}")' if arg(0) else None,
        "dial": lambda: f"(dialling {arg(0)})",
        "ringing": lambda: f"(ringing {arg(0)})",
        "dial-result": lambda: f"(dial ended: {arg(0)})",
        "bridged": lambda: f"(connected to {arg(0)})",
        "dequeue": lambda: f'(connected to a caller from queue "{arg(0)}": {arg(1)})',
        "conference": lambda: f'(in conference "{arg(0)}")',
        "conference-start": lambda: "(the conference starts)",
        "conference-end": lambda: "(the conference ends)",
        "conference-full": lambda: f'(conference "{arg(0)}" is full)',
        "left-conference": lambda: f'(left conference "{arg(0)}")',
        "muted": lambda: "(you are muted)",
        "unmuted": lambda: "(you are unmuted)",
        "hold": lambda: "(you are on hold)",
        "unhold": lambda: "(you are off hold)",
        "coaching": lambda: "(a supervisor's coaching changed)",
        "kicked": lambda: "(removed from the conference)",
        "redirect": lambda: f"(redirected to {arg(0)})",
        "fallback": lambda: f"(the app failed; trying its fallback URL {arg(0)})",
        "webhook-error": lambda: f"(webhook error {arg(1)} at {arg(0)}: "
                                 f"{event.detail.get('reason', '')})",
        "error": lambda: "(application error)",
        "reject": lambda: f"(call rejected: {arg(0)})",
        "hangup": lambda: f"(call ended: {ENDED_BY.get(arg(0), arg(0))})",
        "machine-greeting": lambda: f"(an answering machine's greeting, {arg(0)} s)",
        "answered-by": lambda: f"(answering-machine detection: {arg(0)})",
    }
    line = lines.get(event.kind)
    return line() if line is not None else None


HOLD_STARTS = frozenset({"enqueue", "conference"})
HOLD_ENDS = frozenset({"dequeued", "leave", "queue-result", "conference-start",
                       "left-conference", "redirect", "bridged", "hangup"})


class Printer:
    """Writes described events; while on hold, each distinct line only once (hold loops)."""

    def __init__(self, write: Callable[[str], object]) -> None:
        self._write = write
        self._holding = False
        self._heard_on_hold: set[str] = set()

    def __call__(self, event: Event) -> None:
        if event.kind in HOLD_ENDS:
            self._holding = False
        line = describe(event)
        if line is not None and not (self._holding and line in self._heard_on_hold):
            self._write(line)
            if self._holding:
                self._heard_on_hold.add(line)
        if event.kind in HOLD_STARTS:
            self._holding = True
            self._heard_on_hold = set()
