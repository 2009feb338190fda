"""Conferences from a leg's side: join, wait for the start, talk, be held, be kicked, leave."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from phone_network.leg import (
    DeadlineReached,
    LegEnded,
    Next,
    Patience,
    Source,
    default_hold_music,
    later,
    resolve,
    seconds_between,
)
from phone_network.parties import HangUp, HoldPrompt, Stay, TalkPrompt
from phone_network.rooms import ConferenceRoom, Participant
from phone_network.twiml import Conference, Dial, Pause, Play, Redirect, Say
from phone_network.twiml_exec import Executor

ROOM_WAIT_VERBS = (Say, Play, Pause, Redirect)


def dial_conference(ex: Executor, verb: Dial, noun: Conference, url: str | None) -> Next | None:
    """<Dial><Conference>: stay until it ends or this leg is removed, then the Dial action."""
    leg = ex.leg
    leg.answer()
    leg.emit("dial", f"conference:{noun.name}")
    started = leg.now()
    action = resolve(url, verb.action)

    def step() -> Next | None:
        params = {"DialCallStatus": "completed",
                  "DialCallDuration": str(round(seconds_between(started, leg.now())))}
        return Next(Source(action, verb.method), params) if action else None

    try:
        attend(ex, noun, url)
    except LegEnded:
        done = step()
        if done is not None:
            leg.report(done)
        raise
    leg.emit("dial-result", "completed")
    return step()


def attend(ex: Executor, noun: Conference, url: str | None,
           room: ConferenceRoom | None = None) -> None:
    """Be in the conference until it ends or the leg is kicked; LegEnded if the party hangs up."""
    leg = ex.leg
    entered = ex.net.conferences.enter(leg, noun, url, room)
    if entered is None:
        leg.emit("conference-full", noun.name)
        return
    room, participant = entered
    try:
        _Attendance(ex, room, participant).run()
    finally:
        ex.net.conferences.leave(leg, room, participant)


class _Attendance:
    def __init__(self, ex: Executor, room: ConferenceRoom, participant: Participant) -> None:
        self.ex = ex
        self.leg = ex.leg
        self.room = room
        self.me = participant

    def over(self) -> bool:
        return self.room.ended or self.me.kicked

    def run(self) -> None:
        first, ask = True, True
        talk_until: datetime | None = None
        while not self.over():
            if not self.room.started:
                self._wait_for_start()
                continue
            if self.me.hold:
                self._on_hold()
                continue
            if ask:
                response = self.leg.ask(TalkPrompt(self.room.friendly_name, first))
                if isinstance(response, HangUp):
                    raise LegEnded("party")
                seconds = response.seconds if isinstance(response, Stay) else None
                talk_until = None if seconds is None else later(self.leg.now(), seconds)
                first, ask = False, False
            remaining = None if talk_until is None else seconds_between(self.leg.now(),
                                                                        talk_until)
            ask = not self.leg.sleep(remaining, until=self._changed_since())

    def _changed_since(self) -> Callable[[], bool]:
        """A wait condition: the room or this participant changed (flags, start, end, kick)."""
        seen = (self.room.version, self.me.version)
        return lambda: (self.room.version, self.me.version) != seen

    def _started(self) -> bool:
        return self.room.started or self.over()

    def _wait_for_start(self) -> None:
        leg = self.leg
        patience = Patience(leg, HoldPrompt("conference", self.room.friendly_name))
        try:
            while not self._started():
                try:
                    with leg.deadline(patience.deadline):
                        self._hear_waiting_music()
                except DeadlineReached:
                    patience.decide()
        finally:
            patience.close()

    def _room_params(self) -> dict[str, str]:
        return self.leg.params(ConferenceSid=self.room.sid,
                               FriendlyName=self.room.friendly_name)

    def _hear_waiting_music(self) -> None:
        wait_url = self.me.wait_url
        if wait_url == "":
            self.leg.sleep(None, until=self._started)
            return
        if wait_url is not None:
            outcome = self.ex.run_side(Source(wait_url, self.me.wait_method), self._room_params,
                                       ROOM_WAIT_VERBS, self._started, "a conference waitUrl")
            if outcome != "failed":
                return
        self.ex.prompt(default_hold_music(), self._started)

    def _on_hold(self) -> None:
        def unheld() -> bool:
            return not self.me.hold or self.over()

        while not unheld():
            if self.me.hold_url:
                source = Source(self.me.hold_url, self.me.hold_method)
                if self.ex.run_side(source, self._room_params, ROOM_WAIT_VERBS, unheld,
                                    "a participant's holdUrl") != "failed":
                    continue
            self.ex.prompt(default_hold_music(), unheld)
