"""Short-lived signed playback links, and HTTP Range requests against a stored file's size.

A playback token binds a recording id, the viewer it was issued to and an expiry, signed with
itsdangerous (HMAC-SHA256, under a salt of its own so no other signed value of the app can be
replayed as one). The expiry travels inside the signed payload and is checked against a `now`
the caller passes in, so the check is pure and testable without freezing the clock.

A browser fetches and seeks a recording with a series of Range requests while it plays, each
carrying the same link: the link must outlive the playback, so give it a `ttl` of at least the
recording's duration plus a margin.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from recordings.errors import LinkExpired, LinkMismatch, LinkTampered

SALT = "callcenter.recordings.playback"
DEFAULT_TTL = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class PlaybackGrant:
    """What a valid playback token allows: this viewer may play this recording until then."""

    recording_id: int
    viewer: str
    expires_at: datetime


def _serializer(secret: str | bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


def sign_playback(
    secret: str | bytes,
    recording_id: int,
    viewer: str,
    *,
    now: datetime,
    ttl: timedelta = DEFAULT_TTL,
) -> str:
    """A URL-safe token letting `viewer` play recording `recording_id` until `now + ttl`.

    Pure: no state is kept, so a token cannot be revoked before it expires; keep `ttl` short
    and check the viewer's role again when the link is used. Expiry has 1-second resolution.
    """
    _require_aware(now)
    expires = int((now + ttl).timestamp())
    return str(_serializer(secret).dumps([recording_id, viewer, expires]))


def verify_playback(
    secret: str | bytes, token: str, *, recording_id: int, viewer: str, now: datetime
) -> PlaybackGrant:
    """The grant in `token` if it is genuine, current and for this recording and viewer.

    Raises `LinkTampered` (not signed by us: altered, truncated, or another secret),
    `LinkExpired` (genuine but `now` is at or after its expiry), or `LinkMismatch` (genuine
    and current, but issued for another recording or viewer). Pure.
    """
    _require_aware(now)
    try:
        payload = _serializer(secret).loads(token)
    except BadSignature as exc:
        raise LinkTampered("the playback link is not valid") from exc
    match payload:
        case [int() as signed_id, str() as signed_viewer, int() as expires]:
            pass
        case _:
            raise LinkTampered("the playback link has an unexpected shape")
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at:
        raise LinkExpired("the playback link has expired", expired_at=expires_at.isoformat())
    if signed_id != recording_id or signed_viewer != viewer:
        raise LinkMismatch("the playback link is for another recording or viewer")
    return PlaybackGrant(signed_id, signed_viewer, expires_at)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A satisfiable single range: serve bytes `start`..`end` (inclusive) with status 206."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        """The Content-Length of the 206 response."""
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        """The Content-Range header of the 206 response."""
        return f"bytes {self.start}-{self.end}/{self.size}"


@dataclass(frozen=True, slots=True)
class Unsatisfiable:
    """A valid range that lies beyond the file: answer 416 with this Content-Range."""

    size: int

    @property
    def content_range(self) -> str:
        """The Content-Range header of the 416 response."""
        return f"bytes */{self.size}"


_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")


def parse_range(header: str | None, size: int) -> ByteRange | Unsatisfiable | None:
    """What to answer to a `Range` header for a file of `size` bytes (RFC 9110, section 14).

    - None: no usable Range header: serve the whole file with 200. That covers an absent
      or malformed header, another unit than ``bytes``, ``a-b`` with ``b < a``, and more than
      one range (a server may ignore Range; we do not build multipart responses).
    - `ByteRange`: ``bytes=a-b`` (``b`` capped at the last byte), ``bytes=a-``, or
      ``bytes=-n`` (the last ``n`` bytes, all of them if the file is shorter): 206.
    - `Unsatisfiable`: ``a`` at or beyond the end, ``-0``, or any range of an empty file: 416.

    Pure.
    """
    if size < 0:
        raise ValueError("size must not be negative")
    if not header:
        return None
    unit, equals, ranges = header.strip().partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    specs = [spec.strip() for spec in ranges.split(",") if spec.strip()]
    if len(specs) != 1 or not (m := _RANGE_SPEC.fullmatch(specs[0])):
        return None
    first, last = m.group(1), m.group(2)
    if first:
        start = int(first)
        if last and int(last) < start:
            return None
        if start >= size:
            return Unsatisfiable(size)
        return ByteRange(start, min(int(last), size - 1) if last else size - 1, size)
    if not last:
        return None  # "bytes=-"
    suffix = int(last)
    if suffix == 0 or size == 0:
        return Unsatisfiable(size)
    return ByteRange(max(0, size - suffix), size - 1, size)
