"""Which rows have not moved for longer than plausible: pure decisions over the database, with
`now` passed in. Read-only.

Twilio does not guarantee its status callbacks, and a job can die between two steps. These
queries find what a lost callback or a lost job left behind; the reconciliation duty
(`callcenter.jobs.reconcile`) then asks Twilio's REST API for the call's real status and
applies the missing callback through the same code path as the real one:

- `stale_agent_legs`: an agent's leg still ringing past its ring timeout, or answered and
  not ended although the caller's call has ended (the caller may have left before the
  bridge: the entry is then abandoned, the agent's leg still up), or on a call longer than
  `max_call_s`;
- `stale_caller_calls`: a caller's call still in progress after the agent's leg ended, or
  for longer than `max_call_s`;
- `waiting_past`: a caller in line past a plausible wait whose call is still open in our
  records: their hang-up (the Enqueue action) and the call's status callback may both have
  been lost;
- `rings_not_placed`: an assignment whose agent's leg has no CallSid `grace_s` after it was
  made (the `ring_agent` job was lost, or died between its claim and the dial: a placed leg
  records its CallSid at once, by the job or by its first status callback);
- `unbridged`: an agent who answered while their caller, `grace_s` later, has not reached
  the conference (the `bridge_caller` job was lost or died midway).

Lost recording callbacks are found by `recordings.reconcile`.

Callback entries are the outbound engine's (`outbound.outcomes.reconcile`), and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from core.models import Call, CallDirection, CallEvent, CallStatus
from queues.models import QueuedCall, QueuedCallStatus

S = QueuedCallStatus
FINAL_CALL = tuple(s for s in CallStatus if s.is_final)
#: The kind of the call event the caller's arrival in the conference logs (`bridged_key`).
BRIDGED = "bridged"


class Why(StrEnum):
    RINGING_PAST_TIMEOUT = "ringing past its timeout"
    CALLER_ENDED = "the caller's call has ended"
    AGENT_LEG_ENDED = "the agent's leg has ended"
    PAST_MAX_CALL = "longer than the maximum call length"
    WAITING_TOO_LONG = "waiting in line for longer than plausible"


@dataclass(frozen=True, slots=True)
class StaleLeg:
    """An agent's leg of a queue entry whose final status callback may have been lost."""

    entry_id: int
    assignment_id: str
    call_sid: str  # the agent's leg
    agent_id: int | None
    why: Why


@dataclass(frozen=True, slots=True)
class StaleCall:
    """A caller's call whose final status callback may have been lost."""

    call_sid: str
    why: Why


def bridged_key(entry_id: int) -> str:
    """The dedupe key of the `bridged` event: the caller of the entry reached the conference."""
    return f"{BRIDGED}:{entry_id}"


def stale_agent_legs(
    session: Session,
    *,
    now: datetime,
    ring_timeout_s: int,
    max_call_s: int,
    grace_s: int,
) -> list[StaleLeg]:
    """Agents' legs (of inbound queue entries) that should have sent a final callback by now."""
    grace = timedelta(seconds=grace_s)
    ringing = session.scalars(
        select(QueuedCall).where(
            QueuedCall.status == S.ASSIGNED,
            QueuedCall.callback_to.is_(None),
            QueuedCall.agent_call_sid.is_not(None),
            QueuedCall.assigned_at <= now - timedelta(seconds=ring_timeout_s) - grace,
        )
    ).all()
    found = [_leg(e, Why.RINGING_PAST_TIMEOUT) for e in ringing]
    caller = aliased(Call)
    # Answered legs whose end has not been heard: connected entries, and entries abandoned
    # after the answer (the caller left before the bridge; the agent's leg may still be up).
    talking = session.execute(
        select(QueuedCall, caller.status, caller.ended_at)
        .join(caller, caller.id == QueuedCall.call_id)
        .where(
            QueuedCall.status.in_((S.CONNECTED, S.ABANDONED)),
            QueuedCall.answered_at.is_not(None),
            QueuedCall.callback_to.is_(None),
            QueuedCall.talk_ended_at.is_(None),
            QueuedCall.agent_call_sid.is_not(None),
            or_(
                QueuedCall.answered_at <= now - timedelta(seconds=max_call_s),
                and_(caller.status.in_(FINAL_CALL), caller.ended_at <= now - grace),
            ),
        )
    ).all()
    for entry, status, ended_at in talking:
        ended = status.is_final and ended_at is not None and ended_at <= now - grace
        found.append(_leg(entry, Why.CALLER_ENDED if ended else Why.PAST_MAX_CALL))
    return found


def _leg(entry: QueuedCall, why: Why) -> StaleLeg:
    assert entry.assignment_id is not None and entry.agent_call_sid is not None
    return StaleLeg(entry.id, entry.assignment_id, entry.agent_call_sid, entry.agent_id, why)


def stale_caller_calls(
    session: Session, *, now: datetime, max_call_s: int, grace_s: int
) -> list[StaleCall]:
    """Inbound callers' calls still open in our records that should have ended by now."""
    open_ = session.scalars(
        select(Call.sid).where(
            Call.direction == CallDirection.INBOUND,
            Call.status.not_in(FINAL_CALL),
            Call.started_at <= now - timedelta(seconds=max_call_s),
        )
    ).all()
    found = [StaleCall(sid, Why.PAST_MAX_CALL) for sid in open_]
    talked = session.scalars(
        select(Call.sid)
        .join(QueuedCall, QueuedCall.call_id == Call.id)
        .where(
            Call.status.not_in(FINAL_CALL),
            QueuedCall.callback_to.is_(None),
            QueuedCall.talk_ended_at <= now - timedelta(seconds=grace_s),
        )
        .distinct()
    ).all()
    found += [StaleCall(sid, Why.AGENT_LEG_ENDED) for sid in talked if sid not in open_]
    return found


def waiting_past(
    session: Session, *, now: datetime, after_s: Mapping[str, int], default_after_s: int
) -> list[StaleCall]:
    """Callers still waiting in a queue for longer than its bound (`after_s` by queue name,
    else `default_after_s`) whose call has not ended in our records: to be asked about.
    Cheap: only the entries older than the smallest bound are read."""
    least = min([default_after_s, *after_s.values()])
    rows = session.execute(
        select(QueuedCall.call_sid, QueuedCall.queue, QueuedCall.enqueued_at)
        .join(Call, Call.id == QueuedCall.call_id)
        .where(
            QueuedCall.status == S.WAITING,
            QueuedCall.callback_to.is_(None),
            QueuedCall.enqueued_at <= now - timedelta(seconds=least),
            Call.status.not_in(FINAL_CALL),
        )
        .order_by(QueuedCall.enqueued_at)
    ).all()
    found: dict[str, StaleCall] = {}
    for call_sid, queue, enqueued_at in rows:
        bound = timedelta(seconds=after_s.get(queue, default_after_s))
        if enqueued_at <= now - bound:
            found.setdefault(call_sid, StaleCall(call_sid, Why.WAITING_TOO_LONG))
    return list(found.values())


def rings_not_placed(session: Session, *, now: datetime, grace_s: int) -> list[QueuedCall]:
    """Inbound entries assigned `grace_s` ago or more whose agent's leg has no CallSid."""
    return list(
        session.scalars(
            select(QueuedCall)
            .where(
                QueuedCall.status == S.ASSIGNED,
                QueuedCall.callback_to.is_(None),
                QueuedCall.agent_call_sid.is_(None),
                QueuedCall.assigned_at <= now - timedelta(seconds=grace_s),
            )
            .order_by(QueuedCall.id)
        )
    )


def unbridged(session: Session, *, now: datetime, grace_s: int) -> list[QueuedCall]:
    """Connected entries whose caller has not reached the conference `grace_s` after the
    agent answered (no `bridged` event), and whose talk has not ended."""
    candidates = session.scalars(
        select(QueuedCall)
        .where(
            QueuedCall.status == S.CONNECTED,
            QueuedCall.callback_to.is_(None),
            QueuedCall.talk_ended_at.is_(None),
            QueuedCall.answered_at <= now - timedelta(seconds=grace_s),
        )
        .order_by(QueuedCall.id)
    ).all()
    if not candidates:
        return []
    joined = set(
        session.scalars(
            select(CallEvent.dedupe_key).where(
                CallEvent.kind == BRIDGED,
                CallEvent.dedupe_key.in_([bridged_key(e.id) for e in candidates]),
            )
        )
    )
    return [e for e in candidates if bridged_key(e.id) not in joined]


def callers_gone(session: Session) -> list[QueuedCall]:
    """Entries still in line (waiting, or ringing an agent) whose caller's call has ended in
    our records: their Enqueue action (hangup) was lost. Never to be put back in line."""
    return list(
        session.scalars(
            select(QueuedCall)
            .join(Call, Call.id == QueuedCall.call_id)
            .where(
                QueuedCall.status.in_((S.WAITING, S.ASSIGNED)),
                QueuedCall.callback_to.is_(None),
                Call.status.in_(FINAL_CALL),
            )
            .order_by(QueuedCall.id)
        )
    )
