"""Reviewing an RMA: approve a return (with the refund amount) or an exchange (with the
replacement, from stock), reject it with a reason from a list, or offer an exchange whose
replacement is out of stock as a return instead.

Approval needs the return policy's checklist to pass and the inspection to have passed; a
refusal names every failing rule. Every decision is a `states.move` (compare-and-set): of two
agents deciding the same RMA at once one wins, and the other's IllegalMove names the state the
RMA is in now and who decided it (by name). An approval hands the RMA off in the same
transaction (`handoffs.hand_off`; the caller sends the delivery after the commit); a rejection
plans the status call to the customer (`status_calls.plan_status_call`). Every step is audited
with the status before and after. Services flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from back_office import catalogue, handoffs, refunds, states, status_calls
from back_office import policy as policy_rules
from back_office.inspections import inspection_of
from back_office.models import CatalogueItem
from back_office.policy import ReturnPolicy
from core.audit import record
from core.db import rowcount
from core.errors import DomainError
from core.models import OrderItem, Rma, RmaKind, RmaStatus
from core.webhooks import WebhookDelivery
from outbound.models import OutboundTask
from outbound.policy import Policy
from queues.models import Agent

#: Why an RMA may be rejected (the console's list).
REJECT_REASONS = (
    "outside_window",
    "failed_inspection",
    "not_returnable",
    "opened_item",
    "sku_mismatch",
    "missing_parts",
    "other",
)
NOTES_MAX = 2000


class ReviewError(DomainError):
    code = "rma-review-error"


class InvalidDecision(ReviewError):
    """A decision with bad fields (`details["fields"]`: field → why); nothing changed (422)."""

    code = "invalid-decision"


class NotApprovable(ReviewError):
    """The policy checklist or the inspection does not allow approval; `details["failing"]`
    names every failing rule with why (409)."""

    code = "not-approvable"


class OutOfStock(ReviewError):
    """The exchange's replacement has too little stock; `details["offer"]` is
    `convert_to_return` (409)."""

    code = "out-of-stock"


class WrongKind(ReviewError):
    """A return's decision asked of an exchange, or the other way round (409)."""

    code = "wrong-kind"


@dataclass(frozen=True, slots=True)
class Decision:
    """What a review step did: the RMA's number and status after it, and what follows (the
    hand-off's delivery to send after the commit; the status call planned)."""

    rma: str
    event: str
    before: str
    status: str
    delivery: WebhookDelivery | None = None
    task: OutboundTask | None = None


def load(session: Session, rma_id: int) -> Rma:
    rma = session.get(Rma, rma_id)
    if rma is None:
        raise states.UnknownRma(f"no RMA {rma_id}", rma=rma_id)
    return rma


def decided_by_name(session: Session, rma: Rma) -> str | None:
    """The display name of the agent who decided `rma` (None: undecided or a system move)."""
    agent = session.get(Agent, rma.decided_by) if rma.decided_by is not None else None
    return agent.display_name if agent is not None else None


def _named(session: Session, exc: states.IllegalMove, rma: Rma) -> states.IllegalMove:
    """The refusal again, saying by name who decided the RMA (its id is in `decided_by`)."""
    who = decided_by_name(session, rma)
    message = exc.message
    if who is not None and rma.decided_at is not None:
        message = f"RMA {rma.number} was already {rma.status.value} by {who}"
    return states.IllegalMove(message, **exc.details, decided_by_name=who)


def _may(session: Session, rma: Rma, event: str, kind: RmaKind | None = None) -> None:
    """Refuse early (before any validation) what the state machine would refuse at the end."""
    if states.target(event, rma.kind, rma.status) is None:
        raise _named(session, states.refusal(rma, event), rma)
    if kind is not None and rma.kind is not kind:
        raise WrongKind(
            f"RMA {rma.number} is {rma.kind.value}, not {kind.value}",
            rma=rma.number,
            kind=rma.kind.value,
        )


def _move(session: Session, rma: Rma, event: str, now: datetime, **values: Any) -> RmaStatus:
    try:
        return states.move(session, rma, event, now=now, **values)
    except states.IllegalMove as exc:
        raise _named(session, exc, rma) from None


def _clean_notes(notes: str | None) -> str | None:
    return (notes or "").strip()[:NOTES_MAX] or None


def line_of(session: Session, rma: Rma) -> OrderItem | None:
    """The order line the RMA returns (its `order_item_id`, else the order's line of its SKU)."""
    if rma.order_item_id is not None:
        return session.get(OrderItem, rma.order_item_id)
    return next((i for i in rma.order.items if i.sku == rma.sku), None)


def facts_of(
    session: Session, rma: Rma, *, sku_confirmed: bool | None = None
) -> policy_rules.RmaFacts:
    """What the policy checklist needs to know about `rma`, read from the database: the
    catalogue's category, the order's delivery, the inspection, the order line. Whether the
    returned SKU is the line's is the agent's confirmation (`sku_confirmed`; None: not yet)."""
    line = line_of(session, rma)
    inspection = inspection_of(session, rma)
    return policy_rules.RmaFacts(
        kind=rma.kind,
        reason=rma.reason,
        category=catalogue.category_of(session, rma.sku),
        delivered_at=rma.order.delivered_at,
        requested_at=rma.created_at,
        opened=rma.opened,
        inspection=inspection.passed if inspection is not None else None,
        sku_matches=sku_confirmed,
        quantity=rma.quantity,
        ordered_quantity=line.quantity if line is not None else None,
    )


def checklist_of(
    session: Session,
    rma: Rma,
    *,
    policy: ReturnPolicy,
    now: datetime,
    sku_confirmed: bool | None = None,
) -> list[policy_rules.Check]:
    """The policy checklist of `rma` (every rule: met, not met or not known yet, and why), the
    inspection's result among them. Read-only."""
    facts = facts_of(session, rma, sku_confirmed=sku_confirmed)
    return policy_rules.checklist(facts, policy, now=now)


def _require_approvable(
    session: Session, rma: Rma, policy: ReturnPolicy, now: datetime, sku_confirmed: bool
) -> None:
    """NotApprovable naming every rule not met or not known yet (the inspection among them)."""
    checks = checklist_of(session, rma, policy=policy, now=now, sku_confirmed=sku_confirmed)
    if policy_rules.approvable(checks):
        return
    held = [c for c in checks if c.met is not True]
    failing = [{"rule": c.rule.value, "met": c.met, "why": c.why} for c in held]
    rules = ", ".join(c.rule.value for c in held)
    raise NotApprovable(
        f"RMA {rma.number} cannot be approved: {rules}", rma=rma.number, failing=failing
    )


def refunded_before_fen(session: Session, rma: Rma) -> int:
    """What other returns of the same order line have refunded or are to refund (approved,
    with finance, or paid). Read-only."""
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Rma.refund_amount_fen), 0)).where(
                Rma.id != rma.id,
                Rma.order_id == rma.order_id,
                Rma.sku == rma.sku,
                Rma.kind == RmaKind.RETURN,
                Rma.refund_amount_fen.is_not(None),
                or_(
                    Rma.status.in_((RmaStatus.APPROVED, RmaStatus.REFUND_PENDING)),
                    Rma.finance_reference.is_not(None),
                ),
            )
        )
        or 0
    )


def line_paid_fen(line: OrderItem | None) -> int:
    return line.unit_price_fen * line.quantity if line is not None else 0


def proposed_refund_fen(session: Session, rma: Rma, *, policy: ReturnPolicy) -> int | None:
    """The refund proposed to the reviewer (`refunds.propose_refund`: price × the RMA's
    quantity less the fee the policy keeps), capped at what is left on the line; None for an
    exchange, an unknown line or a reason the policy does not class. Read-only."""
    line = line_of(session, rma)
    if rma.kind is not RmaKind.RETURN or line is None:
        return None
    try:
        proposed = refunds.propose_refund(
            line.unit_price_fen,
            rma.quantity,
            rma.reason,
            policy,
            catalogue.category_of(session, rma.sku),
        )
    except (policy_rules.UnknownReason, ValueError):
        return None
    left = refunds.refundable_fen(
        line_paid_fen=line_paid_fen(line), refunded_before_fen=refunded_before_fen(session, rma)
    )
    return min(proposed, left)


def approve_return(
    session: Session,
    rma_id: int,
    *,
    sku: str,
    refund_amount_fen: Any,
    reason: str = "",
    notes: str = "",
    agent_id: int,
    actor: str,
    now: datetime,
    policy: ReturnPolicy,
) -> Decision:
    """Approve a return: the agent's `sku` must be the order line's, the refund is validated
    (`refunds.validate_refund`: never more than paid for the line less its earlier refunds;
    InvalidDecision names each bad field), the checklist and inspection must pass
    (NotApprovable). Moves `approve` (compare-and-set; IllegalMove names who was first),
    hands the RMA to finance in this transaction, audits. Flushes."""
    rma = load(session, rma_id)
    _may(session, rma, "approve", RmaKind.RETURN)
    line = line_of(session, rma)
    bad = _sku_problem(rma, line, sku)
    problems = refunds.validate_refund(
        refund_amount_fen,
        line_paid_fen=line_paid_fen(line),
        refunded_before_fen=refunded_before_fen(session, rma),
    )
    if problems:
        bad["refund_amount_fen"] = "; ".join(problems)
    if bad:
        raise InvalidDecision(f"{len(bad)} bad field(s)", rma=rma.number, fields=bad)
    assert isinstance(refund_amount_fen, int)
    _require_approvable(session, rma, policy, now, sku_confirmed=True)
    before = _move(
        session,
        rma,
        "approve",
        now,
        decided_by=agent_id,
        decided_at=now,
        decision_reason=(reason or "approved").strip()[:40],
        decision_notes=_clean_notes(notes),
        refund_amount_fen=refund_amount_fen,
    )
    delivery = handoffs.hand_off(session, rma, now=now)
    _audit(session, rma, "rma.approved", agent_id, actor, now, before, delivery_id=delivery.id)
    return Decision(rma.number, "approve", before.value, rma.status.value, delivery=delivery)


def _sku_problem(rma: Rma, line: OrderItem | None, sku: str) -> dict[str, str]:
    """{"sku": why} unless the agent's `sku` is the RMA's and its order line's."""
    confirmed = (sku or "").strip()
    expected = line.sku if line is not None else None
    if expected is None:
        return {"sku": f"RMA {rma.number} names no line of order {rma.order.number}"}
    if confirmed != expected or confirmed != rma.sku:
        return {"sku": f"the order line's SKU is {expected}, not {confirmed!r}"}
    return {}


def stock_shortfall(session: Session, sku: str, quantity: int) -> int | None:
    """The replacement's stock when it is short of `quantity` (0 for an unknown SKU), None
    when there is enough. Read-only."""
    stock = catalogue.stock_of(session, sku)
    return None if stock >= quantity else stock


def approve_exchange(
    session: Session,
    rma_id: int,
    *,
    sku: str,
    replacement_sku: str,
    reason: str = "",
    notes: str = "",
    agent_id: int,
    actor: str,
    now: datetime,
    policy: ReturnPolicy,
) -> Decision:
    """Approve an exchange: the agent confirms the returned `sku` against the order line and
    the requested `replacement_sku` (InvalidDecision names each that is not); the replacement
    must be in stock (OutOfStock, offering `convert_to_return`); the checklist and inspection
    must pass (NotApprovable). Moves `approve` (compare-and-set), takes the
    replacement from stock once (a compare-and-set on the stock, in the same transaction),
    hands the RMA to logistics, audits. Flushes."""
    rma = load(session, rma_id)
    _may(session, rma, "approve", RmaKind.EXCHANGE)
    bad = _sku_problem(rma, line_of(session, rma), sku)
    confirmed = (replacement_sku or "").strip()
    if not rma.replacement_sku or confirmed != rma.replacement_sku:
        bad["replacement_sku"] = f"the request names {rma.replacement_sku}, not {confirmed!r}"
    if bad:
        raise InvalidDecision(f"{len(bad)} bad field(s)", rma=rma.number, fields=bad)
    _require_stock(session, rma)
    _require_approvable(session, rma, policy, now, sku_confirmed=True)
    before = _move(
        session,
        rma,
        "approve",
        now,
        decided_by=agent_id,
        decided_at=now,
        decision_reason=(reason or "approved").strip()[:40],
        decision_notes=_clean_notes(notes),
    )
    taken = rowcount(
        session.execute(
            update(CatalogueItem)
            .where(CatalogueItem.sku == confirmed, CatalogueItem.stock >= rma.quantity)
            .values(stock=CatalogueItem.stock - rma.quantity, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    if taken != 1:  # another approval took the last one meanwhile: this one rolls back whole
        left = session.scalar(select(CatalogueItem.stock).where(CatalogueItem.sku == confirmed))
        raise _out_of_stock(rma, left or 0)
    delivery = handoffs.hand_off(session, rma, now=now)
    _audit(
        session,
        rma,
        "rma.approved",
        agent_id,
        actor,
        now,
        before,
        delivery_id=delivery.id,
        replacement_sku=confirmed,
        stock_taken=rma.quantity,
    )
    return Decision(rma.number, "approve", before.value, rma.status.value, delivery=delivery)


def _require_stock(session: Session, rma: Rma) -> None:
    """OutOfStock unless the catalogue has the replacement for the RMA's quantity."""
    assert rma.replacement_sku is not None
    short = stock_shortfall(session, rma.replacement_sku, rma.quantity)
    if short is not None:
        raise _out_of_stock(rma, short)


def _out_of_stock(rma: Rma, stock: int) -> OutOfStock:
    return OutOfStock(
        f"{rma.replacement_sku} is out of stock ({stock} left, {rma.quantity} needed):"
        " offer a return instead",
        rma=rma.number,
        sku=rma.replacement_sku,
        stock=stock,
        needed=rma.quantity,
        offer="convert_to_return",
    )


def reject(
    session: Session,
    rma_id: int,
    *,
    reason: str,
    notes: str = "",
    agent_id: int,
    actor: str,
    now: datetime,
    calling: Policy,
) -> Decision:
    """Reject an RMA with a reason from REJECT_REASONS (InvalidDecision otherwise; "other"
    needs notes). Moves `reject` (compare-and-set), plans the status call to tell the customer
    (closing it closes the RMA), audits. Flushes."""
    rma = load(session, rma_id)
    _may(session, rma, "reject")
    chosen = (reason or "").strip()
    clean_notes = _clean_notes(notes)
    bad: dict[str, str] = {}
    if chosen not in REJECT_REASONS:
        bad["reason"] = "one of " + ", ".join(REJECT_REASONS)
    elif chosen == "other" and not clean_notes:
        bad["notes"] = "say why when the reason is other"
    if bad:
        raise InvalidDecision(f"{len(bad)} bad field(s)", rma=rma.number, fields=bad)
    before = _move(
        session,
        rma,
        "reject",
        now,
        decided_by=agent_id,
        decided_at=now,
        decision_reason=chosen,
        decision_notes=clean_notes,
    )
    _audit(session, rma, "rma.rejected", agent_id, actor, now, before)
    task = status_calls.plan_status_call(
        session, rma, now=now, policy=calling, actor=actor, agent_id=agent_id, why=chosen
    )
    return Decision(rma.number, "reject", before.value, rma.status.value, task=task)


def convert_to_return(
    session: Session, rma_id: int, *, notes: str = "", agent_id: int, actor: str, now: datetime
) -> Decision:
    """Turn an exchange in review into a return (its replacement is out of stock and the
    customer takes a refund instead). A compare-and-set on kind and state: done once; the RMA
    stays in review, to be approved as a return. Audited. Flushes."""
    rma = load(session, rma_id)
    _may(session, rma, "approve", RmaKind.EXCHANGE)
    replacement = rma.replacement_sku
    changed = rowcount(
        session.execute(
            update(Rma)
            .where(
                Rma.id == rma.id,
                Rma.status == RmaStatus.IN_REVIEW,
                Rma.kind == RmaKind.EXCHANGE,
            )
            .values(kind=RmaKind.RETURN, replacement_sku=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    session.refresh(rma)
    if changed != 1:
        _may(session, rma, "approve", RmaKind.EXCHANGE)  # raises: moved or converted meanwhile
    record(
        session,
        actor_id=agent_id,
        actor=actor,
        action="rma.converted_to_return",
        subject_type="rma",
        subject_id=rma.number,
        now=now,
        before={"kind": RmaKind.EXCHANGE.value, "replacement_sku": replacement},
        after={"kind": rma.kind.value, "replacement_sku": None},
        notes=_clean_notes(notes),
    )
    return Decision(rma.number, "convert_to_return", rma.status.value, rma.status.value)


def call_customer(
    session: Session,
    rma_id: int,
    *,
    why: str,
    agent_id: int,
    actor: str,
    now: datetime,
    calling: Policy,
) -> OutboundTask:
    """The "call the customer" button: plan the RMA's status call (once per RMA) for anything
    that needs explaining. Audited by `plan_status_call`. Flushes."""
    rma = load(session, rma_id)
    return status_calls.plan_status_call(
        session, rma, now=now, policy=calling, actor=actor, agent_id=agent_id, why=why
    )


def _audit(
    session: Session,
    rma: Rma,
    action: str,
    agent_id: int,
    actor: str,
    now: datetime,
    before: RmaStatus,
    **data: Any,
) -> None:
    record(
        session,
        actor_id=agent_id,
        actor=actor,
        action=action,
        subject_type="rma",
        subject_id=rma.number,
        now=now,
        before=before.value,
        after=rma.status.value,
        reason=rma.decision_reason,
        notes=rma.decision_notes,
        refund_amount_fen=rma.refund_amount_fen,
        **data,
    )
