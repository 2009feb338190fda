"""Execute one leg's TwiML like Twilio: verbs in order, actions, redirects and side documents.

<Enqueue> and <Dial> take the leg elsewhere; their executors (queue_exec, dial_exec) build on
this one, so they are handed in as `VerbHandlers` rather than imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from phone_network.audio import Speech as Voice
from phone_network.clock import Stop
from phone_network.events import WebhookFailure, new_sid
from phone_network.leg import (
    Leg,
    LegEnded,
    Next,
    Redirected,
    Source,
    resolve,
)
from phone_network.parties import (
    Digits,
    GatherPrompt,
    HangUp,
    RecordPrompt,
    Speech,
    Talk,
    spoken_seconds,
)
from phone_network.ports import Switchboard
from phone_network.twiml import (
    Dial,
    Document,
    Enqueue,
    Gather,
    Hangup,
    Leave,
    Pause,
    Play,
    Record,
    Redirect,
    Reject,
    Say,
    Verb,
)

FOREVER = 1000  # loop="0" repeats "until the call ends"; this many times is long enough


def _never() -> bool:
    return False


@dataclass(frozen=True, slots=True)
class VerbHandlers:
    """How an executor runs the verbs that take a leg into a queue or a dial: the action
    step, or None to go on with the document."""

    enqueue: Callable[[Executor, Enqueue, str | None], Next | None]
    dial: Callable[[Executor, Dial, str | None], Next | None]


class Executor:
    """Interprets TwiML on one leg, in the leg's own thread, on the network `net`."""

    def __init__(self, leg: Leg, net: Switchboard, verbs: VerbHandlers) -> None:
        self.leg = leg
        self.net = net
        self.verbs = verbs

    def run(self, step: Next | None) -> None:
        """Fetch and execute documents until the TwiML runs out; the leg's end raises LegEnded."""
        while step is not None:
            try:
                document = self.leg.fetch(step.source, step.extra)
                assert document is not None  # with the fallback enabled, failure raises instead
                step = self.execute(document, step.source.url)
            except Redirected as moved:
                self.leg.emit("redirect", moved.update.url or "(inline TwiML)")
                step = Next(Source.of(moved.update))

    def execute(self, document: Document, url: str | None) -> Next | None:
        for verb in document.verbs:
            step = self.perform(verb, url)
            if step is not None:
                return step
        return None

    def perform(self, verb: Verb, url: str | None) -> Next | None:
        if isinstance(verb, Say | Play | Pause):
            self.prompt(verb)
            return None
        if isinstance(verb, Gather):
            return self.gather(verb, url)
        if isinstance(verb, Record):
            return self.record(verb, url)
        if isinstance(verb, Redirect):
            return Next(Source(resolve(url, verb.url), verb.method))
        if isinstance(verb, Enqueue):
            return self.verbs.enqueue(self, verb, url)
        if isinstance(verb, Dial):
            return self.verbs.dial(self, verb, url)
        if isinstance(verb, Leave):
            self.leg.emit("leave", "")  # only meaningful in a queue's waitUrl
            return None
        if isinstance(verb, Reject):
            return self.reject(verb)
        assert isinstance(verb, Hangup)
        self.leg.answer()
        raise LegEnded("hotline")

    # -- what the party hears ------------------------------------------------------------

    def prompt(self, verb: Say | Play | Pause, until: Stop = _never, *,
               barged: bool = False) -> bool:
        """Say, play or pause; True if `until()` cut it short.

        `barged`: the caller is already keying or talking, which cuts a Gather's prompt
        short (Twilio's bargeIn): it is heard as begun, and takes no time.
        """
        leg = self.leg
        leg.answer()
        repeats = getattr(verb, "loop", 1) or FOREVER
        if barged:
            if isinstance(verb, Say):
                leg.emit("say", verb.text, verb.language, voice=verb.voice, barged="true")
            return False
        if isinstance(verb, Say):
            leg.emit("say", verb.text, verb.language, voice=verb.voice, loop=str(verb.loop))
            return leg.sleep(spoken_seconds(verb.text) * repeats, until)
        if isinstance(verb, Play):
            if verb.digits:
                leg.emit("play-digits", verb.digits)
                return leg.sleep(0.5 * len(verb.digits), until)
            leg.emit("play", verb.url, loop=str(verb.loop))
            return leg.sleep(self.net.play_seconds * repeats, until)
        leg.emit("pause", f"{verb.length:g}")
        return leg.sleep(verb.length, until)

    # -- input ---------------------------------------------------------------------------

    def collect(self, verb: Gather, until: Stop = _never) -> dict[str, str] | None:
        """Play the prompts, then wait for input: the action's parameters, or None for nothing."""
        leg = self.leg
        leg.answer()
        ready = getattr(leg.call.party, "input_ready", None)
        barged = verb.barge_in and callable(ready) and bool(ready())
        for prompt in verb.prompts:
            if self.prompt(prompt, until, barged=barged):
                return None
        leg.emit("gather", " ".join(sorted(verb.input)), timeout=f"{verb.timeout:g}")
        response = leg.ask(GatherPrompt(verb.input, verb.timeout, verb.num_digits,
                                        verb.finish_on_key,
                                        in_queue=leg.call.where.startswith("queue:")))
        if isinstance(response, HangUp):
            raise LegEnded("party")
        if isinstance(response, Digits):
            leg.emit("pressed", response.keys)
            if "dtmf" in verb.input:
                return self._digits(verb, response.keys, until)
        elif isinstance(response, Speech):
            leg.emit("speech", response.text)
            if "speech" in verb.input:
                leg.sleep(spoken_seconds(response.text) + 1.0, until)
                return {"SpeechResult": response.text, "Confidence": f"{response.confidence:g}"}
        leg.emit("no-input")
        leg.sleep(verb.timeout, until)
        return None

    def _digits(self, verb: Gather, keys: str, until: Stop) -> dict[str, str] | None:
        digits, finished_on = "", ""
        for key in keys:
            if verb.finish_on_key and key in verb.finish_on_key:
                finished_on = key
                break
            digits += key
            if verb.num_digits is not None and len(digits) >= verb.num_digits:
                break
        complete = bool(finished_on) or (verb.num_digits is not None
                                         and len(digits) >= verb.num_digits)
        self.leg.sleep(0.3 * len(keys) + (0.0 if complete else verb.timeout), until)
        if not digits:
            return None
        return {"Digits": digits, "FinishedOnKey": finished_on}

    def gather(self, verb: Gather, url: str | None) -> Next | None:
        result = self.collect(verb)
        if result is None and not verb.action_on_empty_result:
            return None
        action = resolve(url, verb.action or url)
        if action is None:
            return None
        empty = {"Digits": ""} if "dtmf" in verb.input else {"SpeechResult": ""}
        return Next(Source(action, verb.method), result if result is not None else empty)

    def record(self, verb: Record, url: str | None) -> Next | None:
        leg = self.leg
        leg.answer()
        leg.emit("record", f"{verb.max_length:g}", timeout=f"{verb.timeout:g}")
        if verb.play_beep:
            leg.emit("beep")
        response = leg.ask(RecordPrompt(verb.max_length, verb.timeout, verb.finish_on_key))
        if isinstance(response, Talk):
            talk = response
        else:
            talk = Talk(0.0, then="hangup" if isinstance(response, HangUp) else "")
        spoken = min(talk.seconds, verb.max_length)
        started = leg.now()
        sid = new_sid("RE")
        if spoken > 0:
            leg.emit("speaking", f"{spoken:g}")
            self.net.recording_event(leg, verb.recording, url, "in-progress", sid)
            leg.sleep(spoken)
        if not talk.then and spoken < verb.max_length:
            leg.sleep(verb.timeout)  # the silence that ends the recording
        if round(spoken) < 1:
            self.net.recording_event(leg, verb.recording, url, "absent", sid)
            if talk.then == "hangup":
                raise LegEnded("party")
            return None  # Twilio skips the action of an empty recording
        length = spoken if verb.trim == "trim-silence" or talk.then \
            else min(verb.max_length, spoken + verb.timeout)
        recording = self.net.make_recording(
            leg, started=started, duration=length, channels=1, source="RecordVerb",
            speech=(Voice(0, 0.0, spoken),), options=verb.recording, document_url=url, sid=sid)
        leg.emit("recording", recording.sid, str(recording.duration))
        params = {"RecordingUrl": self.net.recording_url(recording.sid),
                  "RecordingSid": recording.sid, "RecordingDuration": str(recording.duration)}
        if talk.then:
            params["Digits"] = talk.then
        step = Next(Source(resolve(url, verb.action or url), verb.method), params)
        if talk.then == "hangup":
            leg.report(step)
            raise LegEnded("party")
        return step if step.source.url is not None else None

    def reject(self, verb: Reject) -> Next | None:
        leg = self.leg
        if leg.call.answered_at is not None:
            raise LegEnded("hotline")
        leg.emit("reject", verb.reason)
        raise LegEnded("hotline", "busy" if verb.reason == "busy" else "no-answer")

    # -- side documents: waitUrl, hold music, whispers ---------------------------------------

    def run_side(self, source: Source, params: Callable[[], Mapping[str, str]],
                 allowed: tuple[type, ...], until: Stop, context: str) -> str:
        """Run a document beside the main flow; "done", "leave", "hangup", "stopped" or "failed".

        A <Gather> posts its input to its action and goes on with the TwiML that returns, a
        <Redirect> fetches the next document; neither leaves the side context.
        """
        document = self.leg.fetch(source, params(), fallback=False)
        url = source.url
        while document is not None:
            step: Next | None = None
            for verb in document.verbs:
                if until():
                    return "stopped"
                if not isinstance(verb, allowed):
                    self._not_allowed(verb, url, context)
                    return "failed"
                if isinstance(verb, Say | Play | Pause):
                    if self.prompt(verb, until):
                        return "stopped"
                elif isinstance(verb, Gather):
                    result = self.collect(verb, until)
                    if result is None and (until() or not verb.action_on_empty_result):
                        continue
                    step = Next(Source(resolve(url, verb.action or url), verb.method),
                                {**params(), **(result or {"Digits": ""})})
                elif isinstance(verb, Redirect):
                    step = Next(Source(resolve(url, verb.url), verb.method), params())
                else:
                    return "leave" if isinstance(verb, Leave) else "hangup"
                if step is not None:
                    break
            if step is None:
                return "done"
            if step.source.url is None:
                return "done"
            document = self.leg.fetch(step.source, step.extra, fallback=False)
            url = step.source.url
        return "failed"

    def _not_allowed(self, verb: Verb, url: str | None, context: str) -> None:
        reason = f"<{type(verb).__name__}> is not allowed in {context}"
        self.leg.emit("webhook-error", url or "(inline TwiML)", "12100", reason=reason)
        self.leg.call.add_failure(WebhookFailure(url or "(inline TwiML)", 12100, reason))

