"""The control API: remote callers place and drive calls; agents and numbers are registered."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from phone_network.network import PhoneNetworkError, UnknownResource
from phone_network.parties import (
    Answering,
    Digits,
    GatherPrompt,
    HangUp,
    NoInput,
    Prompt,
    RecordPrompt,
    RemoteCaller,
    ScriptedCaller,
    ScriptError,
    Speech,
    Talk,
)
from phone_network.parties import (
    Response as PartyResponse,
)
from phone_network.rest_api import authenticated, network

bp = Blueprint("phone_control", __name__, url_prefix="/control")
SERVICE = "callcenter-local-phone-network"
MAX_POLL = 25.0


class ControlError(ValueError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _error(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": {}}})
    response.status_code = status
    return response


@bp.before_request
def _check_credentials() -> Response | None:
    return None if request.endpoint == "phone_control.health" else authenticated()


@bp.errorhandler(ControlError)
def _control_error(exc: ControlError) -> Response:
    return _error(exc.status, exc.code, str(exc))


@bp.errorhandler(UnknownResource)
def _unknown(exc: UnknownResource) -> Response:
    return _error(404, "not-found", f"no such call: {exc}")


@bp.errorhandler(PhoneNetworkError)
def _refused(exc: PhoneNetworkError) -> Response:
    return _error(400, "refused", str(exc))


@bp.errorhandler(ScriptError)
def _bad_script(exc: ScriptError) -> Response:
    return _error(400, "bad-script", str(exc))


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ControlError(400, "bad-request", "expected a JSON object")
    return body


def prompt_json(prompt: Prompt | None, prompt_id: int) -> dict[str, Any] | None:
    if isinstance(prompt, GatherPrompt):
        return {"id": prompt_id, "kind": "gather", "input": sorted(prompt.input),
                "timeout": prompt.timeout, "num_digits": prompt.num_digits,
                "finish_on_key": prompt.finish_on_key}
    if isinstance(prompt, RecordPrompt):
        return {"id": prompt_id, "kind": "record", "max_length": prompt.max_length,
                "timeout": prompt.timeout, "finish_on_key": prompt.finish_on_key}
    return None


def party_input(body: dict[str, Any]) -> PartyResponse:
    """{"digits": "1"}, {"speech": "..."}, {"seconds": 5}, {"no_input": true}, {"hangup": true}."""
    if body.get("hangup"):
        return HangUp()
    if body.get("no_input"):
        return NoInput()
    if isinstance(body.get("digits"), str) and body["digits"]:
        return Digits(body["digits"])
    if isinstance(body.get("speech"), str) and body["speech"]:
        return Speech(body["speech"])
    if isinstance(body.get("seconds"), int | float):
        return Talk(float(body["seconds"]))
    raise ControlError(400, "bad-input", "give digits, speech, seconds, no_input or hangup")


@bp.get("/health")
def health() -> Response:
    net = network()
    return jsonify({"service": SERVICE, "account_sid": net.account_sid})


@bp.post("/calls")
def place_call() -> tuple[Response, int]:
    body = _body()
    if not body.get("from") or not body.get("to"):
        raise ControlError(400, "bad-request", "from and to are required")
    max_hold = float(body["max_hold"]) if body.get("max_hold") is not None else 600.0
    script = body.get("script")
    party: ScriptedCaller | RemoteCaller = ScriptedCaller(script, max_hold=max_hold) \
        if isinstance(script, list) else RemoteCaller(max_hold=max_hold)
    call = network().place_call(from_=str(body["from"]), to=str(body["to"]), party=party)
    if isinstance(party, RemoteCaller):
        party.watch(call.touch)
    return jsonify({"sid": call.sid, "status": call.status}), 201


@bp.get("/calls/<sid>")
def follow_call(sid: str) -> Response:
    """Long poll: events after `after`, as soon as there are any or a new prompt waits.

    `prompt` is the id of the last prompt the client answered.
    """
    call = network().call(sid)
    after = request.args.get("after", 0, type=int)
    wait = min(MAX_POLL, request.args.get("wait", 0.0, type=float))
    answered = request.args.get("prompt", 0, type=int)
    remote = call.party if isinstance(call.party, RemoteCaller) else None
    events = call.events_after(after, wait, also=lambda: remote is not None and (
        remote.awaiting is not None and remote.prompt_id != answered))
    result = call.result
    awaiting = None
    if remote is not None and result is None and remote.prompt_id != answered:
        awaiting = prompt_json(remote.awaiting, remote.prompt_id)
    return jsonify({"sid": call.sid, "status": call.status,
                    "events": [e.to_json() for e in events], "awaiting": awaiting,
                    "result": result.to_json() if result is not None else None})


@bp.post("/calls/<sid>/input")
def give_input(sid: str) -> tuple[str, int]:
    call = network().call(sid)
    if not isinstance(call.party, RemoteCaller):
        raise ControlError(409, "not-remote", "this call's caller is scripted")
    call.party.give(party_input(_body()))
    return "", 204


@bp.post("/calls/<sid>/hangup")
def hang_up(sid: str) -> tuple[str, int]:
    network().hang_up(sid)
    return "", 204


@bp.post("/calls/<sid>/answer")
def answer_call(sid: str) -> tuple[str, int]:
    if not network().answer(sid):
        raise ControlError(409, "not-ringing", f"call {sid} is not ringing on a manual endpoint")
    return "", 204


@bp.post("/calls/<sid>/reject")
def reject_call(sid: str) -> tuple[str, int]:
    if not network().reject(sid):
        raise ControlError(409, "not-ringing", f"call {sid} is not ringing on a manual endpoint")
    return "", 204


@bp.get("/endpoints")
def list_endpoints() -> Response:
    return jsonify({address: a.to_json() for address, a in network().endpoints().items()})


@bp.get("/endpoints/<path:address>/ringing")
def ringing_calls(address: str) -> Response:
    return jsonify({"address": address, "ringing": [c.sid for c in network().ringing(address)]})


@bp.put("/endpoints/<path:address>")
def register_endpoint(address: str) -> Response:
    body = _body()
    try:
        answering = Answering(
            mode=str(body.get("mode", "answer")), after=float(body.get("after", 1.0)),
            talk=None if body.get("talk", 30.0) is None else float(body.get("talk", 30.0)),
            script=tuple(str(s) for s in body.get("script", ())),
            max_hold=float(body.get("max_hold", 3600.0)),
            machine=bool(body.get("machine", False)),
            greeting=float(body.get("greeting", 5.0)))
    except (TypeError, ValueError) as exc:
        raise ControlError(400, "bad-endpoint", str(exc)) from None
    network().add_endpoint(address, answering)
    return jsonify({address: answering.to_json()})


@bp.delete("/endpoints/<path:address>")
def remove_endpoint(address: str) -> tuple[str, int]:
    if not network().remove_endpoint(address):
        raise ControlError(404, "not-found", f"no endpoint {address}")
    return "", 204


def _fault_json() -> dict[str, Any]:
    faults = network().rest_faults
    fault = faults.current()
    state = None if fault is None else {
        "mode": fault.mode, "delay": fault.delay,
        "remaining": round(fault.remaining(time.monotonic()), 3)}
    return {"rest": state, "failed": faults.failed}


@bp.get("/faults/rest")
def rest_fault() -> Response:
    return jsonify(_fault_json())


@bp.put("/faults/rest")
def start_rest_fault() -> Response:
    """{"mode": "error"|"timeout", "seconds": 30, "delay": 35}: fail Twilio's REST API."""
    body = _body()
    try:
        network().rest_faults.start(str(body.get("mode", "error")), float(body["seconds"]),
                                    delay=float(body.get("delay", 35.0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ControlError(400, "bad-fault", f"give mode and seconds: {exc}") from None
    return jsonify(_fault_json())


@bp.delete("/faults/rest")
def stop_rest_fault() -> tuple[str, int]:
    network().rest_faults.stop()
    return "", 204


@bp.put("/numbers/<number>")
def configure_number(number: str) -> Response:
    body = _body()
    if not body.get("voice_url"):
        raise ControlError(400, "bad-request", "voice_url is required")
    config = network().add_number(
        number, voice_url=str(body["voice_url"]), fallback_url=body.get("fallback_url"),
        status_callback=body.get("status_callback"),
        all_status_events=bool(body.get("all_status_events")))
    return jsonify({"number": config.number, "sid": config.sid, "voice_url": config.voice_url})
