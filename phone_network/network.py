"""PhoneNetwork: numbers, endpoints, live call legs, queues, conferences and recordings.

The composition of the parts: it runs each leg's TwiML executor with the verb handlers of
queue_exec and dial_exec, and is the `Switchboard` the executors and the `ConferenceHost` the
conferences reach it through (ports.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from phone_network.audio import Speech, conversation, render_wav
from phone_network.calls import (
    Call,
    Fallback,
    HangupRequest,
    LegSetup,
    NewCall,
    NewParticipant,
    Update,
)
from phone_network.clock import Clock, RealClock
from phone_network.conference_exec import attend
from phone_network.conferences import Conferences
from phone_network.dial_exec import dial, run_callee
from phone_network.events import CallResult, WebhookFailure, new_sid
from phone_network.faults import RestFaults
from phone_network.leg import (
    Leg,
    LegEnded,
    Next,
    Redirected,
    Source,
    post_quietly,
    resolve,
    rfc2822,
    send_progress,
)
from phone_network.parties import Answering, Party
from phone_network.queue_exec import enqueue
from phone_network.rings import Ring, RingGroup
from phone_network.rooms import (
    Bridge,
    CallQueue,
    ConferenceRoom,
    Dequeue,
    Participant,
    QueueEntry,
    Recording,
)
from phone_network.twiml import Client, Number, RecordingOptions, StatusCallback
from phone_network.twiml_exec import Executor, VerbHandlers
from phone_network.webhooks import WebhookClient

log = logging.getLogger(__name__)

ALL_CALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
NO_ANSWER = Answering(mode="no-answer")
KEPT_CALLS = 10_000
VERBS = VerbHandlers(enqueue=enqueue, dial=dial)


class PhoneNetworkError(ValueError):
    """A request the network refuses; `code` is Twilio's error code for the REST face."""

    def __init__(self, message: str, code: int = 21220) -> None:
        super().__init__(message)
        self.code = code


class UnknownResource(LookupError):
    """No call, queue, conference or recording with that SID."""


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A number of the network, configured like a Twilio phone number."""

    number: str
    sid: str
    voice_url: str
    voice_method: str = "POST"
    fallback_url: str | None = None
    fallback_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    all_status_events: bool = False


Program = Callable[[Executor], None]


class PhoneNetwork:
    """Plays Twilio's part: runs call legs in threads against our webhooks.

    `base_url` is where the network's own HTTP face is reachable (recording URLs point
    there). `play_seconds` is how long one <Play> of an audio URL lasts, since the network
    does not download audio. Numbers without an endpoint registered do not answer; a
    `default_client` makes every unregistered `client:` identity answer that way.
    """

    def __init__(self, *, account_sid: str, auth_token: str, clock: Clock | None = None,
                 base_url: str = "http://127.0.0.1:5001", play_seconds: float = 10.0,
                 webhook_timeout: float = 15.0, default_client: Answering | None = None,
                 max_instant_fetches: int = 50) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.clock: Clock = clock or RealClock()
        self.base_url = base_url.rstrip("/")
        self.play_seconds = play_seconds
        self.webhook_timeout = webhook_timeout
        self.default_client = default_client
        self.max_instant_fetches = max_instant_fetches
        self.lock = threading.RLock()
        self.conferences = Conferences(self)
        self._numbers: dict[str, PhoneNumber] = {}
        self._endpoints: dict[str, Answering] = {}
        self._calls: dict[str, Call] = {}
        self._queues: dict[str, CallQueue] = {}
        self._recordings: dict[str, Recording] = {}
        self._ringing: dict[str, tuple[Call, RingGroup]] = {}  # legs on manual endpoints
        self.rest_faults = RestFaults()  # switched on through the control API

    # -- configuration -------------------------------------------------------------------

    def add_number(self, number: str, *, voice_url: str, voice_method: str = "POST",
                   fallback_url: str | None = None, fallback_method: str = "POST",
                   status_callback: str | None = None, status_callback_method: str = "POST",
                   all_status_events: bool = False) -> PhoneNumber:
        """Configure (or reconfigure) a number that callers can dial into."""
        config = PhoneNumber(number, new_sid("PN"), voice_url, voice_method.upper(),
                             fallback_url, fallback_method.upper(), status_callback,
                             status_callback_method.upper(), all_status_events)
        with self.lock:
            self._numbers[number] = config
        return config

    def number(self, number: str) -> PhoneNumber | None:
        with self.lock:
            return self._numbers.get(number)

    def add_endpoint(self, address: str, answering: Answering | None = None) -> None:
        """Register `client:<identity>` or a number that answers (or not) when dialled."""
        with self.lock:
            self._endpoints[address] = answering or Answering()

    def remove_endpoint(self, address: str) -> bool:
        with self.lock:
            return self._endpoints.pop(address, None) is not None

    def endpoints(self) -> dict[str, Answering]:
        with self.lock:
            return dict(self._endpoints)

    def answering_for(self, address: str) -> Answering:
        with self.lock:
            found = self._endpoints.get(address)
        if found is not None:
            return found
        if address.startswith("client:") and self.default_client is not None:
            return self.default_client
        return NO_ANSWER

    # -- calls ---------------------------------------------------------------------------

    def place_call(self, *, from_: str, to: str, party: Party) -> Call:
        """A call from `from_` into one of the network's numbers; returns at once."""
        number = self.number(to)
        if number is None:
            raise PhoneNetworkError(f"{to} is not a number of this network", 21211)
        events = ALL_CALL_EVENTS if number.all_status_events else frozenset({"completed"})
        setup = LegSetup(
            status_callback=StatusCallback(number.status_callback, number.status_callback_method,
                                           events),
            fallback=Fallback(number.fallback_url, number.fallback_method)
            if number.fallback_url else None)
        call = self._new_call(from_, to, "inbound", party, setup)

        def inbound(ex: Executor) -> None:
            ex.leg.progress("initiated")
            ex.leg.call.set_status("ringing")
            ex.leg.progress("ringing")
            ex.run(Next(Source(number.voice_url, number.voice_method)))

        return self._launch(call, inbound)

    def create_call(self, order: NewCall) -> Call:
        """REST `POST /Calls`: ring `order.to`; when it answers, run the order's TwiML."""
        answering = self.answering_for(order.to)
        setup = LegSetup(status_callback=order.status_callback, fallback=order.fallback,
                         record=order.recording if order.record else None,
                         record_channels=order.recording_channels)
        call = self._new_call(order.from_, order.to, "outbound-api", answering.party(), setup)

        def outbound(ex: Executor) -> None:
            update = self._ring_alone(ex.leg, answering, order.timeout)
            ex.leg.answer()
            extra: dict[str, str] = {}
            if order.machine_detection is not None:
                extra["AnsweredBy"] = self._detect(ex.leg, answering, order.machine_detection)
            source = Source.of(update) if update else Source(order.url, order.method, order.twiml)
            ex.run(Next(source, extra))

        return self._launch(call, outbound)

    def call(self, sid: str) -> Call:
        with self.lock:
            found = self._calls.get(sid)
        if found is None:
            raise UnknownResource(sid)
        return found

    def calls(self) -> list[Call]:
        with self.lock:
            return sorted(self._calls.values(), key=lambda c: c.created_at, reverse=True)

    def update_call(self, sid: str, *, url: str | None = None, method: str = "POST",
                    twiml: str | None = None, status: str | None = None) -> Call:
        """REST `POST /Calls/{Sid}`: redirect a live call, or end it (completed / canceled)."""
        call = self.call(sid)
        if status is not None and status not in ("completed", "canceled"):
            raise PhoneNetworkError(f"Status must be completed or canceled, not {status}", 21218)
        if not call.live:
            raise PhoneNetworkError("Call is not in-progress. Cannot redirect.", 21220)
        if status == "canceled" and call.status not in ("queued", "ringing"):
            return call  # Twilio ignores a cancel of an answered call
        if status is not None:
            call.interrupt(HangupRequest("api", cancel_only=status == "canceled"))
        elif url is not None or twiml is not None:
            call.interrupt(Update(url, method.upper(), twiml))
        return call

    def hang_up(self, sid: str) -> bool:
        """The party on the leg hangs up (the remote caller's red button)."""
        return self.call(sid).interrupt(HangupRequest("party"))

    # -- manual answering ----------------------------------------------------------------

    def ringing(self, address: str) -> list[Call]:
        """The legs ringing at `address` (client:x or a number) that wait for someone to
        answer or reject them (manual endpoints), oldest first."""
        with self.lock:
            found = [call for call, group in self._ringing.values()
                     if call.to == address and group.answered is None]
        return sorted(found, key=lambda c: c.created_at)

    def answer(self, sid: str) -> bool:
        """Pick up leg `sid`, ringing on a manual endpoint: it runs like an answering one.

        False if it is not (or no longer) ringing, or another endpoint of the same <Dial> was
        answered first; UnknownResource for an unknown SID.
        """
        return self._decide(sid, answer=True)

    def reject(self, sid: str) -> bool:
        """Decline leg `sid`, ringing on a manual endpoint: it ends busy, like mode "reject".

        False if it is not (or no longer) ringing; UnknownResource for an unknown SID.
        """
        return self._decide(sid, answer=False)

    def start_ringing(self, call: Call, group: RingGroup) -> None:
        """`call` rings on a manual endpoint until answered, rejected or `stop_ringing`."""
        with self.lock:
            group.sids.append(call.sid)
            self._ringing[call.sid] = (call, group)

    def stop_ringing(self, group: RingGroup) -> str | None:
        """The group's legs ring no more: the SID of the one answered meanwhile, if any."""
        with self.lock:
            group.closed = True
            for sid in group.sids:
                self._ringing.pop(sid, None)
            return group.answered

    def _decide(self, sid: str, *, answer: bool) -> bool:
        self.call(sid)
        with self.lock:
            found = self._ringing.get(sid)
            group = found[1] if found is not None else None
            if group is None or group.closed or group.answered is not None:
                return False
            del self._ringing[sid]
            if answer:
                group.answered = sid
            else:
                group.rejected += (sid,)
        self.clock.notify()
        return True

    # -- queues --------------------------------------------------------------------------

    def find_queue(self, name_or_sid: str) -> CallQueue | None:
        with self.lock:
            queue = self._queues.get(name_or_sid)
            return queue or next((q for q in self._queues.values() if q.sid == name_or_sid), None)

    def queues(self) -> list[CallQueue]:
        with self.lock:
            return list(self._queues.values())

    def join_queue(self, call: Call, name: str) -> tuple[CallQueue, QueueEntry | None]:
        now = self.clock.now()
        with self.lock:
            queue = self._queues.get(name)
            if queue is None:
                queue = self._queues[name] = CallQueue(name, new_sid("QU"), now)
            if queue.size >= queue.max_size:
                return queue, None
            entry = QueueEntry(call, now)
            queue.entries.append(entry)
        self.clock.notify()
        return queue, entry

    def leave_queue(self, queue: CallQueue, entry: QueueEntry, *, dequeued: bool = False) -> None:
        with self.lock:
            queue.remove(entry, self.clock.now(), dequeued=dequeued)
            claim = entry.claim
            if not dequeued and claim is not None and claim.bridge.connected_at is None:
                claim.bridge.end(entry.call.sid)  # the agent waiting for this caller gives up
        self.clock.notify()

    def claim_caller(self, queue: CallQueue, agent: Call,
                     whisper: Source | None) -> tuple[Call, Bridge] | None:
        """<Dial><Queue>: take the first waiting caller for `agent`; None if nobody waits."""
        with self.lock:
            entry = queue.first_unclaimed()
            if entry is None:
                return None
            bridge = Bridge(entry.call, agent)
            entry.claim = Dequeue(agent, bridge, whisper.url if whisper else None,
                                  whisper.method if whisper else "POST")
        self.clock.notify()
        return entry.call, bridge

    # -- bridges and dialling -------------------------------------------------------------

    def connect_bridge(self, bridge: Bridge, now: datetime) -> bool:
        """Both legs are there: they talk from now on. False if one side already left."""
        with self.lock:
            if bridge.ended:
                return False
            bridge.connected_at = now
        self.clock.notify()
        return True

    def end_bridge(self, bridge: Bridge, by: str) -> None:
        with self.lock:
            bridge.end(by)
        self.clock.notify()

    def ring(self, leg: Leg, target: Number | Client, caller_id: str, document_url: str | None,
             group: RingGroup) -> Ring:
        """A <Dial> starts ringing `target`: a child leg that exists from now on (in `group`,
        answered through the network, if it is a manual endpoint)."""
        answering = self.answering_for(target.number)
        callback = target.status_callback
        if callback.url is not None:
            callback = replace(callback, url=resolve(document_url, callback.url) or callback.url)
        setup = LegSetup(status_callback=callback, parent_sid=leg.call.sid)
        child = self._new_call(caller_id, target.number, "outbound-dial", answering.party(), setup)
        send_progress(child, leg.hooks, "initiated", leg.now())
        child.set_status("ringing")
        if answering.mode == "manual":
            self.start_ringing(child, group)
        send_progress(child, leg.hooks, "ringing", leg.now())
        leg.emit("ringing", target.number)
        return Ring(child, target, answering)

    def hang_up_unanswered(self, leg: Leg, call: Call, status: str) -> None:
        """A dialled endpoint that never answered ends with `status`."""
        if not call.live:
            return
        call.ended_at = leg.now()
        call.set_status(status)
        call.emit("hangup", "peer")
        send_progress(call, leg.hooks, "completed", leg.now())
        call.finish(CallResult(call.sid, status, "peer", 0, call.transcript(), call.failures))

    def start_callee(self, ring: Ring, bridge: Bridge, whisper: Source | None) -> None:
        peer = bridge.peer_of(ring.call.sid)
        self._launch(ring.call, lambda ex: run_callee(ex, bridge, whisper, self.call(peer).from_))

    def add_participant(self, conference: str,
                        order: NewParticipant) -> tuple[ConferenceRoom, Participant]:
        """REST: dial `order.to` into the conference (by SID, or by name: created if needed)."""
        room = self.conferences.find(conference, create=not conference.startswith("CF"))
        answering = self.answering_for(order.to)
        setup = LegSetup(status_callback=order.status_callback)
        call = self._new_call(order.from_, order.to, "outbound-api", answering.party(), setup)
        participant = self.conferences.reserve(room, call, order.conference)

        def join(ex: Executor) -> None:
            try:
                self._ring_alone(ex.leg, answering, order.timeout)
            except LegEnded:
                with self.lock:
                    room.participants.pop(call.sid, None)
                    participant.status = "failed"
                raise
            ex.leg.answer()
            attend(ex, order.conference, None, room)

        self._launch(call, join)
        return room, participant

    # -- recordings ----------------------------------------------------------------------

    def recording_url(self, sid: str) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}"

    def make_recording(self, leg: Leg, *, started: datetime, duration: float, channels: int,
                       source: str, speech: Sequence[Speech], options: RecordingOptions,
                       document_url: str | None, sid: str | None = None) -> Recording:
        return self.store_recording(
            leg.hooks, leg.call, call_sid=leg.call.sid, conference_sid=None, started=started,
            duration=duration, channels=channels, source=source, speech=speech, options=options,
            document_url=document_url, sid=sid)

    def store_recording(self, hooks: WebhookClient, call: Call | None, *, call_sid: str,
                        conference_sid: str | None, started: datetime, duration: float,
                        channels: int, source: str, speech: Sequence[Speech],
                        options: RecordingOptions, document_url: str | None,
                        sid: str | None = None) -> Recording:
        """Keep a finished recording and send its `completed` status callback."""
        recording = Recording(
            sid or new_sid("RE"), self.account_sid, call_sid, conference_sid, self.clock.now(),
            started, round(duration), duration, channels, source, tuple(speech))
        with self.lock:
            self._recordings[recording.sid] = recording
        if options.callback is not None and "completed" in options.events:
            params = {
                "AccountSid": self.account_sid, "CallSid": call_sid,
                "RecordingSid": recording.sid, "RecordingUrl": self.recording_url(recording.sid),
                "RecordingStatus": "completed", "RecordingDuration": str(recording.duration),
                "RecordingChannels": str(channels), "RecordingSource": source,
                "RecordingStartTime": rfc2822(started), "RecordingTrack": "both",
            }
            if conference_sid is not None:
                params["ConferenceSid"] = conference_sid
            url = resolve(document_url, options.callback) or options.callback
            post_quietly(hooks, call, url, options.method, params)
        return recording

    def recording_event(self, leg: Leg, options: RecordingOptions, document_url: str | None,
                        status: str, sid: str) -> None:
        """The in-progress or absent recording status callback, if it was asked for."""
        if options.callback is None or status not in options.events:
            return
        params = {"AccountSid": self.account_sid, "CallSid": leg.call.sid, "RecordingSid": sid,
                  "RecordingUrl": self.recording_url(sid), "RecordingStatus": status,
                  "RecordingDuration": "0", "RecordingChannels": "1",
                  "RecordingSource": "RecordVerb", "RecordingStartTime": rfc2822(leg.now())}
        if status == "absent":
            params["ErrorCode"] = "16102"
        url = resolve(document_url, options.callback) or options.callback
        leg.callback(url, options.method, params)

    def recording(self, sid: str) -> Recording:
        with self.lock:
            found = self._recordings.get(sid)
        if found is None:
            raise UnknownResource(sid)
        return found

    def recordings(self, *, call_sid: str | None = None) -> list[Recording]:
        with self.lock:
            found = sorted(self._recordings.values(), key=lambda r: r.created_at, reverse=True)
        return [r for r in found if call_sid is None or r.call_sid == call_sid]

    def delete_recording(self, sid: str) -> None:
        with self.lock:
            if self._recordings.pop(sid, None) is None:
                raise UnknownResource(sid)

    def recording_media(self, sid: str) -> bytes:
        """The recording as a WAV file."""
        recording = self.recording(sid)
        return render_wav(recording.seconds, recording.speech, channels=recording.channels)

    # -- lifecycle -----------------------------------------------------------------------

    def close(self, timeout: float = 10.0) -> None:
        """Hang up every live call and wait (up to `timeout` in all) for the legs to end."""
        for call in self.calls():
            call.interrupt(HangupRequest("network"))
        deadline = time.monotonic() + timeout
        for call in self.calls():
            if call.thread is not None:
                call.thread.join(max(0.0, deadline - time.monotonic()))

    def _new_call(self, from_: str, to: str, direction: str, party: Party,
                  setup: LegSetup) -> Call:
        call = Call(sid=new_sid("CA"), account_sid=self.account_sid, from_=from_, to=to,
                    direction=direction, clock=self.clock, party=party, setup=setup)
        with self.lock:
            self._calls[call.sid] = call
            excess = len(self._calls) - KEPT_CALLS
            if excess > 0:  # a long-running network forgets its oldest finished calls
                for sid in [s for s, c in self._calls.items() if not c.live][:excess]:
                    del self._calls[sid]
        return call

    def _launch(self, call: Call, program: Program) -> Call:
        hooks = WebhookClient(self.auth_token, timeout=self.webhook_timeout)
        leg = Leg(call, self.clock.actor(), clock=self.clock, hooks=hooks,
                  max_instant_fetches=self.max_instant_fetches)
        thread = threading.Thread(target=self._run, args=(leg, program), daemon=True,
                                  name=f"phone-{call.direction}-{call.sid[:12]}")
        call.thread = thread
        thread.start()
        return call

    def _ring_alone(self, leg: Leg, answering: Answering, timeout: float) -> Update | None:
        """Ring a REST-created call's endpoint; LegEnded unless it answers. A REST redirect
        while it rings changes what runs once it answers (returned). A manual endpoint rings
        until someone answers or rejects it through the network, or `timeout` runs out."""
        leg.progress("initiated")
        leg.call.set_status("ringing")
        mode = answering.mode
        group = RingGroup()
        if mode == "manual":
            self.start_ringing(leg.call, group)
        try:
            leg.progress("ringing")
            if mode in ("busy", "fail"):
                raise LegEnded("party", "busy" if mode == "busy" else "failed")
            answers = mode == "answer" and answering.after < timeout
            wait = answering.after if answers or mode == "reject" else timeout
            update: Update | None = None
            deadline = leg.now().timestamp() + min(wait, timeout)
            while True:
                try:
                    leg.sleep(max(0.0, deadline - leg.now().timestamp()), until=group.decided)
                    break
                except Redirected as moved:
                    update = moved.update
        finally:
            answered = self.stop_ringing(group) is not None
        if not (answers or answered):
            raise LegEnded("party", "busy" if mode == "reject" or group.rejected else "no-answer")
        return update

    @staticmethod
    def _detect(leg: Leg, answering: Answering, detection: str) -> str:
        """Answering-machine detection on an answered leg: Twilio's AnsweredBy. Waiting for
        the end of a machine's message (DetectMessageEnd) takes its greeting's length."""
        found = answering.answered_by(detection)
        if answering.machine:
            leg.emit("machine-greeting", f"{answering.greeting:g}")
            if detection == "DetectMessageEnd":
                leg.sleep(answering.greeting)
                leg.emit("beep")
        leg.emit("answered-by", found)
        return found

    def _run(self, leg: Leg, program: Program) -> None:
        ex = Executor(leg, self, VERBS)
        by, status = "hotline", None
        try:
            try:
                program(ex)
            except Redirected as moved:
                leg.emit("redirect", moved.update.url or "(inline TwiML)")
                ex.run(Next(Source.of(moved.update)))
        except LegEnded as ended:
            by, status = ended.by, ended.status
        except Exception as exc:  # a bug in the network must still end the call visibly
            log.exception("call %s: the phone network failed", leg.call.sid)
            leg.call.add_failure(WebhookFailure("(phone network)", 0, f"internal error: {exc!r}"))
            leg.application_error = True
            by = "network"
        finally:
            self._finish(leg, by, status)

    def _finish(self, leg: Leg, by: str, status: str | None) -> None:
        call = leg.call
        try:
            if status is None:
                status = "completed" if call.answered_at is not None else "canceled"
            call.ended_at = leg.now()
            call.set_status(status)
            call.emit("hangup", by)
            self._record_whole_call(leg)
            send_progress(call, leg.hooks, "completed", leg.now())
            call.finish(CallResult(call.sid, status, by, call.duration, call.transcript(),
                                   call.failures, leg.application_error))
        finally:
            leg.close()
            leg.actor.close()
            self.clock.notify()

    def _record_whole_call(self, leg: Leg) -> None:
        call = leg.call
        options = call.setup.record
        if options is None or call.answered_at is None or call.ended_at is None:
            return
        seconds = (call.ended_at - call.answered_at).total_seconds()
        self.make_recording(leg, started=call.answered_at, duration=seconds,
                            channels=call.setup.record_channels, source="OutboundAPI",
                            speech=conversation(0.0, seconds), options=options,
                            document_url=None)
