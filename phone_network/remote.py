"""A client of a running network's control API: place a call, follow it, give it input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from phone_network.control_api import SERVICE
from phone_network.events import CallResult, Event
from phone_network.parties import Answering


class RemoteError(RuntimeError):
    """The network refused a request or could not be reached."""


def network_answers(base_url: str, timeout: float = 1.0) -> bool:
    """True if a local phone network serves its control API at `base_url`."""
    try:
        with requests.Session() as session:
            session.trust_env = False
            response = session.get(f"{base_url.rstrip('/')}/control/health", timeout=timeout)
            return response.ok and response.json().get("service") == SERVICE
    except (requests.RequestException, ValueError):
        return False


def _refused(response: requests.Response, method: str, path: str) -> RemoteError:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    return RemoteError(f"the phone network refused {method} {path}: {message}")


@dataclass(frozen=True, slots=True)
class Update:
    """One long-poll answer: new events, the prompt the caller faces, and the end result."""

    events: tuple[Event, ...]
    awaiting: dict[str, Any] | None
    result: CallResult | None


class RemoteNetwork:
    """Talks to `base_url`/control with the account's credentials."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.auth = (username, password)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RemoteNetwork:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, method: str, path: str, timeout: float = 10.0,
              **kwargs: Any) -> requests.Response:
        try:
            return self._session.request(method, f"{self.base_url}/control{path}",
                                         timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            raise RemoteError(f"the phone network at {self.base_url} cannot be reached: {exc}") \
                from None

    def _request(self, method: str, path: str, timeout: float = 10.0, **kwargs: Any) -> Any:
        response = self._send(method, path, timeout, **kwargs)
        if not response.ok:
            raise _refused(response, method, path)
        return response.json() if response.content else None

    def place_call(self, *, from_: str, to: str, script: Sequence[str] | None,
                   max_hold: float) -> str:
        body = {"from": from_, "to": to, "script": list(script) if script is not None else None,
                "max_hold": max_hold}
        return str(self._request("POST", "/calls", json=body)["sid"])

    def poll(self, sid: str, after: int, *, answered: int = 0, wait: float = 20.0) -> Update:
        """Events after number `after`; `answered` is the id of the last prompt answered."""
        data = self._request("GET", f"/calls/{sid}", timeout=wait + 10, params={
            "after": after, "wait": wait, "prompt": answered})
        result = data.get("result")
        return Update(tuple(Event.from_json(e) for e in data.get("events", [])),
                      data.get("awaiting"), CallResult.from_json(result) if result else None)

    def give(self, sid: str, body: dict[str, Any]) -> None:
        self._request("POST", f"/calls/{sid}/input", json=body)

    def hang_up(self, sid: str) -> None:
        self._request("POST", f"/calls/{sid}/hangup")

    def register_endpoint(self, address: str, answering: Answering) -> None:
        self._request("PUT", f"/endpoints/{address}", json=answering.to_json())

    def fail_rest(self, mode: str, seconds: float, *, delay: float = 35.0) -> None:
        """Make the network's REST API fail (`error`: 500; `timeout`: held `delay` s, then 504)
        for `seconds` real seconds."""
        self._request("PUT", "/faults/rest",
                      json={"mode": mode, "seconds": seconds, "delay": delay})

    def heal_rest(self) -> None:
        """End a REST fault now."""
        self._request("DELETE", "/faults/rest")

    def ringing(self, address: str) -> list[str]:
        """The SIDs of the calls ringing at manual endpoint `address`, oldest first."""
        found = self._request("GET", f"/endpoints/{address}/ringing")
        return [str(sid) for sid in found["ringing"]]

    def answer_call(self, sid: str) -> bool:
        """Pick up a call ringing on a manual endpoint; False if it is not ringing (any more)."""
        return self._decide(sid, "answer")

    def reject_call(self, sid: str) -> bool:
        """Decline a call ringing on a manual endpoint (it ends busy); False if not ringing."""
        return self._decide(sid, "reject")

    def _decide(self, sid: str, action: str) -> bool:
        path = f"/calls/{sid}/{action}"
        response = self._send("POST", path)
        if response.status_code == 409:
            return False
        if not response.ok:
            raise _refused(response, "POST", path)
        return True

    def follow(self, sid: str, on_event: Callable[[Event], None],
               on_prompt: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> CallResult:
        """Stream the call's events until it ends; `on_prompt` answers each prompt once."""
        seen, answered = 0, 0
        while True:
            update = self.poll(sid, seen, answered=answered)
            for event in update.events:
                on_event(event)
                seen = max(seen, event.seq)
            if update.result is not None:
                return update.result
            if update.awaiting is not None and on_prompt is not None:
                self.give(sid, on_prompt(update.awaiting))
                answered = int(update.awaiting["id"])
