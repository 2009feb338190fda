"""The IVR call flow: identify the caller, run the pure engine, persist what it decided.

Every function here flushes and never commits: the webhook's unit of work commits once.
Each is safe to run twice for the same webhook (Twilio retries): the call is keyed by CallSid
and every event carries a dedupe key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.hours import BusinessHours
from core.calls import get_call, log_event, upsert_call
from core.customers import find_by_phone, find_by_reference, find_order, find_rma
from core.models import Call, CallEvent, Customer, Language, Order, Tier, Voicemail
from core.phones import mask, to_e164
from ivr_menus.engine import (
    Caller,
    Cancel,
    CancelOutcome,
    Decision,
    Lookup,
    OrderInView,
    Transfer,
    after_cancel,
    after_lookup,
    answer,
    enter,
)
from ivr_menus.model import MenuSet, NodeKind
from ivr_menus.readout import order_readout, rma_readout
from queues import services as queue_services
from queues.models import Agent, QueuedCall
from queues.routing import QueueRoute, WaitingCaller

#: Called (inside the transaction) with each caller who joins a queue; the boundary passes a
#: function that updates Redis after its commit.
OnEnqueue = Callable[[WaitingCaller], None]

log = logging.getLogger(__name__)


class OrderCancellation(Protocol):
    """Cancelling an unshipped order from the IVR: the back office's (which the IVR may not
    import), passed in by the boundary like `on_enqueue`. Both run in the webhook's unit of
    work and flush; `cancel` is idempotent (a repeated webhook gets the first result)."""

    def quote(self, session: Session, order: Order) -> OrderInView:
        """Whether `order` may be cancelled now, and what it would refund. Read-only."""
        ...

    def cancel(self, session: Session, order: Order, call: Call, *, now: datetime) -> CancelOutcome:
        """Cancel and refund `order` for the caller of `call`; the outcome."""
        ...


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What every voice webhook tells us about the call."""

    call_sid: str
    from_number: str
    to_number: str
    direction: str


def _identify(session: Session, call: Call, customer: Customer, how: str, *, now: datetime) -> None:
    """Tie the call to the customer (flagging VIPs) and log how they were identified, once."""
    call.customer_id = customer.id
    call.customer = customer
    call.identified_by = how
    call.vip = customer.tier is Tier.VIP
    log_event(
        session,
        call,
        "identified",
        now=now,
        dedupe_key="identified",
        customer_id=customer.id,
        by=how,
        tier=customer.tier.value,
    )


def caller_of(call: Call, *, is_open: bool, order: OrderInView | None = None) -> Caller:
    """The engine's view of a call."""
    customer = call.customer
    return Caller(
        language=call.language.value if call.language else None,
        identified=customer is not None,
        name=customer.name if customer else None,
        tier=customer.tier.value if customer else None,
        is_open=is_open,
        order=order,
    )


def order_in_view(session: Session, call: Call) -> Order | None:
    """The order last read out to the caller on this call (its self-service events), if any
    and still theirs. Read-only."""
    if call.customer_id is None:
        return None
    events = session.scalars(
        select(CallEvent)
        .where(CallEvent.call_id == call.id, CallEvent.kind == "self_service")
        .order_by(CallEvent.id.desc())
    )
    for event in events:
        data = event.data or {}
        if data.get("lookup") == NodeKind.ORDER_STATUS.value and data.get("found"):
            return find_order(session, call.customer_id, str(data.get("reference", "")))
    return None


def _open_call(session: Session, info: CallInfo, *, country_code: str, now: datetime) -> Call:
    call, created = upsert_call(
        session,
        info.call_sid,
        direction=info.direction,
        from_number=info.from_number,
        to_number=info.to_number,
        now=now,
    )
    if created:
        call.caller_e164 = to_e164(info.from_number, country_code)
        log_event(
            session,
            call,
            "incoming",
            now=now,
            dedupe_key="incoming",
            caller=mask(call.caller_e164),
            to=info.to_number,
        )
        customer = find_by_phone(session, call.caller_e164)
        if customer is not None:
            _identify(session, call, customer, "phone", now=now)
        session.flush()
    return call


def start_call(
    session: Session,
    menus: MenuSet,
    info: CallInfo,
    *,
    hours: BusinessHours,
    country_code: str,
    now: datetime,
    on_enqueue: OnEnqueue | None = None,
) -> Decision:
    """A call came in: record it, identify the caller by number, enter the menus' entry node.

    When the step is a Transfer, the queue entry is recorded and `on_enqueue` gets its caller.
    """
    call = _open_call(session, info, country_code=country_code, now=now)
    decision = enter(menus, menus.entry, caller_of(call, is_open=hours.is_open(now)))
    return _record(
        session,
        call,
        decision,
        now=now,
        key=f"ivr:{menus.entry}:enter",
        default_language=menus.default_language,
        on_enqueue=on_enqueue,
    )


def continue_call(
    session: Session,
    menus: MenuSet,
    info: CallInfo,
    *,
    node_id: str,
    attempt: int,
    digits: str | None,
    speech: str | None,
    hours: BusinessHours,
    country_code: str,
    now: datetime,
    on_enqueue: OnEnqueue | None = None,
    cancellation: OrderCancellation | None = None,
) -> Decision:
    """The caller answered at `node_id` (try `attempt`); look up what they keyed and go on.

    When the step is a Transfer, the queue entry is recorded and `on_enqueue` gets its caller.
    With a `cancellation`, the order last read out may be cancelled (cancel_order nodes);
    without one, such a node tells the caller it cannot be done here.
    """
    call = _open_call(session, info, country_code=country_code, now=now)
    in_view = order_in_view(session, call) if cancellation else None
    caller = caller_of(
        call,
        is_open=hours.is_open(now),
        order=cancellation.quote(session, in_view) if cancellation and in_view else None,
    )
    decision = answer(menus, node_id, caller, digits=digits, speech=speech, attempt=attempt)
    if decision.language and decision.language != caller.language:
        caller = replace(caller, language=decision.language)
    if isinstance(decision.step, Lookup):
        decision = _look_up(session, menus, call, caller, decision.step, cancellation, now=now)
    if isinstance(decision.step, Cancel):
        decision = _cancel(session, menus, call, caller, decision.step, cancellation, now=now)
    return _record(
        session,
        call,
        decision,
        now=now,
        key=f"ivr:{node_id}:{attempt}",
        default_language=menus.default_language,
        on_enqueue=on_enqueue,
        answered_at=node_id,
        digits=(digits or "")[:40],
        speech=(speech or "")[:200],
    )


def _look_up(
    session: Session,
    menus: MenuSet,
    call: Call,
    caller: Caller,
    lookup: Lookup,
    cancellation: OrderCancellation | None,
    *,
    now: datetime,
) -> Decision:
    if lookup.kind is NodeKind.IDENTIFY:
        found = find_by_reference(session, lookup.reference)
        if found is None:
            return after_lookup(menus, lookup, caller, readout=None)
        customer, how = found
        _identify(session, call, customer, how, now=now)
        identified = caller_of(call, is_open=caller.is_open)
        return after_lookup(
            menus, lookup, replace(identified, language=caller.language), readout={}
        )
    assert call.customer_id is not None
    if lookup.kind is NodeKind.ORDER_STATUS:
        order = find_order(session, call.customer_id, lookup.reference)
        readout = order_readout(menus, order) if order else None
        if order is not None:
            quoted = cancellation.quote(session, order) if cancellation else None
            caller = replace(caller, order=quoted)
    else:
        rma = find_rma(session, call.customer_id, lookup.reference)
        readout = rma_readout(menus, rma) if rma else None
    log_event(
        session,
        call,
        "self_service",
        now=now,
        lookup=lookup.kind.value,
        reference=lookup.reference,
        found=readout is not None,
    )
    return after_lookup(menus, lookup, caller, readout=readout)


def _cancel(
    session: Session,
    menus: MenuSet,
    call: Call,
    caller: Caller,
    step: Cancel,
    cancellation: OrderCancellation | None,
    *,
    now: datetime,
) -> Decision:
    """The caller confirmed cancelling the order in view: the boundary's cancellation does it
    (idempotent), and the engine says the outcome. Logged once per order on the call."""
    assert call.customer_id is not None  # an order was in view: the caller is identified
    order = find_order(session, call.customer_id, step.order)
    if order is None or cancellation is None:
        outcome = CancelOutcome("unavailable", step.order)
    else:
        outcome = cancellation.cancel(session, order, call, now=now)
    log_event(
        session,
        call,
        "self_service",
        now=now,
        dedupe_key=f"cancel_order:{step.order}",
        lookup=NodeKind.CANCEL_ORDER.value,
        reference=step.order,
        found=order is not None,
        result=outcome.result,
        rma=outcome.rma,
        refund_fen=outcome.refund_fen,
    )
    return after_cancel(menus, step, caller, outcome)


def _record(
    session: Session,
    call: Call,
    decision: Decision,
    *,
    now: datetime,
    key: str,
    default_language: str,
    on_enqueue: OnEnqueue | None,
    **data: str,
) -> Decision:
    if decision.language and (call.language is None or call.language.value != decision.language):
        call.language = Language(decision.language)
    step = decision.step
    log_event(
        session,
        call,
        "ivr",
        now=now,
        dedupe_key=key,
        outcome=type(step).__name__,
        node=getattr(step, "node_id", None),
        **data,
    )
    if isinstance(step, Transfer):
        log_event(
            session,
            call,
            "enqueued",
            now=now,
            dedupe_key=f"enqueued:{step.route.queue}",
            queue=step.route.queue,
            skill=step.route.skill,
            priority=step.route.priority,
            language=call.language.value if call.language else None,
            tier=call.customer.tier.value if call.customer else None,
            vip=call.vip,
        )
        _enqueue(
            session,
            call,
            step.route,
            now=now,
            default_language=default_language,
            on_enqueue=on_enqueue,
        )
    session.flush()
    return decision


def _enqueue(
    session: Session,
    call: Call,
    route: QueueRoute,
    *,
    now: datetime,
    default_language: str,
    on_enqueue: OnEnqueue | None,
) -> None:
    if call.status.is_final:  # a webhook delayed past the call's end: nobody to put in line
        log.warning(
            "call %s has already ended (%s): no entry in %s",
            call.sid,
            call.status.value,
            route.queue,
        )
        return
    entry = queue_services.enqueue_call(
        session,
        call,
        route,
        language=call.language.value if call.language else default_language,
        tier=call.customer.tier.value if call.customer else None,
        vip=call.vip,
        now=now,
    )
    if on_enqueue is not None:
        on_enqueue(queue_services.waiting_caller(entry))


def enqueue_after_failure(
    session: Session,
    call_sid: str,
    route: QueueRoute,
    *,
    now: datetime,
    default_language: str,
    on_enqueue: OnEnqueue | None = None,
) -> bool:
    """After an apology, the caller waits in the fallback queue: record that entry too.

    Without it the caller would hold in Twilio's queue with nobody routing them. Nothing is
    added (False) for a call we do not know, one that has already ended (a webhook delayed by
    a stall, answered after the final status callback), or one that still has an entry
    waiting, ringing an agent or booked for a callback, so a caller is never in line twice.
    """
    call = get_call(session, call_sid)
    if call is None or call.status.is_final:
        return False  # unknown, or already ended: nobody to put in line
    if queue_services.open_entry(session, call_sid) is not None:
        return False  # still waiting somewhere: one place in line only
    log_event(
        session,
        call,
        "enqueued",
        now=now,
        dedupe_key=f"enqueued:{route.queue}",
        queue=route.queue,
        skill=route.skill,
        priority=route.priority,
        fallback=True,
    )
    _enqueue(
        session, call, route, now=now, default_language=default_language, on_enqueue=on_enqueue
    )
    session.flush()
    return True


@dataclass(frozen=True, slots=True)
class LeftQueue:
    """A caller who left a queue: their language, and their entry there (None if none)."""

    language: str | None
    entry: QueuedCall | None


def leave_queue(
    session: Session,
    info: CallInfo,
    *,
    queue: str,
    result: str,
    waited_s: int | None,
    country_code: str,
    now: datetime,
) -> LeftQueue:
    """The caller left a queue (Twilio's Enqueue action): log how, once.

    Ends the queue entry (`queues.services.leave_queue`, idempotent; a caller who asked for a
    callback keeps it, to their own number) and returns it with the caller's language: the
    boundary then does what the outcome needs (`queue_callbacks.booking.caller_left_queue`,
    and off the Redis list after the commit).
    """
    call = _open_call(session, info, country_code=country_code, now=now)
    entry = queue_services.leave_queue(
        session,
        info.call_sid,
        queue,
        result=result,
        now=now,
        waited_s=waited_s,
        callback_to=call.caller_e164,
    )
    log_event(
        session,
        call,
        "dequeued",
        now=now,
        dedupe_key=f"dequeued:{queue}",
        queue=queue,
        result=result,
        waited_s=waited_s,
    )
    session.flush()
    return LeftQueue(call.language.value if call.language else None, entry)


def call_language(session: Session, call_sid: str) -> str | None:
    """The language the caller chose, if any (for hold messages and apologies). Read-only."""
    call = get_call(session, call_sid)
    return call.language.value if call and call.language else None


def agent_language(session: Session, menus: MenuSet, agent_id: int | None) -> str:
    """The language an agent hears whispers and prompts in (`MenuSet.agent_language`, from
    the languages the agent speaks). Read-only."""
    agent = session.get(Agent, agent_id) if agent_id else None
    return menus.agent_language([lang.value for lang in agent.languages] if agent else [])


def save_voicemail(
    session: Session,
    info: CallInfo,
    *,
    recording_sid: str,
    recording_url: str,
    duration_s: int | None,
    status: str,
    reason: str | None,
    error_code: str | None,
    country_code: str,
    now: datetime,
) -> Voicemail:
    """Create or update the voicemail keyed by RecordingSid (action and status callbacks both
    arrive, in any order, possibly twice). Flushes."""
    call = _open_call(session, info, country_code=country_code, now=now)
    vm = session.scalar(select(Voicemail).where(Voicemail.recording_sid == recording_sid))
    if vm is None:
        try:
            with session.begin_nested():
                vm = Voicemail(call_id=call.id, recording_sid=recording_sid, created_at=now)
                session.add(vm)
        except IntegrityError:  # the other callback for this recording won the race
            vm = session.scalar(select(Voicemail).where(Voicemail.recording_sid == recording_sid))
            assert vm is not None
        log_event(
            session,
            call,
            "voicemail",
            now=now,
            dedupe_key=f"voicemail:{recording_sid}",
            recording_sid=recording_sid,
            reason=reason,
        )
    vm.recording_url = recording_url or vm.recording_url
    vm.duration_s = duration_s if duration_s is not None else vm.duration_s
    if status != "in-progress":
        vm.status = status
    vm.reason = vm.reason or reason
    vm.error_code = error_code or vm.error_code
    session.flush()
    return vm
