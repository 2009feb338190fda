"""The complaint flow past the request (`work_orders.complaints`): each step in the request's
unit of work, and a refund or a replacement filed with the back office as an RMA. No Flask
here.

The work-order package may not import the back office (same layer), so the application layer,
which may import both, carries out an RMA remedy: it files the RMA through the back office's
own intake (`back_office.intake.parse_rma` and `ingest`, source "complaint", numbered after the
work order so that a repeat finds the same RMA), then links it to the work order
(`complaints.carry_out(rma_id=...)`), in one transaction: both or neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from back_office import intake
from callcenter.jobs import outbound as jobs
from callcenter.runtime import Runtime
from core.db import UnitOfWork
from core.models import Order, Rma
from outbound.models import OutboundTask
from work_orders import complaints, timeline
from work_orders.complaints import Author, Complaint, InvalidComplaint
from work_orders.models import WorkOrder, WorkOrderEvent
from work_orders.states import UnknownWorkOrder

#: The RMA's source in the back office's intake (its audit says where it came from).
RMA_SOURCE = "complaint"
#: How many complaints the list shows, newest first.
LIST_LIMIT = 200


def work_order(session: Session, work_order_id: int) -> WorkOrder:
    found = session.get(WorkOrder, work_order_id)
    if found is None:
        raise UnknownWorkOrder(f"no work order {work_order_id}", id=work_order_id)
    return found


def receive(
    uow: UnitOfWork, work_order_id: int, form: dict[str, Any], by: Author, now: datetime
) -> Complaint:
    severity = str(form.get("severity") or "") or None
    wo = work_order(uow.session, work_order_id)
    return complaints.receive(uow.session, wo, by=by, now=now, severity=severity)


def classify(
    uow: UnitOfWork, work_order_id: int, form: dict[str, Any], by: Author, now: datetime
) -> Complaint:
    complaint = complaints.load(uow.session, work_order_id)
    complaints.classify(uow.session, complaint, form.get("severity"), by=by, now=now)
    return complaint


def decide(
    uow: UnitOfWork, work_order_id: int, form: dict[str, Any], by: Author, now: datetime
) -> Complaint:
    """The remedy and its details: a JSON body's `remedy_details` object, or the form's own
    fields (note, amount_fen, sku, quantity, reason, replacement_sku)."""
    complaint = complaints.load(uow.session, work_order_id)
    details = form.get("remedy_details")
    if details is None:
        details = {k: v for k, v in form.items() if k in DETAIL_FIELDS and v not in ("", None)}
    complaints.decide(uow.session, complaint, form.get("remedy"), details, by=by, now=now)
    return complaint


DETAIL_FIELDS = ("note", "amount_fen", "sku", "quantity", "reason", "replacement_sku")


def carry_out(
    uow: UnitOfWork, work_order_id: int, form: dict[str, Any], by: Author, now: datetime
) -> Complaint:
    """Carry out the decided remedy: a refund or a replacement is filed as an RMA of the
    work order's order (`file_rma`) and linked to it; an apology or a coupon is recorded with
    the form's `reference` (the coupon's code)."""
    complaint = complaints.load(uow.session, work_order_id)
    rma_id = None
    if complaint.stage is complaints.Stage.DECIDED and complaint.remedy in complaints.RMA_KIND:
        rma_id = file_rma(uow.session, complaint, now=now).rma_id
    reference = str(form.get("reference") or "")
    complaints.carry_out(uow.session, complaint, by=by, now=now, rma_id=rma_id, reference=reference)
    return complaint


def rma_number(work_order: WorkOrder) -> str:
    """The RMA number of a complaint's remedy: the work order's number and "-R" (one per
    work order, so the same remedy filed again is the same RMA)."""
    return f"{work_order.number}-R"


def file_rma(session: Session, complaint: Complaint, *, now: datetime) -> intake.IngestResult:
    """File the refund (a return) or replacement (an exchange) with the back office's intake.
    InvalidComplaint naming `order` when the work order has none; the intake's InvalidRma
    naming each field the order contradicts (not delivered, SKU not on it, too many)."""
    wo = complaint.work_order
    order = order_of(session, wo)
    details = complaint.remedy_details
    assert complaint.remedy is not None
    payload = {
        "number": rma_number(wo),
        "order": order.number,
        "sku": details["sku"],
        "quantity": details["quantity"],
        "kind": complaints.RMA_KIND[complaint.remedy],
        "reason": details["reason"],
        "description": f"complaint {wo.number}: {wo.description}"[:2000],
    }
    if complaint.remedy == "replacement":
        payload["replacement_sku"] = details["replacement_sku"]
    return intake.ingest(session, intake.parse_rma(payload), source=RMA_SOURCE, now=now)


def order_of(session: Session, wo: WorkOrder) -> Order:
    order = session.get(Order, wo.order_id) if wo.order_id is not None else None
    if order is None:
        raise InvalidComplaint(
            "1 bad field(s)", fields={"order": "a refund or replacement needs the order"}
        )
    return order


def close(
    uow: UnitOfWork, rt: Runtime, work_order_id: int, by: Author, now: datetime
) -> OutboundTask | None:
    """Close the complaint and plan its follow-up call (`CALLCENTER_COMPLAINT_FOLLOW_UP_DAYS`
    later, in the engine's calling hours)."""
    complaint = complaints.load(uow.session, work_order_id)
    return complaints.close(
        uow.session,
        complaint,
        by=by,
        now=now,
        follow_up_days=rt.settings.complaint_follow_up_days,
        policy=jobs.policy_for(rt),
    )


def follow_up(
    uow: UnitOfWork, work_order_id: int, form: dict[str, Any], by: Author, now: datetime
) -> Complaint:
    """The follow-up call's outcome: the customer's rating 1-5 and notes."""
    complaint = complaints.load(uow.session, work_order_id)
    complaints.record_follow_up(
        uow.session,
        complaint,
        form.get("rating"),
        by=by,
        now=now,
        notes=str(form.get("notes") or ""),
    )
    return complaint


# --- what the pages and the API show ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    work_order: WorkOrder
    complaint: Complaint | None


def list_rows(session: Session) -> list[Row]:
    """The complaint work orders, newest first, each with its complaint (None: not received)."""
    found = session.execute(
        select(WorkOrder, Complaint)
        .outerjoin(Complaint, Complaint.work_order_id == WorkOrder.id)
        .where(WorkOrder.category == complaints.CATEGORY)
        .order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc())
        .limit(LIST_LIMIT)
    ).all()
    return [Row(wo, c) for wo, c in found]


def page(session: Session, work_order_id: int) -> dict[str, Any]:
    wo = work_order(session, work_order_id)
    complaint = complaints.of_work_order(session, wo.id)
    rma = session.get(Rma, wo.rma_id) if wo.rma_id is not None else None
    events: list[WorkOrderEvent] = timeline.timeline_of(session, wo)
    task = None
    if complaint is not None and complaint.follow_up_task_id is not None:
        task = session.get(OutboundTask, complaint.follow_up_task_id)
    steps = (
        [step for step, starts in complaints.STEPS.items() if complaint.stage in starts]
        if complaint is not None
        else ["receive"]
    )
    return {
        "wo": wo,
        "complaint": complaint,
        "rma": rma,
        "events": events,
        "task": task,
        "steps": steps,
    }


def as_json(wo: WorkOrder, complaint: Complaint | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "work_order": wo.number,
        "id": wo.id,
        "status": wo.status.value,
        "rma_id": wo.rma_id,
    }
    if complaint is not None:
        out |= {
            "stage": complaint.stage.value,
            "severity": complaint.severity,
            "remedy": complaint.remedy,
            "remedy_details": complaint.remedy_details,
            "rounds": complaint.rounds,
            "follow_up_task_id": complaint.follow_up_task_id,
            "follow_up_due_at": _iso(complaint.follow_up_due_at),
            "follow_up_rating": complaint.follow_up_rating,
        }
    return out


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def close_step(
    uow: UnitOfWork,
    rt: Runtime,
    work_order_id: int,
    form: dict[str, Any],
    by: Author,
    now: datetime,
) -> Complaint:
    """`close` as a step of the page (the complaint after it)."""
    close(uow, rt, work_order_id, by, now)
    return complaints.load(uow.session, work_order_id)


#: A step of the page: (uow, runtime, work order id, form, author, now) → the complaint.
Step = Callable[[UnitOfWork, Runtime, int, dict[str, Any], Author, datetime], Complaint]
#: The steps a front-desk agent records (a remedy is decided apart: `decide`).
STEPS: dict[str, Step] = {
    "receive": lambda uow, rt, wo, form, by, now: receive(uow, wo, form, by, now),
    "classify": lambda uow, rt, wo, form, by, now: classify(uow, wo, form, by, now),
    "carry_out": lambda uow, rt, wo, form, by, now: carry_out(uow, wo, form, by, now),
    "close": close_step,
    "follow_up": lambda uow, rt, wo, form, by, now: follow_up(uow, wo, form, by, now),
}

#: What the page says when a step is done.
DONE = {
    "receive": "已受理 Complaint received",
    "classify": "已定级 Severity set",
    "decide": "已确定补救 Remedy decided",
    "carry_out": "已执行补救 Remedy carried out",
    "close": "已结案，已安排回访 Closed; the follow-up call is planned",
    "follow_up": "已记录回访 Follow-up recorded",
}

SEVERITY_LABELS = {
    "low": "低 Low",
    "medium": "中 Medium",
    "high": "高 High",
    "critical": "紧急 Critical",
}
REMEDY_LABELS = {
    "apology": "致歉 Apology",
    "coupon": "优惠券 Coupon",
    "refund": "退款 Refund (RMA)",
    "replacement": "换货 Replacement (RMA)",
}
STAGE_LABELS = {
    "received": "已受理 Received",
    "classified": "已定级 Classified",
    "decided": "已定补救 Remedy decided",
    "carried_out": "已执行 Carried out",
    "closed": "已结案 Closed",
    "followed_up": "已回访 Followed up",
    "reopened": "重新打开 Reopened",
}
