"""The RMA state machine, written down once: which event moves an RMA from which states to which.

    filed ─▶ awaiting_inspection ─inspected─▶ in_review ─approve─▶ approved ─handed_off─▶
        return:   refund_pending ─refunded─▶ refunded ─close─▶ closed
        exchange: replacement_pending ─shipped─▶ replacement_shipped ─close─▶ closed
    in_review ─reject─▶ rejected ─close─▶ closed

A refund of an order that has not shipped is filed straight into `approved` (no inspection, no
review: `FILED_UNREVIEWED`). Finance or logistics may confirm before their hand-off's webhook
is acknowledged, so `refunded` and `shipped` also start from `approved`. `close` follows the
customer's status call (told, or could not be reached).

`move` is a compare-and-set on the status: of two agents approving the same RMA at once, one
moves it and the other gets `IllegalMove` naming the state it is now in and who decided it.
An illegal move changes nothing. Services flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.db import rowcount
from core.errors import DomainError
from core.models import Rma, RmaKind, RmaStatus

S = RmaStatus

#: Where a new RMA starts: the item must be inspected first.
FILED = S.AWAITING_INSPECTION
#: Where a refund of an unshipped order starts: approved without inspection or review.
FILED_UNREVIEWED = S.APPROVED


@dataclass(frozen=True, slots=True)
class Move:
    """One event: the states it may start from, and where it leads for each kind."""

    sources: frozenset[RmaStatus]
    to: dict[RmaKind, RmaStatus]


def _both(status: RmaStatus) -> dict[RmaKind, RmaStatus]:
    return {RmaKind.RETURN: status, RmaKind.EXCHANGE: status}


MOVES: dict[str, Move] = {
    "inspected": Move(frozenset({S.AWAITING_INSPECTION}), _both(S.IN_REVIEW)),
    "approve": Move(frozenset({S.IN_REVIEW}), _both(S.APPROVED)),
    "reject": Move(frozenset({S.IN_REVIEW}), _both(S.REJECTED)),
    "handed_off": Move(
        frozenset({S.APPROVED}),
        {RmaKind.RETURN: S.REFUND_PENDING, RmaKind.EXCHANGE: S.REPLACEMENT_PENDING},
    ),
    "refunded": Move(frozenset({S.APPROVED, S.REFUND_PENDING}), {RmaKind.RETURN: S.REFUNDED}),
    "shipped": Move(
        frozenset({S.APPROVED, S.REPLACEMENT_PENDING}),
        {RmaKind.EXCHANGE: S.REPLACEMENT_SHIPPED},
    ),
    "close": Move(frozenset({S.REFUNDED, S.REPLACEMENT_SHIPPED, S.REJECTED}), _both(S.CLOSED)),
}

#: States an RMA never leaves.
FINAL = frozenset({S.CLOSED})


class IllegalMove(DomainError):
    """The event is not allowed from the RMA's current state (HTTP 409). `details` names the
    current state and, once decided, who decided it and when."""

    code = "illegal-move"


class UnknownRma(DomainError):
    code = "rma-not-found"


def target(event: str, kind: RmaKind, current: RmaStatus) -> RmaStatus | None:
    """Where `event` takes an RMA of `kind` in state `current`; None if it may not (pure)."""
    move = MOVES.get(event)
    if move is None or current not in move.sources:
        return None
    return move.to.get(kind)


def allowed(kind: RmaKind, current: RmaStatus) -> list[str]:
    """The events that may happen next to an RMA of `kind` in state `current` (pure)."""
    return [event for event in MOVES if target(event, kind, current) is not None]


def refusal(rma: Rma, event: str) -> IllegalMove:
    """The IllegalMove of `event` on `rma` as it is now (to raise)."""
    return IllegalMove(
        f"RMA {rma.number} is {rma.status.value}: it cannot be {event}",
        rma=rma.number,
        event=event,
        status=rma.status.value,
        decided_by=rma.decided_by,
        decided_at=rma.decided_at.isoformat() if rma.decided_at else None,
        allowed=allowed(rma.kind, rma.status),
    )


def move(session: Session, rma: Rma, event: str, *, now: datetime, **values: Any) -> RmaStatus:
    """Apply `event` to `rma` (with any other column `values`), if its state allows, as a
    compare-and-set; the state it came from. Raises IllegalMove, naming the current state
    (re-read), when it may not, or when another transaction moved it first. Flushes."""
    session.flush()
    before = rma.status
    to = target(event, rma.kind, before)
    if to is None:
        raise refusal(rma, event)
    moved = rowcount(
        session.execute(
            update(Rma)
            .where(Rma.id == rma.id, Rma.status == before)
            .values(status=to, updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
    )
    session.refresh(rma)
    if moved != 1:
        raise refusal(rma, event)
    return before
