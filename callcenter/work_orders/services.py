"""Work orders' console and API requests, past the form: the departments' actions in the
request's unit of work, the callback's click-to-call and outcome through the outbound engine's
services, what each page shows, and a refusal said in both languages. No Flask here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from callcenter.back_office.services import local
from callcenter.jobs import outbound as jobs
from callcenter.middle_office import services as outbound_services
from callcenter.runtime import Runtime
from core.db import UnitOfWork
from core.errors import DomainError
from outbound import outcomes
from outbound.models import OutboundTask
from outbound.policy import Policy
from work_orders import callbacks, department, states, sweep, timeline
from work_orders.department import Actor, Done
from work_orders.models import WorkOrder, WorkOrderEvent, WorkOrderStatus

#: A work order's status as the pages say it (zh, then en).
STATUS_LABELS = {
    "open": "前台处理中 With the front desk",
    "with_department": "待部门处理 With the department",
    "in_progress": "处理中 In progress",
    "waiting_on_customer": "等待客户 Waiting on the customer",
    "answered": "已答复，待回电 Answered, callback due",
    "closed": "已关闭 Closed",
}
#: What each timeline entry is, as the page says it.
EVENT_LABELS = {
    "created": "创建 Opened",
    "status": "状态 Status",
    "claim": "认领 Claimed",
    "reply": "部门答复 Department's answer",
    "question": "询问客户 Asked the customer",
    "customer_reply": "客户回复 The customer's answer",
    "note": "备注 Note",
    "callback": "回电任务 Callback",
    "call": "通话 Call",
}
#: The departments' actions: the form's name → (the move it makes, or None, and its label).
ACTION_LABELS = {
    "claim": "认领 Claim",
    "reply": "答复 Reply",
    "ask": "询问客户 Ask the customer",
    "answer": "客户已回复 The customer answered",
    "resolve": "解决 Resolve",
    "note": "备注 Note",
}
#: Which move each action makes (None: allowed in any state).
ACTION_MOVES = {
    "claim": "claim",
    "reply": "reply",
    "ask": "ask_customer",
    "answer": "customer_replied",
    "resolve": "reply",
    "note": None,
}


@dataclass(frozen=True, slots=True)
class Request:
    """One department action's inputs, as the action table takes them."""

    session: Session
    work_order: WorkOrder
    form: Mapping[str, Any]
    who: Actor
    now: datetime
    rt: Runtime
    key: str | None

    def text(self, name: str) -> Any:
        """The form's `name` field, or its `text` (a page's one text box)."""
        return self.form.get(name, self.form.get("text"))

    def calling(self) -> Policy:
        return jobs.policy_for(self.rt)


#: Each action: the department function it calls, with the request's fields.
ACTIONS: dict[str, Callable[[Request], Done]] = {
    "claim": lambda r: department.claim(r.session, r.work_order, who=r.who, now=r.now, key=r.key),
    "reply": lambda r: department.reply(
        r.session,
        r.work_order,
        r.text("text"),
        who=r.who,
        now=r.now,
        calling=r.calling(),
        key=r.key,
    ),
    "resolve": lambda r: department.resolve(
        r.session,
        r.work_order,
        r.text("text"),
        r.form.get("resolution_code"),
        who=r.who,
        now=r.now,
        calling=r.calling(),
        key=r.key,
    ),
    "ask": lambda r: department.ask_customer(
        r.session, r.work_order, r.text("question"), who=r.who, now=r.now, key=r.key
    ),
    "answer": lambda r: department.customer_replied(
        r.session, r.work_order, r.text("answer"), who=r.who, now=r.now, key=r.key
    ),
    "note": lambda r: department.note(
        r.session, r.work_order, r.text("text"), who=r.who, now=r.now, key=r.key
    ),
}


def act(
    uow: UnitOfWork,
    rt: Runtime,
    ref: str | int,
    action: str,
    form: Mapping[str, Any],
    who: Actor,
    *,
    key: Any = None,
) -> Done:
    """One department action on the work order `ref` (number or id) within `who`'s team, once
    per client key (`key`, else the form's `client_key`): the domain's `department` function
    in the request's unit of work; the callback it plans is worked from the front desk's list.
    """
    client_key = department.client_key(key if key not in (None, "") else form.get("client_key"))
    work_order = department.load(uow.session, ref, who.team)
    return ACTIONS[action](Request(uow.session, work_order, form, who, rt.clock(), rt, client_key))


def allowed_actions(work_order: WorkOrder) -> list[str]:
    """The actions the work order's state allows now (pure)."""
    moves = states.allowed(work_order.status)
    return [a for a, move in ACTION_MOVES.items() if move is None or move in moves]


def work_order_json(work_order: WorkOrder) -> dict[str, Any]:
    return {
        "number": work_order.number,
        "status": work_order.status.value,
        "category": work_order.category,
        "subcategory": work_order.subcategory,
        "department": work_order.department,
        "priority": work_order.priority,
        "description": work_order.description,
        "owner_team": work_order.owner_team,
        "resolution_code": work_order.resolution_code,
        "created_at": work_order.created_at.isoformat(),
        "updated_at": work_order.updated_at.isoformat(),
        "closed_at": work_order.closed_at.isoformat() if work_order.closed_at else None,
    }


def event_json(event: WorkOrderEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "at": event.at.isoformat(),
        "author": event.author,
        "data": event.data,
    }


def done_json(done: Done) -> dict[str, Any]:
    """What an action answers: the same for the same client key (`replayed` is a header)."""
    return {
        "work_order": work_order_json(done.work_order),
        "action": done.action,
        "event_id": done.event_id,
    }


def detail_json(session: Session, work_order: WorkOrder) -> dict[str, Any]:
    return {
        **work_order_json(work_order),
        "allowed": allowed_actions(work_order),
        "timeline": [event_json(e) for e in timeline.timeline_of(session, work_order)],
    }


def inbox_page(db: Session, rt: Runtime, team: str | None) -> dict[str, Any]:
    """The inbox: the group's work orders (or every group's, for None) by status, oldest
    first, and the answered ones waiting for their callback."""
    rows = department.inbox(db, team, statuses=(*department.INBOX, WorkOrderStatus.ANSWERED))
    by_status: dict[str, list[WorkOrder]] = {}
    for row in rows:
        by_status.setdefault(row.status.value, []).append(row)
    order = [*(s.value for s in department.INBOX), WorkOrderStatus.ANSWERED.value]
    return {
        "groups": [(s, by_status.get(s, [])) for s in order],
        "team": team,
        "now": rt.clock(),
    }


def work_order_page(
    db: Session, rt: Runtime, work_order_id: int, team: str | None
) -> dict[str, Any]:
    """One work order: its facts, its timeline (oldest first) and the actions its state
    allows."""
    work_order = department.load(db, work_order_id, team)
    return {
        "wo": work_order,
        "events": timeline.timeline_of(db, work_order),
        "actions": allowed_actions(work_order),
        "now": rt.clock(),
    }


def callbacks_page(db: Session, rt: Runtime, agent_id: int | None) -> dict[str, Any]:
    """The front desk's callbacks: the open work-order callback tasks (the agent's, or all),
    each with the department's answer to read out."""
    return {"rows": callbacks.callback_rows(db, agent_id), "now": rt.clock()}


@dataclass(frozen=True, slots=True)
class Settled:
    task: OutboundTask
    work_order_status: WorkOrderStatus | None


def call_callback(uow: UnitOfWork, rt: Runtime, task_id: int, *, agent_id: int) -> int:
    """Click-to-call a callback through the outbound engine (`call_task`: hours, do-not-call,
    the agent available; one attempt per click); the attempt's id."""
    return outbound_services.call_task(uow, rt, task_id, agent_id=agent_id, now=rt.clock()).id


def callback_outcome(
    uow: UnitOfWork, rt: Runtime, task_id: int, form: Mapping[str, Any], who: Actor
) -> Settled:
    """The callback's outcome: checked first (`parse_verdict`, nothing saved on a bad field),
    saved through the engine (`save_outcome`: retries, closing), then the work order closed
    with a resolution code or reopened (`callbacks.conclude`) in the same transaction."""
    verdict = callbacks.parse_verdict(dict(form))
    assert who.agent_id is not None
    task = outbound_services.save_outcome(
        uow,
        rt,
        task_id,
        agent_id=who.agent_id,
        actor=who.name,
        outcome=verdict.outcome,
        notes=verdict.notes,
        now=rt.clock(),
    )
    status = callbacks.conclude(
        uow.session, task, verdict, agent_id=who.agent_id, author=who.name, now=rt.clock()
    )
    return Settled(task, status)


def outcome_choices() -> list[str]:
    return [o.value for o in outcomes.AGENT_OUTCOMES]


def explain(exc: DomainError, timezone: str) -> str:
    """A refusal as the page says it, in both languages."""
    details = exc.details
    if exc.code == states.IllegalMove.code:
        now = STATUS_LABELS.get(str(details.get("status")), str(details.get("status")))
        return f"工单现在的状态是「{now}」，不能这样操作 · Not possible now: {exc.message}"
    if exc.code in (department.InvalidDepartmentInput.code, callbacks.CallbackInputInvalid.code):
        fields = "; ".join(f"{k}: {v}" for k, v in details.get("fields", {}).items())
        return f"请更正 Please correct — {fields}"
    return exc.message


def event_time(moment: datetime | None, timezone: str) -> str:
    return local(moment, timezone)


def time_left(due: datetime | None, now: datetime) -> str:
    """What a list shows of a deadline (pure): "1 h 05 min" left, "-0 h 20 min" when past,
    "" without one (paused or met)."""
    if due is None:
        return ""
    seconds = int((due - now).total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    return f"{sign}{seconds // 3600} h {seconds % 3600 // 60:02d} min"


#: The colour class of each SLA state (the lists' time-left cells).
SLA_CLASSES = {"warning": "sla-warning", "breached": "sla-breached", "paused": "sla-paused"}


def escalated_page(db: Session, rt: Runtime) -> dict[str, Any]:
    """The team lead's list: escalated work orders not closed yet, earliest first
    (`sweep.escalated`), with their clocks' snapshot."""
    return {"rows": sweep.escalated(db), "now": rt.clock()}


# --- the departments' systems' API ------------------------------------------------------------


def list_query(args: Mapping[str, str]) -> tuple[str, tuple[WorkOrderStatus, ...]]:
    """The list's query (pure): `department` (required) and optionally one `status`
    (default: the inbox's statuses and answered). InvalidDepartmentInput names each bad one."""
    bad: dict[str, str] = {}
    team = (args.get("department") or "").strip()
    if not team:
        bad["department"] = "required: the department's group (e.g. aftersales-a)"
    raw = (args.get("status") or "").strip()
    statuses: tuple[WorkOrderStatus, ...] = (*department.INBOX, WorkOrderStatus.ANSWERED)
    if raw:
        try:
            statuses = (WorkOrderStatus(raw),)
        except ValueError:
            bad["status"] = "one of " + ", ".join(s.value for s in WorkOrderStatus)
    if bad:
        raise department.InvalidDepartmentInput("please correct: " + ", ".join(bad), fields=bad)
    return team, statuses


def api_body(raw: Any) -> dict[str, Any]:
    """An API request's JSON body: an object, else InvalidDepartmentInput (pure)."""
    if not isinstance(raw, dict):
        problem = "a JSON object is required"
        raise department.InvalidDepartmentInput(problem, fields={"body": problem})
    return raw


def api_actor(session: Session, number: str, body: Mapping[str, Any]) -> Actor:
    """Who acts through the API: the body's `author`, else "api:<department>"; no agent, and
    every department (the token is the departments' systems'). Read-only."""
    author = department.text_field(body.get("author"), "author", required=False, limit=60)
    if not author:
        work_order = department.load(session, number, None)
        author = f"api:{work_order.department or '-'}"
    return Actor(None, author, None)
