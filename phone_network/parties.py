"""Who is on the other end of a leg: scripted callers, a person (terminal or remote), agents."""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from phone_network.clock import Stop
from phone_network.events import Event


@dataclass(frozen=True, slots=True)
class GatherPrompt:
    """A <Gather> waits for keys or speech."""

    input: frozenset[str]
    timeout: float
    num_digits: int | None
    finish_on_key: str
    in_queue: bool = False  # a <Gather> of a queue's waitUrl (e.g. "press 1 for a callback")


@dataclass(frozen=True, slots=True)
class RecordPrompt:
    """A <Record> has beeped and listens."""

    max_length: float
    timeout: float
    finish_on_key: str


@dataclass(frozen=True, slots=True)
class HoldPrompt:
    """The leg waits in a queue or in a conference that has not started."""

    where: str
    name: str


@dataclass(frozen=True, slots=True)
class TalkPrompt:
    """The leg is connected to `peer`; `first` is true for the first question of a conversation."""

    peer: str
    first: bool


Prompt = GatherPrompt | RecordPrompt | HoldPrompt | TalkPrompt


@dataclass(frozen=True, slots=True)
class Digits:
    keys: str


@dataclass(frozen=True, slots=True)
class Speech:
    text: str
    confidence: float = 0.9


@dataclass(frozen=True, slots=True)
class NoInput:
    pass


@dataclass(frozen=True, slots=True)
class Talk:
    """Speak into a <Record> for `seconds`; `then` is an ending key, "hangup" or "" (silence)."""

    seconds: float
    text: str = ""
    then: str = ""


@dataclass(frozen=True, slots=True)
class Stay:
    """Stay on the line doing nothing for `seconds` (None: until something happens).

    A leg that stays for a number of seconds is not asked at gathers meanwhile: it gives no
    input. In a queue or a conference that has not started, "until something happens" is
    bounded by the party's `max_hold`.
    """

    seconds: float | None = None


@dataclass(frozen=True, slots=True)
class HangUp:
    pass


Response = Digits | Speech | NoInput | Talk | Stay | HangUp


class Waiter(Protocol):
    """Lets a party block its leg until something happens (a person typing, a remote input)."""

    def until(self, condition: Stop) -> bool:
        """Block until `condition()`; False if the leg was interrupted first."""
        ...

    def notify(self) -> None:
        """Wake the waiting leg after changing what its condition reads."""
        ...


class Party(Protocol):
    """The person or device on a leg, asked whenever the call needs them to act."""

    @property
    def max_hold(self) -> float:
        """Seconds it waits in a queue (or an unstarted conference) with nothing to do."""
        ...

    def heard(self, event: Event) -> None:
        """Every event of the leg as it happens."""
        ...

    def respond(self, prompt: Prompt, waiter: Waiter) -> Response: ...


def spoken_seconds(text: str) -> float:
    """How long saying `text` takes: about 4 CJK characters or 15 other characters a second."""
    wide = sum(1 for ch in text if ord(ch) >= 0x2E80)
    return round(max(0.5, wide * 0.25 + (len(text) - wide) / 15), 1)


class ScriptError(ValueError):
    """A script line that is not one of press/say/wait/speak/hangup."""


@dataclass(frozen=True, slots=True)
class Action:
    """One scripted step: press KEYS, say TEXT, wait [SECONDS], speak SECONDS, hangup."""

    verb: str
    value: str = ""
    seconds: float | None = None

    def __str__(self) -> str:
        if self.verb in ("press", "say"):
            return f"{self.verb} {self.value}"
        if self.seconds is not None:
            return f"{self.verb} {self.seconds:g}"
        return self.verb


_KEYS = re.compile(r"^[0-9*#]+$")


def parse_action(line: str) -> Action:
    """Parse one script line; raise ScriptError naming what is wrong."""
    verb, _, rest = line.strip().partition(" ")
    rest = rest.strip()
    if verb == "press" and _KEYS.match(rest):
        return Action("press", rest)
    if verb == "say" and rest:
        return Action("say", rest)
    if verb == "hangup" and not rest:
        return Action("hangup")
    if verb in ("wait", "speak"):
        try:
            seconds = float(rest) if rest else None
        except ValueError:
            seconds = -1.0
        if (seconds is None and verb == "wait") or (seconds is not None and seconds >= 0):
            return Action(verb, seconds=seconds)
    raise ScriptError(f"not a caller action: {line.strip()!r} (use: press KEYS, say TEXT, "
                      "wait [SECONDS], speak SECONDS, hangup)")


def parse_script(text: str) -> tuple[Action, ...]:
    """A script file: one action per line; blank lines and lines starting with "# " are skipped."""
    actions = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped == "#" or stripped.startswith("# "):
            continue
        try:
            actions.append(parse_action(stripped))
        except ScriptError as exc:
            raise ScriptError(f"line {number}: {exc}") from None
    return tuple(actions)


class ScriptedCaller:
    """Acts out a list of actions; with none left it hangs up at the next gather or record.

    In a queue it holds for `max_hold` seconds with nothing left to do (a <Gather> of the
    queue's waitUrl takes only keys; other actions wait for the first prompt after it); once
    connected it stays until the other side hangs up, or `talk_for` seconds if that is set
    (agents).
    """

    def __init__(self, actions: Iterable[str | Action] = (), *, max_hold: float = 600.0,
                 talk_for: float | None = None,
                 on_event: Callable[[Event], None] | None = None) -> None:
        self._actions = deque(a if isinstance(a, Action) else parse_action(a) for a in actions)
        self._max_hold = max_hold
        self._talk_for = talk_for
        self._on_event = on_event
        self._talked = False

    @property
    def max_hold(self) -> float:
        return self._max_hold

    @property
    def remaining(self) -> tuple[Action, ...]:
        return tuple(self._actions)

    def input_ready(self) -> bool:
        """Whether the next action is keys or words, which cut a Gather's prompts short."""
        return bool(self._actions) and self._actions[0].verb in ("press", "say")

    def heard(self, event: Event) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def respond(self, prompt: Prompt, waiter: Waiter) -> Response:
        if isinstance(prompt, GatherPrompt):
            if prompt.in_queue and not self.input_ready():
                return self._stay_in_queue()
            return self._gather()
        if isinstance(prompt, RecordPrompt):
            return self._record(prompt)
        if isinstance(prompt, HoldPrompt):
            return self._stay()
        return self._talk(prompt)

    def _next(self) -> Action | None:
        return self._actions.popleft() if self._actions else None

    def _gather(self) -> Response:
        action = self._next()
        if action is None or action.verb == "hangup":
            return HangUp()
        if action.verb == "press":
            return Digits(action.value)
        if action.verb == "say":
            return Speech(action.value)
        return NoInput()

    def _record(self, prompt: RecordPrompt) -> Response:
        action = self._next()
        if action is None or action.verb == "hangup":
            return HangUp()
        if action.verb == "wait":
            return NoInput()
        if action.verb == "press":
            return Talk(0.0, then=action.value[0])
        if action.verb == "speak":
            seconds, text = action.seconds or 0.0, ""
        else:
            seconds, text = spoken_seconds(action.value), action.value
        follow = self._actions[0] if self._actions else None
        then = ""
        if follow is not None and follow.verb == "hangup":
            then = "hangup"
        elif (follow is not None and follow.verb == "press"
              and follow.value[0] in prompt.finish_on_key):
            then = follow.value[0]
        if then:
            self._actions.popleft()
        return Talk(seconds, text=text, then=then)

    def _stay_in_queue(self) -> Response:
        """A hold-loop <Gather> with no keys to press next: go on holding (or hang up)."""
        follow = self._actions[0] if self._actions else None
        if follow is not None and follow.verb == "hangup":
            self._actions.popleft()
            return HangUp()
        return NoInput()

    def _stay(self) -> Response:
        follow = self._actions[0] if self._actions else None
        if follow is not None and follow.verb == "hangup":
            self._actions.popleft()
            return HangUp()
        if follow is not None and follow.verb in ("wait", "speak") and follow.seconds is not None:
            self._actions.popleft()
            return Stay(follow.seconds)
        return Stay(None)

    def _talk(self, prompt: TalkPrompt) -> Response:
        if self._talk_for is None:
            return self._stay()
        if prompt.first:
            self._talked = False
        if self._talked:
            return HangUp()
        self._talked = True
        return Stay(self._talk_for)


ANSWERING_MODES = ("answer", "reject", "busy", "no-answer", "fail", "manual")


@dataclass(frozen=True, slots=True)
class Answering:
    """How a registered endpoint (client:alice, +86...) answers when it is dialled.

    mode: answer, reject (declines after ringing), busy, no-answer, fail, or manual (rings until
    someone answers or rejects it through the network, or the dialler's timeout runs out). An
    answering endpoint picks up after `after` seconds (manual: ignored) and hangs up `talk`
    seconds into a conversation (None: stays until the other side hangs up); `script` is what
    it does if TwiML asks it. A `machine` is an answering machine: its greeting lasts
    `greeting` seconds before the beep, and a call placed with machine detection is told so
    (`AnsweredBy`); it never presses a key.
    """

    mode: str = "answer"
    after: float = 1.0
    talk: float | None = 30.0
    script: tuple[str, ...] = ()
    max_hold: float = 3600.0
    machine: bool = False
    greeting: float = 5.0

    def __post_init__(self) -> None:
        if self.mode not in ANSWERING_MODES:
            raise ValueError(f"unknown answering mode {self.mode!r}")
        for line in self.script:
            parse_action(line)
        if self.machine and self.script:
            raise ValueError("an answering machine has no script")
        if self.greeting < 0:
            raise ValueError("greeting must not be negative")

    def party(self) -> ScriptedCaller:
        return ScriptedCaller(self.script, max_hold=self.max_hold, talk_for=self.talk)

    def answered_by(self, detection: str) -> str:
        """Twilio's AnsweredBy for a call to this endpoint placed with MachineDetection
        `detection` (Enable: known at the greeting's start; DetectMessageEnd: at the beep)."""
        if not self.machine:
            return "human"
        return "machine_end_beep" if detection == "DetectMessageEnd" else "machine_start"

    def to_json(self) -> dict[str, object]:
        return {"mode": self.mode, "after": self.after, "talk": self.talk,
                "script": list(self.script), "max_hold": self.max_hold,
                "machine": self.machine, "greeting": self.greeting}


class InteractiveCaller:
    """A person at a terminal: `on_event` shows what happens, keys are read at each prompt."""

    def __init__(self, read_line: Callable[[str], str], write: Callable[[str], None],
                 on_event: Callable[[Event], None], *, max_hold: float = 3600.0) -> None:
        self._read_line = read_line
        self._write = write
        self._on_event = on_event
        self._max_hold = max_hold

    @property
    def max_hold(self) -> float:
        return self._max_hold

    def heard(self, event: Event) -> None:
        self._on_event(event)

    def respond(self, prompt: Prompt, waiter: Waiter) -> Response:
        if isinstance(prompt, HoldPrompt | TalkPrompt):
            return Stay(None)
        try:
            if isinstance(prompt, RecordPrompt):
                return read_record_input(self._read_line)
            return read_gather_input(prompt, self._read_line, self._write)
        except EOFError:
            return HangUp()


def read_gather_input(prompt: GatherPrompt, read_line: Callable[[str], str],
                      write: Callable[[str], None]) -> Response:
    """Ask a person for keys (or words, if speech is allowed); Enter = no input, h = hang up."""
    hint = "keys" + (" or words" if "speech" in prompt.input else "")
    while True:
        line = read_line(f"  {hint} (Enter = no input, h = hang up)> ").strip()
        if not line:
            return NoInput()
        if line.lower() == "h":
            return HangUp()
        if _KEYS.match(line) and "dtmf" in prompt.input:
            return Digits(line)
        if "speech" in prompt.input:
            return Speech(line.removeprefix("say ").strip())
        write("  (only keys 0-9, * and # here)")


def read_record_input(read_line: Callable[[str], str]) -> Response:
    """Ask a person how long they speak into a recording; Enter = silence, h = hang up."""
    while True:
        line = read_line("  seconds to speak (Enter = silence, h = hang up)> ").strip()
        if not line:
            return NoInput()
        if line.lower() == "h":
            return HangUp()
        try:
            return Talk(max(0.0, float(line)))
        except ValueError:
            continue


class RemoteCaller:
    """A person driving the call over the control API: each prompt waits for their input."""

    def __init__(self, *, max_hold: float = 3600.0) -> None:
        self._max_hold = max_hold
        self._lock = threading.Lock()
        self._inputs: deque[Response] = deque()
        self._awaiting: Prompt | None = None
        self._prompts = 0
        self._waiter: Waiter | None = None
        self._watchers: list[Callable[[], None]] = []

    @property
    def max_hold(self) -> float:
        return self._max_hold

    @property
    def awaiting(self) -> Prompt | None:
        return self._awaiting

    @property
    def prompt_id(self) -> int:
        """Numbers the prompts, so a client answers each one once."""
        return self._prompts

    def heard(self, event: Event) -> None:
        return None

    def watch(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever the party starts or stops waiting for input."""
        self._watchers.append(callback)

    def _changed(self) -> None:
        for callback in self._watchers:
            callback()

    def give(self, response: Response) -> None:
        """Input from the person; it answers the current prompt or the next one."""
        with self._lock:
            self._inputs.append(response)
            waiter = self._waiter
        if waiter is not None:
            waiter.notify()

    def respond(self, prompt: Prompt, waiter: Waiter) -> Response:
        if isinstance(prompt, HoldPrompt | TalkPrompt):
            return Stay(None)
        with self._lock:
            self._waiter = waiter
            self._prompts += 1
            self._awaiting = prompt
        self._changed()
        try:
            if not waiter.until(lambda: bool(self._inputs)):
                return NoInput()
            with self._lock:
                return self._inputs.popleft()
        finally:
            self._awaiting = None
            self._changed()
