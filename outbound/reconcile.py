"""Outbound attempts whose legs have not moved for longer than plausible: pure decisions over
the database, with `now` passed in. Read-only.

Twilio does not guarantee its status callbacks. When the final callback of an outbound leg is
lost, the attempt stays ringing or in progress and its agent `reserved` or `on_call`, and no
way out of that is allowed to the agent. These queries find such attempts; the
reconciliation duty (`callcenter.jobs.reconcile.reconcile_outbound`) then asks Twilio's REST
API for the real status of the legs named, and applies the missing callbacks through the
outbound webhooks' own services, so a callback that arrives late changes nothing:

- the agent's leg ringing past its ring timeout (`AGENT_RINGING`);
- the customer's leg ringing past its ring timeout (`CUSTOMER_RINGING`);
- the customer's leg ended (its callback came) while the attempt is still under way: the
  conference ended with it, so the agent's leg's own end was lost (`CUSTOMER_ENDED`);
- an attempt under way for longer than `max_call_s` (`PAST_MAX_CALL`), an automated call's
  (`outbound.automated`, its customer's leg alone) included;
- an attempt that has ended while its agent is still reserved or on call for it: its
  agent's leg's final callback was lost after the attempt ended, e.g. when the customer did
  not answer and the agent's leg was hung up (`AGENT_LEFT`).

A claim whose CallSid never came back is `outbound.outcomes.reconcile`'s (never redialled).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from outbound.attempts import agent_call_key
from outbound.legs import AGENT_RING_TIMEOUT_S
from outbound.models import AttemptStatus, OutboundAttempt
from queues.models import Agent, AgentState

A = AttemptStatus
#: Twilio's final statuses of a leg.
FINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
#: An attempt whose agent is in the conference (or on the way in).
UNDER_WAY = (A.AGENT_ON, A.DIALING_CUSTOMER, A.CONNECTED)


class Why(StrEnum):
    AGENT_RINGING = "the agent's leg is ringing past its timeout"
    CUSTOMER_RINGING = "the customer's leg is ringing past its timeout"
    CUSTOMER_ENDED = "the customer's leg has ended"
    PAST_MAX_CALL = "longer than the maximum call length"
    AGENT_LEFT = "the attempt has ended but its agent is still held by it"


@dataclass(frozen=True, slots=True)
class StaleAttempt:
    """An attempt whose legs' final callbacks may have been lost, and the legs to ask about."""

    attempt_id: int
    agent_id: int | None
    agent_leg: str | None  # the agent's CallSid to fetch, if any
    customer_leg: str | None  # the customer's CallSid to fetch, if any
    why: Why


def stale_attempts(
    session: Session,
    *,
    now: datetime,
    customer_ring_timeout_s: int,
    max_call_s: int,
    grace_s: int,
) -> list[StaleAttempt]:
    """The attempts that should have had a final callback by now (one row per attempt, the
    first reason in the order of the module docstring)."""
    grace = timedelta(seconds=grace_s)
    found: dict[int, StaleAttempt] = {}

    def add(a: OutboundAttempt, why: Why, *, agent: bool, customer: bool) -> None:
        if a.id not in found:
            found[a.id] = StaleAttempt(
                a.id,
                a.agent_id,
                a.agent_call_sid if agent else None,
                a.customer_call_sid if customer else None,
                why,
            )

    ringing_agents = session.scalars(
        select(OutboundAttempt).where(
            OutboundAttempt.status == A.DIALING_AGENT,
            OutboundAttempt.agent_call_sid.is_not(None),
            OutboundAttempt.agent_claimed_at
            <= now - timedelta(seconds=AGENT_RING_TIMEOUT_S) - grace,
        )
    ).all()
    for a in ringing_agents:
        add(a, Why.AGENT_RINGING, agent=True, customer=False)
    ringing_customers = session.scalars(
        select(OutboundAttempt).where(
            OutboundAttempt.status == A.DIALING_CUSTOMER,
            OutboundAttempt.customer_call_sid.is_not(None),
            OutboundAttempt.customer_status.is_(None),
            OutboundAttempt.customer_claimed_at
            <= now - timedelta(seconds=customer_ring_timeout_s) - grace,
        )
    ).all()
    for a in ringing_customers:
        add(a, Why.CUSTOMER_RINGING, agent=False, customer=True)
    customer_ended = session.scalars(
        select(OutboundAttempt).where(
            OutboundAttempt.status.in_(UNDER_WAY),
            OutboundAttempt.agent_call_sid.is_not(None),
            OutboundAttempt.customer_status.in_(FINAL),
        )
    ).all()
    for a in customer_ended:
        add(a, Why.CUSTOMER_ENDED, agent=True, customer=False)
    cutoff = now - timedelta(seconds=max_call_s)
    too_long = session.scalars(
        select(OutboundAttempt).where(
            OutboundAttempt.status.in_(UNDER_WAY),
            (OutboundAttempt.agent_claimed_at <= cutoff)
            | (  # an automated call: its customer's leg is its only one
                OutboundAttempt.agent_id.is_(None)
                & OutboundAttempt.customer_call_sid.is_not(None)
                & (OutboundAttempt.customer_claimed_at <= cutoff)
            ),
        )
    ).all()
    for a in too_long:
        add(a, Why.PAST_MAX_CALL, agent=True, customer=True)
    for stale in _agents_left(session, now=now, window_s=max_call_s, grace=grace):
        found.setdefault(stale.attempt_id, stale)
    return [found[k] for k in sorted(found)]


def _agents_left(
    session: Session, *, now: datetime, window_s: int, grace: timedelta
) -> list[StaleAttempt]:
    """Ended attempts (recent: within `window_s`) whose agent is still reserved or on call
    for them, and has made no attempt since."""
    rows = session.execute(
        select(OutboundAttempt, Agent)
        .join(Agent, Agent.id == OutboundAttempt.agent_id)
        .where(
            OutboundAttempt.status == A.ENDED,
            OutboundAttempt.agent_call_sid.is_not(None),
            OutboundAttempt.ended_at <= now - grace,
            OutboundAttempt.ended_at >= now - timedelta(seconds=window_s),
            Agent.state.in_((AgentState.RESERVED, AgentState.ON_CALL)),
        )
        .order_by(OutboundAttempt.id)
    ).all()
    found = []
    for attempt, agent in rows:
        latest = session.scalar(
            select(OutboundAttempt.id)
            .where(OutboundAttempt.agent_id == agent.id)
            .order_by(OutboundAttempt.id.desc())
            .limit(1)
        )
        if latest != attempt.id or agent.call_sid != agent_call_key(session, attempt):
            continue
        found.append(
            StaleAttempt(attempt.id, agent.id, attempt.agent_call_sid, None, Why.AGENT_LEFT)
        )
    return found
