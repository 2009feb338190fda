"""Pure renderers: an IVR decision (or a failure) → TwiML. URLs come in; nothing is looked up."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from twilio.twiml.voice_response import VoiceResponse

from callcenter.speech import say_count
from ivr_menus.engine import Ask, End, LeaveMessage, Step, Transfer, Utterance
from ivr_menus.model import MenuSet
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
    menus: MenuSet, language: str | None, key: str, *, hangup: bool
) -> VoiceResponse:
    """One catalogue message in the caller's language (all languages if unknown)."""
    r = VoiceResponse()
    _say(
        r,
        menus,
        tuple(Utterance(menus.message(lang, key), lang) for lang in _languages(menus, language)),
    )
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
    return keys


def render_hold(menus: MenuSet, hold: HoldStatus, music_url: str) -> VoiceResponse:
    """One turn of the hold loop: what is due (greeting, position and wait, comfort) in the
    caller's language, then our music (Twilio fetches the waitUrl again when this ends)."""
    r = VoiceResponse()
    for key, values in _hold_keys(hold):
        said = tuple(
            Utterance(menus.message(lang, key, **values), lang)
            for lang in _languages(menus, hold.language)
        )
        _say(r, menus, said)
    r.play(music_url)
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


def render_last_resort() -> VoiceResponse:
    r = VoiceResponse()
    for text, lang in LAST_RESORT:
        r.say(text, language=lang)
    r.hangup()
    return r
