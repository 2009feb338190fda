"""The back office's console requests, past the form: the review's domain calls in the request's
unit of work, the jobs that follow its commit, what a page shows, and a refusal said in both
languages with local time. No Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from back_office import review, work_list
from back_office.review import Decision
from callcenter.desk.labels import RMA_STATUSES, label
from callcenter.jobs import outbound as jobs
from callcenter.runtime import Runtime
from core.db import UnitOfWork
from core.errors import DomainError
from core.models import Rma
from outbound.models import OutboundTask

#: Rejection reasons as the page lists them (zh, then en).
REJECT_LABELS = {
    "outside_window": "超出退换期限 Outside the window",
    "failed_inspection": "质检未通过 Failed inspection",
    "not_returnable": "该品类不可退换 Not returnable",
    "opened_item": "已拆封 Opened item",
    "sku_mismatch": "商品与订单不符 SKU mismatch",
    "missing_parts": "配件缺失 Missing parts",
    "other": "其他 Other",
}
#: Why the customer returns or exchanges the item (`core.models.RmaReason`), as the page says.
REASON_LABELS = {
    "quality_problem": "质量问题 Quality problem",
    "damaged_in_transit": "运输损坏 Damaged in transit",
    "wrong_item": "发错商品 Wrong item",
    "not_as_described": "与描述不符 Not as described",
    "wrong_size": "尺码不合适 Wrong size",
    "missing_parts": "配件缺失 Missing parts",
    "no_longer_wanted": "不想要了 No longer wanted",
    "unshipped_cancel": "未发货取消 Unshipped order cancelled",
}
#: The policy checklist's rules as the page names them.
RULE_LABELS = {
    "delivered": "已签收 Delivered",
    "within_window": "在退换期限内 Within the window",
    "category_returnable": "品类可退换 Category returnable",
    "opened_allowed": "拆封可退 Opened allowed",
    "inspection_passed": "质检通过 Inspection passed",
    "sku_matches": "退回商品与订单一致 Returned SKU matches",
    "quantity_on_order": "数量不超过订购 Quantity on order",
}
#: What a decided RMA's state is called in a refusal ("already approved by …").
DECIDED_WORDS = {
    "approved": ("批准", "approved"),
    "rejected": ("驳回", "rejected"),
}


def local(moment: datetime | None, timezone: str) -> str:
    """`moment` in the centre's time zone, to the minute ("" for None)."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def explain(exc: DomainError, timezone: str) -> str:
    """A refusal as the page says it. A decision another agent made first: "已被 <name> 于
    <local time> 批准 · Already approved by <name> at <local time>"; else the message."""
    details = exc.details
    who = details.get("decided_by_name")
    if exc.code == "illegal-move" and who and details.get("decided_at"):
        at = local(datetime.fromisoformat(details["decided_at"]), timezone)
        status = str(details.get("status", ""))
        zh, en = DECIDED_WORDS.get(status, (label(RMA_STATUSES, status), status))
        return f"已被 {who} 于 {at} {zh} · Already {en} by {who} at {at} ({timezone})"
    if exc.code == "invalid-decision":
        fields = "; ".join(f"{k}: {v}" for k, v in details.get("fields", {}).items())
        return f"请更正 Please correct — {fields}"
    if exc.code == "not-approvable":
        rules = "; ".join(
            f"{label(RULE_LABELS, f['rule'])}: {f['why']}" for f in details.get("failing", [])
        )
        return f"不能批准 Cannot approve — {rules}"
    if exc.code == "out-of-stock":
        return f"换货商品缺货，可改为退货 Out of stock: offer a return instead — {exc.message}"
    return exc.message


def fen(raw: Any) -> Any:
    """A form's refund amount in fen: digits become an int; anything else is passed on as it
    came, for the validation to name (`refunds.validate_refund`)."""
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    return raw


@dataclass(frozen=True, slots=True)
class Staff:
    agent_id: int
    actor: str


def approve(
    uow: UnitOfWork, rt: Runtime, rma_id: int, form: dict[str, Any], who: Staff, now: datetime
) -> Decision:
    """Approve a return or an exchange, as the RMA's kind says (`review.approve_return`,
    `review.approve_exchange`); after the commit the hand-off's webhook is sent by a job
    (retried on the delivery row's own schedule)."""
    rma = review.load(uow.session, rma_id)
    common: dict[str, Any] = {
        "sku": str(form.get("sku", "")),
        "reason": str(form.get("reason", "")),
        "notes": str(form.get("notes", "")),
        "agent_id": who.agent_id,
        "actor": who.actor,
        "now": now,
        "policy": rt.return_policy,
    }
    if rma.kind.value == "exchange":
        replacement = str(form.get("replacement_sku", ""))
        decision = review.approve_exchange(
            uow.session, rma_id, replacement_sku=replacement, **common
        )
    else:
        amount = fen(form.get("refund_amount_fen"))
        decision = review.approve_return(uow.session, rma_id, refund_amount_fen=amount, **common)
    assert decision.delivery is not None
    uow.after_commit(rt.enqueue, jobs.deliver_decision, decision.delivery.id, queue="low")
    return decision


def reject(
    uow: UnitOfWork, rt: Runtime, rma_id: int, form: dict[str, Any], who: Staff, now: datetime
) -> Decision:
    """Reject with a reason from the list and notes (`review.reject`); the status call to the
    customer is planned in the same transaction (worked from the work list)."""
    return review.reject(
        uow.session,
        rma_id,
        reason=str(form.get("reason", "")),
        notes=str(form.get("notes", "")),
        agent_id=who.agent_id,
        actor=who.actor,
        now=now,
        calling=jobs.policy_for(rt),
    )


def convert(
    uow: UnitOfWork, rma_id: int, form: dict[str, Any], who: Staff, now: datetime
) -> Decision:
    """An exchange whose replacement is out of stock becomes a return
    (`review.convert_to_return`)."""
    return review.convert_to_return(
        uow.session,
        rma_id,
        notes=str(form.get("notes", "")),
        agent_id=who.agent_id,
        actor=who.actor,
        now=now,
    )


def call_customer(
    uow: UnitOfWork, rt: Runtime, rma_id: int, form: dict[str, Any], who: Staff, now: datetime
) -> OutboundTask:
    """The "call the customer" button: the RMA's status call (`review.call_customer`)."""
    return review.call_customer(
        uow.session,
        rma_id,
        why=str(form.get("why", "")),
        agent_id=who.agent_id,
        actor=who.actor,
        now=now,
        calling=jobs.policy_for(rt),
    )


def work_list_page(db: Session, rt: Runtime, agent_id: int | None) -> dict[str, Any]:
    """What the work list page shows: the RMAs in review, the pending hand-offs, the status
    calls (the agent's, or all for None)."""
    now = rt.clock()
    return {
        "reviews": work_list.review_rows(
            db, now=now, deadline_s=rt.settings.rma_review_deadline_s, policy=rt.return_policy
        ),
        "handoffs": work_list.pending_handoffs(db),
        "calls": work_list.call_rows(db, agent_id),
        "now": now,
    }


def rma_page(db: Session, rt: Runtime, rma_id: int) -> dict[str, Any]:
    """What one RMA's review page shows: its row (whatever its state) and who decided it."""
    rma = review.load(db, rma_id)
    row = work_list.row_of(
        db,
        rma,
        now=rt.clock(),
        deadline_s=rt.settings.rma_review_deadline_s,
        policy=rt.return_policy,
    )
    return {"row": row, "rma": rma, "decided_by": review.decided_by_name(db, rma)}


def rma_json(rma: Rma) -> dict[str, Any]:
    return {
        "number": rma.number,
        "kind": rma.kind.value,
        "status": rma.status.value,
        "refund_amount_fen": rma.refund_amount_fen,
        "replacement_sku": rma.replacement_sku,
        "decided_at": rma.decided_at.isoformat() if rma.decided_at else None,
    }
