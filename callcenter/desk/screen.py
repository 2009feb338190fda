"""What the desk shows an agent: their state and the call in hand, with its screen pop.

Read-only queries over plain rows, returning JSON-ready dicts (no Flask): the desk page polls
them about once a second, so each view is a handful of indexed selects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from back_office.cancellations import CANCELLABLE, SHIPPED, refundable_fen
from callcenter.desk import labels
from callcenter.desk.labels import label
from core.models import Call, CallEvent, Customer, Order, Rma, RmaStatus
from core.phones import mask
from outbound import attempts, kinds
from outbound.models import OPEN_ATTEMPT, OutboundAttempt
from queues.config import PresenceSettings
from queues.connect import latest_call_of
from queues.models import Agent, AgentState, QueuedCall, QueuedCallStatus

ORDERS_SHOWN = 5
OPEN_RMA = (
    RmaStatus.AWAITING_INSPECTION,
    RmaStatus.IN_REVIEW,
    RmaStatus.APPROVED,
    RmaStatus.REFUND_PENDING,
    RmaStatus.REPLACEMENT_PENDING,
)
CALL_STATES = (AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP)


def current_entry(session: Session, agent: Agent) -> QueuedCall | None:
    """The queue entry the agent is ringing for, talking on or wrapping up; None otherwise.

    Outside the call states, the agent's last answered call while its wrap-up is unsaved (the
    wrap-up timer moved the agent on before they saved): the notes can still be written.
    """
    entry = latest_call_of(session, agent.id)
    if entry is None:
        return None
    if agent.state in CALL_STATES:
        return entry if entry.call_sid == agent.call_sid else None
    if entry.answered_at is not None and entry.wrapped_up_at is None:
        return entry
    return None


def current_outbound(session: Session, agent: Agent) -> OutboundAttempt | None:
    """The outbound call (not about a queue entry) the agent is ringing for or talking on."""
    if agent.state not in (AgentState.RESERVED, AgentState.ON_CALL) or not agent.call_sid:
        return None
    attempt = session.scalar(
        select(OutboundAttempt)
        .where(OutboundAttempt.status.in_(OPEN_ATTEMPT), OutboundAttempt.agent_id == agent.id)
        .order_by(OutboundAttempt.id.desc())
        .limit(1)
    )
    if attempt is None or attempts.agent_call_key(session, attempt) != agent.call_sid:
        return None
    return attempt


def desk_view(
    session: Session, agent: Agent, *, now: datetime, tz: ZoneInfo, presence: PresenceSettings
) -> dict[str, Any]:
    """The whole desk for `agent`: who, which state since when, the call with its pop."""
    entry = current_entry(session, agent)
    attempt = current_outbound(session, agent) if entry is None else None
    if entry is not None:
        call = call_view(session, entry, agent, now=now, tz=tz)
    elif attempt is not None:
        call = outbound_view(session, attempt, agent, tz=tz)
    else:
        call = None
    reasons = tuple(r for r in presence.break_reasons if r != "missed")
    return {
        "now": now.isoformat(),
        "agent": {
            "id": agent.id,
            "login": agent.login,
            "name": agent.display_name,
            "state": agent.state.value,
            "state_label": label(labels.STATES, agent.state.value),
            "reason": agent.state_reason,
            "reason_label": label(labels.BREAK_REASONS, agent.state_reason),
            "since": agent.state_since.isoformat(),
            "missed": agent.state is AgentState.BREAK and agent.state_reason == "missed",
            "post": agent.post_now.value if agent.post_now else None,
            "posts": [p.value for p in agent.posts],
        },
        "call": call,
        "options": {
            "break_reasons": labels.choices(labels.BREAK_REASONS, reasons),
            "dispositions": labels.choices(labels.DISPOSITIONS, presence.dispositions),
        },
    }


def call_view(
    session: Session, entry: QueuedCall, agent: Agent, *, now: datetime, tz: ZoneInfo
) -> dict[str, Any]:
    """One queue entry as the desk shows it: phase, queue, wait, and the screen pop."""
    call = session.get(Call, entry.call_id)
    customer = session.get(Customer, call.customer_id) if call and call.customer_id else None
    if entry.status is QueuedCallStatus.ASSIGNED and agent.state is AgentState.RESERVED:
        phase = "ringing"
    elif agent.state is AgentState.ON_CALL and entry.talk_ended_at is None:
        phase = "talking"
    else:
        phase = "wrap_up"
    waited = entry.wait_s
    if waited is None:
        waited = max(0, round((now - entry.enqueued_at).total_seconds()))
    number = entry.callback_to or (call.caller_e164 if call else None)
    return {
        "entry_id": entry.id,
        "phase": phase,
        "queue": entry.queue,
        "queue_label": label(labels.QUEUES, entry.queue),
        "wait_s": waited,
        "leg_ready": phase == "ringing" and bool(entry.agent_call_sid),
        "callback": entry.callback_to is not None,
        "number": mask(number),
        "vip": entry.vip or bool(call and call.vip),
        "language": entry.language,
        "customer": customer_view(session, customer, tz=tz),
        "ivr_path": ivr_path(session, entry.call_id),
        "disposition": entry.disposition,
        "wrapped_up": entry.wrapped_up_at is not None,
    }


def outbound_view(
    session: Session, attempt: OutboundAttempt, agent: Agent, *, tz: ZoneInfo
) -> dict[str, Any]:
    """An outbound call (e.g. an order review) as the desk shows it while it rings and talks;
    its outcome and notes are saved on the outbound work list (`/middle/`), not here."""
    task = attempt.task
    customer = session.get(Customer, task.customer_id) if task.customer_id else None
    phase = "ringing" if agent.state is AgentState.RESERVED else "talking"
    return {
        "entry_id": None,
        "phase": phase,
        "queue": f"outbound:{task.kind}",
        "queue_label": kinds.kind_of(task.kind).label,
        "wait_s": 0,
        "leg_ready": phase == "ringing" and bool(attempt.agent_call_sid),
        "callback": False,
        "outbound": {"task_id": task.id, "attempt_id": attempt.id, "kind": task.kind},
        "number": mask(task.to_number),
        "vip": False,
        "language": task.language,
        "customer": customer_view(session, customer, tz=tz),
        "ivr_path": [],
        "disposition": None,
        "wrapped_up": True,  # the work list takes the outcome
    }


def customer_view(session: Session, customer: Customer | None, *, tz: ZoneInfo) -> dict[str, Any]:
    """Name, tier, the last orders and the open RMAs; an unidentified caller has none."""
    if customer is None:
        return {"known": False, "name": "未识别来电 Unidentified caller", "tier": None}
    orders = session.scalars(
        select(Order)
        .where(Order.customer_id == customer.id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(ORDERS_SHOWN)
    ).all()
    rmas = session.scalars(
        select(Rma)
        .where(Rma.customer_id == customer.id, Rma.status.in_(OPEN_RMA))
        .order_by(Rma.created_at.desc(), Rma.id.desc())
    ).all()
    return {
        "known": True,
        "name": customer.name,
        "account": customer.account_number,
        "tier": customer.tier.value,
        "tier_label": label(labels.TIERS, customer.tier.value),
        "orders": [
            {
                "number": o.number,
                "amount": yuan(o.amount_fen),
                "status": o.status.value,
                "status_label": label(labels.ORDER_STATUSES, o.status.value),
                "date": _local(o.placed_at, tz).strftime("%Y-%m-%d"),
                # Cancel and refund without review (back_office.cancellations), or not: shipped
                # orders are returned instead.
                "cancellable": o.status in CANCELLABLE,
                "shipped": o.status in SHIPPED,
                "refund": yuan(refundable_fen(session, o)) if o.status in CANCELLABLE else None,
            }
            for o in orders
        ],
        "open_rmas": [
            {
                "number": r.number,
                "kind_label": label(labels.RMA_KINDS, r.kind.value),
                "status": r.status.value,
                "status_label": label(labels.RMA_STATUSES, r.status.value),
                "order_number": r.order.number,
                "date": _local(r.created_at, tz).strftime("%Y-%m-%d"),
            }
            for r in rmas
        ],
    }


def ivr_path(session: Session, call_id: int) -> list[dict[str, Any]]:
    """What the caller did in the IVR, in order: keys or words at each menu, and self-service."""
    events = session.scalars(
        select(CallEvent)
        .where(CallEvent.call_id == call_id, CallEvent.kind.in_(("ivr", "self_service")))
        .order_by(CallEvent.id)
    ).all()
    path = []
    for event in events:
        data = event.data or {}
        if event.kind == "self_service":
            path.append(
                {
                    "at": data.get("lookup"),
                    "input": data.get("reference") or "",
                    "to": "已找到 found" if data.get("found") else "未找到 not found",
                }
            )
        elif data.get("answered_at"):
            path.append(
                {
                    "at": data["answered_at"],
                    "input": data.get("digits") or data.get("speech") or "(无输入 no input)",
                    "to": data.get("node") or data.get("outcome"),
                }
            )
    return path


def yuan(fen: int) -> str:
    """An amount in fen as yuan for people: ¥1,299.00."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def _local(at: datetime, tz: ZoneInfo) -> datetime:
    return at.astimezone(tz)  # stored times are aware UTC (core.db.UTCDateTime)
