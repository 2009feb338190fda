"""The complaint flow from the handbooks: receive → classify → decide a remedy → carry it out →
follow up on satisfaction.

A complaint is a work order of the category "complaint" with one `Complaint` row beside it
(its severity, the decided remedy and its details, the follow-up's rating). Each step is a
service here and an event in the work order's timeline, with its author and time:

    received ─classify─▶ classified ─decide─▶ decided ─carry_out─▶ carried_out ─close─▶ closed
    closed ─follow-up rated 1-5─▶ followed_up           (satisfied: 3 or more)
    closed ─follow-up rated below 3─▶ reopened          (the work order moves `reopen`)
    reopened ─decide─▶ decided ─▶ …                     (a new remedy, carried out, closed again)

A severity may be corrected and a remedy changed until the remedy is carried out. A refund or
a replacement goes through the back office as an RMA: the back office is a layer this package
may not import, so the application layer files the RMA (`back_office.intake.ingest`) and passes
its id to `carry_out`, which links it to the work order (`rma_id`). Closing plans the follow-up
call: a task of the outbound kind "complaint_follow_up" (worked by a front-desk agent), due a
set number of days after closing (`CALLCENTER_COMPLAINT_FOLLOW_UP_DAYS`), once per round (a
reopened complaint closed again gets another). Its outcome, the customer's satisfaction 1-5,
goes into the timeline; a poor one reopens the complaint.

Every step is idempotent: the same step with the same values again changes nothing and writes
no second event. Decisions are pure and take `now`. Services flush and never commit.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from core.db import Base
from core.errors import DomainError
from core.models import Customer, str_enum
from outbound.kinds import NoSubject, TaskKind, register
from outbound.models import OutboundAttempt, OutboundTask, TaskStatus
from outbound.policy import Policy
from outbound.scheduling import next_calling_time
from outbound.tasks import create_task
from queues.models import Post
from work_orders import states, timeline
from work_orders.models import WorkOrder, WorkOrderStatus

CATEGORY = "complaint"
SEVERITIES = ("low", "medium", "high", "critical")
REMEDIES = ("apology", "coupon", "refund", "replacement")
#: Remedies carried out by the back office, as an RMA of this kind.
RMA_KIND = {"refund": "return", "replacement": "exchange"}
#: A rating below this (of 5) is a poor one: the complaint reopens.
SATISFIED_FROM = 3
RATINGS = range(1, 6)
#: The largest coupon the desk may promise (fen): 1,000 CNY.
MAX_COUPON_FEN = 100_000
MAX_QUANTITY = 10_000
#: The skill a follow-up call is matched on (any front-desk agent has it).
SKILL = "general"
DEFAULT_FOLLOW_UP_DAYS = 3


class Stage(enum.StrEnum):
    RECEIVED = "received"
    CLASSIFIED = "classified"
    DECIDED = "decided"
    CARRIED_OUT = "carried_out"
    CLOSED = "closed"
    FOLLOWED_UP = "followed_up"
    REOPENED = "reopened"


#: step → the stages it may start from
STEPS: dict[str, frozenset[Stage]] = {
    "classify": frozenset({Stage.RECEIVED, Stage.CLASSIFIED, Stage.DECIDED, Stage.REOPENED}),
    "decide": frozenset({Stage.CLASSIFIED, Stage.DECIDED, Stage.REOPENED}),
    "carry_out": frozenset({Stage.DECIDED}),
    "close": frozenset({Stage.CARRIED_OUT}),
    "follow_up": frozenset({Stage.CLOSED}),
}


class Complaint(Base):
    """The complaint of one work order (category "complaint"): severity, remedy, follow-up."""

    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), unique=True
    )
    stage: Mapped[Stage] = mapped_column(str_enum(Stage))
    severity: Mapped[str | None] = mapped_column(String(16))
    remedy: Mapped[str | None] = mapped_column(String(16))
    remedy_details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    carried_out_at: Mapped[datetime | None]
    #: The rounds closed so far (a reopened complaint closed again is round 2): one follow-up
    #: call per round.
    rounds: Mapped[int] = mapped_column(default=0)
    follow_up_task_id: Mapped[int | None] = mapped_column(
        ForeignKey("mo_outbound_tasks.id", ondelete="SET NULL")
    )
    follow_up_due_at: Mapped[datetime | None]
    follow_up_rating: Mapped[int | None]
    followed_up_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    work_order: Mapped[WorkOrder] = relationship()


class ComplaintError(DomainError):
    code = "complaint-error"


class InvalidComplaint(ComplaintError):
    """A step's values are wrong; `details.fields` names each bad field (HTTP 422)."""

    code = "invalid-complaint"


class StepRefused(ComplaintError):
    """The step is not allowed at the complaint's stage; `details` names the stage (HTTP 409)."""

    code = "complaint-step-refused"


class UnknownComplaint(ComplaintError):
    code = "complaint-not-found"


@dataclass(frozen=True, slots=True)
class Author:
    """Who takes a step: their agent id (None for the system) and login."""

    id: int | None
    login: str


# --- pure decisions -----------------------------------------------------------------------------


def validate_remedy(remedy: Any, details: Any) -> tuple[str, dict[str, Any]]:
    """The remedy and its details, normalised; InvalidComplaint naming every bad field (pure).

    apology: an optional `note`. coupon: `amount_fen` (1 to 100,000). refund: `sku`,
    `quantity`, optional `reason` (an RMA reason, default quality_problem). replacement: the
    same and a `replacement_sku`."""
    errors: dict[str, str] = {}
    raw: Mapping[str, Any] = details if isinstance(details, Mapping) else {}
    if details is not None and not isinstance(details, Mapping):
        errors["remedy_details"] = "must be an object"
    if remedy not in REMEDIES:
        errors["remedy"] = "required, one of: " + ", ".join(REMEDIES)
        raise InvalidComplaint(f"{len(errors)} bad field(s)", fields=errors)
    out: dict[str, Any] = {}
    note = raw.get("note")
    if note is not None:
        if not isinstance(note, str) or len(note) > 500:
            errors["note"] = "text of at most 500 characters"
        elif note.strip():
            out["note"] = note.strip()
    if remedy == "coupon":
        out["amount_fen"] = _whole(raw, "amount_fen", errors, 1, MAX_COUPON_FEN)
    if remedy in RMA_KIND:
        out["sku"] = _text(raw, "sku", errors, 40)
        out["quantity"] = _whole(raw, "quantity", errors, 1, MAX_QUANTITY, default=1)
        out["reason"] = _text(raw, "reason", errors, 40, default="quality_problem")
    if remedy == "replacement":
        out["replacement_sku"] = _text(raw, "replacement_sku", errors, 40)
    if errors:
        raise InvalidComplaint(f"{len(errors)} bad field(s)", fields=errors)
    return str(remedy), out


def _whole(
    raw: Mapping[str, Any],
    name: str,
    errors: dict[str, str],
    low: int,
    high: int,
    default: int | None = None,
) -> int:
    value = raw.get(name, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors[name] = f"required, a whole number from {low} to {high}"
        return 0
    return value


def _text(
    raw: Mapping[str, Any], name: str, errors: dict[str, str], most: int, default: str = ""
) -> str:
    value = raw.get(name, default)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > most:
        errors[name] = f"required, text of at most {most} characters"
        return ""
    return value.strip()


def is_poor(rating: int) -> bool:
    """Whether a follow-up rating reopens the complaint (pure)."""
    return rating < SATISFIED_FROM


def follow_up_due(closed_at: datetime, days: int) -> datetime:
    """When the follow-up call is due: `days` after closing (pure; calling hours apply)."""
    return closed_at + timedelta(days=days)


def refusal(complaint: Complaint, step: str) -> StepRefused:
    allowed = [s for s, starts in STEPS.items() if complaint.stage in starts]
    return StepRefused(
        f"complaint {complaint.work_order.number} is {complaint.stage.value}: it cannot {step}",
        work_order=complaint.work_order.number,
        step=step,
        stage=complaint.stage.value,
        allowed=allowed,
    )


# --- the steps ----------------------------------------------------------------------------------


def of_work_order(session: Session, work_order_id: int) -> Complaint | None:
    return session.scalar(select(Complaint).where(Complaint.work_order_id == work_order_id))


def load(session: Session, work_order_id: int) -> Complaint:
    """The complaint of the work order; UnknownComplaint when it has none. Read-only."""
    found = of_work_order(session, work_order_id)
    if found is None:
        raise UnknownComplaint(f"work order {work_order_id} has no complaint", id=work_order_id)
    return found


def receive(
    session: Session,
    work_order: WorkOrder,
    *,
    by: Author,
    now: datetime,
    severity: str | None = None,
) -> Complaint:
    """Receive the complaint of `work_order` (category "complaint"): once per work order (the
    same again returns the first), with a "complaint_received" event; a `severity` given at
    once classifies it too. InvalidComplaint for another category or an unknown severity.
    Flushes."""
    errors: dict[str, str] = {}
    if work_order.category != CATEGORY:
        errors["category"] = f"is {work_order.category}: only a {CATEGORY} work order"
    if severity is not None and severity not in SEVERITIES:
        errors["severity"] = "one of: " + ", ".join(SEVERITIES)
    if errors:
        raise InvalidComplaint(f"{len(errors)} bad field(s)", fields=errors)
    found = of_work_order(session, work_order.id)
    if found is not None:
        return found
    complaint = Complaint(
        work_order_id=work_order.id,
        stage=Stage.RECEIVED,
        remedy_details={},
        created_at=now,
        updated_at=now,
    )
    session.add(complaint)
    session.flush()
    _event(session, complaint, "complaint_received", by, now, "received")
    if severity is not None:
        classify(session, complaint, severity, by=by, now=now)
    return complaint


def classify(
    session: Session, complaint: Complaint, severity: Any, *, by: Author, now: datetime
) -> bool:
    """Set (or correct, until the remedy is carried out) the severity; True if it changed.
    A "complaint_classified" event with before and after. Flushes."""
    if severity not in SEVERITIES:
        raise InvalidComplaint(
            "1 bad field(s)", fields={"severity": "required, one of: " + ", ".join(SEVERITIES)}
        )
    if complaint.severity == severity and complaint.stage is not Stage.RECEIVED:
        return False
    _check(complaint, "classify")
    before = complaint.severity
    complaint.severity = str(severity)
    if complaint.stage is Stage.RECEIVED:
        complaint.stage = Stage.CLASSIFIED
    complaint.updated_at = now
    _event(
        session,
        complaint,
        "complaint_classified",
        by,
        now,
        f"classified:{severity}:{before}",
        severity=severity,
        before=before,
    )
    return True


def decide(
    session: Session,
    complaint: Complaint,
    remedy: Any,
    details: Any,
    *,
    by: Author,
    now: datetime,
) -> bool:
    """Decide (or change, until it is carried out) the remedy and its details; True if it
    changed. A "complaint_remedy_decided" event. Flushes."""
    chosen, clean = validate_remedy(remedy, details)
    if (
        complaint.stage is Stage.DECIDED
        and complaint.remedy == chosen
        and complaint.remedy_details == clean
    ):
        return False
    _check(complaint, "decide")
    complaint.remedy, complaint.remedy_details = chosen, clean
    complaint.stage = Stage.DECIDED
    complaint.decided_by_id, complaint.decided_at, complaint.updated_at = by.id, now, now
    _event(
        session,
        complaint,
        "complaint_remedy_decided",
        by,
        now,
        None,
        remedy=chosen,
        details=clean,
        round=complaint.rounds + 1,
    )
    return True


def carry_out(
    session: Session,
    complaint: Complaint,
    *,
    by: Author,
    now: datetime,
    rma_id: int | None = None,
    reference: str = "",
) -> bool:
    """The decided remedy was carried out (the apology made, the coupon sent; a refund or a
    replacement filed as the RMA `rma_id`, linked to the work order); True the first time.
    A "complaint_remedy_carried_out" event. Flushes."""
    if complaint.stage is Stage.CARRIED_OUT:
        return False
    _check(complaint, "carry_out")
    assert complaint.remedy is not None
    if complaint.remedy in RMA_KIND and rma_id is None:
        raise InvalidComplaint(
            "1 bad field(s)", fields={"rma": f"a {complaint.remedy} is carried out by an RMA"}
        )
    if rma_id is not None:
        complaint.work_order.rma_id = rma_id
    complaint.stage = Stage.CARRIED_OUT
    complaint.carried_out_at = complaint.updated_at = now
    _event(
        session,
        complaint,
        "complaint_remedy_carried_out",
        by,
        now,
        f"carried_out:{complaint.rounds + 1}",
        remedy=complaint.remedy,
        rma_id=rma_id,
        reference=reference[:80],
    )
    return True


def close(
    session: Session,
    complaint: Complaint,
    *,
    by: Author,
    now: datetime,
    follow_up_days: int,
    policy: Policy,
    resolution_code: str = "complaint_remedied",
) -> OutboundTask | None:
    """Close the work order (its state machine's `close`, or keep a closed one) once the remedy
    is carried out, and plan this round's follow-up call `follow_up_days` later (None when the
    customer has no number). The same close again returns the same task. Flushes."""
    if complaint.stage is Stage.CLOSED:
        return session.get(OutboundTask, complaint.follow_up_task_id or 0)
    _check(complaint, "close")
    work_order = complaint.work_order
    if work_order.status is not WorkOrderStatus.CLOSED:
        states.move(
            session,
            work_order,
            "close",
            author_id=by.id,
            author=by.login,
            now=now,
            resolution_code=resolution_code,
        )
    complaint.rounds += 1
    complaint.stage = Stage.CLOSED
    complaint.updated_at = now
    complaint.follow_up_rating = None
    due = follow_up_due(work_order.closed_at or now, follow_up_days)
    complaint.follow_up_due_at = due
    task = _plan_follow_up(session, complaint, due=due, now=now, policy=policy)
    complaint.follow_up_task_id = task.id if task is not None else None
    session.flush()
    return task


def record_follow_up(
    session: Session,
    complaint: Complaint,
    rating: Any,
    *,
    by: Author,
    now: datetime,
    notes: str = "",
) -> bool:
    """The follow-up call's outcome: the customer's satisfaction 1-5 (a "complaint_follow_up"
    event). A poor one (below 3) reopens the work order (`reopen`). True the first time in a
    round; the same rating again changes nothing. Flushes."""
    if isinstance(rating, str) and rating.strip().isdigit():
        rating = int(rating.strip())
    if isinstance(rating, bool) or rating not in RATINGS:
        raise InvalidComplaint("1 bad field(s)", fields={"rating": "a whole number from 1 to 5"})
    if complaint.stage in {Stage.FOLLOWED_UP, Stage.REOPENED} and (
        complaint.follow_up_rating == rating
    ):
        return False
    _check(complaint, "follow_up")
    poor = is_poor(rating)
    complaint.follow_up_rating = rating
    complaint.followed_up_at = complaint.updated_at = now
    complaint.stage = Stage.REOPENED if poor else Stage.FOLLOWED_UP
    _event(
        session,
        complaint,
        "complaint_follow_up",
        by,
        now,
        f"follow_up:{complaint.rounds}",
        rating=rating,
        satisfied=not poor,
        notes=(notes or "").strip()[:500],
        task_id=complaint.follow_up_task_id,
    )
    if poor and complaint.work_order.status is WorkOrderStatus.CLOSED:
        states.move(
            session,
            complaint.work_order,
            "reopen",
            author_id=by.id,
            author=by.login,
            now=now,
            note=f"follow-up rated {rating}/5",
        )
    session.flush()
    return True


def _check(complaint: Complaint, step: str) -> None:
    if complaint.stage not in STEPS[step]:
        raise refusal(complaint, step)


def _event(
    session: Session,
    complaint: Complaint,
    kind: str,
    by: Author,
    now: datetime,
    dedupe_key: str | None,
    **data: Any,
) -> None:
    timeline.add_event(
        session,
        complaint.work_order,
        kind,
        author_id=by.id,
        author=by.login,
        now=now,
        dedupe_key=dedupe_key,
        stage=complaint.stage.value,
        **data,
    )


# --- the follow-up call -------------------------------------------------------------------------


class FollowUpSubject(NoSubject):
    """What the follow-up call's events mean for its complaint: a call that never reached the
    customer (attempts exhausted, refused, the do-not-call list) is written into the timeline;
    the rating the agent saves is `record_follow_up`."""

    def attempt_over(
        self, session: Session, task: OutboundTask, attempt: OutboundAttempt | None, now: datetime
    ) -> None:
        if task.status not in {TaskStatus.FAILED, TaskStatus.BLOCKED}:
            return
        complaint = session.get(Complaint, task.subject_id)
        if complaint is None:
            return
        _event(
            session,
            complaint,
            "complaint_follow_up_unreached",
            Author(None, "system"),
            now,
            f"unreached:{task.id}",
            task_id=task.id,
            task_status=task.status.value,
            outcome=task.last_outcome,
        )


#: Worked by a front-desk agent (the work list), a set number of days after closing.
FOLLOW_UP_CALL = register(
    TaskKind(
        "complaint_follow_up",
        "complaint",
        Post.FRONT_DESK,
        False,
        "Complaint follow-up call",
        subject=FollowUpSubject(),
    )
)


def _plan_follow_up(
    session: Session, complaint: Complaint, *, due: datetime, now: datetime, policy: Policy
) -> OutboundTask | None:
    work_order = complaint.work_order
    customer = session.get(Customer, work_order.customer_id) if work_order.customer_id else None
    if customer is None or not customer.phones:
        return None
    number = customer.phones[0].e164
    task = create_task(
        session,
        kind=FOLLOW_UP_CALL.name,
        subject_id=complaint.id,
        to_number=number,
        language=customer.language.value,
        skill=SKILL,
        customer_id=customer.id,
        now=now,
        policy=policy,
        priority=work_order.priority,
        queued_at=due,
        dedupe_key=f"{FOLLOW_UP_CALL.name}:{complaint.id}:{complaint.rounds}",
    )
    if task.status is TaskStatus.PENDING:
        task.next_attempt_at = max(
            task.next_attempt_at, next_calling_time(policy.calling_hours(task.timezone), due)
        )
    return task
