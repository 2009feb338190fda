"""What the desk shows of work orders (issue 16): the form's choices, the keyword suggestion,
the caller's open and recent work orders and their earlier contacts in the screen pop, and the
knowledge base's articles beside the form (suggested for the call, and searched).

Read-only, returning JSON-ready dicts (no Flask). The desk polls the state about once a
second: the pop adds two indexed selects (the caller's work orders, their earlier calls).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from callcenter.desk import labels
from callcenter.desk.screen import current_entry
from core.models import Call
from queues.models import Agent
from work_orders import desk as work_desk
from work_orders import knowledge
from work_orders.desk import Outcome
from work_orders.knowledge_models import Article
from work_orders.models import WorkOrder
from work_orders.rules import WorkOrderRules

STATUS_LABELS = {
    "open": "待处理 Open",
    "with_department": "已转部门 With the department",
    "in_progress": "部门处理中 In progress",
    "waiting_on_customer": "等待客户 Waiting on the customer",
    "answered": "部门已答复 Answered",
    "closed": "已结单 Closed",
}
OUTCOME_LABELS = {
    Outcome.RESOLVED.value: "本次通话已解决 Resolved on this call",
    Outcome.PASS.value: "转交部门 Pass to the department",
}


def options(rules: WorkOrderRules) -> dict[str, Any]:
    """The form's choices: categories (with their sub-categories and department),
    departments and outcomes, labelled in both languages."""
    return {
        "categories": [
            {
                "code": c.name,
                "label": f"{c.zh} {c.en}",
                "department": c.department,
                "subcategories": [
                    {"code": s.name, "label": f"{s.zh} {s.en}"} for s in c.subcategories.values()
                ],
            }
            for c in rules.categories.values()
        ],
        "departments": [
            {"code": d.name, "label": f"{d.zh} {d.en}"} for d in rules.departments.values()
        ],
        "outcomes": labels.choices(OUTCOME_LABELS, tuple(OUTCOME_LABELS)),
    }


def suggestion_view(rules: WorkOrderRules, text: str) -> dict[str, Any]:
    """The keyword rules' suggestion for a description: category, sub-category, department
    (each None when no keyword matches), and the keywords that matched."""
    found = work_desk.suggested(text, rules)
    if found is None:
        return {"category": None, "subcategory": None, "department": None, "matched": []}
    return {
        "category": found.category,
        "category_label": category_label(rules, found.category),
        "subcategory": found.subcategory,
        "department": found.department,
        "department_label": department_label(rules, found.department),
        "matched": list(found.matched),
    }


def category_label(rules: WorkOrderRules, name: str) -> str:
    found = rules.categories.get(name)
    return f"{found.zh} {found.en}" if found else name


def department_label(rules: WorkOrderRules, name: str | None) -> str:
    found = rules.departments.get(name or "")
    return f"{found.zh} {found.en}" if found else (name or "")


def opened_view(work_order: WorkOrder, rules: WorkOrderRules) -> dict[str, Any]:
    """A work order just opened (or found again): its number and where it stands."""
    return {
        "number": work_order.number,
        "status": work_order.status.value,
        "status_label": STATUS_LABELS[work_order.status.value],
        "category": work_order.category,
        "department": work_order.department,
    }


def desk_part(
    session: Session, agent: Agent, rules: WorkOrderRules, *, now: datetime, tz: ZoneInfo
) -> dict[str, Any]:
    """The work-order part of the desk's state: the form's choices and, for the caller in
    hand, their open and recent work orders and earlier contacts without one."""
    entry = current_entry(session, agent)
    call = session.get(Call, entry.call_id) if entry is not None else None
    part: dict[str, Any] = {"options": options(rules), "caller": [], "contacts": []}
    if call is None or call.customer_id is None:
        return part
    part["caller"] = [
        row_view(w, rules, now=now, tz=tz)
        for w in work_desk.caller_work_orders(session, call.customer_id, now=now)
    ]
    part["contacts"] = [
        {
            "call_id": c.id,
            "at": c.started_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            "age": age(now - c.started_at),
        }
        for c in work_desk.earlier_contacts(
            session, call.customer_id, current_call_id=call.id, now=now
        )
    ]
    return part


def row_view(
    work_order: WorkOrder, rules: WorkOrderRules, *, now: datetime, tz: ZoneInfo
) -> dict[str, Any]:
    """One line of the pop's work orders: number, category, department, status, age, and the
    time left on its SLA."""
    return {
        "number": work_order.number,
        "category": work_order.category,
        "category_label": category_label(rules, work_order.category),
        "department": work_order.department,
        "department_label": department_label(rules, work_order.department),
        "status": work_order.status.value,
        "status_label": STATUS_LABELS[work_order.status.value],
        "opened": work_order.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        "age": age(now - work_order.created_at),
        "sla": sla_view(work_order, now=now),
    }


SLA_LABELS = {
    "running": "进行中 running",
    "warning": "将超时 due soon",
    "breached": "已超时 breached",
    "paused": "已暂停 paused",
    "met": "已达成 met",
}


def sla_view(work_order: WorkOrder, *, now: datetime) -> dict[str, Any] | None:
    """The SLA snapshot the sweep keeps on the row (`work_orders.sweep`): its state (the worse
    clock) and the time left to the nearer deadline; None before its first computation."""
    if work_order.sla_state is None:
        return None
    dues = [d for d in (work_order.feedback_due_at, work_order.resolution_due_at) if d]
    due = min(dues) if dues else None
    left = None
    if due is not None:
        remaining = due - now
        left = (
            f"剩 {age(remaining)} left"
            if remaining.total_seconds() >= 0
            else f"超 {age(-remaining)} over"
        )
    return {
        "state": work_order.sla_state,
        "label": SLA_LABELS.get(work_order.sla_state, work_order.sla_state),
        "due_at": due.isoformat() if due else None,
        "left": left,
    }


def age(elapsed: timedelta) -> str:
    """A duration for people: 5 分钟 5 min, 3 小时 3 h, 2 天 2 d."""
    minutes = max(0, int(elapsed.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} 分钟 min"
    if minutes < 48 * 60:
        return f"{minutes // 60} 小时 h"
    return f"{minutes // (24 * 60)} 天 d"


# --- the knowledge base beside the form: suggested articles and search --------------------------

ARTICLES_SHOWN = 5


def knowledge_suggestions(
    session: Session, agent: Agent, rules: WorkOrderRules, text: str
) -> list[dict[str, Any]]:
    """The articles for the call in hand: of the category the keyword rules suggest for
    `text` (the description so far), and of the caller's IVR choices. Read-only."""
    found = work_desk.suggested(text, rules)
    entry = current_entry(session, agent)
    nodes = knowledge.ivr_path(session, entry.call_id) if entry is not None else []
    suggested = knowledge.suggest(
        session,
        categories=[found.category] if found else [],
        ivr_nodes=nodes,
        limit=ARTICLES_SHOWN,
    )
    return [article_view(session, s.article, rules, s.reasons) for s in suggested]


def knowledge_search(session: Session, rules: WorkOrderRules, query: str) -> list[dict[str, Any]]:
    """The articles having every word of `query`. Read-only."""
    found = knowledge.search(session, query, limit=ARTICLES_SHOWN * 2)
    return [article_view(session, article, rules) for article in found]


def article_view(
    session: Session, article: Article, rules: WorkOrderRules, reasons: tuple[str, ...] = ()
) -> dict[str, Any]:
    """An article as the desk shows it: the standard answer and wording in zh and en, links."""
    version = knowledge.current_version(session, article)
    return {
        "slug": article.slug,
        "version": version.version,
        "category": article.category,
        "category_label": category_label(rules, article.category),
        "title": {"zh": version.title_zh, "en": version.title_en},
        "answer": {"zh": version.answer_zh, "en": version.answer_en},
        "wording": {"zh": version.wording_zh, "en": version.wording_en},
        "links": list(version.policy_links or []),
        "reasons": [reason_label(rules, r) for r in reasons],
    }


def reason_label(rules: WorkOrderRules, reason: str) -> str:
    """Why an article is suggested, for people: "rules:refund" → 关键词 keywords: 退款 Refund,
    "ivr:returns" → 语音导航 IVR: returns."""
    kind, _, what = reason.partition(":")
    if kind == "rules":
        return f"关键词 keywords: {category_label(rules, what)}"
    return f"语音导航 IVR: {what}"
