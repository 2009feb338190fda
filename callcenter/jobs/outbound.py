"""The outbound engine's RQ jobs; each opens its own units of work and may run twice.

- `dial_agent(attempt_id)`: paced; claim, commit, dial the agent's leg, record its CallSid.
- `dial_customer(attempt_id)`: after the agent answered; the same pattern for the customer.
- `dial_automated(task_id)`: an automated kind's due task (an RMA notice), no agent: the same
  pattern, the customer's leg alone, with answering-machine detection when the setting is on.
- `deliver_decision(delivery_id)`: the signed webhook to the order system (RQ retries).
- `tick()`: every few seconds (`callcenter cron`): assign new tasks, dial due automated ones,
  reconcile lost dials, re-send due webhooks. (Queue callbacks are started by the inbound
  router when it reaches them in line: `callcenter.jobs.router`.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests
from sqlalchemy.orm import Session

from callcenter.runtime import Runtime, runtime
from core import webhooks
from core.telephony import TelephonyRejected, TelephonyUnavailable
from outbound import automated, legs
from outbound.models import AttemptStatus, OutboundAttempt
from outbound.pacing import DialPacer
from outbound.policy import Policy

log = logging.getLogger(__name__)
DIAL_RETRIES = 3
WEBHOOK_RETRIES = 3
PACING_MAX_WAIT_S = 20.0


class PacingBacklog(RuntimeError):
    """More dials waiting than the CPS allows within PACING_MAX_WAIT_S: RQ retries later."""


@dataclass(frozen=True, slots=True)
class OutboundUrls:
    base: str  # e.g. https://cc.example.com/twilio/outbound

    def agent(self, attempt_id: int) -> str:
        return f"{self.base}/agent?attempt={attempt_id}"

    def agent_status(self, attempt_id: int) -> str:
        return f"{self.base}/agent/status?attempt={attempt_id}"

    def customer(self, attempt_id: int) -> str:
        return f"{self.base}/customer?attempt={attempt_id}"

    def customer_join(self, attempt_id: int) -> str:
        return f"{self.base}/customer/join?attempt={attempt_id}"

    def customer_status(self, attempt_id: int) -> str:
        return f"{self.base}/customer/status?attempt={attempt_id}"

    def recording(self, attempt_id: int) -> str:
        return f"{self.base}/recording?attempt={attempt_id}"

    def done(self, attempt_id: int) -> str:
        return f"{self.base}/done?attempt={attempt_id}"

    def notice(self, attempt_id: int) -> str:
        return f"{self.base}/notice?attempt={attempt_id}"

    def notice_menu(self, attempt_id: int) -> str:
        return f"{self.base}/notice/menu?attempt={attempt_id}"


def urls_for(rt: Runtime) -> OutboundUrls:
    return OutboundUrls(rt.settings.public_base_url.rstrip("/") + "/twilio/outbound")


def policy_for(rt: Runtime) -> Policy:
    return Policy.from_settings(rt.settings)


def pacer_for(rt: Runtime) -> DialPacer:
    return DialPacer(
        rt.redis, f"{rt.settings.redis_prefix}dial-pacer", float(rt.settings.outbound_cps)
    )


def _pace(rt: Runtime) -> None:
    if not pacer_for(rt).take(max_wait_s=PACING_MAX_WAIT_S):
        raise PacingBacklog("dial pacing backlog; retried later")


def dial_agent(attempt_id: int) -> None:
    """Ring the agent of an attempt (their browser or phone), recorded from the answer."""
    rt = runtime()
    _pace(rt)  # before the claim: a job waiting for a token has claimed nothing yet
    with rt.unit_of_work() as uow:
        dial = legs.claim_agent_dial(uow.session, attempt_id, now=rt.clock())
    if dial is None:
        return  # claimed before (a retried job) or gone: never dial twice
    urls = urls_for(rt)
    try:
        placed = rt.telephony.place_call(
            to=dial.to,
            from_=rt.settings.hotline_number,
            url=urls.agent(attempt_id),
            status_callback=urls.agent_status(attempt_id),
            status_events=("initiated", "ringing", "answered", "completed"),
            timeout_s=legs.AGENT_RING_TIMEOUT_S,
            record=True,
            recording_status_callback=urls.recording(attempt_id),
        )
    except TelephonyUnavailable:
        with rt.unit_of_work() as uow:
            legs.release_agent_claim(uow.session, attempt_id)
        raise
    except TelephonyRejected as exc:
        log.warning("could not ring the agent of attempt %s: %s", attempt_id, exc)
        with rt.unit_of_work() as uow:
            legs.agent_leg_ended(
                uow.session, attempt_id, "failed", now=rt.clock(), policy=policy_for(rt)
            )
        return
    with rt.unit_of_work() as uow:
        legs.record_agent_call(uow.session, attempt_id, placed.sid)


def dial_customer(attempt_id: int) -> None:
    """Dial the customer into the attempt's conference, from the hotline number."""
    rt = runtime()
    policy = policy_for(rt)
    _pace(rt)
    with rt.unit_of_work() as uow:
        dial = legs.claim_customer_dial(uow.session, attempt_id, now=rt.clock(), policy=policy)
        agent_leg = _agent_leg(uow.session, attempt_id) if dial is None else None
    if dial is None:
        if agent_leg:
            rt.enqueue(hang_up, agent_leg, retries=DIAL_RETRIES)
        return
    urls = urls_for(rt)
    try:
        placed = rt.telephony.place_call(
            to=dial.to,
            from_=rt.settings.hotline_number,
            url=urls.customer(attempt_id),
            status_callback=urls.customer_status(attempt_id),
            status_events=("initiated", "ringing", "answered", "completed"),
            timeout_s=rt.settings.outbound_ring_timeout_s,
        )
    except (TelephonyUnavailable, TelephonyRejected) as exc:
        # The claim counted the attempt; a failed dial is an unanswered one, not a redial.
        log.warning("could not dial the customer of attempt %s: %s", attempt_id, exc)
        with rt.unit_of_work() as uow:
            leg = legs.customer_leg_ended(
                uow.session, attempt_id, "failed", now=rt.clock(), policy=policy
            )
        if leg:
            rt.enqueue(hang_up, leg, retries=DIAL_RETRIES)
        return
    with rt.unit_of_work() as uow:
        legs.record_customer_call(uow.session, attempt_id, placed.sid)


def dial_automated(task_id: int) -> None:
    """Call the customer of a due automated task (`outbound.automated`): paced; claim and
    commit, dial (answering-machine detection when OUTBOUND_MACHINE_DETECTION is on), record
    the CallSid. A second run finds the task claimed and dials nothing."""
    rt = runtime()
    policy = policy_for(rt)
    with rt.unit_of_work() as uow:
        due = automated.is_due(uow.session, task_id, now=rt.clock())
    if not due:
        return  # dialled already (the tick enqueues a due task until it is claimed)
    _pace(rt)
    with rt.unit_of_work() as uow:
        dial = automated.claim_dial(uow.session, task_id, now=rt.clock(), policy=policy)
    if dial is None:
        return  # claimed before, not due, blocked, or outside calling hours
    urls = urls_for(rt)
    try:
        placed = rt.telephony.place_call(
            to=dial.to,
            from_=rt.settings.hotline_number,
            url=urls.notice(dial.attempt_id),
            status_callback=urls.customer_status(dial.attempt_id),
            status_events=("initiated", "ringing", "answered", "completed"),
            timeout_s=rt.settings.outbound_ring_timeout_s,
            machine_detection=(
                "DetectMessageEnd" if rt.settings.outbound_machine_detection else None
            ),
        )
    except (TelephonyUnavailable, TelephonyRejected) as exc:
        # The claim counted the attempt; a failed dial is an unanswered one, not a redial.
        log.warning("could not dial the customer of task %s: %s", task_id, exc)
        with rt.unit_of_work() as uow:
            legs.customer_leg_ended(
                uow.session, dial.attempt_id, "failed", now=rt.clock(), policy=policy
            )
        return
    with rt.unit_of_work() as uow:
        legs.record_customer_call(uow.session, dial.attempt_id, placed.sid)


def _agent_leg(session: Session, attempt_id: int) -> str | None:
    """The agent's leg of an attempt the engine ended before dialling the customer."""
    attempt = session.get(OutboundAttempt, attempt_id)
    if attempt is None or attempt.status is not AttemptStatus.ENDED:
        return None
    return attempt.agent_call_sid


def hang_up(call_sid: str) -> None:
    """End a leg; one that has already ended is fine."""
    try:
        runtime().telephony.hang_up(call_sid)
    except TelephonyRejected as exc:
        log.info("hang-up of %s: %s", call_sid, exc)


def _post(url: str, body: bytes, headers: dict[str, str]) -> webhooks.Sent:
    try:
        response = requests.post(url, data=body, headers=headers, timeout=(3.05, 10))
    except requests.RequestException as exc:
        return webhooks.Sent(None, exc.__class__.__name__)
    return webhooks.Sent(response.status_code, None if response.ok else response.text[:200])


def deliver_decision(delivery_id: int) -> None:
    """Send one decision to its target (the order system, finance, logistics). A failure is
    recorded on the row with its next time (`webhooks.BACKOFF`), and the tick sends it again
    then: the schedule lives in the database, so it survives a lost job or a Redis restart.
    An acknowledged delivery is passed to its sender's hook (`webhooks.on_delivered`)."""
    rt = runtime()
    with rt.unit_of_work() as uow:
        delivery = uow.session.get(webhooks.WebhookDelivery, delivery_id)
        endpoint = rt.settings.webhook_endpoint(delivery.target) if delivery else None
        if endpoint is None:
            return  # no such delivery, or its target takes a CSV export
        url, secret = endpoint
        now = rt.clock()
        if webhooks.deliver(uow.session, delivery_id, url=url, secret=secret, post=_post, now=now):
            webhooks.acknowledged(uow.session, delivery_id, now=now)
