"""The subset of Twilio's REST API 2010-04-01 that the call centre uses, served by the network."""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from phone_network import rest_forms as forms
from phone_network.conferences import NotFound
from phone_network.network import PhoneNetwork, PhoneNetworkError, UnknownResource
from phone_network.resources import (
    Json,
    call_json,
    conference_json,
    error_json,
    member_json,
    page_json,
    participant_json,
    queue_json,
    recording_json,
)

bp = Blueprint("twilio_rest", __name__, url_prefix="/2010-04-01/Accounts/<account_sid>")


@dataclass(frozen=True)
class Credentials:
    """Who may use the REST and control APIs: the account SID + auth token, or any SK key
    with the API secret (when one is configured)."""

    account_sid: str
    auth_token: str
    api_secret: str | None = None

    def accept(self, username: str, password: str) -> bool:
        if hmac.compare_digest(username, self.account_sid):
            return hmac.compare_digest(password, self.auth_token)
        return (username.startswith("SK") and bool(self.api_secret)
                and hmac.compare_digest(password, self.api_secret or ""))


def network() -> PhoneNetwork:
    net: PhoneNetwork = current_app.extensions["phone-network"]
    return net


def twilio_error(status: int, code: int, message: str) -> Response:
    response = jsonify(error_json(status, code, message))
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response


def authenticated() -> Response | None:
    """401 unless the request carries valid HTTP Basic credentials."""
    credentials: Credentials = current_app.extensions["phone-network-credentials"]
    auth = request.authorization
    if auth is None or not credentials.accept(auth.username or "", auth.password or ""):
        return twilio_error(401, 20003, "Authenticate")
    return None


@bp.before_request
def _check_account() -> Response | None:
    refused = authenticated()
    if refused is not None:
        return refused
    if (request.view_args or {}).get("account_sid") != network().account_sid:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    return _injected_fault()


def _injected_fault() -> Response | None:
    """A fault switched on through the control API (phone_network.faults): 500 at once, or
    an answer held past the client's timeout, then 504."""
    fault = network().rest_faults.hit()
    if fault is None:
        return None
    if fault.mode == "timeout":
        time.sleep(fault.delay)
        return twilio_error(504, 20504, "Gateway timeout (a fault injected on the network)")
    return twilio_error(500, 20500, "Internal server error (a fault injected on the network)")


@bp.errorhandler(forms.BadRequest)
def _bad_request(exc: forms.BadRequest) -> Response:
    return twilio_error(400, exc.code, str(exc))


@bp.errorhandler(PhoneNetworkError)
def _refused(exc: PhoneNetworkError) -> Response:
    return twilio_error(400, exc.code, str(exc))


@bp.errorhandler(UnknownResource)
@bp.errorhandler(NotFound)
def _not_found(exc: LookupError) -> Response:
    return twilio_error(404, 20404, f"The requested resource {request.path} was not found")


def _created(body: Json) -> tuple[Response, int]:
    return jsonify(body), 201


def _page(key: str, items: Sequence[Json], filters: Sequence[str]) -> Response:
    page, size = forms.paging(request.args)
    kept = {name: request.args[name] for name in filters if name in request.args}
    return jsonify(page_json(key, items, request.path, page, size, kept))


def _call(sid: str) -> Json:
    net = network()
    call = net.call(sid)
    number = net.number(call.to) if call.direction == "inbound" else None
    return call_json(call, number.sid if number else None)


@bp.post("/Calls.json")
def create_call(account_sid: str) -> tuple[Response, int]:
    return _created(_call(network().create_call(forms.new_call(request.form)).sid))


@bp.get("/Calls.json")
def list_calls(account_sid: str) -> Response:
    wanted = {k: request.args[k] for k in ("To", "From", "Status", "ParentCallSid")
              if k in request.args}
    calls = [_call(c.sid) for c in network().calls()]
    keys = {"To": "to", "From": "from", "Status": "status", "ParentCallSid": "parent_call_sid"}
    chosen = [c for c in calls if all(c[keys[k]] == v for k, v in wanted.items())]
    return _page("calls", chosen, list(wanted))


@bp.get("/Calls/<sid>.json")
def fetch_call(account_sid: str, sid: str) -> Response:
    return jsonify(_call(sid))


@bp.post("/Calls/<sid>.json")
def update_call(account_sid: str, sid: str) -> Response:
    form = request.form
    network().update_call(sid, url=forms.url(form, "Url"), method=forms.method(form, "Method"),
                          twiml=forms.text(form, "Twiml"), status=forms.text(form, "Status"))
    return jsonify(_call(sid))


@bp.get("/Calls/<sid>/Recordings.json")
def list_call_recordings(account_sid: str, sid: str) -> Response:
    net = network()
    net.call(sid)
    found = [recording_json(r, net.recording_url(r.sid)) for r in net.recordings(call_sid=sid)]
    return _page("recordings", found, ())


@bp.get("/Conferences.json")
def list_conferences(account_sid: str) -> Response:
    net = network()
    rooms = net.conferences.all(friendly_name=request.args.get("FriendlyName"),
                                status=request.args.get("Status"))
    found = [conference_json(r, net.account_sid) for r in rooms]
    return _page("conferences", found, ("FriendlyName", "Status"))


@bp.get("/Conferences/<sid>.json")
def fetch_conference(account_sid: str, sid: str) -> Response:
    net = network()
    return jsonify(conference_json(net.conferences.find(sid), net.account_sid))


@bp.post("/Conferences/<sid>.json")
def update_conference(account_sid: str, sid: str) -> Response:
    net = network()
    status = forms.text(request.form, "Status")
    if status not in (None, "completed"):
        raise forms.BadRequest(21208, "Status can only be completed.")
    room = net.conferences.end(sid) if status else net.conferences.find(sid)
    return jsonify(conference_json(room, net.account_sid))


@bp.get("/Conferences/<sid>/Participants.json")
def list_participants(account_sid: str, sid: str) -> Response:
    net = network()
    room = net.conferences.find(sid)
    found = [participant_json(room, p, net.account_sid) for p in list(room.participants.values())]
    for flag in ("Muted", "Hold", "Coaching"):
        if flag in request.args:
            found = [p for p in found if p[flag.lower()] == (request.args[flag] == "true")]
    return _page("participants", found, ("Muted", "Hold", "Coaching"))


@bp.post("/Conferences/<sid>/Participants.json")
def create_participant(account_sid: str, sid: str) -> tuple[Response, int]:
    net = network()
    name = sid if not sid.startswith("CF") else net.conferences.find(sid).friendly_name
    room, participant = net.add_participant(sid, forms.new_participant(request.form, name))
    return _created(participant_json(room, participant, net.account_sid))


def _participant(sid: str, call: str) -> Any:
    """The participant by CallSid or label."""
    net = network()
    room = net.conferences.find(sid)
    found = room.participants.get(call) or next(
        (p for p in room.participants.values() if p.label == call), None)
    if found is None:
        raise NotFound(call)
    return room, found


@bp.get("/Conferences/<sid>/Participants/<call>.json")
def fetch_participant(account_sid: str, sid: str, call: str) -> Response:
    room, participant = _participant(sid, call)
    return jsonify(participant_json(room, participant, network().account_sid))


@bp.post("/Conferences/<sid>/Participants/<call>.json")
def update_participant(account_sid: str, sid: str, call: str) -> Response:
    room, participant = _participant(sid, call)
    net = network()
    net.conferences.update(room.sid, participant.call.sid,
                           forms.participant_changes(request.form))
    return jsonify(participant_json(room, participant, net.account_sid))


@bp.delete("/Conferences/<sid>/Participants/<call>.json")
def delete_participant(account_sid: str, sid: str, call: str) -> tuple[str, int]:
    room, participant = _participant(sid, call)
    network().conferences.kick(room.sid, participant.call.sid)
    return "", 204


@bp.get("/Recordings.json")
def list_recordings(account_sid: str) -> Response:
    net = network()
    found = net.recordings(call_sid=request.args.get("CallSid"))
    return _page("recordings", [recording_json(r, net.recording_url(r.sid)) for r in found],
                 ("CallSid",))


@bp.route("/Recordings/<name>", methods=["GET", "DELETE"])
def recording(account_sid: str, name: str) -> Response | tuple[str, int]:
    sid, _, extension = name.partition(".")
    net = network()
    if request.method == "DELETE" and extension == "json":
        net.delete_recording(sid)
        return "", 204
    if extension == "json":
        return jsonify(recording_json(net.recording(sid), net.recording_url(sid)))
    if extension in ("", "wav"):
        return Response(net.recording_media(sid), mimetype="audio/x-wav")
    net.recording(sid)
    return twilio_error(415, 20415, f"The local phone network serves recordings as WAV, "
                        f"not {extension}; ask for {sid}.wav")


def _queue(sid: str) -> Any:
    queue = network().find_queue(sid)
    if queue is None:
        raise NotFound(sid)
    return queue


@bp.get("/Queues.json")
def list_queues(account_sid: str) -> Response:
    net = network()
    return _page("queues", [queue_json(q, net.account_sid) for q in net.queues()], ())


@bp.get("/Queues/<sid>.json")
def fetch_queue(account_sid: str, sid: str) -> Response:
    return jsonify(queue_json(_queue(sid), network().account_sid))


@bp.get("/Queues/<sid>/Members.json")
def list_members(account_sid: str, sid: str) -> Response:
    net, queue = network(), _queue(sid)
    now = net.clock.now()
    found = [member_json(queue, e, net.account_sid, now) for e in list(queue.entries)]
    return _page("queue_members", found, ())


def _member(sid: str, call: str) -> Any:
    queue = _queue(sid)
    entries = list(queue.entries)
    found = entries[0] if call == "Front" and entries else next(
        (e for e in entries if e.call.sid == call), None)
    if found is None:
        raise NotFound(call)
    return queue, found


@bp.get("/Queues/<sid>/Members/<call>.json")
def fetch_member(account_sid: str, sid: str, call: str) -> Response:
    net = network()
    queue, entry = _member(sid, call)
    return jsonify(member_json(queue, entry, net.account_sid, net.clock.now()))


@bp.post("/Queues/<sid>/Members/<call>.json")
def dequeue_member(account_sid: str, sid: str, call: str) -> Response:
    """Take the member out of the queue and run the given TwiML URL on its call."""
    net = network()
    queue, entry = _member(sid, call)
    target = forms.url(request.form, "Url")
    if target is None:
        raise forms.BadRequest(21205, "Url parameter is required.")
    body = member_json(queue, entry, net.account_sid, net.clock.now())
    net.update_call(entry.call.sid, url=target, method=forms.method(request.form, "Method"))
    return jsonify(body)
