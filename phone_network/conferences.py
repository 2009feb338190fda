"""The network's conferences: who is in which room, their flags, and conference status callbacks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from phone_network.audio import conversation
from phone_network.calls import Call
from phone_network.events import new_sid
from phone_network.leg import Leg, post_quietly, resolve, rfc2822, seconds_between
from phone_network.ports import ConferenceHost
from phone_network.rooms import ConferenceCallback, ConferenceRoom, Participant
from phone_network.twiml import Conference, RecordingOptions
from phone_network.webhooks import WebhookClient

EVENT_GROUPS = {
    "conference-start": "start", "conference-end": "end", "participant-join": "join",
    "participant-leave": "leave", "participant-mute": "mute", "participant-unmute": "mute",
    "participant-hold": "hold", "participant-unhold": "hold", "participant-modify": "modify",
}

HEARD = {"participant-mute": "muted", "participant-unmute": "unmuted", "participant-hold": "hold",
         "participant-unhold": "unhold", "participant-modify": "coaching"}


class NotFound(LookupError):
    """No such conference or participant (a REST 404)."""


@dataclass(frozen=True, slots=True)
class ParticipantChanges:
    """What a REST participant update may change; None leaves a flag as it is."""

    muted: bool | None = None
    hold: bool | None = None
    hold_url: str | None = None
    hold_method: str = "POST"
    coaching: bool | None = None
    call_sid_to_coach: str | None = None
    end_conference_on_exit: bool | None = None


Note = tuple[str, Participant | None]


class Conferences:
    """Every conference of the network; all state changes happen under the network's lock.

    A conference starts when at least two legs are in it and one of them has
    startConferenceOnEnter; until then they hear the wait music.
    """

    def __init__(self, net: ConferenceHost) -> None:
        self._net = net
        self._rooms: dict[str, ConferenceRoom] = {}

    def get(self, sid: str) -> ConferenceRoom | None:
        with self._net.lock:
            return self._rooms.get(sid)

    def find(self, sid_or_name: str, *, create: bool = False) -> ConferenceRoom:
        """By SID, or the live conference with that friendly name (created if `create`)."""
        with self._net.lock:
            room = self._rooms.get(sid_or_name)
            if room is None:
                room = next((r for r in self._rooms.values()
                             if r.friendly_name == sid_or_name and not r.ended), None)
            if room is None and create:
                room = ConferenceRoom(sid_or_name, new_sid("CF"), self._net.clock.now())
                self._rooms[room.sid] = room
            if room is None:
                raise NotFound(sid_or_name)
            return room

    def all(self, *, friendly_name: str | None = None,
            status: str | None = None) -> list[ConferenceRoom]:
        with self._net.lock:
            rooms = sorted(self._rooms.values(), key=lambda r: r.created_at, reverse=True)
        return [r for r in rooms if (friendly_name is None or r.friendly_name == friendly_name)
                and (status is None or r.status == status)]

    def participant(self, conference_sid: str, call_sid: str) -> tuple[ConferenceRoom, Participant]:
        room = self.get(conference_sid)
        participant = room.participants.get(call_sid) if room is not None else None
        if room is None or participant is None:
            raise NotFound(call_sid)
        return room, participant

    def reserve(self, room: ConferenceRoom, call: Call, noun: Conference) -> Participant:
        """A REST-created participant, listed as queued while its endpoint rings."""
        with self._net.lock:
            participant = Participant(call, self._net.clock.now(), status="queued")
            _apply_noun(participant, noun, None)
            room.participants[call.sid] = participant
            return participant

    def enter(self, leg: Leg, noun: Conference, url: str | None,
              room: ConferenceRoom | None = None) -> tuple[ConferenceRoom, Participant] | None:
        """Join (creating the room if needed); None if the room is full or already over."""
        now = leg.now()
        with self._net.lock:
            room = room or self.find(noun.name, create=True)
            connected = [p for p in room.participants.values() if p.status == "connected"]
            if room.ended or len(connected) >= noun.max_participants:
                return None
            participant = room.participants.get(leg.call.sid) or Participant(leg.call, now)
            _apply_noun(participant, noun, url)
            participant.status = "connected"
            participant.changed(now)
            room.participants[leg.call.sid] = participant
            notes: list[Note] = [("participant-join", participant)]
            if room.callback is None and noun.status_callback:
                room.callback = ConferenceCallback(
                    resolve(url, noun.status_callback) or noun.status_callback,
                    noun.status_callback_method, noun.status_callback_events)
            if noun.record == "record-from-start" and room.record is None:
                room.record = _resolved(noun.recording, url)  # from when it starts
            here = [p for p in room.participants.values() if p.status == "connected"]
            # Twilio: it starts once two are in and one of them may start it
            starts = not room.started and len(here) >= 2 and any(
                p.start_conference_on_enter for p in here)
            if starts:
                room.status, room.started_at = "in-progress", now
                notes.append(("conference-start", None))
            room.changed(now)
            others = [p.call for p in room.participants.values()
                      if p is not participant and p.status == "connected"]
        self._net.clock.notify()
        leg.call.where = f"conference:{room.friendly_name}"
        leg.emit("conference", room.friendly_name, room.sid)
        if noun.beep in ("true", "onEnter"):
            for call in others:
                call.emit("beep", room.friendly_name)
        if starts:
            for call in [leg.call, *others]:
                call.emit("conference-start", room.friendly_name)
        self._callbacks(room, notes, leg.hooks, leg.call)
        return room, participant

    def leave(self, leg: Leg, room: ConferenceRoom, participant: Participant) -> None:
        """The leg is out; the room ends with an endConferenceOnExit leg or its last leg."""
        now = leg.now()
        with self._net.lock:
            was_in = room.participants.pop(leg.call.sid, None) is not None
            participant.status = "complete"
            participant.changed(now)
            notes: list[Note] = [("participant-leave", participant)] if was_in else []
            still_in: list[Call] | None = None
            if not room.ended:
                how = "kicked" if participant.kicked else "left"
                if participant.end_conference_on_exit:
                    still_in = self._end(
                        room, now, f"participant-with-end-conference-on-exit-{how}", leg.call.sid)
                elif not any(p.status == "connected" for p in room.participants.values()):
                    still_in = self._end(room, now, f"last-participant-{how}", leg.call.sid)
            room.changed(now)
        self._net.clock.notify()
        leg.call.where = ""
        leg.emit("left-conference", room.friendly_name)
        if still_in is not None:
            notes.append(("conference-end", None))
        self._callbacks(room, notes, leg.hooks, leg.call)
        if still_in is not None:
            self._ended(room, still_in, leg.hooks, leg.call)

    def end(self, sid: str) -> ConferenceRoom:
        """REST Status=completed: everyone leaves; their <Dial> goes on with its action."""
        room = self.find(sid)
        with self._net.lock:
            still_in = self._end(room, self._net.clock.now(), "conference-ended-via-api", None)
        self._net.clock.notify()
        if still_in is not None:
            with WebhookClient(self._net.auth_token) as hooks:
                self._callbacks(room, [("conference-end", None)], hooks, None)
                self._ended(room, still_in, hooks, None)
        return room

    def update(self, conference_sid: str, call_sid: str,
               changes: ParticipantChanges) -> tuple[ConferenceRoom, Participant]:
        room, participant = self.participant(conference_sid, call_sid)
        now = self._net.clock.now()
        with self._net.lock:
            notes = _apply_changes(participant, changes)
            participant.changed(now)
            room.changed(now)
        for event, _ in notes:
            participant.call.emit(HEARD[event], room.friendly_name)
        self._net.clock.notify()
        with WebhookClient(self._net.auth_token) as hooks:
            self._callbacks(room, notes, hooks, None)
        return room, participant

    def kick(self, conference_sid: str, call_sid: str) -> None:
        room, participant = self.participant(conference_sid, call_sid)
        participant.call.emit("kicked", room.friendly_name)
        with self._net.lock:
            participant.kicked = True
            participant.changed(self._net.clock.now())
        self._net.clock.notify()

    def _end(self, room: ConferenceRoom, now: datetime, reason: str,
             by: str | None) -> list[Call] | None:
        """End the room (under the lock): the legs still in it, or None if it had ended."""
        if room.ended:
            return None
        room.status, room.ended_at = "completed", now
        room.reason_ended, room.call_sid_ending = reason, by
        room.changed(now)
        return [p.call for p in room.participants.values() if p.status == "connected"]

    def _ended(self, room: ConferenceRoom, still_in: list[Call], hooks: WebhookClient,
               call: Call | None) -> None:
        for other in still_in:
            other.emit("conference-end", room.friendly_name)
        if room.record is None or room.started_at is None or room.ended_at is None:
            return
        seconds = seconds_between(room.started_at, room.ended_at)
        self._net.store_recording(
            hooks, call, call_sid=call.sid if call is not None else "", conference_sid=room.sid,
            started=room.started_at, duration=seconds, channels=1, source="Conference",
            speech=conversation(0.0, seconds), options=room.record, document_url=None)

    def _callbacks(self, room: ConferenceRoom, notes: Sequence[Note], hooks: WebhookClient,
                   call: Call | None) -> None:
        callback = room.callback
        if callback is None:
            return
        for event, participant in notes:
            if EVENT_GROUPS[event] not in callback.events:
                continue
            with self._net.lock:
                sequence = room.sequence
                room.sequence += 1
            params = {
                "ConferenceSid": room.sid, "FriendlyName": room.friendly_name,
                "AccountSid": self._net.account_sid, "StatusCallbackEvent": event,
                "SequenceNumber": str(sequence), "Timestamp": rfc2822(self._net.clock.now()),
            }
            if participant is not None:
                params.update(_participant_params(participant))
            if event == "conference-end":
                params["ReasonConferenceEnded"] = room.reason_ended or ""
                params["CallSidEndingConference"] = room.call_sid_ending or ""
            post_quietly(hooks, call, callback.url, callback.method, params)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _participant_params(p: Participant) -> dict[str, str]:
    params = {"CallSid": p.call.sid, "Muted": _flag(p.muted), "Hold": _flag(p.hold),
              "Coaching": _flag(p.coaching), "EndConferenceOnExit": _flag(p.end_conference_on_exit),
              "StartConferenceOnEnter": _flag(p.start_conference_on_enter)}
    if p.call_sid_to_coach:
        params["CallSidToCoach"] = p.call_sid_to_coach
    if p.label:
        params["ParticipantLabel"] = p.label
    return params


def _resolved(options: RecordingOptions, url: str | None) -> RecordingOptions:
    if options.callback is None:
        return options
    return RecordingOptions(resolve(url, options.callback) or options.callback, options.method,
                            options.events)


def _apply_noun(p: Participant, noun: Conference, url: str | None) -> None:
    p.muted = noun.muted
    p.start_conference_on_enter = noun.start_conference_on_enter
    p.end_conference_on_exit = noun.end_conference_on_exit
    p.coaching = noun.coach is not None
    p.call_sid_to_coach = noun.coach
    p.label = noun.participant_label
    p.beep = noun.beep
    p.wait_url = noun.wait_url if not noun.wait_url else resolve(url, noun.wait_url)
    p.wait_method = noun.wait_method


def _apply_changes(p: Participant, changes: ParticipantChanges) -> list[Note]:
    notes: list[Note] = []
    if changes.muted is not None and changes.muted != p.muted:
        p.muted = changes.muted
        notes.append(("participant-mute" if p.muted else "participant-unmute", p))
    if changes.hold is not None and changes.hold != p.hold:
        p.hold = changes.hold
        p.hold_url, p.hold_method = changes.hold_url, changes.hold_method
        notes.append(("participant-hold" if p.hold else "participant-unhold", p))
    coaching = changes.coaching
    if coaching is None and changes.call_sid_to_coach:
        coaching = True  # Twilio: CallSidToCoach alone turns coaching on
    if coaching is not None:
        target = (changes.call_sid_to_coach or p.call_sid_to_coach) if coaching else None
        if (coaching, target) != (p.coaching, p.call_sid_to_coach):
            p.coaching, p.call_sid_to_coach = coaching, target
            notes.append(("participant-modify", p))
    if changes.end_conference_on_exit is not None:
        p.end_conference_on_exit = changes.end_conference_on_exit
    return notes
