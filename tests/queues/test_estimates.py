"""The estimated-wait formula announced in the hold loop."""

from __future__ import annotations

import pytest

from queues.estimates import WaitEstimate, estimate_wait, recent_handle_time


def test_recent_handle_time_needs_enough_samples() -> None:
    assert recent_handle_time([100, 200], default_s=240) == 240
    assert recent_handle_time([100, 200, 300, 400, 500], default_s=240) == 300
    assert recent_handle_time([0, -5, 100, 200, 300, 400, 500], default_s=240) == 300


@pytest.mark.parametrize(
    ("position", "serving", "busy", "expected"),
    [
        (1, 3, 2, WaitEstimate(0, 1, False)),  # an agent is free: next in line
        (1, 3, 3, WaitEstimate(120, 2, False)),  # all busy: half an AHT
        (3, 3, 3, WaitEstimate(120, 2, False)),  # still the first round
        (4, 3, 3, WaitEstimate(360, 6, False)),  # second round
        (7, 3, 3, WaitEstimate(600, 10, False)),  # third round
        (4, 3, 1, WaitEstimate(120, 2, False)),  # two free agents take positions 1-2
        (200, 2, 2, WaitEstimate(23_880, 30, True)),
    ],
)
def test_estimate_wait(position: int, serving: int, busy: int, expected: WaitEstimate) -> None:
    assert estimate_wait(position, agents_serving=serving, agents_busy=busy, aht_s=240) == expected


def test_nobody_serving_gives_no_estimate() -> None:
    assert estimate_wait(1, agents_serving=0, agents_busy=0, aht_s=240) is None


def test_position_starts_at_one() -> None:
    with pytest.raises(ValueError, match="position"):
        estimate_wait(0, agents_serving=1, agents_busy=0, aht_s=240)
