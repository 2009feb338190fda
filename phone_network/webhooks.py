"""Requests to our app's webhooks, form-encoded and signed exactly as Twilio signs them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from twilio.request_validator import RequestValidator

USER_AGENT = "TwilioProxy/1.1"
MAX_TIMEOUT = 15.0  # Twilio waits at most 15 s for a webhook response


@dataclass(frozen=True, slots=True)
class Reply:
    """What a webhook answered."""

    status: int
    content_type: str
    body: bytes
    charset: str = "utf-8"

    @property
    def text(self) -> str:
        return self.body.decode(self.charset, errors="replace")

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Unreachable(Exception):
    """The webhook could not be reached in time (Twilio error 11205)."""


def signed_target(url: str, method: str, params: Mapping[str, str],
                  validator: RequestValidator) -> tuple[str, dict[str, str], str]:
    """(URL to request, form body, X-Twilio-Signature) for one webhook request.

    Like Twilio: the URL fragment (connection overrides) is never sent; a GET carries the
    params in its query string and its signature covers the URL alone; a POST's signature
    covers the URL plus the sorted form params.
    """
    parts = urlsplit(url)
    bare = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
    if method == "GET":
        query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
        full = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
        return full, {}, validator.compute_signature(full, {})
    body = dict(params)
    return bare, body, validator.compute_signature(bare, body)


def _timeouts(url: str, default: float) -> tuple[float, float]:
    """(connect, read) timeouts, honouring Twilio's #ct= and #rt= overrides in milliseconds."""
    overrides = dict(parse_qsl(urlsplit(url).fragment))
    connect = min(default, 10.0)
    read = default
    try:
        if "ct" in overrides:
            connect = min(10.0, max(0.1, int(overrides["ct"]) / 1000))
        if "rt" in overrides:
            read = min(MAX_TIMEOUT, max(0.1, int(overrides["rt"]) / 1000))
    except ValueError:
        pass
    return connect, read


class WebhookClient:
    """Signs and sends webhook requests over one connection pool (one per call leg)."""

    def __init__(self, auth_token: str, *, timeout: float = MAX_TIMEOUT) -> None:
        self._validator = RequestValidator(auth_token)
        self._timeout = min(timeout, MAX_TIMEOUT)
        self._session = requests.Session()
        self._session.trust_env = False  # the network talks to loopback only: never via a proxy
        self._session.headers["User-Agent"] = USER_AGENT

    def send(self, url: str, method: str, params: Mapping[str, str], *,
             idempotency: bool = False) -> Reply:
        """Send one signed request; raise Unreachable on connection failure or timeout."""
        target, body, signature = signed_target(url, method.upper(), params, self._validator)
        headers = {"X-Twilio-Signature": signature}
        if idempotency:
            headers["I-Twilio-Idempotency-Token"] = str(uuid.uuid4())
        for attempt in (1, 2):
            try:
                response = self._session.request(
                    method.upper(), target, data=body or None, headers=headers,
                    timeout=_timeouts(url, self._timeout))
                break
            except requests.Timeout:
                raise Unreachable(f"no answer within {self._timeout:g} s") from None
            except requests.ConnectionError:
                # A kept-alive connection the server closed meanwhile fails at once; try
                # again once on a new one, as Twilio's HTTP client does, before giving up.
                # Closing the pool first makes sure the retry does not take another idle
                # connection that the server has closed too.
                if attempt == 2:
                    raise Unreachable("cannot connect") from None
                self._session.close()
            except requests.RequestException as exc:
                raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        with response:
            kind, _, options = response.headers.get("Content-Type", "").partition(";")
            charset = options.partition("charset=")[2].strip().strip('"') or "utf-8"
            return Reply(response.status_code, kind.strip().lower(), response.content, charset)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> WebhookClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
