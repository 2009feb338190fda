"""Parse a TwiML <Response> into typed verbs, with Twilio's defaults, or raise TwimlError."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar


class TwimlError(ValueError):
    """TwiML Twilio would refuse: not XML, not a <Response>, an unknown verb, a bad value."""


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    language: str = "en-US"
    voice: str = "man"
    loop: int = 1


@dataclass(frozen=True, slots=True)
class Play:
    url: str
    loop: int = 1
    digits: str = ""


@dataclass(frozen=True, slots=True)
class Pause:
    length: float = 1.0


Prompt = Say | Play | Pause


@dataclass(frozen=True, slots=True)
class Gather:
    input: frozenset[str] = frozenset({"dtmf"})
    action: str | None = None
    method: str = "POST"
    timeout: float = 5.0
    num_digits: int | None = None
    finish_on_key: str = "#"
    action_on_empty_result: bool = False
    language: str = "en-US"
    prompts: tuple[Prompt, ...] = ()
    barge_in: bool = True  # input cuts the nested prompts short, as Twilio's bargeIn does


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str = "rejected"


@dataclass(frozen=True, slots=True)
class Leave:
    pass


@dataclass(frozen=True, slots=True)
class RecordingOptions:
    """Where a recording's status callbacks go (Record, Dial record, Conference record)."""

    callback: str | None = None
    method: str = "POST"
    events: frozenset[str] = frozenset({"completed"})


@dataclass(frozen=True, slots=True)
class Record:
    action: str | None = None
    method: str = "POST"
    timeout: float = 5.0
    max_length: float = 3600.0
    finish_on_key: str = "1234567890*#"
    play_beep: bool = True
    trim: str = "trim-silence"
    recording: RecordingOptions = RecordingOptions()


@dataclass(frozen=True, slots=True)
class Enqueue:
    name: str
    action: str | None = None
    method: str = "POST"
    wait_url: str | None = None
    wait_url_method: str = "POST"


@dataclass(frozen=True, slots=True)
class StatusCallback:
    """A leg's call-progress callback: URL, method and the events asked for."""

    url: str | None = None
    method: str = "POST"
    events: frozenset[str] = frozenset({"completed"})


@dataclass(frozen=True, slots=True)
class Number:
    number: str
    url: str | None = None
    method: str = "POST"
    status_callback: StatusCallback = StatusCallback()


@dataclass(frozen=True, slots=True)
class Client:
    identity: str
    url: str | None = None
    method: str = "POST"
    status_callback: StatusCallback = StatusCallback()

    @property
    def number(self) -> str:
        return "client:" + self.identity


@dataclass(frozen=True, slots=True)
class Conference:
    name: str
    muted: bool = False
    beep: str = "true"
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    wait_url: str | None = None
    wait_method: str = "POST"
    max_participants: int = 250
    record: str = "do-not-record"
    recording: RecordingOptions = RecordingOptions()
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset()
    coach: str | None = None
    participant_label: str | None = None


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    url: str | None = None
    method: str = "POST"


DialTarget = Number | Client | Conference | Queue


@dataclass(frozen=True, slots=True)
class Dial:
    targets: tuple[DialTarget, ...]
    action: str | None = None
    method: str = "POST"
    timeout: float = 30.0
    caller_id: str | None = None
    record: str = "do-not-record"
    recording: RecordingOptions = RecordingOptions()
    answer_on_bridge: bool = False
    time_limit: float = 14400.0
    hangup_on_star: bool = False

    @property
    def endpoints(self) -> tuple[Number | Client, ...]:
        return tuple(t for t in self.targets if isinstance(t, Number | Client))


Verb = Say | Play | Pause | Gather | Redirect | Hangup | Reject | Leave | Record | Enqueue | Dial


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed <Response>."""

    verbs: tuple[Verb, ...] = field(default_factory=tuple)


_T = TypeVar("_T")
_KNOWN_UNSUPPORTED = frozenset({"Sms", "Message", "Connect", "Start", "Stop", "Refer", "Pay",
                                "Prompt", "Echo", "Sip", "Stream", "Siprec", "Transcription"})
_DTMF_KEYS = frozenset("0123456789*#")


def parse_document(text: str | bytes) -> Document:
    """Parse TwiML text; raise TwimlError for anything Twilio would reject."""
    try:
        root = ET.fromstring(text)  # noqa: S314 - our own app's response; expat ignores external entities
    except ET.ParseError as exc:
        raise TwimlError(f"not well-formed XML: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(f"the root element is <{root.tag}>, not <Response>")
    return Document(tuple(_verb(child) for child in root))


def _verb(el: ET.Element) -> Verb:
    parser = _VERBS.get(el.tag)
    if parser is None:
        what = "not supported by the local phone network" if el.tag in _KNOWN_UNSUPPORTED \
            else "not a TwiML verb"
        raise TwimlError(f"<{el.tag}> is {what}")
    return parser(el)


def _text(el: ET.Element) -> str:
    return (el.text or "").strip()


def _attr(el: ET.Element, name: str, convert: Callable[[str], _T], default: _T) -> _T:
    raw = el.get(name)
    if raw is None:
        return default
    try:
        return convert(raw.strip())
    except ValueError:
        raise TwimlError(f"<{el.tag} {name}={raw!r}> is not a valid value") from None


def _bool(raw: str) -> bool:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ValueError(raw)


def _number(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError(raw)
    return value


def _count(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(raw)
    return value


def _method(raw: str) -> str:
    if raw.upper() not in ("GET", "POST"):
        raise ValueError(raw)
    return raw.upper()


def _keys(raw: str) -> str:
    if not set(raw) <= _DTMF_KEYS:
        raise ValueError(raw)
    return raw


def _words(raw: str) -> frozenset[str]:
    return frozenset(raw.replace(",", " ").split())


def _no_children(el: ET.Element) -> None:
    if len(el):
        raise TwimlError(f"<{el.tag}> cannot contain <{el[0].tag}>")


def _say(el: ET.Element) -> Say:
    text = "".join(el.itertext()).strip()  # SSML children (<prosody>, <break>) keep their text
    return Say(text, language=el.get("language", "en-US"), voice=el.get("voice", "man"),
               loop=_attr(el, "loop", _count, 1))


def _play(el: ET.Element) -> Play:
    _no_children(el)
    digits = _attr(el, "digits", lambda raw: raw, "")
    url = _text(el)
    if not url and not digits:
        raise TwimlError("<Play> needs a URL or digits")
    return Play(url, loop=_attr(el, "loop", _count, 1), digits=digits)


def _pause(el: ET.Element) -> Pause:
    _no_children(el)
    return Pause(_attr(el, "length", _number, 1.0))


def _gather(el: ET.Element) -> Gather:
    prompts: list[Prompt] = []
    for child in el:
        if child.tag not in ("Say", "Play", "Pause"):
            raise TwimlError(f"<Gather> cannot contain <{child.tag}>")
        prompts.append(_PROMPTS[child.tag](child))
    kinds = _attr(el, "input", _words, frozenset({"dtmf"}))
    if not kinds or not kinds <= {"dtmf", "speech"}:
        raise TwimlError(f"<Gather input={el.get('input')!r}> must be dtmf, speech or both")
    num_digits = _attr(el, "numDigits", _count, 0)
    return Gather(
        input=kinds, action=el.get("action"), method=_attr(el, "method", _method, "POST"),
        timeout=_attr(el, "timeout", _number, 5.0), num_digits=num_digits or None,
        finish_on_key=_attr(el, "finishOnKey", _keys, "#"),
        action_on_empty_result=_attr(el, "actionOnEmptyResult", _bool, False),
        language=el.get("language", "en-US"), prompts=tuple(prompts),
        barge_in=_attr(el, "bargeIn", _bool, True))


def _redirect(el: ET.Element) -> Redirect:
    _no_children(el)
    url = _text(el)
    if not url:
        raise TwimlError("<Redirect> needs a URL")
    return Redirect(url, method=_attr(el, "method", _method, "POST"))


def _hangup(el: ET.Element) -> Hangup:
    _no_children(el)
    return Hangup()


def _reject(el: ET.Element) -> Reject:
    _no_children(el)
    reason = el.get("reason", "rejected")
    if reason not in ("rejected", "busy"):
        raise TwimlError(f"<Reject reason={reason!r}> must be rejected or busy")
    return Reject(reason)


def _leave(el: ET.Element) -> Leave:
    _no_children(el)
    return Leave()


def _recording(el: ET.Element) -> RecordingOptions:
    return RecordingOptions(
        callback=el.get("recordingStatusCallback"),
        method=_attr(el, "recordingStatusCallbackMethod", _method, "POST"),
        events=_attr(el, "recordingStatusCallbackEvent", _words, frozenset({"completed"})))


def _record(el: ET.Element) -> Record:
    _no_children(el)
    return Record(
        action=el.get("action"), method=_attr(el, "method", _method, "POST"),
        timeout=_attr(el, "timeout", _number, 5.0),
        max_length=_attr(el, "maxLength", _number, 3600.0),
        finish_on_key=_attr(el, "finishOnKey", _keys, "1234567890*#"),
        play_beep=_attr(el, "playBeep", _bool, True), trim=el.get("trim", "trim-silence"),
        recording=_recording(el))


def _enqueue(el: ET.Element) -> Enqueue:
    _no_children(el)
    name = _text(el)
    if not name:
        raise TwimlError("<Enqueue> needs a queue name")
    return Enqueue(name, action=el.get("action"), method=_attr(el, "method", _method, "POST"),
                   wait_url=el.get("waitUrl"),
                   wait_url_method=_attr(el, "waitUrlMethod", _method, "POST"))


def _status_callback(el: ET.Element) -> StatusCallback:
    return StatusCallback(url=el.get("statusCallback"),
                          method=_attr(el, "statusCallbackMethod", _method, "POST"),
                          events=_attr(el, "statusCallbackEvent", _words,
                                       frozenset({"completed"})))


def _number_noun(el: ET.Element) -> Number:
    _no_children(el)
    number = _text(el)
    if not number:
        raise TwimlError("<Number> needs a phone number")
    return Number(number, url=el.get("url"), method=_attr(el, "method", _method, "POST"),
                  status_callback=_status_callback(el))


def _client_noun(el: ET.Element) -> Client:
    identity = el.findtext("Identity") if el.find("Identity") is not None else el.text
    identity = (identity or "").strip()
    if not identity:
        raise TwimlError("<Client> needs an identity")
    return Client(identity, url=el.get("url"), method=_attr(el, "method", _method, "POST"),
                  status_callback=_status_callback(el))


def _conference_noun(el: ET.Element) -> Conference:
    _no_children(el)
    name = _text(el)
    if not name:
        raise TwimlError("<Conference> needs a name")
    beep = el.get("beep", "true")
    if beep not in ("true", "false", "onEnter", "onExit"):
        raise TwimlError(f"<Conference beep={beep!r}> is not a valid value")
    record = el.get("record", "do-not-record")
    if record not in ("do-not-record", "record-from-start"):
        raise TwimlError(f"<Conference record={record!r}> is not a valid value")
    return Conference(
        name, muted=_attr(el, "muted", _bool, False), beep=beep,
        start_conference_on_enter=_attr(el, "startConferenceOnEnter", _bool, True),
        end_conference_on_exit=_attr(el, "endConferenceOnExit", _bool, False),
        wait_url=el.get("waitUrl"), wait_method=_attr(el, "waitMethod", _method, "POST"),
        max_participants=_attr(el, "maxParticipants", _count, 250), record=record,
        recording=_recording(el), status_callback=el.get("statusCallback"),
        status_callback_method=_attr(el, "statusCallbackMethod", _method, "POST"),
        status_callback_events=_attr(el, "statusCallbackEvent", _words, frozenset()),
        coach=el.get("coach"), participant_label=el.get("participantLabel"))


def _queue_noun(el: ET.Element) -> Queue:
    _no_children(el)
    name = _text(el)
    if not name:
        raise TwimlError("<Queue> needs a queue name")
    return Queue(name, url=el.get("url"), method=_attr(el, "method", _method, "POST"))


_NOUNS: dict[str, Callable[[ET.Element], DialTarget]] = {
    "Number": _number_noun, "Client": _client_noun, "Conference": _conference_noun,
    "Queue": _queue_noun,
}
_DIAL_RECORD = ("do-not-record", "record-from-answer", "record-from-ringing",
                "record-from-answer-dual", "record-from-ringing-dual")


def _dial(el: ET.Element) -> Dial:
    targets: list[DialTarget] = []
    if _text(el):
        targets.append(Number(_text(el)))
    for child in el:
        parser = _NOUNS.get(child.tag)
        if parser is None:
            raise TwimlError(f"<Dial> cannot contain <{child.tag}> in the local phone network")
        targets.append(parser(child))
    if not targets:
        raise TwimlError("<Dial> has nothing to dial")
    rooms = [t for t in targets if isinstance(t, Conference | Queue)]
    if rooms and len(targets) > 1:
        raise TwimlError("<Dial> with a <Conference> or <Queue> cannot dial anything else")
    record = el.get("record", "do-not-record")
    if record in ("true", "false"):
        record = "record-from-answer" if record == "true" else "do-not-record"
    if record not in _DIAL_RECORD:
        raise TwimlError(f"<Dial record={record!r}> is not a valid value")
    return Dial(
        tuple(targets), action=el.get("action"), method=_attr(el, "method", _method, "POST"),
        timeout=_attr(el, "timeout", _number, 30.0), caller_id=el.get("callerId"),
        record=record, recording=_recording(el),
        answer_on_bridge=_attr(el, "answerOnBridge", _bool, False),
        time_limit=_attr(el, "timeLimit", _number, 14400.0),
        hangup_on_star=_attr(el, "hangupOnStar", _bool, False))


_PROMPTS: dict[str, Callable[[ET.Element], Prompt]] = {"Say": _say, "Play": _play, "Pause": _pause}
_VERBS: dict[str, Callable[[ET.Element], Verb]] = {
    "Say": _say, "Play": _play, "Pause": _pause, "Gather": _gather, "Redirect": _redirect,
    "Hangup": _hangup, "Reject": _reject, "Leave": _leave, "Record": _record,
    "Enqueue": _enqueue, "Dial": _dial,
}
