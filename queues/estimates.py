"""Estimated wait for a caller in a queue: the formula the hold loop announces, kept pure.

The estimate is recomputed at every turn of the hold loop from the caller's position, the
agents staffed for the queue and the recent handle times:

    EWT = ceil(position / max(agents_serving, 1)) x AHT_recent − elapsed part of the current calls

- `position` is 1 for the next caller to be answered.
- `agents_serving` are agents logged in to the queue (available, reserved, on a call or in
  wrap-up); agents on break or offline do not count.
- `AHT_recent` is the mean handle time (talk + hold + wrap-up) of the last N calls of the
  queue, or the queue's configured default when there are fewer than `min_samples`.
- Callers ahead are served in rounds of `agents_serving`; a caller in round k waits about k
  handle times, less what the agents have already spent on their current calls (approximated
  by half a handle time when an agent is busy: calls end uniformly over the AHT).
- If nobody is serving the queue, there is no estimate (None): the loop says so instead of
  promising a time it cannot keep.

The result is rounded up to a whole minute for speech, and capped so the caller hears "more
than N minutes" rather than a false precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WaitEstimate:
    seconds: int
    minutes: int  # rounded up, at least 1: what the caller hears
    capped: bool  # True: "more than `minutes` minutes"


def recent_handle_time(
    handle_times_s: Sequence[float], *, default_s: float, min_samples: int = 5
) -> float:
    """Mean of recent handle times, or the default when there are too few to trust."""
    usable = [t for t in handle_times_s if t > 0]
    if len(usable) < min_samples:
        return default_s
    return sum(usable) / len(usable)


def estimate_wait(
    position: int, *, agents_serving: int, agents_busy: int, aht_s: float, cap_minutes: int = 30
) -> WaitEstimate | None:
    """The estimated wait of the caller at `position` (1 = next), or None if nobody serves.

    Pure: everything comes in as numbers. See the module docstring for the formula.
    """
    if position < 1:
        raise ValueError("position starts at 1")
    if agents_serving < 1:
        return None
    busy = min(max(agents_busy, 0), agents_serving)
    free_now = agents_serving - busy
    if position <= free_now:
        seconds = 0.0
    else:
        rounds = math.ceil((position - free_now) / agents_serving)
        # The first round starts when the busy agents finish: on average half an AHT from now.
        seconds = aht_s / 2 + (rounds - 1) * aht_s
    minutes = max(1, math.ceil(seconds / 60))
    capped = minutes > cap_minutes
    return WaitEstimate(round(seconds), min(minutes, cap_minutes), capped)
