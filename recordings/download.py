"""Downloading a recording's audio from Twilio (or the local phone network) as dual-channel WAV.

The media URL is the callback's `RecordingUrl` with no extension (Twilio then serves WAV),
with ``RequestedChannels=2`` so a dual-channel recording comes down as two channels. Twilio
wants the account's credentials (HTTP Basic: the API key and secret, or the account SID and
auth token); the local phone network checks the same pair. Credentials are only ever sent to
Twilio's own HTTPS hosts or to the configured local phone network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import requests

from config.settings import Settings
from recordings.errors import RecordingError

MAX_BYTES = 512 << 20  # about 4.6 hours of 8 kHz 16-bit stereo WAV
TIMEOUT_S = (10.0, 60.0)  # connect, read


class DownloadFailed(RecordingError):
    """Transient: Twilio answered 5xx/429 or the connection failed; a retry may work."""

    code = "download-failed"


class RecordingNotReady(DownloadFailed):
    """404: normal for a few seconds after `completed`; permanent if it lasts."""

    code = "recording-not-found"


class DownloadRefused(RecordingError):
    """Permanent: Twilio refused (401/403/4xx), the URL is not one we trust, or too large."""

    code = "download-refused"


class Fetch(Protocol):
    """Gets the bytes of a recording's media URL."""

    def __call__(self, url: str) -> bytes: ...


@dataclass(frozen=True)
class HttpFetch:
    """`Fetch` over HTTPS with HTTP Basic auth (requests)."""

    username: str
    password: str = field(repr=False)
    trusted: tuple[str, ...]  # URL prefixes the credentials may be sent to
    timeout: tuple[float, float] = TIMEOUT_S

    def __call__(self, url: str) -> bytes:
        """The WAV at `url`; raises `RecordingNotReady`, `DownloadFailed` or `DownloadRefused`."""
        if not _trusted(url, self.trusted):
            raise DownloadRefused(f"not a Twilio media URL: {url[:120]}", url=url[:200])
        try:
            with requests.get(
                url,
                params={"RequestedChannels": "2"},
                auth=(self.username, self.password),
                timeout=self.timeout,
                stream=True,
            ) as response:
                return _body(response, url)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise DownloadFailed(f"download: {exc.__class__.__name__}", url=url) from exc


def _body(response: requests.Response, url: str) -> bytes:
    status = response.status_code
    if status == 404:
        raise RecordingNotReady("Twilio has no media for this recording (yet)", url=url)
    if status >= 500 or status == 429:
        raise DownloadFailed(f"Twilio answered {status}", status=status, url=url)
    if status != 200:
        raise DownloadRefused(f"Twilio refused the download: {status}", status=status, url=url)
    data = bytearray()
    for chunk in response.iter_content(1 << 16):
        data += chunk
        if len(data) > MAX_BYTES:
            raise DownloadRefused(f"recording larger than {MAX_BYTES} bytes", url=url)
    return bytes(data)


def _trusted(url: str, prefixes: tuple[str, ...]) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and (parts.hostname or "").endswith(".twilio.com"):
        return True
    return any(url.startswith(prefix.rstrip("/") + "/") for prefix in prefixes if prefix)


def fetch_for(settings: Settings) -> HttpFetch:
    """The downloader the settings call for: the same credentials as the REST gateway."""
    if settings.uses_local_network:
        user, password = settings.account_sid, settings.signing_token
    elif settings.twilio_api_key:
        user, password = settings.twilio_api_key, settings.twilio_api_secret
    else:
        user, password = settings.twilio_account_sid, settings.twilio_auth_token
    return HttpFetch(user, password, trusted=(settings.phone_network_url,))
