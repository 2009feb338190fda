"""Business hours and holidays: parsed from settings, and the pure is-it-open decision."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RULE = re.compile(
    r"^(?P<d1>[a-z]{3})(?:-(?P<d2>[a-z]{3}))?\s+(?P<t1>\d{1,2}:\d{2})-(?P<t2>\d{1,2}:\d{2})$"
)


class HoursError(ValueError):
    """A business-hours or holiday specification that cannot be read."""


@dataclass(frozen=True, slots=True)
class OpeningSpan:
    weekday: int  # 0 = Monday
    opens: time
    closes: time  # exclusive; closes <= opens means the span runs past midnight


@dataclass(frozen=True, slots=True)
class BusinessHours:
    spans: tuple[OpeningSpan, ...]
    holidays: frozenset[date]
    tz: ZoneInfo

    def is_open(self, now: datetime) -> bool:
        """Whether the centre is open at `now` (an aware datetime), holidays closed all day."""
        local = now.astimezone(self.tz)
        today, t = local.date(), local.time()
        for span in self.spans:
            if span.opens < span.closes:
                if span.weekday == local.weekday() and span.opens <= t < span.closes:
                    return today not in self.holidays
            else:  # overnight span: the part before midnight, then the part after
                if span.weekday == local.weekday() and t >= span.opens:
                    return today not in self.holidays
                yesterday = today - timedelta(days=1)
                if span.weekday == yesterday.weekday() and t < span.closes:
                    return yesterday not in self.holidays
        return False


def _parse_time(text: str, *, closing: bool = False) -> time:
    hours, minutes = (int(p) for p in text.split(":"))
    if closing and hours == 24 and minutes == 0:
        return time.max  # the end of the day: "00:00-24:00" is open all day
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise HoursError(f"{text!r} is not a time of day")
    return time(hours, minutes)


def parse_hours(spec: str) -> tuple[OpeningSpan, ...]:
    """Parse e.g. ``"mon-fri 08:30-21:00; sat-sun 09:00-18:00"`` into opening spans."""
    spans: list[OpeningSpan] = []
    for raw in spec.split(";"):
        rule = " ".join(raw.lower().split())
        if not rule:
            continue
        m = _RULE.match(rule)
        if not m or m["d1"] not in DAYS or (m["d2"] and m["d2"] not in DAYS):
            raise HoursError(f"{raw.strip()!r}: expected e.g. 'mon-fri 08:30-21:00'")
        first = DAYS.index(m["d1"])
        last = DAYS.index(m["d2"]) if m["d2"] else first
        days = range(first, last + 1) if first <= last else [*range(first, 7), *range(last + 1)]
        opens, closes = _parse_time(m["t1"]), _parse_time(m["t2"], closing=True)
        if opens == closes:
            raise HoursError(f"{raw.strip()!r}: opening and closing times are equal")
        spans.extend(OpeningSpan(d, opens, closes) for d in days)
    return tuple(spans)


def parse_holidays(spec: str) -> frozenset[date]:
    """Parse e.g. ``"2026-01-01, 2026-02-16..2026-02-22"`` (dates and inclusive ranges)."""
    found: set[date] = set()
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        try:
            if ".." in item:
                start_s, end_s = item.split("..", 1)
                start, end = date.fromisoformat(start_s.strip()), date.fromisoformat(end_s.strip())
                if end < start:
                    raise HoursError(f"{item!r}: the range ends before it starts")
                found.update(start + timedelta(days=i) for i in range((end - start).days + 1))
            else:
                found.add(date.fromisoformat(item))
        except ValueError as exc:
            if isinstance(exc, HoursError):
                raise
            raise HoursError(f"{item!r} is not a date (YYYY-MM-DD) or range") from exc
    return frozenset(found)
