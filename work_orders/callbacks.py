"""The callback that closes a work order: when the department answers, the front-desk agent who
owns it phones the customer with the answer, as a task kind of the one outbound engine.

The kind ("work_order_callback", post front desk) is worked by click-to-call from the
front desk's callback list (calling hours in the customer's time zone, the do-not-call list,
retries with backoff and pacing are the engine's: nothing of that is repeated here). One task
per department reply (its dedupe key names the reply), planned in the reply's transaction
(`plan_callback`) and assigned (`choose_callback_agent`, pure) to the owner, or to their group
when they are away. The group is the owner's team (`Agent.team`, front-a, front-b, ...): its
members who work the front desk, present first, lightest load first, by the engine's own
`choose_assignee`. No group member at all: the engine's own choice over the floor.

The call's events are written into the work order's timeline ("call" events with `reached`
true or false; the SLA clocks read them): the customer answered (`reached`), an attempt ended
unanswered or the task closed without reaching them (`attempt_over`). The agent's outcome then
settles the work order (`conclude`): reached and satisfied → close with a resolution code;
reached and not satisfied → reopen (back to the department). Services flush and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import DomainError
from core.models import Customer, Order
from outbound.kinds import NoSubject, TaskKind, register
from outbound.models import OutboundAttempt, OutboundTask, Outcome, TaskStatus
from outbound.policy import Policy
from outbound.scheduling import Candidate, choose_assignee
from outbound.tasks import candidates, create_task
from queues.models import Agent, AgentState, Post
from work_orders import states, sweep, timeline
from work_orders.complaints import FOLLOW_UP_CALL, Complaint
from work_orders.models import WorkOrder, WorkOrderEvent, WorkOrderStatus

#: The skill the callback is matched on: every front-desk agent has it.
SKILL = "general"
#: An agent in these states is away: their callbacks go to their group.
AWAY = frozenset({AgentState.OFFLINE.value, AgentState.BREAK.value})
#: The outcomes that mean the customer was reached.
REACHED = frozenset({Outcome.REACHED_RESOLVED.value, Outcome.REACHED_MISSING_INFO.value})
#: The resolution code of a callback whose department gave none.
DEFAULT_RESOLUTION = "answered"


class CallbackInputInvalid(DomainError):
    """The callback's outcome form has bad fields (HTTP 422); `details["fields"]` names each."""

    code = "invalid-callback-outcome"


class CallbackSubject(NoSubject):
    """What the callback's events mean for its work order: each reach and each miss goes into
    the timeline (once per attempt)."""

    def reached(
        self, session: Session, task: OutboundTask, attempt: OutboundAttempt, now: datetime
    ) -> None:
        work_order = session.get(WorkOrder, task.subject_id)
        if work_order is None:
            return
        timeline.add_event(
            session,
            work_order,
            "call",
            author_id=attempt.agent_id,
            author="system",
            now=now,
            dedupe_key=f"callback-reached:{attempt.id}",
            role="callback",
            reached=True,
            task_id=task.id,
            attempt_id=attempt.id,
        )
        sweep.refresh_clocks(session, work_order, now=now)

    def attempt_over(
        self, session: Session, task: OutboundTask, attempt: OutboundAttempt | None, now: datetime
    ) -> None:
        work_order = session.get(WorkOrder, task.subject_id)
        if work_order is None or task.last_outcome in REACHED:
            return
        if task.status is TaskStatus.CANCELLED:
            return  # nobody tried: the work order moved on without this call
        timeline.add_event(
            session,
            work_order,
            "call",
            author_id=task.agent_id,
            author="system",
            now=now,
            dedupe_key=f"callback-missed:{task.id}:{task.attempts}:{task.status.value}",
            role="callback",
            reached=False,
            task_id=task.id,
            outcome=task.last_outcome,
            task_status=task.status.value,
            attempts=task.attempts,
        )
        sweep.refresh_clocks(session, work_order, now=now)


#: Worked by the front desk (the owner or their group) by click-to-call.
WORK_ORDER_CALLBACK = register(
    TaskKind(
        "work_order_callback",
        "work_order",
        Post.FRONT_DESK,
        False,
        "Work-order callback",
        subject=CallbackSubject(),
    )
)


@dataclass(frozen=True, slots=True)
class Assignee:
    agent_id: int | None
    to: str  # "owner", "group" (their team), "floor" (the engine's choice), "nobody"


def choose_callback_agent(
    owner_id: int | None, language: str, group: Sequence[Candidate]
) -> Assignee:
    """Who gets a work order's callback (pure). The owner, unless away (offline or on a break)
    or no longer at the front desk; else the best present member of the owner's group (their
    team, `group`) by the engine's rule (`choose_assignee`: working the front desk now, then
    fewest open tasks); else, everyone in the group being away, the group's best (the task
    waits on their list); else nobody (the caller lets the engine choose over the floor)."""
    post = Post.FRONT_DESK.value
    for member in group:
        if member.agent_id == owner_id and post in member.posts and member.state not in AWAY:
            return Assignee(owner_id, "owner")
    others = [m for m in group if m.agent_id != owner_id]
    present = [m for m in others if m.state not in AWAY]
    chosen = choose_assignee(post, SKILL, language, present) or choose_assignee(
        post, SKILL, language, others
    )
    if chosen is not None:
        return Assignee(chosen, "group")
    return Assignee(None, "nobody")


def _group(session: Session, work_order: WorkOrder) -> list[Candidate]:
    team = work_order.owner_team
    if not team and work_order.owner_id is not None:
        owner = session.get(Agent, work_order.owner_id)
        team = owner.team if owner is not None else ""
    members = set(session.scalars(select(Agent.id).where(Agent.team == team)).all())
    if work_order.owner_id is not None:
        members.add(work_order.owner_id)
    return [c for c in candidates(session) if c.agent_id in members]


def number_to_call(session: Session, work_order: WorkOrder) -> tuple[str | None, str]:
    """The customer's first number on file, else the order's recipient's; and the language
    to speak (read-only)."""
    customer = session.get(Customer, work_order.customer_id) if work_order.customer_id else None
    language = customer.language.value if customer is not None else "zh"
    if customer is not None and customer.phones:
        return customer.phones[0].e164, language
    order = session.get(Order, work_order.order_id) if work_order.order_id else None
    return (order.recipient_phone if order is not None else None), language


def plan_callback(
    session: Session, work_order: WorkOrder, reply_event_id: int, *, now: datetime, policy: Policy
) -> OutboundTask | None:
    """The callback task for the department's reply `reply_event_id` (once per reply), assigned
    to the owner or their group (`choose_callback_agent`), with a "callback" event naming the
    task and to whom it went. No number to call: no task, and the event says so (None). A
    number on the do-not-call list gives a blocked task (the engine's rule). Flushes."""
    number, language = number_to_call(session, work_order)
    if number is None:
        timeline.add_event(
            session,
            work_order,
            "callback",
            author_id=None,
            author="system",
            now=now,
            dedupe_key=f"callback:{reply_event_id}",
            planned=False,
            why="no phone number on file",
        )
        return None
    task = create_task(
        session,
        kind=WORK_ORDER_CALLBACK.name,
        subject_id=work_order.id,
        to_number=number,
        language=language,
        skill=SKILL,
        customer_id=work_order.customer_id,
        priority=work_order.priority,
        now=now,
        policy=policy,
        dedupe_key=f"{WORK_ORDER_CALLBACK.name}:{work_order.id}:{reply_event_id}",
    )
    chosen = choose_callback_agent(work_order.owner_id, language, _group(session, work_order))
    if task.status is TaskStatus.PENDING and chosen.agent_id is not None:
        task.agent_id = chosen.agent_id
        session.flush()
    timeline.add_event(
        session,
        work_order,
        "callback",
        author_id=None,
        author="system",
        now=now,
        dedupe_key=f"callback:{reply_event_id}",
        planned=True,
        task_id=task.id,
        task_status=task.status.value,
        agent_id=task.agent_id,
        to=chosen.to if chosen.agent_id is not None else "floor",
    )
    return task


def answer_of(session: Session, work_order: WorkOrder) -> WorkOrderEvent | None:
    """The department's latest reply (what the agent reads out on the callback). Read-only."""
    return session.scalar(
        select(WorkOrderEvent)
        .where(WorkOrderEvent.work_order_id == work_order.id, WorkOrderEvent.kind == "reply")
        .order_by(WorkOrderEvent.at.desc(), WorkOrderEvent.id.desc())
        .limit(1)
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The callback's outcome form, checked: the engine's outcome, and for a customer reached
    and resolved, whether they are satisfied and the resolution code."""

    outcome: str
    satisfied: bool | None
    resolution_code: str | None
    notes: str


def parse_verdict(form: dict[str, Any]) -> Verdict:
    """The callback outcome form (pure): `outcome` (the engine's checks it), and with
    "reached_resolved" `satisfied` ("yes"/"no") required, `resolution_code` optional
    (at most 40 characters), `notes`. CallbackInputInvalid names each bad field."""
    outcome = str(form.get("outcome", "")).strip()
    raw = str(form.get("satisfied", "")).strip().lower()
    code = str(form.get("resolution_code", "")).strip()
    bad: dict[str, str] = {}
    satisfied: bool | None = None
    if raw in ("yes", "true", "1"):
        satisfied = True
    elif raw in ("no", "false", "0"):
        satisfied = False
    elif outcome == Outcome.REACHED_RESOLVED.value:
        bad["satisfied"] = "say whether the customer is satisfied (yes or no)"
    if len(code) > 40:  # noqa: PLR2004  (the column's width)
        bad["resolution_code"] = "at most 40 characters"
    if bad:
        raise CallbackInputInvalid("please correct: " + ", ".join(bad), fields=bad)
    notes = str(form.get("notes", "")).strip()
    return Verdict(outcome, satisfied, code or None, notes)


def conclude(
    session: Session,
    task: OutboundTask,
    verdict: Verdict,
    *,
    agent_id: int | None,
    author: str,
    now: datetime,
) -> WorkOrderStatus | None:
    """After the agent saved the callback's outcome (the engine closed or rescheduled the task):
    the customer reached and resolved and satisfied → `close` with the resolution code (the
    agent's, else the department's final one, else "answered"); reached and not satisfied →
    `reopen` (back to the department, the notes in the timeline). Anything else leaves the
    work order answered. Once per task: a work order already moved is left alone. The status
    it is in now, or None for a task not of this kind. Flushes."""
    if task.kind != WORK_ORDER_CALLBACK.name:
        return None
    work_order = session.get(WorkOrder, task.subject_id)
    if work_order is None:
        return None
    if task.status is not TaskStatus.DONE or verdict.satisfied is None:
        return work_order.status
    if work_order.status is not WorkOrderStatus.ANSWERED:
        return work_order.status  # settled already (a repeated save)
    key = f"callback-settled:{task.id}"
    if verdict.satisfied:
        reply = answer_of(session, work_order)
        proposed = (reply.data or {}).get("resolution_code") if reply is not None else None
        code = verdict.resolution_code or proposed or DEFAULT_RESOLUTION
        states.move(
            session,
            work_order,
            "close",
            author_id=agent_id,
            author=author,
            now=now,
            dedupe_key=key,
            note=verdict.notes or None,
            resolution_code=code,
        )
    else:
        states.move(
            session,
            work_order,
            "reopen",
            author_id=agent_id,
            author=author,
            now=now,
            dedupe_key=key,
            note=verdict.notes or "customer not satisfied",
        )
    sweep.refresh_clocks(session, work_order, now=now)
    return work_order.status


def callback_rows(
    session: Session, agent_id: int | None, team: str | None = None
) -> list[tuple[OutboundTask, WorkOrder, WorkOrderEvent | None]]:
    """The front desk's open calls about work orders (an agent's, or a team's, or all): the
    callbacks with the department's answer, and the complaints' follow-up calls (their work
    order found through the complaint), in work order: priority, then arrival. Read-only."""
    open_ = OutboundTask.status.in_((TaskStatus.PENDING, TaskStatus.CALLING))
    callbacks = (
        select(OutboundTask, WorkOrder)
        .join(WorkOrder, WorkOrder.id == OutboundTask.subject_id)
        .where(OutboundTask.kind == WORK_ORDER_CALLBACK.name, open_)
    )
    follow_ups = (
        select(OutboundTask, WorkOrder)
        .join(Complaint, Complaint.id == OutboundTask.subject_id)
        .join(WorkOrder, WorkOrder.id == Complaint.work_order_id)
        .where(OutboundTask.kind == FOLLOW_UP_CALL.name, open_)
    )
    rows: list[tuple[OutboundTask, WorkOrder]] = []
    for query in (callbacks, follow_ups):
        if agent_id is not None:
            query = query.where(OutboundTask.agent_id == agent_id)
        if team is not None:
            query = query.where(WorkOrder.owner_team == team)
        rows.extend((task, wo) for task, wo in session.execute(query))
    rows.sort(key=lambda row: (-row[0].priority, row[0].queued_at, row[0].id))
    return [(task, wo, answer_of(session, wo)) for task, wo in rows]
