"""Settings come from CALLCENTER_* variables; a bad one stops start-up naming the variable."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from config.hours import HoursError, parse_holidays, parse_hours
from config.settings import Settings, SettingsError, settings_table


def test_defaults_are_the_embedded_stack(tmp_path: Path) -> None:
    s = Settings.from_env({"CALLCENTER_INSTANCE_PATH": str(tmp_path)})
    assert s.uses_local_network and s.redis_url == ""
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'callcenter.db'}"
    assert s.signing_token == s.signing_token and len(s.signing_token) == 64
    assert (tmp_path / "phone-network.token").stat().st_mode & 0o777 == 0o600


def test_secrets_stay_out_of_the_repr() -> None:
    s = Settings(twilio_auth_token="very-secret", twilio_api_secret="also-secret")
    assert "very-secret" not in repr(s) and "also-secret" not in repr(s)


@pytest.mark.parametrize(
    ("env", "value", "reason"),
    [
        ("TIMEZONE", "Mars/Olympus", "not an IANA time zone"),
        ("BUSINESS_HOURS", "weekdays 9-5", "expected e.g."),
        ("HOLIDAYS", "2026-13-01", "is not a date"),
        ("HOTLINE_NUMBER", "4008001234", "not an E.164 number"),
        ("PUBLIC_BASE_URL", "hotline.example.com", "not an http(s) URL"),
        ("TWILIO_ACCOUNT_SID", "AC123", "expected AC followed by 32 hex digits"),
        ("PROXY_COUNT", "two", "not a whole number"),
        ("MENUS_PATH", "/no/such/menus", "does not exist"),
        ("QUEUES_PATH", "/no/such/queues.toml", "is not a file"),
        ("REDIS_URL", "localhost:6379", "not a redis://"),
        ("LOG_LEVEL", "LOUD", "not a log level"),
    ],
)
def test_invalid_setting_names_the_variable(env: str, value: str, reason: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({f"CALLCENTER_{env}": value})
    assert str(err.value).startswith(f"CALLCENTER_{env}: ") and reason in str(err.value)


def test_auth_token_required_with_account_sid() -> None:
    with pytest.raises(SettingsError, match="CALLCENTER_TWILIO_AUTH_TOKEN"):
        Settings.from_env({"CALLCENTER_TWILIO_ACCOUNT_SID": "AC" + "0" * 32})


def test_settings_table_documents_every_variable() -> None:
    names = [row[0] for row in settings_table()]
    assert "CALLCENTER_DATABASE_URL" in names and len(names) == len(set(names)) >= 20
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert [n for n in names if f"`{n}`" not in readme] == []


@pytest.mark.parametrize(
    ("spec", "when", "open_"),
    [
        ("mon-sun 08:00-22:00", datetime(2026, 11, 23, 0, 0, tzinfo=UTC), True),  # 08:00 Shanghai
        ("mon-sun 08:00-22:00", datetime(2026, 11, 22, 23, 59, tzinfo=UTC), False),  # 07:59
        ("mon-sun 08:00-22:00", datetime(2026, 11, 23, 14, 0, tzinfo=UTC), False),  # 22:00
        ("mon-fri 09:00-18:00", datetime(2026, 11, 22, 3, 0, tzinfo=UTC), False),  # Sunday
        ("fri-mon 20:00-02:00", datetime(2026, 11, 23, 17, 30, tzinfo=UTC), True),  # Tue 01:30
        ("fri-mon 20:00-02:00", datetime(2026, 11, 24, 17, 30, tzinfo=UTC), False),  # Wed 01:30
        ("mon-sun 00:00-24:00", datetime(2026, 11, 23, 15, 59, tzinfo=UTC), True),  # 23:59
        ("mon-sun 00:00-24:00", datetime(2026, 11, 23, 16, 0, tzinfo=UTC), True),  # 00:00
        ("sat 18:00-24:00", datetime(2026, 11, 21, 15, 59, tzinfo=UTC), True),  # Sat 23:59
    ],
)
def test_business_hours(spec: str, when: datetime, open_: bool) -> None:
    s = Settings(business_hours=spec)
    assert s.hours.is_open(when) is open_


def test_holiday_closes_the_whole_day() -> None:
    s = Settings(holidays="2026-11-23, 2026-12-30..2027-01-01")
    assert not s.hours.is_open(datetime(2026, 11, 23, 3, 0, tzinfo=UTC))
    assert s.hours.is_open(datetime(2026, 11, 24, 3, 0, tzinfo=UTC))
    assert parse_holidays("2026-12-30..2027-01-01") == {
        date(2026, 12, 30),
        date(2026, 12, 31),
        date(2027, 1, 1),
    }


@pytest.mark.parametrize(
    "bad", ["mon 25:00-26:00", "xyz 08:00-09:00", "mon 08:00-08:00", "mon 24:00-08:00"]
)
def test_bad_hours_are_refused(bad: str) -> None:
    with pytest.raises(HoursError):
        parse_hours(bad)
