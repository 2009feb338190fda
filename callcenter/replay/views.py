"""The recordings pages under /recordings, for QC, team leads, supervisors and the manager.

/recordings/                          the list (filters: agent, queue, from, to, status)
/recordings/api/recordings            the same list as JSON
/recordings/<id>                      the player: HTML5 audio and the waveform; a replay
/recordings/<id>/media/<token>        the audio, behind a short-lived signed link; Range
/recordings/<id>/legal-hold    POST   hold=1|0 (the manager only)
/recordings/export.csv                the list as CSV with each recording's customer
                                      (`export.customer_data`; masked unless the viewer also
                                      holds `customer.unmask`; every export audited)

Every route needs `recordings.replay` (the legal hold `recordings.legal_hold`), limited to
the viewer's own team for a team lead; the media route also checks the link (403 when
expired, altered, or issued to someone else or to an earlier sign-in of the same account).
Opening the player and playing from the start (no Range, or ``bytes=0-``) each write a
``recording.replay`` audit entry.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy.orm import Session

from callcenter import access
from callcenter.desk.auth import csrf_token
from callcenter.jobs.recordings import storage_for
from callcenter.runtime import runtime
from core import privacy
from recordings import services
from recordings.errors import LinkRefused, NotStored
from recordings.links import Unsatisfiable, parse_range, sign_playback, verify_playback
from recordings.models import Recording, RecordingStatus
from recordings.storage import Storage

bp = Blueprint("recordings", __name__, url_prefix="/recordings", template_folder="templates")
access.require(bp, "recordings.replay")
access.require(bp, "recordings.legal_hold", "legal_hold")
access.require(bp, "export.customer_data", "export")
CHUNK = 64 * 1024


@bp.errorhandler(LinkRefused)
def _refused(exc: LinkRefused) -> tuple[Response, int]:
    return jsonify(error=exc.as_dict()), 403


@bp.errorhandler(NotStored)
def _not_stored(exc: NotStored) -> tuple[Response, int]:
    return jsonify(error=exc.as_dict()), 404


@bp.get("/")
def index() -> str:
    with runtime().session_factory() as db:
        rows = services.list_recordings(db, _filters())
        return render_template("replay/list.html", rows=rows, args=request.args)


@bp.get("/api/recordings")
def api_list() -> Response:
    with runtime().session_factory() as db:
        return jsonify(recordings=[_json(r) for r in services.list_recordings(db, _filters())])


@bp.get("/export.csv")
def export() -> Response:
    rt, where = runtime(), _filters()
    unmasked = access.allowed(g.staff, "customer.unmask")
    with rt.unit_of_work() as uow:
        rows = services.export_rows(uow.session, where)
        privacy.note_export(
            uow.session,
            **_actor(),
            what="recordings",
            rows=len(rows),
            unmasked=unmasked,
            now=rt.clock(),
            **request.args.to_dict(),
        )
    return _csv(rows if unmasked else [_masked(row) for row in rows])


@bp.get("/<int:recording_id>")
def player(recording_id: int) -> str:
    rt = runtime()
    with rt.unit_of_work() as uow:
        rec = _stored(uow.session, recording_id)
        services.note_replay(uow.session, rec, **_viewer(), now=rt.clock(), via="page")
        token = sign_playback(
            _secret(), rec.id, _link_holder(), now=rt.clock(), ttl=services.playback_ttl(rec)
        )
        media = url_for(".media", recording_id=rec.id, token=token)
        return render_template(
            "replay/player.html",
            rec=rec,
            media=media,
            manager=access.allowed(g.staff, "recordings.legal_hold"),
        )


@bp.get("/<int:recording_id>/media/<token>")
def media(recording_id: int, token: str) -> Response:
    rt = runtime()
    now = rt.clock()
    verify_playback(_secret(), token, recording_id=recording_id, viewer=_link_holder(), now=now)
    header = request.headers.get("Range")
    with rt.unit_of_work() as uow:
        rec = _stored(uow.session, recording_id)
        if header is None or header.replace(" ", "") == "bytes=0-":
            services.note_replay(uow.session, rec, **_viewer(), now=now, via="media")
        key = rec.storage_key or ""
    return _serve(storage_for(rt), key, header)


@bp.post("/<int:recording_id>/legal-hold")
def legal_hold(recording_id: int) -> Response:
    rt, hold = runtime(), request.form.get("hold", "1") in ("1", "true", "on")
    with rt.unit_of_work() as uow:
        rec = services.set_legal_hold(uow.session, recording_id, hold, **_actor(), now=rt.clock())
    if rec is None:
        abort(404)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(recording=_json(rec))
    return redirect(url_for(".player", recording_id=recording_id))


def _masked(row: dict[str, Any]) -> dict[str, Any]:
    name, number = row["customer_name"], row["customer_number"]
    return row | {
        "customer_name": privacy.mask_name(name),
        "customer_number": privacy.mask_number(number) if number else "",
    }


def _csv(rows: list[dict[str, Any]]) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    headers = {"Content-Disposition": 'attachment; filename="recordings.csv"'}
    response = Response(out.getvalue(), mimetype="text/csv", headers=headers)
    response.cache_control.no_store = True
    return response


EXPORT_COLUMNS = [
    "id",
    "created_at",
    "agent_id",
    "queue",
    "status",
    "seconds",
    "customer_name",
    "customer_number",
]


def _secret() -> str:
    return str(current_app.config["SECRET_KEY"])


def _link_holder() -> str:
    """Whom a playback link is issued to: this account in this sign-in (id and session epoch,
    not the login, which another account could take later): another user, or the same one
    after signing out, cannot use it, expired or not."""
    return f"{g.staff.id}.{g.staff.session_epoch}"


def _viewer() -> dict[str, Any]:
    return {"viewer_id": g.staff.id, "viewer": g.staff.login}


def _actor() -> dict[str, Any]:
    return {"actor_id": g.staff.id, "actor": g.staff.login}


def _stored(session: Session, recording_id: int) -> Recording:
    """The stored recording, within the viewer's reach (a team lead: their team's), or 404."""
    rec = session.get(Recording, recording_id)
    if rec is None or rec.status is not RecordingStatus.STORED or not rec.storage_key:
        abort(404)
    if not services.in_team(session, rec, access.team_only("recordings.replay")):
        abort(404)  # as if absent: another team's recordings are not even confirmed to exist
    return rec


def _filters() -> services.RecordingFilter:
    args = request.args
    try:
        return services.RecordingFilter(
            agent_id=int(args["agent"]) if args.get("agent") else None,
            queue=args.get("queue") or None,
            day_from=date.fromisoformat(args["from"]) if args.get("from") else None,
            day_to=date.fromisoformat(args["to"]) if args.get("to") else None,
            status=RecordingStatus(args["status"]) if args.get("status") else None,
            limit=int(args.get("limit", 100)),
            team=access.team_only("recordings.replay"),
        )
    except ValueError:
        abort(400, "bad filter: agent and limit are numbers, from/to dates (YYYY-MM-DD)")


def _json(rec: Recording) -> dict[str, Any]:
    return {
        "id": rec.id,
        "sid": rec.sid,
        "status": rec.status.value,
        "twilio_status": rec.twilio_status,
        "error_code": rec.error_code,
        "failure_code": rec.failure_code,
        "failure_reason": rec.failure_reason,
        "attempts": rec.attempts,
        "created_at": rec.created_at.isoformat(),
        "duration_s": rec.duration_s,
        "audio_seconds": rec.audio_seconds,
        "agent_id": rec.agent_id,
        "queue": rec.queue,
        "customer_id": rec.customer_id,
        "call_id": rec.call_id,
        "queued_call_id": rec.queued_call_id,
        "measures": rec.measures,
        "legal_hold": rec.legal_hold,
        "player": url_for(".player", recording_id=rec.id)
        if rec.status is RecordingStatus.STORED
        else None,
    }


def _serve(storage: Storage, key: str, header: str | None) -> Response:
    """The stored file, whole (200) or the one range asked for (206), or 416."""
    stored = storage.open(key)
    wanted = parse_range(header, stored.size)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, no-store"}
    if isinstance(wanted, Unsatisfiable):
        stored.stream.close()
        return Response(status=416, headers={**headers, "Content-Range": wanted.content_range})
    start, length = (0, stored.size) if wanted is None else (wanted.start, wanted.length)
    if wanted is not None:
        headers["Content-Range"] = wanted.content_range
    headers["Content-Length"] = str(length)
    response = Response(
        _chunks(stored.stream, start, length),
        status=200 if wanted is None else 206,
        mimetype=services.transcode.CONTENT_TYPE,
        headers=headers,
    )
    response.call_on_close(stored.stream.close)
    return response


def _chunks(stream: Any, start: int, length: int) -> Iterator[bytes]:
    stream.seek(start)
    while length > 0:
        chunk = stream.read(min(CHUNK, length))
        if not chunk:
            return
        length -= len(chunk)
        yield chunk


@bp.context_processor
def _csrf() -> dict[str, Any]:
    return {"recordings_csrf": csrf_token}
