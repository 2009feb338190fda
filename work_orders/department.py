"""The departments' side of a work order: their inbox, and claim, reply, ask the customer,
the customer's answer, resolve, and notes; each a move of `states` and an entry of the timeline
with its author and time (the timeline is the audit trail).

A department sees and answers only the work orders passed to its group (`department` is a
team name); `team=None` is a team lead's or the manager's "everything". A reply (and a
resolve, a reply that is final) plans the callback to the customer (`work_orders.callbacks`).
A reply to a closed work order is an `IllegalMove` (HTTP 409), which names its state.

Idempotent by a client key where the client sends one (a retried API call, a double-clicked
form): the action's event carries `"<action>:<key>"` as its dedupe key, and the same key again
returns the first result (`Done.replayed`) without a second move; a copy racing the first
loses the compare-and-set, finds the winner's event and returns it too. Each action marks the
work order due for the SLA sweep's next look (`sweep.refresh_clocks`), so its clocks and
lists follow at once. Services flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import DomainError
from outbound.policy import Policy
from work_orders import callbacks, states, sweep, timeline
from work_orders.models import WorkOrder, WorkOrderEvent, WorkOrderStatus

#: Longest reply, question, answer or note kept (characters).
TEXT_MAX = 4000
#: Longest client key (the event's dedupe key adds the action's name).
KEY_MAX = 100
#: Longest resolution code.
CODE_MAX = 40
#: The statuses a department's inbox lists (the others are not the department's move).
INBOX = (
    WorkOrderStatus.WITH_DEPARTMENT,
    WorkOrderStatus.IN_PROGRESS,
    WorkOrderStatus.WAITING_ON_CUSTOMER,
)


class InvalidDepartmentInput(DomainError):
    """A department's submission with bad fields (HTTP 422); `details["fields"]` names each."""

    code = "invalid-work-order-input"


class NotYourDepartment(DomainError):
    """The work order is passed to another department's group (HTTP 403)."""

    code = "work-order-other-department"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: the department user (or None for an external system) and the name the
    timeline shows, and the team their grant is limited to (None: every department)."""

    agent_id: int | None
    name: str
    team: str | None


@dataclass(frozen=True, slots=True)
class Done:
    """What an action did: the work order as it is now, the action's event, and whether this
    was the same client key again (nothing done the second time)."""

    work_order: WorkOrder
    action: str
    event_id: int
    replayed: bool


def load(session: Session, number: str | int, team: str | None) -> WorkOrder:
    """The work order by number (or id), if `team` may see it (None: any). UnknownWorkOrder,
    NotYourDepartment. Read-only."""
    if isinstance(number, int):
        work_order = session.get(WorkOrder, number)
    else:
        work_order = session.scalar(select(WorkOrder).where(WorkOrder.number == number))
    if work_order is None:
        raise states.UnknownWorkOrder(f"no work order {number}", work_order=str(number))
    if team is not None and work_order.department != team:
        raise NotYourDepartment(
            f"work order {work_order.number} is with {work_order.department}, not {team}",
            work_order=work_order.number,
            department=work_order.department,
        )
    return work_order


def inbox(
    session: Session,
    team: str | None,
    *,
    statuses: tuple[WorkOrderStatus, ...] = INBOX,
    limit: int = 200,
) -> list[WorkOrder]:
    """The work orders of a department's group (`team`; None: every group) in `statuses`,
    oldest first. Read-only."""
    query = select(WorkOrder).where(WorkOrder.status.in_(statuses))
    if team is not None:
        query = query.where(WorkOrder.department == team)
    return list(session.scalars(query.order_by(WorkOrder.created_at, WorkOrder.id).limit(limit)))


def text_field(raw: Any, name: str, *, required: bool = True, limit: int = TEXT_MAX) -> str:
    """A text field of a submission, stripped; InvalidDepartmentInput naming it when missing
    (if required), not text, or too long (pure)."""
    problem = None
    if raw is None or raw == "":
        problem = "required" if required else None
    elif not isinstance(raw, str):
        problem = "must be text"
    elif not raw.strip() and required:
        problem = "required"
    elif len(raw.strip()) > limit:
        problem = f"at most {limit} characters"
    if problem:
        raise InvalidDepartmentInput(f"{name}: {problem}", fields={name: problem})
    return raw.strip() if isinstance(raw, str) else ""


def client_key(raw: Any) -> str | None:
    """A client's idempotency key: None when absent; InvalidDepartmentInput when not text or
    too long (pure)."""
    if raw is None or raw == "":
        return None
    return text_field(raw, "client_key", limit=KEY_MAX)


def _replayed(session: Session, work_order: WorkOrder, key: str | None) -> Done | None:
    if key is None:
        return None
    found = session.scalar(
        select(WorkOrderEvent).where(
            WorkOrderEvent.work_order_id == work_order.id, WorkOrderEvent.dedupe_key == key
        )
    )
    if found is None:
        return None
    session.refresh(work_order)
    return Done(work_order, key.partition(":")[0], found.id, True)


def _act(
    session: Session,
    work_order: WorkOrder,
    action: str,
    event: str | None,
    kind: str,
    *,
    who: Actor,
    now: datetime,
    key: str | None,
    **data: Any,
) -> Done:
    """Move `work_order` by `event` (if any) and write the action's `kind` event with `data`,
    once per client key."""
    dedupe = f"{action}:{key}" if key is not None else None
    found = _replayed(session, work_order, dedupe)
    if found is not None:
        return found
    if event is not None:
        try:
            states.move(
                session, work_order, event, author_id=who.agent_id, author=who.name, now=now
            )
        except states.IllegalMove:
            found = _replayed(session, work_order, dedupe)  # a copy of this submission won
            if found is not None:
                return found
            raise
    written = timeline.add_event(
        session,
        work_order,
        kind,
        author_id=who.agent_id,
        author=who.name,
        now=now,
        dedupe_key=dedupe,
        **data,
    )
    if written is None:  # a copy with the same key won the insert (a note has no move)
        replay = _replayed(session, work_order, dedupe)
        assert replay is not None
        return replay
    sweep.refresh_clocks(session, work_order, now=now)  # the sweep recomputes its clocks next
    return Done(work_order, action, written.id, False)


def claim(
    session: Session, work_order: WorkOrder, *, who: Actor, now: datetime, key: str | None = None
) -> Done:
    """The department user takes the work order (`claim`: with_department → in_progress; they
    become its assignee). IllegalMove if it is not waiting for a department. Flushes."""
    done = _act(session, work_order, "claim", "claim", "claim", who=who, now=now, key=key)
    if not done.replayed and who.agent_id is not None:
        work_order.assignee_id = who.agent_id
        session.flush()
    return done


def reply(
    session: Session,
    work_order: WorkOrder,
    text: Any,
    *,
    who: Actor,
    now: datetime,
    calling: Policy,
    key: str | None = None,
    resolution_code: Any = None,
) -> Done:
    """The department's answer (`reply` → answered), with a "reply" event holding `text`, and
    the callback to the customer planned (`callbacks.plan_callback`) in the same transaction.
    With a `resolution_code` it is a resolve (`final`: the department considers it solved,
    the callback closes it with that code). 422 on empty text; IllegalMove (409) on a closed
    work order or one not yet passed. Once per client key. Flushes."""
    answer = text_field(text, "text")
    code = text_field(resolution_code, "resolution_code", required=False, limit=CODE_MAX)
    action = "resolve" if code else "reply"
    data: dict[str, Any] = {"text": answer, "final": bool(code)}
    if code:
        data["resolution_code"] = code
    done = _act(session, work_order, action, "reply", "reply", who=who, now=now, key=key, **data)
    if not done.replayed:
        callbacks.plan_callback(session, work_order, done.event_id, now=now, policy=calling)
    return done


def resolve(
    session: Session,
    work_order: WorkOrder,
    text: Any,
    resolution_code: Any,
    *,
    who: Actor,
    now: datetime,
    calling: Policy,
    key: str | None = None,
) -> Done:
    """A reply that is final: the answer and the resolution code the callback closes the work
    order with (`reply`); 422 when the code is missing. Flushes."""
    text_field(resolution_code, "resolution_code", limit=CODE_MAX)
    return reply(
        session,
        work_order,
        text,
        who=who,
        now=now,
        calling=calling,
        key=key,
        resolution_code=resolution_code,
    )


def ask_customer(
    session: Session,
    work_order: WorkOrder,
    question: Any,
    *,
    who: Actor,
    now: datetime,
    key: str | None = None,
) -> Done:
    """The department needs something from the customer (`ask_customer` → waiting on the
    customer: the SLA clocks pause), the question in a "question" event. Flushes."""
    asked = text_field(question, "question")
    return _act(
        session,
        work_order,
        "ask",
        "ask_customer",
        "question",
        who=who,
        now=now,
        key=key,
        text=asked,
    )


def customer_replied(
    session: Session,
    work_order: WorkOrder,
    answer: Any,
    *,
    who: Actor,
    now: datetime,
    key: str | None = None,
) -> Done:
    """The customer's answer came (`customer_replied` → in progress: the clocks run again),
    in a "customer_reply" event. Flushes."""
    said = text_field(answer, "answer")
    return _act(
        session,
        work_order,
        "answer",
        "customer_replied",
        "customer_reply",
        who=who,
        now=now,
        key=key,
        text=said,
    )


def note(
    session: Session,
    work_order: WorkOrder,
    text: Any,
    *,
    who: Actor,
    now: datetime,
    key: str | None = None,
) -> Done:
    """A note on the timeline (no move; allowed in any state). Flushes."""
    written = text_field(text, "text")
    return _act(session, work_order, "note", None, "note", who=who, now=now, key=key, text=written)
