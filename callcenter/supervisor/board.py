"""The wallboard's shared snapshot: computed once per refresh for every viewer, cached in Redis.

However many supervisors watch, one process computes the figures per refresh period (the one
that wins a short Redis lock); the others read the cached JSON. The same computation samples
the chart's time series (waiting callers, service level of the last 30 minutes) into a Redis
list at most once every `wallboard_history_every_s`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from callcenter.runtime import Runtime
from supervision import alerts, figures, monitor, notices, support

HISTORY_S = 8 * 3600


def _key(rt: Runtime, name: str) -> str:
    return f"{rt.settings.redis_prefix}wallboard:{name}"


def compute(rt: Runtime) -> dict[str, Any]:
    """The full snapshot (figures, alerts, support groups, monitorings, chart history)."""
    now = rt.clock()
    with rt.session_factory() as session:
        snap = figures.snapshot(
            session,
            rt.queues,
            now=now,
            timezone=rt.settings.timezone,
            fcr_window=timedelta(days=rt.settings.fcr_window_days),
        )
        snap["alerts"] = alerts.shown(session)
        snap["support"] = support.open_pulls(session)
        snap["monitorings"] = monitor.active(session)
        snap["notices"] = notices.rebuilds(session, now=now)
    snap["groups"] = sorted(support.parse_groups(rt.settings.supervisor_support_groups))
    every = rt.settings.wallboard_history_every_s
    if rt.redis.set(_key(rt, "sampled"), "1", nx=True, ex=every):
        sample = json.dumps(
            {
                "t": now.isoformat(),
                "waiting": snap["totals"]["waiting"],
                "sl": snap["totals"]["sl_30m"],
            }
        )
        pipe = rt.redis.pipeline()
        pipe.rpush(_key(rt, "history"), sample)
        pipe.ltrim(_key(rt, "history"), -max(2, HISTORY_S // every), -1)
        pipe.execute()
    snap["history"] = [json.loads(x) for x in rt.redis.lrange(_key(rt, "history"), 0, -1)]
    return snap


def cached(rt: Runtime) -> str:
    """The snapshot as JSON text, at most one refresh period old (computed by one process)."""
    ttl_ms = rt.settings.wallboard_refresh_ms
    key = _key(rt, "snapshot")
    deadline = time.monotonic() + 2 * ttl_ms / 1000 + 1
    while True:
        raw = rt.redis.get(key)
        if raw is not None:
            return raw.decode() if isinstance(raw, bytes) else str(raw)
        if rt.redis.set(_key(rt, "computing"), "1", nx=True, px=max(ttl_ms, 2000)):
            try:
                text = json.dumps(compute(rt), ensure_ascii=False)
                rt.redis.set(key, text, px=ttl_ms)
                return text
            finally:
                rt.redis.delete(_key(rt, "computing"))
        if time.monotonic() > deadline:  # the computing process died: do it ourselves
            return json.dumps(compute(rt), ensure_ascii=False)
        time.sleep(0.02)


def stream(rt: Runtime, *, lifetime_s: float, sleep: Any = time.sleep) -> Iterator[str]:
    """Server-Sent Events: a snapshot every refresh period until `lifetime_s` has passed.

    The stream then ends with a `retry` hint; EventSource reconnects by itself, so a
    gunicorn thread is never held for longer than one lifetime.
    """
    period = rt.settings.wallboard_refresh_ms / 1000
    yield f"retry: {max(500, rt.settings.wallboard_refresh_ms)}\n\n"
    end = time.monotonic() + lifetime_s
    last = None
    while (started := time.monotonic()) < end:
        text = cached(rt)
        if text != last:
            yield f"event: snapshot\ndata: {text}\n\n"
            last = text
        else:
            yield ": keep-alive\n\n"
        sleep(max(0.0, period - (time.monotonic() - started)))
