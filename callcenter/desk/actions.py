"""The desk's actions: change state, find the leg to answer or end, answer it, check wrap-ups.

No Flask here. Functions that read take the session; those that talk to a phone network take
the settings and hold no transaction open while they wait for it (answering makes the network
fetch our agent-answer webhook, which writes).
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from callcenter.desk.forms import ContactWorkOrderForm, WrapUpForm
from callcenter.desk.screen import current_entry, current_outbound
from callcenter.jobs import router as jobs
from callcenter.jobs.router import set_agent_state
from callcenter.runtime import Runtime
from config.settings import Settings
from core.db import UnitOfWork
from core.errors import DomainError
from core.models import Call, Customer
from core.telephony import TelephonyUnavailable
from phone_network.parties import Answering
from phone_network.remote import RemoteError, RemoteNetwork
from queues import connect, presence
from queues.connect import Followup, ring_address
from queues.models import Actor, Agent, AgentState, Post, QueuedCallStatus
from work_orders import desk as work_desk
from work_orders import sweep
from work_orders.models import WorkOrder

log = logging.getLogger(__name__)


class DeskError(DomainError):
    """A desk action refused in the agent's present situation."""

    code = "desk-error"


class NotRinging(DeskError):
    code = "not-ringing"


class AnswerInBrowser(DeskError):
    code = "answer-in-browser"


class NotOnCall(DeskError):
    code = "not-on-call"


class NothingToWrapUp(DeskError):
    code = "nothing-to-wrap-up"


class WrapUpFirst(DeskError):
    code = "wrap-up-first"


class VoiceTokenUnavailable(DeskError):
    code = "voice-token-unavailable"


def change_state(
    uow: UnitOfWork,
    rt: Runtime,
    agent: Agent,
    to: AgentState,
    *,
    reason: str | None,
    expected: AgentState | None = None,
) -> str:
    """The agent moves themselves to `to` (`jobs.router.set_agent_state`: the router follows
    after the commit); refused (`WrapUpFirst`) while their wrap-up is unsaved. Returns where
    the agent's calls ring, for the desk to answer there once they are available."""
    check_may_leave_wrap_up(uow.session, agent)
    set_agent_state(rt, uow, agent.id, to, reason=reason, actor=Actor.AGENT, expected=expected)
    return ring_address(agent)


def switch_post(uow: UnitOfWork, rt: Runtime, agent: Agent, post: Post) -> None:
    """The agent works `post` now (one of the rotating posts they hold; audited). After the
    commit the router sees their new queues (`routing.inbound_skills`) and, if available, they
    are offered the first eligible caller. A repeat of the same switch changes nothing."""
    switched = presence.switch_post(
        uow.session, agent.id, post, now=rt.clock(), actor_id=agent.id, actor=agent.login
    )
    if switched:
        jobs.after_commit(uow, rt, Followup(publish=[agent.id], route_agents=[agent.id]))


def ringing_leg(session: Session, agent: Agent) -> str:
    """The CallSid of the agent's leg that rings now. Reads only; NotRinging if none (yet)."""
    entry = current_entry(session, agent)
    attempt = current_outbound(session, agent) if entry is None else None
    if attempt is not None and agent.state is AgentState.RESERVED and attempt.agent_call_sid:
        return attempt.agent_call_sid  # an outbound call rings the agent first
    if (
        agent.state is not AgentState.RESERVED
        or entry is None
        or entry.status is not QueuedCallStatus.ASSIGNED
        or not entry.agent_call_sid
    ):
        raise NotRinging("no call is ringing for you (yet)", state=agent.state.value)
    return entry.agent_call_sid


def answer_on_local_network(settings: Settings, leg_sid: str) -> None:
    """Pick up the ringing leg on the local phone network, as the agent's browser.

    NotRinging if it stopped ringing meanwhile (the caller hung up, the ring timed out);
    TelephonyUnavailable if the network cannot be reached. Idempotent in effect: a leg
    answered already is not ringing.
    """
    if not settings.uses_local_network:
        raise AnswerInBrowser("with Twilio, the call is answered in the browser (Voice SDK)")
    try:
        with RemoteNetwork(
            settings.phone_network_url, settings.account_sid, settings.signing_token
        ) as network:
            answered = network.answer_call(leg_sid)
    except RemoteError as exc:
        raise TelephonyUnavailable(str(exc)) from None
    if not answered:
        raise NotRinging("the call stopped ringing", call_sid=leg_sid)


def ring_at_desk(settings: Settings, address: str) -> None:
    """On the local network, make the agent's ring address ring until answered at this desk.

    Real Twilio rings the browser's Voice SDK (or the phone) by itself. On the local network
    an unregistered `client:` would answer by itself after a second; registering it as a
    manual endpoint lets the agent answer with the Answer button. Best effort: a network that
    cannot be reached is logged, and the call then rings as the network decides.
    """
    if not settings.uses_local_network:
        return
    try:
        with RemoteNetwork(
            settings.phone_network_url, settings.account_sid, settings.signing_token
        ) as network:
            network.register_endpoint(address, Answering(mode="manual", talk=None))
    except RemoteError:
        log.warning("could not register %s on the local phone network", address)


def talking_leg(session: Session, agent: Agent) -> str:
    """The CallSid of the agent's leg in the call they are on. Reads only; NotOnCall if none."""
    entry = current_entry(session, agent)
    attempt = current_outbound(session, agent) if entry is None else None
    if attempt is not None and agent.state is AgentState.ON_CALL and attempt.agent_call_sid:
        return attempt.agent_call_sid
    if agent.state is not AgentState.ON_CALL or entry is None or not entry.agent_call_sid:
        raise NotOnCall("you are not on a call", state=agent.state.value)
    return entry.agent_call_sid


def check_wrap_up(session: Session, agent: Agent) -> None:
    """Refuse a wrap-up with no answered call to write it on, or while still talking."""
    if agent.state is AgentState.ON_CALL:
        raise NothingToWrapUp("hang up first: the call is still on", state=agent.state.value)
    entry = current_entry(session, agent)
    if entry is None or entry.answered_at is None or entry.wrapped_up_at is not None:
        raise NothingToWrapUp("there is no call to wrap up", state=agent.state.value)


def check_may_leave_wrap_up(session: Session, agent: Agent) -> None:
    """At the desk, wrap-up ends by saving it (or by its timer): refuse leaving it unsaved."""
    if agent.state is not AgentState.WRAP_UP:
        return
    entry = current_entry(session, agent)
    if entry is not None and entry.answered_at is not None and entry.wrapped_up_at is None:
        raise WrapUpFirst("save the wrap-up (disposition and notes) first", entry_id=entry.id)


def voice_token(settings: Settings, identity: str) -> str:
    """A Twilio Voice access token (JWT) letting `identity`'s browser receive calls.

    Signed with the API key; lives `desk_token_ttl_s` seconds (the page renews it). No
    outgoing grant: the desk only answers calls the router sends it.
    """
    if not (settings.twilio_api_key and settings.twilio_api_secret):
        raise VoiceTokenUnavailable(
            "CALLCENTER_TWILIO_API_KEY and CALLCENTER_TWILIO_API_SECRET are needed for the desk"
        )
    token = AccessToken(
        settings.account_sid,
        settings.twilio_api_key,
        settings.twilio_api_secret,
        identity=identity,
        ttl=settings.desk_token_ttl_s,
    )
    token.add_grant(VoiceGrant(incoming_allow=True))
    return str(token.to_jwt())


# --- work orders (issue 16): the wrap-up's, and the screen pop's for an earlier contact -----


class NoCallerInHand(DeskError):
    code = "no-caller-in-hand"


def save_wrap_up(uow: UnitOfWork, rt: Runtime, agent: Agent, form: WrapUpForm) -> Followup:
    """Save the wrap-up of the agent's call with its work order (`work_orders.desk.
    open_for_call`, once per queue entry; its SLA clocks computed at once), and leave wrap-up;
    the router follows after the commit. A bad work order (InvalidWorkOrder, 422) saves
    nothing of the wrap-up."""
    check_wrap_up(uow.session, agent)
    entry = current_entry(uow.session, agent)
    assert entry is not None  # checked by check_wrap_up
    now = rt.clock()
    opened = work_desk.open_for_call(
        uow.session,
        rt.work_order_rules,
        form.work_order,
        entry=entry,
        agent=agent,
        disposition=form.disposition,
        now=now,
    )
    if opened.created:
        sweep.refresh_clocks(uow.session, opened.work_order, now=now, sla=rt.sla)
    _entry, follow = connect.wrap_up(
        uow.session,
        agent.id,
        disposition=form.disposition,
        notes=form.notes,
        now=now,
        presence=rt.queues.presence,
    )
    return follow


def open_for_contact(
    uow: UnitOfWork, rt: Runtime, agent: Agent, form: ContactWorkOrderForm
) -> WorkOrder:
    """Open a work order for an earlier contact of the caller in hand (not tied to this call);
    NoCallerInHand (409) without one."""
    entry = current_entry(uow.session, agent)
    call = uow.session.get(Call, entry.call_id) if entry is not None else None
    if call is None:
        raise NoCallerInHand("open a caller's work orders while their call is in hand")
    customer = uow.session.get(Customer, call.customer_id) if call.customer_id else None
    now = rt.clock()
    opened = work_desk.open_for_contact(
        uow.session,
        rt.work_order_rules,
        form.work_order,
        call_id=form.contact,
        customer=customer,
        current_call_id=call.id,
        agent=agent,
        now=now,
    )
    if opened.created:
        sweep.refresh_clocks(uow.session, opened.work_order, now=now, sla=rt.sla)
    return opened.work_order
