"""The middle office's settings as one plain value: the review thresholds and the calling policy
its review calls follow (the engine's, `outbound.policy`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from config.settings import Settings
from middle_office.rules import Thresholds
from outbound.policy import Policy


@dataclass(frozen=True, slots=True)
class ReviewPolicy:
    thresholds: Thresholds = field(default_factory=Thresholds)
    calling: Policy = field(default_factory=Policy)

    @classmethod
    def from_settings(cls, s: Settings) -> ReviewPolicy:
        return cls(
            thresholds=Thresholds(
                amount_fen=s.review_amount_fen,
                duplicate_window=timedelta(seconds=s.review_duplicate_window_s),
                burst_count=s.review_burst_count,
                burst_window=timedelta(seconds=s.review_burst_window_s),
            ),
            calling=Policy.from_settings(s),
        )
