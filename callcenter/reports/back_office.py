"""The back office's reports past the request (`reports.back_office`): their arguments, rows,
JSON meta and CSV, for the /reports blueprint. No Flask here but the access scope.

`date` (YYYY-MM-DD, default today in the centre's time zone) is the last day reported and
`days` (1-31, default 1) how many days end there; the day rows are the centre's, the agent
rows a team lead's own team only (as the other reports).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import Response

from callcenter import access
from callcenter.runtime import runtime
from reports.back_office import AGENT_COLUMNS, DAY_COLUMNS, back_office_report

KINDS = ("days", "agents")
COLUMNS = {"days": DAY_COLUMNS, "agents": AGENT_COLUMNS}
MAX_DAYS = 31


class BadRequest(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Ask:
    first: date
    last: date


def parse(args: Mapping[str, str], *, default_days: int = 1) -> Ask:
    """The reported days from `date` and `days`; BadRequest naming what is wrong."""
    rt = runtime()
    try:
        last = date.fromisoformat(args["date"]) if "date" in args else None
    except ValueError:
        raise BadRequest("date must be YYYY-MM-DD") from None
    raw = args.get("days", str(default_days))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise BadRequest(f"days must be a whole number from 1 to {MAX_DAYS}")
    last = last or rt.clock().astimezone(rt.hours.tz).date()
    return Ask(last - timedelta(days=int(raw) - 1), last)


def rows_for(kind: str, ask: Ask) -> list[dict[str, Any]]:
    rt = runtime()
    with rt.session_factory() as db:
        return back_office_report(
            db,
            kind,
            first=ask.first,
            last=ask.last,
            tz=rt.hours.tz,
            team=access.team_only("reports.read"),
        )


def meta(kind: str, ask: Ask) -> dict[str, Any]:
    return {
        "report": f"back_office_{kind}",
        "from": ask.first.isoformat(),
        "to": ask.last.isoformat(),
        "timezone": runtime().hours.tz.key,
        "currency": "CNY",
    }


def as_csv(kind: str, ask: Ask, rows: list[dict[str, Any]]) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS[kind], lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    name = f"back-office-{kind}-{ask.first.isoformat()}-{ask.last.isoformat()}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
