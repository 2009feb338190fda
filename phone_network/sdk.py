"""Point the official `twilio` SDK at the local phone network instead of api.twilio.com."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client


class LocalNetworkHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio is untyped
    """A TwilioHttpClient that sends every *.twilio.com request to the local network instead.

    Path, query, form body, headers and Basic auth are left as the SDK made them, so the
    network sees exactly what Twilio would. Any other host is refused.
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        if self.session is not None:
            self.session.trust_env = False  # loopback traffic never goes through a proxy

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            raise ValueError(f"refusing to send a request outside the local network: {url}")
        base = urlsplit(self.base_url)
        return urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, ""))

    def request(self, method: str, url: str, params: dict[str, object] | None = None,
                data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                auth: tuple[str, str] | None = None, timeout: float | None = None,
                allow_redirects: bool = False) -> Response:
        return super().request(method, self.rewrite(url), params, data, headers, auth, timeout,
                               allow_redirects)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def http_client_for(base_url: str) -> LocalNetworkHttpClient:
    """The HTTP client to give `twilio.rest.Client(..., http_client=...)`; close() it when done."""
    return LocalNetworkHttpClient(base_url)


def client_for(base_url: str, username: str, password: str,
               account_sid: str | None = None) -> Client:
    """An official SDK client talking to the local network at `base_url`."""
    return Client(username, password, account_sid, http_client=http_client_for(base_url))
