"""Virtual time jumps only when every actor waits; real time really waits."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from phone_network.clock import RealClock, VirtualClock

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def run_actor(clock: VirtualClock, seconds: float, woke: list[float]) -> threading.Thread:
    actor = clock.actor()

    def body() -> None:
        try:
            actor.sleep(seconds, lambda: False)
            woke.append(clock.elapsed)
        finally:
            actor.close()

    thread = threading.Thread(target=body)
    thread.start()
    return thread


def test_sleeping_actors_wake_in_order_without_real_waiting() -> None:
    clock = VirtualClock(START)
    woke: list[float] = []
    began = time.monotonic()
    with clock.hold():  # all three are asleep before time may move
        threads = [run_actor(clock, s, woke) for s in (3600, 20, 600)]
    for thread in threads:
        thread.join(5)
    assert woke == [20, 600, 3600]
    assert clock.now() == START + timedelta(hours=1)
    assert time.monotonic() - began < 2


def test_a_busy_actor_holds_time_still() -> None:
    clock = VirtualClock(START)
    busy = clock.actor()
    woke: list[float] = []
    sleeper = run_actor(clock, 30, woke)
    time.sleep(0.05)
    assert woke == [] and clock.elapsed == 0
    busy.close()
    sleeper.join(5)
    assert woke == [30]


def test_hold_stops_time_until_released() -> None:
    clock = VirtualClock(START)
    woke: list[float] = []
    with clock.hold():
        sleeper = run_actor(clock, 5, woke)
        time.sleep(0.05)
        assert woke == []
    sleeper.join(5)
    assert woke == [5]


def test_a_stop_condition_ends_a_wait_early_on_notify() -> None:
    clock = VirtualClock(START)
    flag = threading.Event()
    results: list[bool] = []
    with clock.hold():
        actor = clock.actor()
        waiter = threading.Thread(target=lambda: results.append(actor.sleep(None, flag.is_set)))
        waiter.start()
        flag.set()
        clock.notify()
        waiter.join(5)
        actor.close()
    assert results == [True]
    assert clock.elapsed == 0


def test_the_start_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        VirtualClock(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_real_clock_waits_real_time_or_until_stopped() -> None:
    clock = RealClock()
    began = time.monotonic()
    assert clock.wait(0.05, lambda: False) is False
    assert time.monotonic() - began >= 0.05
    assert clock.wait(10, lambda: True) is True
    assert clock.now().tzinfo is UTC
