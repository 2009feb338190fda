"""Pure renderers: an IVR decision (or a failure) → TwiML. URLs come in; nothing is looked up."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from twilio.twiml.voice_response import Dial, VoiceResponse

from core.phones import national
from core.speech import say_count, say_digits
from ivr_menus.engine import Ask, End, LeaveMessage, Step, Transfer, Utterance
from ivr_menus.model import MenuSet
from queue_callbacks.booking import NumberKeyed
from queues.models import QueuedCall
from queues.services import HoldStatus

VOICEMAIL_MAX_SECONDS = 120
# Said when even the menus cannot be used (the apology of last resort), Mandarin first.
LAST_RESORT = (
    ("非常抱歉，系统暂时遇到问题，请稍后再拨。", "zh-CN"),
    ("We are sorry, something went wrong. Please call again later.", "en-US"),
)


@dataclass(frozen=True, slots=True)
class VoiceUrls:
    """Absolute webhook URLs, built on the public base URL (Twilio requests exactly these)."""

    base: str  # e.g. https://cc.example.com/twilio/voice

    def menu(self, node_id: str, attempt: int) -> str:
        return f"{self.base}/menu/{quote(node_id)}?attempt={attempt}"

    def queue_wait(self, queue: str) -> str:
        return f"{self.base}/queue/wait?queue={quote(queue)}"

    def queue_exit(self, queue: str) -> str:
        return f"{self.base}/queue/exit?queue={quote(queue)}"

    def voicemail_done(self, reason: str) -> str:
        return f"{self.base}/voicemail/done?reason={quote(reason)}"

    def recording_status(self, reason: str) -> str:
        return f"{self.base}/recording/status?reason={quote(reason)}"

    def queue_offer(self, queue: str) -> str:
        return f"{self.base}/queue/offer?queue={quote(queue)}"

    def callback_number(self, entry_id: int, attempt: int) -> str:
        return f"{self.base}/queue/callback?entry={entry_id}&attempt={attempt}"

    def agent_answer(self, entry_id: int, assignment_id: str) -> str:
        return f"{self.base}/agent/answer?entry={entry_id}&assignment={quote(assignment_id)}"

    def agent_status(self, entry_id: int, assignment_id: str) -> str:
        return f"{self.base}/agent/status?entry={entry_id}&assignment={quote(assignment_id)}"

    def agent_done(self, entry_id: int) -> str:
        return f"{self.base}/agent/done?entry={entry_id}"

    def conference_caller(self, entry_id: int) -> str:
        return f"{self.base}/conference/caller?entry={entry_id}"

    def conference_done(self, entry_id: int) -> str:
        return f"{self.base}/conference/done?entry={entry_id}"

    @property
    def conference_wait(self) -> str:
        return f"{self.base}/conference/wait"

    def call_recording(self, entry_id: int) -> str:
        return f"{self.base}/recording/call?entry={entry_id}"


@dataclass(frozen=True, slots=True)
class QueueExit:
    """Where a caller who left a queue goes next (`render_queue_exit`)."""

    language: str | None
    ended: bool = False  # the call ended in the queue (bridged to an agent, or hung up)
    callback_entry: int | None = None  # left to be called back: confirm the number first
    callback_to: str | None = None  # the number the callback goes to
    moved_to: str | None = None  # overflowed into this queue


def _say(parent: VoiceResponse, menus: MenuSet, said: tuple[Utterance, ...]) -> None:
    for u in said:
        voice = menus.voices[u.language]
        if voice.voice:
            parent.say(u.text, language=voice.language, voice=voice.voice)
        else:
            parent.say(u.text, language=voice.language)


def _record(r: VoiceResponse, urls: VoiceUrls, reason: str) -> None:
    r.record(
        action=urls.voicemail_done(reason),
        method="POST",
        max_length=VOICEMAIL_MAX_SECONDS,
        play_beep=True,
        finish_on_key="#",
        timeout=5,
        recording_status_callback=urls.recording_status(reason),
        recording_status_callback_method="POST",
        recording_status_callback_event="completed absent",
    )


def render_step(step: Step, menus: MenuSet, urls: VoiceUrls) -> VoiceResponse:
    """TwiML for one IVR step (a Lookup never reaches here: the service resolves it)."""
    r = VoiceResponse()
    if isinstance(step, Ask):
        voice = menus.voices[step.language]
        gather = r.gather(
            input="dtmf speech",
            action=urls.menu(step.node_id, step.attempt),
            method="POST",
            timeout=step.timeout,
            action_on_empty_result=True,
            language=voice.language,
            speech_timeout="auto",
            finish_on_key="#",
            num_digits=None if step.keyed else 1,
            hints=", ".join(step.hints) if step.hints else None,
        )
        _say(gather, menus, step.say)
    elif isinstance(step, Transfer):
        _say(r, menus, step.say)
        r.enqueue(
            step.route.queue,
            wait_url=urls.queue_wait(step.route.queue),
            wait_url_method="POST",
            action=urls.queue_exit(step.route.queue),
            method="POST",
        )
    elif isinstance(step, LeaveMessage):
        _say(r, menus, step.say)
        _record(r, urls, step.node_id)
        r.hangup()  # Record falls through here when the caller left no message
    elif isinstance(step, End):
        _say(r, menus, step.say)
        r.hangup()
    else:
        raise TypeError(f"cannot render {type(step).__name__}")
    return r


def _languages(menus: MenuSet, language: str | None) -> tuple[str, ...]:
    return (language,) if language in menus.languages else menus.languages


def render_message(
    menus: MenuSet, language: str | None, key: str, *, hangup: bool, **values: str
) -> VoiceResponse:
    """One catalogue message in the caller's language (all languages if unknown)."""
    r = VoiceResponse()
    _say(r, menus, _said(menus, language, key, **values))
    if hangup:
        r.hangup()
    return r


def _hold_keys(hold: HoldStatus) -> list[tuple[str, dict[str, str]]]:
    """The catalogue messages of one hold turn, with their values, in order."""
    lang = hold.language or ""
    keys: list[tuple[str, dict[str, str]]] = [("hold", {})] if hold.turn.greet else []
    if hold.position is not None:
        ahead = hold.position - 1
        if ahead <= 1:
            keys.append(("queue_next" if ahead == 0 else "queue_position_one", {}))
        else:
            keys.append(("queue_position", {"ahead": say_count(ahead, lang)}))
    if hold.announce_wait and hold.position is not None:
        est = hold.estimate
        if est is None:
            keys.append(("queue_no_agents", {}))
        elif est.capped:
            keys.append(("queue_wait_long", {"minutes": say_count(est.minutes, lang)}))
        elif est.minutes == 1:
            keys.append(("queue_wait_one", {}))
        else:
            keys.append(("queue_wait", {"minutes": say_count(est.minutes, lang)}))
    if hold.turn.comfort:
        keys.append(("queue_comfort", {}))
    if hold.offer_callback and (hold.turn.announce or hold.turn.comfort):
        keys.append(("queue_offer_callback", {}))  # said with news, not on every music loop
    return keys


def _said(menus: MenuSet, language: str | None, key: str, **values: str) -> tuple[Utterance, ...]:
    return tuple(
        Utterance(menus.message(lang, key, **values), lang) for lang in _languages(menus, language)
    )


def render_hold(
    menus: MenuSet, hold: HoldStatus, music_url: str, urls: VoiceUrls, queue: str
) -> VoiceResponse:
    """One turn of the hold loop: what is due (greeting, position and wait, comfort) in the
    caller's language, then our music (Twilio fetches the waitUrl again when this ends).

    With a callback offer, all of it is inside a one-key <Gather>: pressing 1 at any moment
    goes to `queue_offer`. At the queue's maximum wait the turn is a <Leave/> (after the
    callback message if the action is a callback): the Enqueue action then carries it out.
    """
    r = VoiceResponse()
    if hold.leave:
        if hold.leave_message:
            _say(r, menus, _said(menus, hold.language, hold.leave_message))
        r.leave()
        return r
    parent = r
    if hold.offer_callback:
        parent = r.gather(
            input="dtmf",
            num_digits=1,
            action=urls.queue_offer(queue),
            method="POST",
            timeout=1,
            action_on_empty_result=False,
        )
    for key, values in _hold_keys(hold):
        _say(parent, menus, _said(menus, hold.language, key, **values))
    parent.play(music_url)
    return r


def render_callback_prompt(
    menus: MenuSet,
    language: str | None,
    urls: VoiceUrls,
    entry_id: int,
    number: str,
    attempt: int,
    *,
    invalid: bool = False,
) -> VoiceResponse:
    """Confirm the callback number (1) or key another one, ending with #."""
    r = VoiceResponse()
    if invalid:
        _say(r, menus, _said(menus, language, "callback_invalid"))
    gather = r.gather(
        input="dtmf",
        action=urls.callback_number(entry_id, attempt),
        method="POST",
        timeout=8,
        finish_on_key="#",
        action_on_empty_result=True,
    )
    _say(gather, menus, _said(menus, language, "callback_confirm", number=number))
    return r


def spoken_number(
    menus: MenuSet, number: str | None, language: str | None, country_code: str
) -> str:
    """A callback number read back to the caller, as they would say it themselves."""
    return say_digits(national(number or "", country_code), language or menus.default_language)


def render_callback_number(
    menus: MenuSet,
    language: str | None,
    urls: VoiceUrls,
    keyed: NumberKeyed,
    attempt: int,
    *,
    country_code: str,
) -> VoiceResponse:
    """After the caller confirmed or keyed their callback number: ask again (a number we
    cannot take), or say when we will call, and goodbye."""
    if keyed.entry_id is None:
        return render_message(menus, language, "goodbye", hangup=True)
    number = spoken_number(menus, keyed.number, language, country_code)
    if keyed.again:
        return render_callback_prompt(
            menus, language, urls, keyed.entry_id, number, attempt + 1, invalid=True
        )
    return render_message(menus, language, "callback_booked", hangup=True, number=number)


def render_queue_exit(
    menus: MenuSet, urls: VoiceUrls, left: QueueExit, *, queue: str, country_code: str
) -> VoiceResponse:
    """After the caller left `queue`: goodbye (the call ended there), confirm the callback
    number, wait in the queue it overflowed to, or else leave a voicemail."""
    if left.ended:
        return render_message(menus, left.language, "goodbye", hangup=True)
    if left.callback_entry is not None:
        number = spoken_number(menus, left.callback_to, left.language, country_code)
        return render_callback_prompt(menus, left.language, urls, left.callback_entry, number, 1)
    if left.moved_to is not None:
        return render_enqueue(menus, left.language, urls, left.moved_to, "queue_transfer")
    return render_voicemail(menus, left.language, urls, reason=f"queue:{queue}")


def render_enqueue(
    menus: MenuSet, language: str | None, urls: VoiceUrls, queue: str, message: str
) -> VoiceResponse:
    """Say a message, then wait in `queue` (an overflow, a caller returned to a queue)."""
    r = VoiceResponse()
    _say(r, menus, _said(menus, language, message))
    r.enqueue(
        queue,
        wait_url=urls.queue_wait(queue),
        wait_url_method="POST",
        action=urls.queue_exit(queue),
        method="POST",
    )
    return r


def conference_name(entry_id: int) -> str:
    """The conference of one queue entry: the caller and the agent who answered it."""
    return f"cc-entry-{entry_id}"


def whisper_for(menus: MenuSet, entry: QueuedCall, language: str) -> str:
    """What the agent hears about a caller before the talk: the queue and the tier."""
    messages = menus.messages[language]
    label = messages.get(f"label_{entry.queue}", entry.queue)
    tier = messages.get(f"tier_{entry.tier}", entry.tier)
    key = "whisper_callback" if entry.callback_to else "whisper"
    return menus.message(language, key, queue=label, tier=tier)


def render_agent_leg(
    menus: MenuSet, language: str, urls: VoiceUrls, entry_id: int, whisper: str
) -> VoiceResponse:
    """The agent answered: the whisper (only they hear it), then into the caller's conference.

    The agent's leg starts the conference and ends it on leaving; the caller is brought in
    by the router (redirected out of the hold loop, or dialled for a callback).
    """
    r = VoiceResponse()
    _say(r, menus, (Utterance(whisper, language),))
    join_as_agent(
        r.dial(action=urls.agent_done(entry_id), method="POST"), conference_name(entry_id)
    )
    return r


def join_as_agent(dial: Dial, conference: str) -> None:
    """The agent's side of a call's conference: it starts when they enter (in silence) and
    ends when they leave; the customer is brought in by the engine that placed the call."""
    dial.conference(
        conference,
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        beep=False,
        wait_url="",
        participant_label="agent",
    )


def render_caller_leg(
    menus: MenuSet,
    language: str | None,
    urls: VoiceUrls,
    entry_id: int,
    *,
    wait_url: str,
) -> VoiceResponse:
    """The caller joins the conference their agent is in; our music plays if they arrive
    while the agent still hears the whisper."""
    r = VoiceResponse()
    dial = r.dial(action=urls.conference_done(entry_id), method="POST")
    dial.conference(
        conference_name(entry_id),
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        beep=False,
        wait_url=wait_url,
        wait_method="POST",
        participant_label="customer",
    )
    return r


def render_voicemail(
    menus: MenuSet, language: str | None, urls: VoiceUrls, reason: str
) -> VoiceResponse:
    """Offer a voicemail (e.g. when the caller leaves a queue without reaching an agent)."""
    r = render_message(menus, language, "leave_message", hangup=False)
    _record(r, urls, reason)
    r.hangup()
    return r


def render_apology(
    menus: MenuSet | None,
    language: str | None,
    urls: VoiceUrls,
    *,
    fallback_queue: str,
    is_open: bool,
) -> VoiceResponse:
    """Safe TwiML after a failure: apologise, then the fallback queue (or voicemail when closed)."""
    if menus is None:
        return render_last_resort()
    r = render_message(menus, language, "apology", hangup=False)
    if is_open:
        r.enqueue(
            fallback_queue,
            wait_url=urls.queue_wait(fallback_queue),
            wait_url_method="POST",
            action=urls.queue_exit(fallback_queue),
            method="POST",
        )
    else:
        _record(r, urls, "fallback")
        r.hangup()
    return r


#: The verbs a waitUrl document (and the action of a <Gather> inside one) may hold.
WAIT_URL_VERBS = frozenset({"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"})


def render_hold_apology(menus: MenuSet, language: str | None, music_url: str) -> VoiceResponse:
    """Safe TwiML after a failure inside the hold loop (a waitUrl document, or the action of
    its <Gather>): apologise, then our music. The caller stays in Twilio's queue, in their
    place, and Twilio fetches the waitUrl again when this ends. Only `WAIT_URL_VERBS`: an
    <Enqueue> here is Twilio error 12100."""
    r = render_message(menus, language, "apology", hangup=False)
    r.play(music_url)
    return r


def render_hold_last_resort() -> VoiceResponse:
    """The hold loop's answer when even its apology fails: a pause, then the next turn."""
    r = VoiceResponse()
    r.pause(length=10)
    return r


def render_last_resort() -> VoiceResponse:
    r = VoiceResponse()
    for text, lang in LAST_RESORT:
        r.say(text, language=lang)
    r.hangup()
    return r
