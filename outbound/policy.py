"""The outbound engine's calling policy as one plain value: calling hours in the customer's time
zone, holidays, retries and their backoff, ring timeout, dial pacing, the number shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from config.hours import BusinessHours, OpeningSpan, parse_holidays, parse_hours
from config.settings import Settings


@dataclass(frozen=True, slots=True)
class Policy:
    calling_spans: tuple[OpeningSpan, ...] = parse_hours("mon-sun 09:00-21:00")
    holidays: frozenset[date] = frozenset()
    timezones: tuple[tuple[str, str], ...] = (("86", "Asia/Shanghai"),)  # longest code first
    default_timezone: str = "Asia/Shanghai"
    max_attempts: int = 4
    backoff: tuple[timedelta, ...] = (
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=4),
    )
    ring_timeout_s: int = 30
    cps: float = 1.0
    hotline: str = "+864008001234"

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        zones = []
        for item in filter(None, (p.strip() for p in s.calling_timezones.split(","))):
            code, _, zone = item.partition("=")
            zones.append((code.strip(), zone.strip()))
        return cls(
            calling_spans=parse_hours(s.calling_hours),
            holidays=parse_holidays(s.holidays),
            timezones=tuple(sorted(zones, key=lambda z: -len(z[0]))),
            default_timezone=s.timezone,
            max_attempts=s.outbound_max_attempts,
            backoff=tuple(
                timedelta(seconds=int(p)) for p in s.outbound_backoff_s.split(",") if p.strip()
            ),
            ring_timeout_s=s.outbound_ring_timeout_s,
            cps=float(s.outbound_cps),
            hotline=s.hotline_number,
        )

    def timezone_for(self, e164: str) -> str:
        """The customer's time zone from their number's calling code (pure)."""
        digits = e164.lstrip("+")
        for code, zone in self.timezones:
            if digits.startswith(code):
                return zone
        return self.default_timezone

    def calling_hours(self, timezone: str) -> BusinessHours:
        """Calling hours and holidays, read in the customer's time zone."""
        return BusinessHours(self.calling_spans, self.holidays, ZoneInfo(timezone))
