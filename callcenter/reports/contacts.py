"""First-contact resolution (`reports.fcr`) and contact reasons (`reports.contact_reasons`)
past the request: their arguments, rows, JSON meta and CSV, for the /reports blueprint. No
Flask here but the access scope and the response.

FCR: `date` (YYYY-MM-DD, default today in the centre's time zone) is the last day reported and
`days` (1-31, default 7) how many days end there; the window is CALLCENTER_FCR_WINDOW_DAYS.
Contact reasons: `period` (day, week or month, default week) holding `date`. A team lead gets
their own team's contacts only (as the other reports).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from flask import Response

from callcenter import access
from callcenter.reports import back_office as days
from callcenter.runtime import runtime
from reports import contact_reasons, fcr

FCR_KINDS = fcr.KINDS
REASON_KINDS = contact_reasons.KINDS
#: The FCR on the page: the week ending on the day shown.
FCR_DAYS = 7


class BadRequest(ValueError):
    pass


def fcr_ask(args: Mapping[str, str]) -> days.Ask:
    return days.parse(args, default_days=FCR_DAYS)


def fcr_rows(kind: str, ask: days.Ask) -> list[dict[str, Any]]:
    rt = runtime()
    with rt.session_factory() as db:
        return fcr.fcr_report(
            db,
            kind,
            first=ask.first,
            last=ask.last,
            tz=rt.hours.tz,
            now=rt.clock(),
            window=timedelta(days=rt.settings.fcr_window_days),
            team=access.team_only("reports.read"),
        )


def fcr_meta(kind: str, ask: days.Ask) -> dict[str, Any]:
    rt = runtime()
    return {
        "report": f"fcr_{kind}",
        "from": ask.first.isoformat(),
        "to": ask.last.isoformat(),
        "timezone": rt.hours.tz.key,
        "window_days": rt.settings.fcr_window_days,
    }


def reasons_ask(args: Mapping[str, str]) -> tuple[date, str]:
    """The day and the period (day, week, month) asked for; BadRequest naming what is wrong."""
    rt = runtime()
    period = args.get("period", "week")
    if period not in contact_reasons.PERIODS:
        raise BadRequest(f"period must be one of {', '.join(contact_reasons.PERIODS)}")
    try:
        day = date.fromisoformat(args["date"]) if "date" in args else None
    except ValueError:
        raise BadRequest("date must be YYYY-MM-DD") from None
    return day or rt.clock().astimezone(rt.hours.tz).date(), period


def reasons_rows(kind: str, ask: tuple[date, str]) -> list[dict[str, Any]]:
    rt = runtime()
    with rt.session_factory() as db:
        return contact_reasons.contact_reasons_report(
            db,
            kind,
            day=ask[0],
            period=ask[1],
            tz=rt.hours.tz,
            team=access.team_only("reports.read"),
        )


def reasons_meta(kind: str, ask: tuple[date, str]) -> dict[str, Any]:
    first, last = contact_reasons.period_days(*ask)
    return {
        "report": f"contact_reasons_{kind}",
        "period": ask[1],
        "from": first.isoformat(),
        "to": last.isoformat(),
        "timezone": runtime().hours.tz.key,
    }


def as_csv(name: str, columns: list[str], rows: list[dict[str, Any]]) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def fcr_csv(kind: str, ask: days.Ask) -> Response:
    name = f"fcr-{kind}-{ask.first.isoformat()}-{ask.last.isoformat()}"
    return as_csv(name, fcr.COLUMNS[kind], fcr_rows(kind, ask))


def reasons_csv(kind: str, ask: tuple[date, str]) -> Response:
    name = f"contact-reasons-{kind}-{ask[1]}-{ask[0].isoformat()}"
    return as_csv(name, contact_reasons.COLUMNS[kind], reasons_rows(kind, ask))


def page_tables(args: Mapping[str, str]) -> dict[str, Any]:
    """What the reports page shows of both: the FCR of the week ending on the day shown, and
    the contact reasons of that week."""
    week = fcr_ask(dict(args) | {"days": str(FCR_DAYS)})
    reasons = reasons_ask(dict(args) | {"period": args.get("period", "week")})
    return {
        "fcr": {kind: fcr_rows(kind, week) for kind in FCR_KINDS},
        "fcr_week": week,
        "reasons": {kind: reasons_rows(kind, reasons) for kind in REASON_KINDS},
        "reasons_meta": reasons_meta("all", reasons),
        "reason_columns": contact_reasons.COLUMNS,
        "fcr_columns": fcr.COLUMNS,
    }
