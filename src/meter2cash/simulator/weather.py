"""Daily mean temperature: a seasonal cycle plus autocorrelated weather noise.

The default climate is Hangzhou's (1991–2020 normals: January ≈ 4.5 °C, late July ≈ 29.5 °C,
annual mean ≈ 17.5 °C).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Climate:
    """Daily mean temperature model [°C]: ``mean + amplitude·cos(2π(doy − warmest)/365.25)``."""

    mean_c: float = 17.5
    amplitude_c: float = 12.5
    warmest_day_of_year: int = 206
    noise_sd_c: float = 2.2
    persistence: float = 0.75
    """Day-to-day autocorrelation of the weather anomaly (AR(1) coefficient)."""


HANGZHOU = Climate()


def daily_temperature(
    start: date, days: int, rng: np.random.Generator, climate: Climate = HANGZHOU
) -> npt.NDArray[np.float64]:
    """Daily mean temperature [°C] for ``days`` local days from ``start``, rounded to 0.1."""
    doy = np.array([(start + timedelta(days=n)).timetuple().tm_yday for n in range(days)])
    seasonal = climate.mean_c + climate.amplitude_c * np.cos(
        2 * np.pi * (doy - climate.warmest_day_of_year) / 365.25
    )
    shocks = rng.normal(0.0, climate.noise_sd_c * np.sqrt(1 - climate.persistence**2), days)
    anomaly = np.empty(days)
    level = rng.normal(0.0, climate.noise_sd_c)
    for n in range(days):  # an AR(1) recursion over days, not intervals: cheap
        level = climate.persistence * level + shocks[n]
        anomaly[n] = level
    return np.round(seasonal + anomaly, 1)
