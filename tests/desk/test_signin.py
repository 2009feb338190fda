"""Signing in, hardened: throttling per account and per address, every session ended by signing
out or a password change, and `next=` only to this site."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from callcenter.desk.auth import safe_next
from core.audit import AuditEvent
from queues.models import Agent
from queues.passwords import set_password
from queues.signin import ACCOUNT_LIMIT, ADDRESS_LIMIT
from tests.conftest import NOW
from tests.desk.conftest import PASSWORD, Desk, csrf_of

ACCOUNT_MESSAGE = "Too many failed sign-ins for this account; try again in 15 minutes"


def attempt(desk: Desk, login: str, password: str, address: str = "203.0.113.7") -> tuple[int, str]:
    page = desk.client.get("/desk/login")
    response = desk.client.post(
        "/desk/login",
        data={"login": login, "password": password, "csrf_token": csrf_of(page.text)},
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code, response.get_data(as_text=True)


def throttle_events(desk: Desk) -> list[tuple[str, str]]:
    with desk.factory() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "signin.throttled"))
        return [(e.subject_type, e.subject_id) for e in events]


def test_twenty_wrong_passwords_then_the_right_one_is_refused(desk: Desk) -> None:
    answers = [attempt(desk, "li.na", f"guess {i}") for i in range(20)]
    assert [status for status, _ in answers[: ACCOUNT_LIMIT.failures]] == [401] * 10
    assert all(status == 429 for status, _ in answers[ACCOUNT_LIMIT.failures :])
    status, html = attempt(desk, "li.na", PASSWORD)  # the 21st attempt, the right password
    assert status == 429 and ACCOUNT_MESSAGE in html
    assert desk.client.get("/desk/api/state").status_code == 401
    assert throttle_events(desk) == [("account", "li.na")]  # audited once, when it locked


def test_a_throttled_attempt_checks_no_password(desk: Desk) -> None:
    """An old hash would be replaced by a successful check: it is not, so none was made."""
    with desk.factory.begin() as s:
        agent = s.get(Agent, desk.agent_id)
        assert agent is not None
        agent.password_hash = old = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    for i in range(ACCOUNT_LIMIT.failures):
        attempt(desk, "li.na", f"guess {i}")
    assert attempt(desk, "li.na", PASSWORD)[0] == 429
    with desk.factory() as s:
        assert s.get(Agent, desk.agent_id).password_hash == old  # type: ignore[union-attr]


def test_the_right_password_before_the_limit_signs_in_and_clears_the_count(desk: Desk) -> None:
    for i in range(ACCOUNT_LIMIT.failures - 1):
        assert attempt(desk, "li.na", f"guess {i}")[0] == 401
    assert attempt(desk, "li.na", PASSWORD)[0] == 302
    for i in range(ACCOUNT_LIMIT.failures - 1):  # a fresh count after the success
        assert attempt(desk, "li.na", f"again {i}")[0] == 401
    assert throttle_events(desk) == []


def test_an_address_guessing_many_accounts_is_throttled(desk: Desk) -> None:
    for i in range(ADDRESS_LIMIT.failures):
        assert attempt(desk, f"user{i}", "guess")[0] == 401
    status, html = attempt(desk, "li.na", PASSWORD)
    assert status == 429 and "Too many failed sign-ins from your address" in html
    assert attempt(desk, "li.na", PASSWORD, address="198.51.100.9")[0] == 302  # another address
    assert ("address", "203.0.113.7") in throttle_events(desk)


def test_signing_out_ends_every_session_of_the_agent(desk: Desk) -> None:
    other = Desk(desk.client.application.test_client(), desk.agent_id, desk.factory)
    assert desk.sign_in() == 302 and other.sign_in() == 302
    assert other.client.get("/desk/api/state").status_code == 200
    response = desk.client.post("/desk/logout", data={"csrf_token": desk.csrf()})
    assert response.status_code == 302 and response.location.endswith("/desk/login")
    assert desk.client.get("/desk/api/state").status_code == 401
    assert other.client.get("/desk/api/state").status_code == 401  # the other browser too
    assert other.sign_in() == 302  # signing in again works
    assert other.client.get("/desk/api/state").status_code == 200


def test_a_password_change_ends_every_session(desk: Desk) -> None:
    other = Desk(desk.client.application.test_client(), desk.agent_id, desk.factory)
    assert desk.sign_in() == 302 and other.sign_in() == 302
    with desk.factory.begin() as s:
        agent = s.get(Agent, desk.agent_id)
        assert agent is not None
        set_password(s, agent, "a new battery", actor_id=None, actor="operator", now=NOW)
    assert desk.client.get("/desk/api/state").status_code == 401
    assert other.client.get("/desk/api/state").status_code == 401
    assert desk.sign_in(password="a new battery") == 302


def test_an_old_hash_is_rehashed_at_sign_in_and_other_sessions_survive(desk: Desk) -> None:
    with desk.factory.begin() as s:
        agent = s.get(Agent, desk.agent_id)
        assert agent is not None
        agent.password_hash = generate_password_hash(PASSWORD, method="scrypt")
    other = Desk(desk.client.application.test_client(), desk.agent_id, desk.factory)
    assert other.sign_in() == 302
    assert desk.sign_in() == 302
    with desk.factory() as s:
        assert s.get(Agent, desk.agent_id).password_hash.startswith("$argon2id$")  # type: ignore[union-attr]
    assert other.client.get("/desk/api/state").status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example/",
        "http:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        " /desk/",
        "javascript:alert(1)",
        "desk/",
        "",
    ],
)
def test_next_refuses_anything_but_a_path_on_this_site(target: str) -> None:
    assert safe_next(target) is None


@pytest.mark.parametrize("target", ["/desk/", "/supervisor/", "/recordings/5?from=2026-01-01"])
def test_next_accepts_a_path_on_this_site(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize(("target", "lands"), [("/desk/api/state", "/desk/api/state"),
                                               ("//evil.example/x", "/desk/"),
                                               ("https://evil.example", "/desk/")])  # fmt: skip
def test_signing_in_goes_back_to_next_only_on_this_site(
    desk: Desk, target: str, lands: str
) -> None:
    page = desk.client.get("/desk/login", query_string={"next": target})
    html = page.get_data(as_text=True)
    assert ('name="next"' in html) is (lands == target)
    response = desk.client.post(
        "/desk/login",
        data={"login": "li.na", "password": PASSWORD, "csrf_token": csrf_of(html), "next": target},
    )
    assert response.status_code == 302 and response.location == lands
