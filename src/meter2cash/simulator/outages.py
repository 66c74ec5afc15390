"""Supply interruptions of whole transformer areas (faults, planned work)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

OUTAGE_PROBABILITY: Final = 0.004
"""Chance that a transformer area loses supply on a given day [-]."""
SECONDS_PER_DAY: Final = 86_400
SLOT_SECONDS: Final = 900


@dataclass(frozen=True)
class Outages:
    """One day's interruptions: the area, when it began and ended [s after local midnight]."""

    area: IntArray
    start_s: IntArray
    end_s: IntArray

    def powered_fraction(self, areas: int) -> FloatArray:
        """Fraction of each 15-minute slot each area had supply [-], shape (areas, 96)."""
        fraction = np.ones((areas, SECONDS_PER_DAY // SLOT_SECONDS))
        slot_start = np.arange(fraction.shape[1]) * SLOT_SECONDS
        overlap = np.clip(
            np.minimum(self.end_s[:, None], slot_start + SLOT_SECONDS)
            - np.maximum(self.start_s[:, None], slot_start),
            0,
            SLOT_SECONDS,
        )
        fraction[self.area] -= overlap / SLOT_SECONDS
        return fraction


def draw_outages(rng: np.random.Generator, areas: int) -> Outages:
    """Interruptions of 5–180 minutes, at most one per area, all ending before midnight."""
    hit = np.flatnonzero(rng.random(areas) < OUTAGE_PROBABILITY)
    duration = rng.integers(5 * 60, 180 * 60, len(hit))
    start = rng.integers(0, SECONDS_PER_DAY - duration)
    return Outages(hit.astype(np.int64), start, start + duration)
