"""<Dial>: ring numbers and clients, bridge the first to answer, or take a caller from a queue."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from phone_network.audio import conversation
from phone_network.calls import Call
from phone_network.conference_exec import dial_conference
from phone_network.leg import (
    DeadlineReached,
    Leg,
    LegEnded,
    Next,
    Redirected,
    Source,
    later,
    resolve,
    seconds_between,
)
from phone_network.parties import HangUp, Stay, TalkPrompt
from phone_network.rings import Ring, RingGroup
from phone_network.rooms import Bridge, Recording
from phone_network.twiml import Conference, Dial, Pause, Play, Queue, Redirect, Say
from phone_network.twiml_exec import Executor

CALLEE_WHISPER_VERBS = (Say, Play, Pause, Redirect)


def converse(ex: Executor, bridge: Bridge, peer: str) -> None:
    """Talk until the other side hangs up (returns) or this side ends (the exception propagates)."""
    leg = ex.leg
    leg.call.where = "bridge"
    leg.emit("bridged", peer)
    first = True
    try:
        while not bridge.ended:
            response = leg.ask(TalkPrompt(peer, first))
            first = False
            if isinstance(response, HangUp):
                raise LegEnded("party")
            seconds = response.seconds if isinstance(response, Stay) else None
            leg.sleep(seconds, until=lambda: bridge.ended)
    except (LegEnded, Redirected, DeadlineReached):
        ex.net.end_bridge(bridge, leg.call.sid)
        raise
    finally:
        leg.call.where = ""


def dial(ex: Executor, verb: Dial, url: str | None) -> Next | None:
    target = verb.targets[0]
    if isinstance(target, Conference):
        return dial_conference(ex, verb, target, url)
    if isinstance(target, Queue):
        return _dial_queue(ex, verb, target, url)
    return _dial_endpoints(ex, verb, url)


class _Outcome:
    """What the <Dial> action hears about: DialCallStatus and friends."""

    def __init__(self, ex: Executor, verb: Dial, url: str | None) -> None:
        self.ex = ex
        self.leg: Leg = ex.leg
        self.verb = verb
        self.url = url
        self.started = self.leg.now()
        self.other: Call | None = None
        self.connected: datetime | None = None
        self.recording: Recording | None = None

    def step(self, status: str) -> Next | None:
        params = {"DialCallStatus": status}
        if self.other is not None:
            params["DialCallSid"] = self.other.sid
        if self.connected is not None:
            params["DialCallDuration"] = str(round(seconds_between(self.connected,
                                                                   self.leg.now())))
            params["DialBridged"] = "true"
        if self.recording is not None:
            params.update(RecordingUrl=self.ex.net.recording_url(self.recording.sid),
                          RecordingSid=self.recording.sid,
                          RecordingDuration=str(self.recording.duration))
        action = resolve(self.url, self.verb.action)
        return Next(Source(action, self.verb.method), params) if action else None

    def finish(self, status: str) -> Next | None:
        self.leg.emit("dial-result", status)
        return self.step(status)

    def talk(self, bridge: Bridge, peer: str) -> None:
        """Converse until the bridge ends; a hangup on this side reports to the action first."""
        leg, verb = self.leg, self.verb
        if verb.answer_on_bridge:
            leg.answer()
        self.connected = bridge.connected_at
        assert self.connected is not None
        try:
            with leg.deadline(later(self.connected, verb.time_limit)):
                converse(self.ex, bridge, peer)
        except DeadlineReached:
            pass
        except LegEnded:
            self._record(bridge)
            step = self.step("completed")
            if step is not None:
                leg.report(step)
            raise
        self._record(bridge)

    def _record(self, bridge: Bridge) -> None:
        mode = self.verb.record
        if mode == "do-not-record" or self.connected is None:
            return
        now = self.leg.now()
        start = self.started if "ringing" in mode else self.connected
        offset = seconds_between(start, self.connected)
        self.recording = self.ex.net.make_recording(
            self.leg, started=start, duration=seconds_between(start, now),
            channels=2 if mode.endswith("-dual") else 1, source="DialVerb",
            speech=conversation(offset, seconds_between(self.connected, now)),
            options=self.verb.recording, document_url=self.url)
        self.leg.emit("recording", self.recording.sid, str(self.recording.duration))


def _dial_endpoints(ex: Executor, verb: Dial, url: str | None) -> Next | None:
    leg, net = ex.leg, ex.net
    if not verb.answer_on_bridge:
        leg.answer()
    outcome = _Outcome(ex, verb, url)
    leg.emit("dial", ", ".join(t.number for t in verb.endpoints))
    caller_id = verb.caller_id or leg.call.from_
    group = RingGroup()
    rings = [net.ring(leg, target, caller_id, url, group) for target in verb.endpoints]
    try:
        winner = _first_to_answer(ex, rings, group, verb.timeout)
    except (LegEnded, Redirected):
        for ring in rings:
            net.hang_up_unanswered(leg, ring.call, "canceled")
        raise
    statuses = {r.call.sid: "busy" if r.call.sid in group.rejected else r.status for r in rings}
    for ring in rings:
        if ring is not winner:
            net.hang_up_unanswered(leg, ring.call,
                                   "canceled" if winner else statuses[ring.call.sid])
    if winner is None:
        found = set(statuses.values())
        status = "busy" if "busy" in found else "failed" if found == {"failed"} else "no-answer"
        return outcome.finish(status)
    outcome.other = winner.call
    bridge = Bridge(leg.call, winner.call)
    whisper = None
    if winner.target.url is not None:
        whisper = Source(resolve(url, winner.target.url), winner.target.method)
    net.start_callee(winner, bridge, whisper)
    if not _await_bridge(ex, bridge):
        return outcome.finish("no-answer")
    outcome.talk(bridge, winner.call.to)
    return outcome.finish("completed")


def _first_to_answer(ex: Executor, rings: list[Ring], group: RingGroup,
                     timeout: float) -> Ring | None:
    """Ring until an endpoint answers (returned) or every one has given up (None).

    Scripted endpoints answer or give up at known times; manual ones when someone answers or
    rejects them through the network. A rejected leg ends busy at once; an answer before the
    first scripted one wins. Once this returns (or raises), nobody can answer any more.
    """
    leg, net = ex.leg, ex.net
    start = leg.now()
    answering = [r for r in rings if r.answers_at is not None and r.answers_at < timeout]
    first = min(answering, key=lambda r: r.answers_at or 0.0, default=None)
    ended = 0
    try:
        while group.answered is None:
            rejected = group.rejected
            for sid in rejected[ended:]:
                net.hang_up_unanswered(leg, net.call(sid), "busy")
            ended = len(rejected)
            if first is not None:
                wait = first.answers_at or 0.0
            else:
                wait = max((r.gives_up_at(timeout) for r in rings if r.call.sid not in rejected),
                           default=0.0)
            remaining = min(wait, timeout) - seconds_between(start, leg.now())
            if remaining <= 0:
                break
            leg.sleep(remaining, until=partial(group.decided, ended))
    finally:
        answered = net.stop_ringing(group)
    if answered is not None:
        return next(r for r in rings if r.call.sid == answered)
    return first


def _dial_queue(ex: Executor, verb: Dial, target: Queue, url: str | None) -> Next | None:
    leg, net = ex.leg, ex.net
    if not verb.answer_on_bridge:
        leg.answer()
    outcome = _Outcome(ex, verb, url)
    leg.emit("dial", f"queue:{target.name}")
    queue = net.find_queue(target.name)
    if queue is None:
        return outcome.finish("failed")
    whisper = Source(resolve(url, target.url), target.method) if target.url else None
    give_up = later(leg.now(), verb.timeout)
    while True:
        claimed = net.claim_caller(queue, leg.call, whisper)
        if claimed is not None:
            break
        remaining = seconds_between(leg.now(), give_up)
        if remaining <= 0:
            return outcome.finish("no-answer")
        leg.sleep(remaining, until=lambda: queue.first_unclaimed() is not None)
    caller, bridge = claimed
    outcome.other = caller
    leg.emit("dequeue", target.name, caller.from_)
    if not _await_bridge(ex, bridge):
        return outcome.finish("canceled")
    outcome.talk(bridge, caller.from_)
    return outcome.finish("completed")


def run_callee(ex: Executor, bridge: Bridge, whisper: Source | None, peer: str) -> None:
    """A dialled endpoint that answered: hear the whisper, talk, and hang up with the caller."""
    leg = ex.leg
    leg.answer()
    if whisper is not None:
        ex.run_side(whisper, leg.params, CALLEE_WHISPER_VERBS, lambda: bridge.ended,
                    "a <Number> or <Client> url")
    if ex.net.connect_bridge(bridge, leg.now()):
        converse(ex, bridge, peer)
    raise LegEnded("peer")


def _await_bridge(ex: Executor, bridge: Bridge) -> bool:
    """Wait until the bridge connects (True) or ends unconnected (False); end it if we leave."""
    leg = ex.leg
    try:
        leg.sleep(None, until=lambda: bridge.connected_at is not None or bridge.ended)
    except (LegEnded, Redirected):
        ex.net.end_bridge(bridge, leg.call.sid)
        raise
    return bridge.connected_at is not None
