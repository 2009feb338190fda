"""Dial pacing: a token bucket in Redis shared by every worker, so calls never exceed the CPS.

Twilio queues calls above the account's calls-per-second silently (TWILIO.md §7), so the
engine takes a token before every `POST /Calls`. The bucket lives in one Redis hash and is
updated by one Lua script on Redis's own clock: every process and thread meets at the same
bucket, and clock skew between workers does not matter.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis import Redis

# KEYS[1] bucket; ARGV rate (tokens/s), burst (max tokens). Returns {1, Redis time in µs} when
# a token was taken, else {0, the microseconds until one is due}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil then tokens = burst; at = now end
tokens = math.min(burst, tokens + (now - at) * rate / 1000000)
if tokens >= 1 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], 60000)
  return {1, now}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000)
return {0, math.ceil((1 - tokens) * 1000000 / rate)}
"""


class DialPacer:
    """Take one token per outbound call; `rate` calls per second, bursts of at most `burst`.

    `burst` defaults to 1: at most `rate` calls in any one-second window, which is what
    Twilio counts.
    """

    def __init__(self, redis: Redis, key: str, rate: float, burst: int = 1) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.key, self.rate, self.burst = key, rate, burst
        self._take = redis.register_script(_TAKE)
        self.granted_at_us = 0  # Redis's clock at the last token taken (for measurements)

    def try_take(self) -> float:
        """0.0 if a token was taken, else the seconds until the next one is due."""
        granted, value = self._take(keys=[self.key], args=[self.rate, self.burst])
        if int(granted):
            self.granted_at_us = int(value)
            return 0.0
        return int(value) / 1_000_000

    def take(
        self, *, max_wait_s: float = 30.0, sleep: Callable[[float], None] = time.sleep
    ) -> bool:
        """Block until a token is taken (True), or give up after `max_wait_s` (False)."""
        waited = 0.0
        while True:
            wait = self.try_take()
            if wait == 0.0:
                return True
            if waited + wait > max_wait_s:
                return False
            sleep(wait)
            waited += wait
