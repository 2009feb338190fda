"""Signed playback links (expired, tampered, someone else's) and Range header parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeSerializer

from recordings.errors import LinkExpired, LinkMismatch, LinkTampered
from recordings.links import (
    DEFAULT_TTL,
    ByteRange,
    PlaybackGrant,
    Unsatisfiable,
    parse_range,
    sign_playback,
    verify_playback,
)

SECRET = "test-secret-" + "k" * 20
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
TTL = timedelta(minutes=10)


def token() -> str:
    return sign_playback(SECRET, 42, "qc-7", now=NOW, ttl=TTL)


def verify(
    tok: str, *, at: datetime = NOW, recording_id: int = 42, viewer: str = "qc-7"
) -> PlaybackGrant:
    return verify_playback(SECRET, tok, recording_id=recording_id, viewer=viewer, now=at)


def test_a_fresh_link_grants_its_recording_to_its_viewer() -> None:
    grant = verify(token(), at=NOW + TTL - timedelta(seconds=1))
    assert grant == PlaybackGrant(42, "qc-7", NOW + TTL)


def test_the_link_is_url_safe() -> None:
    assert all(c.isalnum() or c in "-_." for c in token())


def test_the_default_lifetime_is_short() -> None:
    tok = sign_playback(SECRET, 42, "qc-7", now=NOW)
    assert verify(tok).expires_at == NOW + DEFAULT_TTL <= NOW + timedelta(hours=1)


@pytest.mark.parametrize("later", [TTL, TTL + timedelta(days=3)])
def test_an_expired_link_is_refused_as_expired(later: timedelta) -> None:
    with pytest.raises(LinkExpired) as caught:
        verify(token(), at=NOW + later)
    assert caught.value.code == "link-expired"


def _flip(tok: str, index: int) -> str:
    return tok[:index] + ("A" if tok[index] != "A" else "B") + tok[index + 1 :]


@pytest.mark.parametrize(
    "tampered",
    [
        _flip(token(), 3),  # the payload
        _flip(token(), -3),  # the signature
        token()[:-1],
        token().split(".")[0],
        "",
        "not-a-token",
        sign_playback("another-secret", 42, "qc-7", now=NOW, ttl=TTL),
        URLSafeSerializer(SECRET, salt="another-purpose").dumps([42, "qc-7", 2**40]),
    ],
    ids=["payload", "signature", "truncated", "unsigned", "empty", "garbage", "secret", "salt"],
)
def test_a_tampered_or_foreign_link_is_refused_as_tampered(tampered: str) -> None:
    with pytest.raises(LinkTampered) as caught:
        verify(tampered)
    assert caught.value.code == "link-tampered"


def test_a_tampered_expired_link_is_tampered_not_expired() -> None:
    with pytest.raises(LinkTampered):
        verify(_flip(token(), -3), at=NOW + 2 * TTL)


@pytest.mark.parametrize(("recording_id", "viewer"), [(43, "qc-7"), (42, "qc-8"), (42, "QC-7")])
def test_a_link_for_another_recording_or_viewer_is_refused(recording_id: int, viewer: str) -> None:
    with pytest.raises(LinkMismatch):
        verify(token(), recording_id=recording_id, viewer=viewer)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_playback(SECRET, 42, "qc-7", now=datetime(2026, 11, 23))  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(token(), at=datetime(2026, 11, 23))  # noqa: DTZ001


SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-499", ByteRange(0, 499, SIZE)),
        ("bytes=500-999", ByteRange(500, 999, SIZE)),
        ("bytes=500-", ByteRange(500, 999, SIZE)),
        ("bytes=400-5000", ByteRange(400, 999, SIZE)),  # the end is capped
        ("bytes=999-999", ByteRange(999, 999, SIZE)),
        ("bytes=-200", ByteRange(800, 999, SIZE)),
        ("bytes=-5000", ByteRange(0, 999, SIZE)),  # more than there is: all of it
        ("Bytes=0-0", ByteRange(0, 0, SIZE)),  # the unit is case-insensitive
        (" bytes=10-20 ", ByteRange(10, 20, SIZE)),
        ("bytes=10-20,", ByteRange(10, 20, SIZE)),  # empty list elements are allowed
        ("bytes=1000-", Unsatisfiable(SIZE)),
        ("bytes=1000-2000", Unsatisfiable(SIZE)),
        ("bytes=-0", Unsatisfiable(SIZE)),
        (None, None),
        ("", None),
        ("bytes=", None),
        ("bytes=-", None),
        ("bytes=abc-", None),
        ("bytes=5-4", None),  # invalid: ignored, whole file
        ("bytes=0-1,5-6", None),  # several ranges: ignored, whole file
        ("items=0-1", None),
        ("bytes 0-1", None),
        ("bytes=+1-2", None),
        ("bytes=٣-4", None),  # a non-ASCII digit
    ],
)
def test_range_headers(header: str | None, expected: ByteRange | Unsatisfiable | None) -> None:
    assert parse_range(header, SIZE) == expected


def test_a_range_of_the_middle_gives_the_206_headers() -> None:
    middle = parse_range("bytes=250-749", SIZE)
    assert isinstance(middle, ByteRange)
    assert (middle.length, middle.content_range) == (500, "bytes 250-749/1000")


def test_an_unsatisfiable_range_gives_the_416_header() -> None:
    assert parse_range("bytes=2000-", SIZE) == Unsatisfiable(SIZE)
    assert Unsatisfiable(SIZE).content_range == "bytes */1000"


@pytest.mark.parametrize("header", ["bytes=0-", "bytes=-1", "bytes=0-0"])
def test_every_range_of_an_empty_file_is_unsatisfiable(header: str) -> None:
    assert parse_range(header, 0) == Unsatisfiable(0)
