"""Parse the form bodies of Twilio REST requests into the network's typed requests."""

from __future__ import annotations

from urllib.parse import urlsplit

from werkzeug.datastructures import MultiDict

from phone_network.calls import Fallback, NewCall, NewParticipant
from phone_network.conferences import ParticipantChanges
from phone_network.twiml import Conference, RecordingOptions, StatusCallback

Form = MultiDict[str, str]
#: Twilio's answering-machine detection modes (REST `POST /Calls` MachineDetection).
MACHINE_DETECTION = frozenset({"Enable", "DetectMessageEnd"})


class BadRequest(ValueError):
    """A REST request Twilio would answer with 400 and this error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def text(form: Form, name: str, *, code: int | None = None) -> str | None:
    value = form.get(name)
    if value is None or value == "":
        if code is not None:
            raise BadRequest(code, f"Required parameter {name} is missing.")
        return None
    return value


def flag(form: Form, name: str) -> bool | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    if value.lower() not in ("true", "false"):
        raise BadRequest(21207, f"{name} must be true or false, not {value!r}.")
    return value.lower() == "true"


def method(form: Form, name: str) -> str:
    value = (form.get(name) or "POST").upper()
    if value not in ("GET", "POST"):
        raise BadRequest(21206, f"{name} must be GET or POST, not {value!r}.")
    return value


def number(form: Form, name: str, default: float) -> float:
    value = form.get(name)
    try:
        return default if not value else float(value)
    except ValueError:
        raise BadRequest(21208, f"{name} must be a number, not {value!r}.") from None


def url(form: Form, name: str, *, code: int = 21205) -> str | None:
    value = text(form, name)
    if value is not None and urlsplit(value).scheme not in ("http", "https"):
        raise BadRequest(code, f"{name} is not a valid URL: {value!r}.")
    return value


def events(form: Form, name: str, default: frozenset[str]) -> frozenset[str]:
    """Repeated fields (the REST way) or one space-separated field (the Participants docs)."""
    values = [word for item in form.getlist(name) for word in item.replace(",", " ").split()]
    return frozenset(values) if values else default


def new_call(form: Form) -> NewCall:
    to = text(form, "To", code=21201)
    from_ = text(form, "From", code=21603)
    assert to is not None and from_ is not None
    target, twiml = url(form, "Url"), text(form, "Twiml")
    if target is None and twiml is None:
        raise BadRequest(21205, "Url parameter is required (or Twiml).")
    fallback = url(form, "FallbackUrl")
    detection = text(form, "MachineDetection")
    if detection is not None and detection not in MACHINE_DETECTION:
        raise BadRequest(21208, "MachineDetection must be Enable or DetectMessageEnd.")
    channels = form.get("RecordingChannels", "mono")
    if channels not in ("mono", "dual"):
        raise BadRequest(21208, "RecordingChannels must be mono or dual.")
    return NewCall(
        to=to, from_=from_, url=target, twiml=twiml, method=method(form, "Method"),
        fallback=Fallback(fallback, method(form, "FallbackMethod")) if fallback else None,
        status_callback=StatusCallback(
            url(form, "StatusCallback"), method(form, "StatusCallbackMethod"),
            events(form, "StatusCallbackEvent", frozenset({"completed"}))),
        timeout=number(form, "Timeout", 60.0), record=bool(flag(form, "Record")),
        recording_channels=2 if channels == "dual" else 1,
        recording=RecordingOptions(
            url(form, "RecordingStatusCallback"), method(form, "RecordingStatusCallbackMethod"),
            events(form, "RecordingStatusCallbackEvent", frozenset({"completed"}))),
        machine_detection=None if form.get("SendDigits") else detection)


def new_participant(form: Form, conference_name: str) -> NewParticipant:
    to = text(form, "To", code=21201)
    from_ = text(form, "From", code=21603)
    assert to is not None and from_ is not None
    record = form.get("ConferenceRecord", "do-not-record")
    record = {"true": "record-from-start", "false": "do-not-record"}.get(record, record)
    if record not in ("record-from-start", "do-not-record"):
        raise BadRequest(21208, "ConferenceRecord must be record-from-start or do-not-record.")
    coach = text(form, "CallSidToCoach")
    coaching = flag(form, "Coaching")
    noun = Conference(
        conference_name, muted=bool(flag(form, "Muted")), beep=form.get("Beep", "true"),
        start_conference_on_enter=flag(form, "StartConferenceOnEnter") is not False,
        end_conference_on_exit=bool(flag(form, "EndConferenceOnExit")),
        wait_url=form.get("WaitUrl"), wait_method=method(form, "WaitMethod"),
        max_participants=int(number(form, "MaxParticipants", 250)), record=record,
        recording=RecordingOptions(
            url(form, "ConferenceRecordingStatusCallback"),
            method(form, "ConferenceRecordingStatusCallbackMethod"),
            events(form, "ConferenceRecordingStatusCallbackEvent", frozenset({"completed"}))),
        status_callback=url(form, "ConferenceStatusCallback"),
        status_callback_method=method(form, "ConferenceStatusCallbackMethod"),
        status_callback_events=events(form, "ConferenceStatusCallbackEvent",
                                      frozenset({"start", "end"})),
        coach=coach if coaching is not False else None, participant_label=text(form, "Label"))
    return NewParticipant(
        from_=from_, to=to, conference=noun, timeout=number(form, "Timeout", 60.0),
        status_callback=StatusCallback(
            url(form, "StatusCallback"), method(form, "StatusCallbackMethod"),
            events(form, "StatusCallbackEvent", frozenset({"completed"}))))


def participant_changes(form: Form) -> ParticipantChanges:
    return ParticipantChanges(
        muted=flag(form, "Muted"), hold=flag(form, "Hold"), hold_url=url(form, "HoldUrl"),
        hold_method=method(form, "HoldMethod"), coaching=flag(form, "Coaching"),
        call_sid_to_coach=text(form, "CallSidToCoach"),
        end_conference_on_exit=flag(form, "EndConferenceOnExit"))


def paging(args: Form) -> tuple[int, int]:
    try:
        size = int(args.get("PageSize") or 50)
        page = int(args.get("Page") or 0)
    except ValueError:
        raise BadRequest(20001, "PageSize and Page must be whole numbers.") from None
    if not 1 <= size <= 1000 or page < 0:
        raise BadRequest(20001, "PageSize must be 1-1000 and Page not negative.")
    return page, size
