"""<Enqueue>: hold a caller in a Twilio queue with its waitUrl loop until dequeued, left or gone."""

from __future__ import annotations

from phone_network.dial_exec import converse
from phone_network.leg import (
    DeadlineReached,
    Leg,
    LegEnded,
    Next,
    Patience,
    Redirected,
    Source,
    default_hold_music,
    resolve,
    seconds_between,
)
from phone_network.parties import HoldPrompt
from phone_network.rooms import CallQueue, QueueEntry
from phone_network.twiml import Enqueue, Gather, Hangup, Leave, Pause, Play, Redirect, Say
from phone_network.twiml_exec import Executor

WAIT_VERBS = (Say, Play, Pause, Gather, Redirect, Leave, Hangup)
WHISPER_VERBS = (Say, Play, Pause, Redirect)


def enqueue(ex: Executor, verb: Enqueue, url: str | None) -> Next | None:
    """Wait in the queue; then the action URL gets QueueResult (bridged, leave, hangup...)."""
    leg, net = ex.leg, ex.net
    leg.answer()
    action = resolve(url, verb.action)
    queue, entry = net.join_queue(leg.call, verb.name)
    if entry is None:
        leg.emit("queue-result", "queue-full")
        return Next(Source(action, verb.method), {"QueueResult": "queue-full"}) \
            if action else None
    leg.emit("enqueue", verb.name)
    waiting = _Waiting(ex, queue, entry, verb, url)
    try:
        result = waiting.run()
    except LegEnded:
        net.leave_queue(queue, entry)
        if action:
            result = "bridged" if waiting.bridged else "hangup"
            leg.report(Next(Source(action, verb.method), waiting.result_params(result)))
        raise
    except Redirected:
        net.leave_queue(queue, entry)
        raise
    leg.emit("queue-result", result)
    return Next(Source(action, verb.method), waiting.result_params(result)) if action else None


class _Waiting:
    """One caller's stay in a queue."""

    def __init__(self, ex: Executor, queue: CallQueue, entry: QueueEntry, verb: Enqueue,
                 url: str | None) -> None:
        self.ex = ex
        self.leg: Leg = ex.leg
        self.queue = queue
        self.entry = entry
        self.verb = verb
        self.url = url
        self.bridged = False
        self.queue_seconds = 0.0

    def claimed(self) -> bool:
        return self.entry.claim is not None

    def run(self) -> str:
        leg = self.leg
        leg.call.where = f"queue:{self.queue.name}"
        patience = Patience(leg, HoldPrompt("queue", self.queue.name))
        try:
            while not self.claimed():
                try:
                    with leg.deadline(patience.deadline):
                        outcome = self._hold_once()
                except DeadlineReached:
                    patience.decide()
                    continue
                if outcome == "leave":
                    self.ex.net.leave_queue(self.queue, self.entry)
                    self.queue_seconds = seconds_between(self.entry.enqueued_at, leg.now())
                    leg.emit("leave", self.queue.name)
                    return "leave"
                if outcome == "hangup":
                    raise LegEnded("hotline")
        finally:
            patience.close()
            leg.call.where = ""
        return self._connect()

    def _hold_once(self) -> str:
        leg = self.leg
        position = str(self.queue.position(self.entry))
        leg.emit("queue-wait", self.queue.name, position)
        if self.verb.wait_url:
            source = Source(resolve(self.url, self.verb.wait_url), self.verb.wait_url_method)
            outcome = self.ex.run_side(source, self.wait_params, WAIT_VERBS, self.claimed,
                                       "a queue's waitUrl")
            if outcome != "failed":
                return outcome
        self.ex.prompt(default_hold_music(), self.claimed)
        return "done"

    def wait_params(self) -> dict[str, str]:
        queue, now = self.queue, self.leg.now()
        return self.leg.params(
            QueuePosition=str(queue.position(self.entry)), QueueSid=queue.sid,
            QueueTime=str(round(seconds_between(self.entry.enqueued_at, now))),
            AvgQueueTime=str(queue.average_wait()), CurrentQueueSize=str(queue.size),
            MaxQueueSize=str(queue.max_size))

    def result_params(self, result: str) -> dict[str, str]:
        if not self.queue_seconds:
            self.queue_seconds = seconds_between(self.entry.enqueued_at, self.leg.now())
        return {"QueueResult": result, "QueueSid": self.queue.sid,
                "QueueTime": str(round(self.queue_seconds))}

    def _connect(self) -> str:
        """An agent dialled the queue: hear its whisper, then talk until someone hangs up."""
        leg, claim = self.leg, self.entry.claim
        assert claim is not None
        self.queue_seconds = seconds_between(self.entry.enqueued_at, leg.now())
        self.ex.net.leave_queue(self.queue, self.entry, dequeued=True)
        self.bridged = True
        leg.emit("dequeued", self.queue.name, claim.by.sid)
        if claim.url is not None:
            extra = {"QueueSid": self.queue.sid, "QueueTime": str(round(self.queue_seconds)),
                     "DequeingCallSid": claim.by.sid}
            self.ex.run_side(Source(claim.url, claim.method), lambda: leg.params(**extra),
                             WHISPER_VERBS, lambda: claim.bridge.ended, "a <Queue> url")
        if self.ex.net.connect_bridge(claim.bridge, leg.now()):
            converse(self.ex, claim.bridge, claim.by.from_)
        return "bridged"
