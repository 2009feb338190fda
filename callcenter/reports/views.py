"""Blueprint /reports: KPI tables, their JSON API and CSV export, for supervisors and managers.

Every route needs `reports.read` (config/permissions.toml); a team lead's grant is limited
to their team, so the agents and teams tables show only its rows. Figures and
their formulas: docs/METRICS.md.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import fields
from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from callcenter import access
from callcenter.reports import back_office as rma
from callcenter.reports import contacts
from callcenter.runtime import runtime
from reports import metrics
from reports.queries import Kind, ReportRequest, report

bp = Blueprint("reports", __name__, url_prefix="/reports", template_folder="templates")
access.require(bp, "reports.read")
KINDS = "any(queues, agents, teams)"
BACK_OFFICE = f"any({', '.join(rma.KINDS)})"
FCR = f"any({', '.join(contacts.FCR_KINDS)})"
REASONS = f"any({', '.join(contacts.REASON_KINDS)})"
#: The back office's tables on the page: the week ending on the day shown.
PAGE_DAYS = 7


class BadRequest(ValueError):
    pass


@bp.errorhandler(BadRequest)
@bp.errorhandler(rma.BadRequest)
@bp.errorhandler(contacts.BadRequest)
def bad_request(exc: ValueError) -> tuple[Response, int]:
    return jsonify(error={"code": "bad-request", "message": str(exc), "details": {}}), 400


@bp.get("/")
def index() -> str:
    ask = parse(request.args, Kind.QUEUES)
    tables = {kind: rows_for(ReportRequest(kind, ask.day, ask.minutes)) for kind in Kind}
    week = rma.parse(request.args.to_dict() | {"days": str(PAGE_DAYS)})
    back = {kind: rma.rows_for(kind, week) for kind in rma.KINDS}
    more = contacts.page_tables(request.args)
    return render_template(
        "reports/index.html", ask=ask, tables=tables, columns=COLUMNS, back=back, week=week, **more
    )


@bp.get(f"/api/<{KINDS}:kind>")
def api(kind: str) -> Response:
    ask = parse(request.args, Kind(kind))
    if request.args.get("format") == "csv":
        return as_csv(ask, rows_for(ask))
    return jsonify(meta(ask) | {"rows": rows_for(ask)})


@bp.get(f"/api/<{KINDS}:kind>.csv")
def export(kind: str) -> Response:
    ask = parse(request.args, Kind(kind))
    return as_csv(ask, rows_for(ask))


@bp.get(f"/api/back_office/<{BACK_OFFICE}:kind>")
def back_office_api(kind: str) -> Response:
    ask = rma.parse(request.args)
    if request.args.get("format") == "csv":
        return rma.as_csv(kind, ask, rma.rows_for(kind, ask))
    return jsonify(rma.meta(kind, ask) | {"rows": rma.rows_for(kind, ask)})


@bp.get(f"/api/back_office/<{BACK_OFFICE}:kind>.csv")
def back_office_export(kind: str) -> Response:
    ask = rma.parse(request.args)
    return rma.as_csv(kind, ask, rma.rows_for(kind, ask))


@bp.get(f"/api/fcr/<{FCR}:kind>")
def fcr_api(kind: str) -> Response:
    ask = contacts.fcr_ask(request.args)
    if request.args.get("format") == "csv":
        return contacts.fcr_csv(kind, ask)
    return jsonify(contacts.fcr_meta(kind, ask) | {"rows": contacts.fcr_rows(kind, ask)})


@bp.get(f"/api/fcr/<{FCR}:kind>.csv")
def fcr_export(kind: str) -> Response:
    return contacts.fcr_csv(kind, contacts.fcr_ask(request.args))


@bp.get(f"/api/contact_reasons/<{REASONS}:kind>")
def reasons_api(kind: str) -> Response:
    ask = contacts.reasons_ask(request.args)
    if request.args.get("format") == "csv":
        return contacts.reasons_csv(kind, ask)
    return jsonify(contacts.reasons_meta(kind, ask) | {"rows": contacts.reasons_rows(kind, ask)})


@bp.get(f"/api/contact_reasons/<{REASONS}:kind>.csv")
def reasons_export(kind: str) -> Response:
    return contacts.reasons_csv(kind, contacts.reasons_ask(request.args))


# --- helpers of the views ------------------------------------------------------------------


def parse(args: Mapping[str, str], kind: Kind) -> ReportRequest:
    """`date` (YYYY-MM-DD, default today in the centre's time zone), `interval` (15, 30, 60
    or day, default day), `short_abandon_s` (0-60, default metrics.SHORT_ABANDON_S)."""
    rt = runtime()
    try:
        day = date.fromisoformat(args["date"]) if "date" in args else None
    except ValueError:
        raise BadRequest("date must be YYYY-MM-DD") from None
    interval = args.get("interval", "day")
    if interval not in metrics.INTERVALS:
        raise BadRequest(f"interval must be one of {', '.join(metrics.INTERVALS)}")
    short = args.get("short_abandon_s", str(metrics.SHORT_ABANDON_S))
    if not short.isdigit() or int(short) > 60:
        raise BadRequest("short_abandon_s must be a whole number of seconds from 0 to 60")
    today = rt.clock().astimezone(rt.hours.tz).date()
    return ReportRequest(kind, day or today, metrics.INTERVALS[interval], int(short))


def rows_for(ask: ReportRequest) -> list[dict[str, Any]]:
    rt = runtime()
    within = {name: q.service_level.answer_within_s for name, q in rt.queues.queues.items()}
    with rt.session_factory() as db:
        return report(
            db,
            ask,
            tz=rt.hours.tz,
            answer_within_s=within,
            now=rt.clock(),
            team=access.team_only("reports.read"),
        )


def meta(ask: ReportRequest) -> dict[str, Any]:
    rt = runtime()
    return {
        "report": ask.kind.value,
        "date": ask.day.isoformat(),
        "interval": "day" if ask.minutes is None else str(ask.minutes),
        "timezone": rt.hours.tz.key,
        "short_abandon_s": ask.short_abandon_s,
        "service_level": {
            name: {
                "answer_within_s": q.service_level.answer_within_s,
                "target_percent": q.service_level.target_percent,
            }
            for name, q in rt.queues.queues.items()
        },
    }


def as_csv(ask: ReportRequest, rows: list[dict[str, Any]]) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS[ask.kind], lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    interval = "day" if ask.minutes is None else f"{ask.minutes}min"
    name = f"{ask.kind.value}-{ask.day.isoformat()}-{interval}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _columns(kind: Kind, figures: type) -> list[str]:
    return [kind.column, "interval_start", "interval_end", *(f.name for f in fields(figures))]


COLUMNS = {
    Kind.QUEUES: _columns(Kind.QUEUES, metrics.QueueFigures),
    Kind.AGENTS: _columns(Kind.AGENTS, metrics.AgentFigures),
    Kind.TEAMS: _columns(Kind.TEAMS, metrics.AgentFigures),
}
