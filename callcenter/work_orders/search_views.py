"""Finding work orders in the console (agents: the session): the search page, its JSON, and
its CSV export.

/work-orders/search          GET  the search form and one page of results, newest first
                                  (number, phone, order, rma, status, department, breach:
                                  warning|breached|escalated|not_escalated; after, limit)
/work-orders/api/search      GET  the same as JSON: {"work_orders": [...], "next_after": id}
/work-orders/export.csv      GET  every row the same filters find, as CSV (`export.customer_data`;
                                  masked unless the viewer also holds `customer.unmask`; each
                                  export audited with its filters and row count)

Everything needs `work_orders.search` (config/permissions.toml: the front desk, team leads,
the manager; a department user sees only their own group's work orders). A bad field is a 422
naming it: the page comes back with the form as it was and the reason beside the field.
Customers are masked on the page and in the JSON unless the viewer holds `customer.unmask`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, replace
from typing import Any

from flask import Blueprint, Response, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from callcenter import access
from callcenter.runtime import runtime
from core import privacy
from work_orders import search
from work_orders.models import WorkOrderStatus

bp = Blueprint("work_order_search", __name__, template_folder="templates")
access.require(bp, "work_orders.search")
access.require(bp, "export.customer_data", "export")

STATUS_LABELS = {
    "open": "待处理 Open",
    "with_department": "已转部门 With the department",
    "in_progress": "部门处理中 In progress",
    "waiting_on_customer": "等待客户 Waiting on the customer",
    "answered": "待回电 Answered: callback due",
    "closed": "已关闭 Closed",
}
BREACH_LABELS = {
    "warning": "即将超时 Warning",
    "breached": "已超时 Breached",
    "escalated": "已升级 Escalated",
    "not_escalated": "未升级 Not escalated",
}
SLA_LABELS = {
    "running": "计时中 running",
    "paused": "暂停 paused",
    "warning": "即将超时 warning",
    "breached": "已超时 breached",
    "met": "已达标 met",
}
EXPORT_COLUMNS = [
    "number",
    "status",
    "category",
    "subcategory",
    "department",
    "priority",
    "customer_name",
    "customer_phone",
    "order",
    "rma",
    "owner_team",
    "description",
    "sla_state",
    "feedback_due_at",
    "resolution_due_at",
    "escalated_at",
    "created_at",
    "updated_at",
    "closed_at",
]


@bp.errorhandler(search.InvalidSearch)
def _invalid(exc: search.InvalidSearch) -> ResponseReturnValue:
    if request.path.startswith("/work-orders/search"):
        page = search.Page([], None)
        return render_template("search/search.html", **_context(page, errors=exc.details)), 422
    return jsonify(error=exc.as_dict()), 422


@bp.get("/work-orders/search")
def search_page() -> str:
    rt, filters = runtime(), _filters()
    after, limit = search.parse_paging(request.args)
    with rt.session_factory() as db:
        page = search.search(db, filters, team=_team(), after=after, limit=limit)
    return render_template("search/search.html", **_context(page, errors={}))


@bp.get("/work-orders/api/search")
def api_search() -> Response:
    rt, filters = runtime(), _filters()
    after, limit = search.parse_paging(request.args)
    with rt.session_factory() as db:
        page = search.search(db, filters, team=_team(), after=after, limit=limit)
    rows = [_json(row) for row in _shown(page.rows)]
    return jsonify(work_orders=rows, next_after=page.next_after)


@bp.get("/work-orders/export.csv")
def export() -> Response:
    rt, filters = runtime(), _filters()
    unmasked = access.allowed(g.staff, "customer.unmask")
    team = access.team_only("export.customer_data")
    with rt.unit_of_work() as uow:
        rows = list(search.export_rows(uow.session, filters, team=team))
        privacy.note_export(uow.session, **_export_audit(filters, len(rows), unmasked))
    return _csv(rows if unmasked else [_masked(row) for row in rows])


def _export_audit(filters: search.Filters, rows: int, unmasked: bool) -> dict[str, Any]:
    """The audit entry's fields of one export (`core.privacy.note_export`)."""
    return {
        "actor_id": g.staff.id,
        "actor": g.staff.login,
        "what": "work_orders",
        "rows": rows,
        "unmasked": unmasked,
        "now": runtime().clock(),
        **filters.given(),
    }


def _filters() -> search.Filters:
    return search.parse_filters(request.args, country_code=runtime().settings.default_country_code)


def _team() -> str | None:
    return access.team_only("work_orders.search")


def _masked(row: search.Row) -> search.Row:
    return replace(
        row,
        customer_name=privacy.mask_name(row.customer_name),
        customer_phone=privacy.mask_number(row.customer_phone) if row.customer_phone else "",
    )


def _shown(rows: list[search.Row]) -> list[search.Row]:
    """The rows as this viewer may see them: masked unless they hold `customer.unmask`."""
    return rows if access.allowed(g.staff, "customer.unmask") else [_masked(r) for r in rows]


def _json(row: search.Row) -> dict[str, Any]:
    data = asdict(row)
    for key in (
        "created_at",
        "updated_at",
        "closed_at",
        "feedback_due_at",
        "resolution_due_at",
        "escalated_at",
    ):
        data[key] = data[key].isoformat() if data[key] else None
    return data


def _context(page: search.Page, *, errors: dict[str, Any]) -> dict[str, Any]:
    rt = runtime()
    given = {k: v for k, v in request.args.items() if k in search.FIELDS and v}
    return {
        "staff": g.staff,
        "rows": _shown(page.rows),
        "next_after": page.next_after,
        "args": request.args,
        "given": given,
        "errors": errors,
        "statuses": {s.value: STATUS_LABELS.get(s.value, s.value) for s in WorkOrderStatus},
        "team": _team(),
        "breaches": BREACH_LABELS,
        "sla_labels": SLA_LABELS,
        "can_export": access.allowed(g.staff, "export.customer_data"),
        "timezone": rt.settings.timezone,
    }


def _csv(rows: list[search.Row]) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\r\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow(_json(row))
    headers = {"Content-Disposition": 'attachment; filename="work-orders.csv"'}
    response = Response(out.getvalue(), mimetype="text/csv", headers=headers)
    response.cache_control.no_store = True
    return response
