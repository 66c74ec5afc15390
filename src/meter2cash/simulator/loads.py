"""Customer load shapes: daily, weekly (day type) and seasonal (temperature) behaviour.

A customer's true energy in a 15-minute slot is

    (base · day_factor + base · (cooling·max(0, T − 24) + heating·max(0, 10 − T)) · day_factor)
    spread over the day by the class shape (base part) and the class cooling shape (weather part),
    times day-level (lognormal) and slot-level (triangular) noise,

where ``base`` [kWh/day] is drawn per customer (lognormal) and ``T`` [°C] is the daily mean
temperature. Shapes are hourly anchors interpolated to 96 slots, normalised to mean 1, and
shifted per customer by up to an hour so that customers do not peak in lockstep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

RESIDENTIAL, COMMERCIAL, INDUSTRIAL, SUPPLY = 0, 1, 2, 3
CLASS_NAMES: Final = ("residential", "commercial", "industrial")
SLOTS: Final = 96
MAX_SHIFT: Final = 4
"""Largest per-customer shift of the daily shape [slots]."""

COOLING_BALANCE_C: Final = 24.0
HEATING_BALANCE_C: Final = 10.0

# Hourly anchors [relative load], index = local hour; rows: workday, weekend, holiday.
# fmt: off
_HOURLY: Final[dict[int, tuple[tuple[float, ...], ...]]] = {
    RESIDENTIAL: (
        (0.45, 0.38, 0.35, 0.33, 0.33, 0.38, 0.60, 0.95, 0.85, 0.65, 0.60, 0.65,
         0.75, 0.65, 0.60, 0.62, 0.72, 0.95, 1.40, 1.85, 1.95, 1.80, 1.40, 0.85),
        (0.50, 0.42, 0.38, 0.35, 0.35, 0.37, 0.48, 0.70, 0.90, 1.00, 1.05, 1.05,
         1.05, 0.95, 0.90, 0.92, 0.98, 1.10, 1.45, 1.75, 1.80, 1.65, 1.30, 0.85),
        (0.50, 0.42, 0.38, 0.35, 0.35, 0.37, 0.45, 0.62, 0.85, 1.00, 1.08, 1.10,
         1.08, 0.98, 0.92, 0.92, 0.98, 1.10, 1.45, 1.75, 1.80, 1.65, 1.30, 0.85),
    ),
    COMMERCIAL: (
        (0.25, 0.22, 0.22, 0.22, 0.22, 0.25, 0.35, 0.60, 1.30, 1.70, 1.80, 1.80,
         1.65, 1.70, 1.80, 1.80, 1.75, 1.70, 1.65, 1.55, 1.35, 0.70, 0.40, 0.30),
        (0.35, 0.32, 0.32, 0.32, 0.32, 0.35, 0.45, 0.65, 1.10, 1.45, 1.60, 1.65,
         1.60, 1.60, 1.60, 1.55, 1.50, 1.45, 1.40, 1.30, 1.10, 0.65, 0.45, 0.38),
        (0.40, 0.38, 0.38, 0.38, 0.38, 0.40, 0.48, 0.65, 1.00, 1.35, 1.50, 1.55,
         1.50, 1.50, 1.50, 1.45, 1.40, 1.35, 1.30, 1.20, 1.05, 0.65, 0.50, 0.42),
    ),
    INDUSTRIAL: (
        (0.55, 0.50, 0.50, 0.50, 0.50, 0.52, 0.60, 0.90, 1.30, 1.35, 1.35, 1.30,
         1.10, 1.30, 1.35, 1.35, 1.30, 1.30, 1.25, 1.25, 1.25, 1.20, 1.15, 0.80),
        (0.75, 0.72, 0.72, 0.72, 0.72, 0.74, 0.80, 0.95, 1.15, 1.20, 1.20, 1.18,
         1.05, 1.15, 1.20, 1.20, 1.15, 1.10, 1.05, 1.00, 0.98, 0.95, 0.90, 0.80),
        (0.92, 0.90, 0.90, 0.90, 0.90, 0.92, 0.95, 1.00, 1.05, 1.08, 1.08, 1.08,
         1.05, 1.06, 1.08, 1.08, 1.06, 1.04, 1.02, 1.00, 0.98, 0.96, 0.95, 0.93),
    ),
}
# When air-conditioning runs: evenings and nights at home, business hours elsewhere.
_COOLING_HOURLY: Final[dict[int, tuple[float, ...]]] = {
    RESIDENTIAL: (0.90, 0.85, 0.80, 0.75, 0.70, 0.60, 0.40, 0.30, 0.30, 0.40, 0.60, 0.80,
                  1.00, 1.10, 1.10, 1.10, 1.10, 1.20, 1.40, 1.60, 1.70, 1.70, 1.50, 1.20),
    COMMERCIAL: (0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.20, 0.60, 1.40, 1.80, 2.00, 2.10,
                 2.10, 2.20, 2.20, 2.10, 2.00, 1.90, 1.70, 1.50, 1.20, 0.50, 0.20, 0.10),
    INDUSTRIAL: (0.50, 0.50, 0.50, 0.50, 0.50, 0.50, 0.60, 0.90, 1.30, 1.40, 1.50, 1.50,
                 1.40, 1.50, 1.60, 1.60, 1.50, 1.40, 1.30, 1.20, 1.20, 1.10, 1.00, 0.80),
}
# fmt: on

DAY_FACTORS: Final = np.array(
    [
        [1.00, 1.08, 1.12],  # residential: more at home on weekends and holidays
        [1.00, 0.65, 0.50],  # commercial: offices close, shops stay open
        [1.00, 0.80, 0.35],  # industrial: second shift dropped, plants idle on holidays
    ]
)
"""Daily energy relative to a workday [-]; rows = class, columns = workday, weekend, holiday."""

# Per class: median base [kWh/day], its lognormal sigma, clip range, cooling and heating
# sensitivity [1/°C], day noise sigma, slot noise sigma, shift range [slots].
_BASE_MEDIAN: Final = np.array([5.8, 220.0, 6000.0])
_BASE_SIGMA: Final = np.array([0.45, 0.55, 0.60])
_BASE_CLIP: Final = np.array([[0.8, 60.0], [60.0, 1500.0], [2000.0, 20000.0]])
_COOLING: Final = np.array([0.11, 0.045, 0.010])
_HEATING: Final = np.array([0.035, 0.015, 0.004])
_DAY_NOISE: Final = np.array([0.18, 0.08, 0.10])
_SLOT_NOISE: Final = np.array([0.35, 0.12, 0.10])
_SHIFT_RANGE: Final = np.array([4, 2, 2])
_HOUSEHOLD_SIZES: Final = np.arange(1, 7)
_HOUSEHOLD_P: Final = np.array([0.15, 0.30, 0.30, 0.15, 0.07, 0.03])


def _to_slots(hourly: tuple[float, ...]) -> FloatArray:
    """Hourly anchors (at each hour's midpoint) interpolated to 96 slots, mean 1."""
    slot_mid = (np.arange(SLOTS) + 0.5) / 4
    curve = np.interp(slot_mid, np.arange(24) + 0.5, np.array(hourly), period=24)
    normalised: FloatArray = curve / curve.mean()
    return normalised


def _shifted(curve: FloatArray) -> FloatArray:
    """``curve`` rolled by every shift in −MAX_SHIFT..MAX_SHIFT: shape (shifts, 96)."""
    return np.stack([np.roll(curve, s) for s in range(-MAX_SHIFT, MAX_SHIFT + 1)])


_CLASSES: Final = (RESIDENTIAL, COMMERCIAL, INDUSTRIAL)
BASE_SHAPES: Final = np.stack(
    [np.stack([_shifted(_to_slots(h)) for h in _HOURLY[k]]) for k in _CLASSES]
)
"""Base shapes [-], shape (class, day type, shift, 96), each row mean 1."""
COOLING_SHAPES: Final = np.stack([_shifted(_to_slots(_COOLING_HOURLY[k])) for k in _CLASSES])
"""Weather-driven shapes [-], shape (class, shift, 96), each row mean 1."""


@dataclass(frozen=True)
class CustomerLoads:
    """Per-customer load parameters, aligned with the customer meters."""

    customer_class: npt.NDArray[np.int8]
    """0 residential, 1 commercial, 2 industrial."""
    base_kwh: FloatArray
    """Workday energy at a comfortable temperature [kWh/day]."""
    cooling: FloatArray
    """Extra energy per °C above 24 °C, as a fraction of base [1/°C]."""
    heating: FloatArray
    """Extra energy per °C below 10 °C, as a fraction of base [1/°C]."""
    shift: IntArray
    """Index into the shift axis of the shapes (MAX_SHIFT = no shift)."""
    tan_phi: FloatArray
    """Reactive over active energy [-]; 0 for residential (no reactive channel)."""


def household_sizes(rng: np.random.Generator, n: int) -> IntArray:
    """Persons per household [-], 1–6, mean ≈ 2.7."""
    return rng.choice(_HOUSEHOLD_SIZES, size=n, p=_HOUSEHOLD_P)


def draw_customer_loads(
    rng: np.random.Generator, customer_class: npt.NDArray[np.int8], household: IntArray
) -> CustomerLoads:
    """Lognormal scale, weather sensitivity, shape shift and power factor per customer.

    Residential base grows with household size (0.6 + 0.15 per person).
    """
    n = len(customer_class)
    k = customer_class.astype(np.int64)
    size_factor = np.where(k == RESIDENTIAL, 0.6 + 0.15 * household, 1.0)
    base = _BASE_MEDIAN[k] * size_factor * np.exp(_BASE_SIGMA[k] * rng.standard_normal(n))
    base = np.clip(base, _BASE_CLIP[k, 0], _BASE_CLIP[k, 1])
    cooling = _COOLING[k] * np.exp(0.4 * rng.standard_normal(n))
    heating = _HEATING[k] * np.exp(0.4 * rng.standard_normal(n))
    shift = MAX_SHIFT + rng.integers(-_SHIFT_RANGE[k], _SHIFT_RANGE[k] + 1)
    power_factor = rng.uniform(0.80, 0.97, n)
    tan_phi = np.where(k == RESIDENTIAL, 0.0, np.sqrt(1 / power_factor**2 - 1))
    return CustomerLoads(customer_class, base, cooling, heating, shift, tan_phi)


def weather_factor(loads: CustomerLoads, temp_c: float) -> FloatArray:
    """Weather-driven energy as a fraction of base [-] at daily mean ``temp_c`` [°C]."""
    hot = max(0.0, temp_c - COOLING_BALANCE_C)
    cold = max(0.0, HEATING_BALANCE_C - temp_c)
    return loads.cooling * hot + loads.heating * cold


def true_intervals(
    loads: CustomerLoads, day_type: int, temp_c: float, rng: np.random.Generator
) -> FloatArray:
    """True energy per customer and 15-minute slot [kWh], shape (customers, 96)."""
    n = len(loads.base_kwh)
    k = loads.customer_class.astype(np.int64)
    level = loads.base_kwh * DAY_FACTORS[k, day_type]
    level *= np.exp(_DAY_NOISE[k] * rng.standard_normal(n) - _DAY_NOISE[k] ** 2 / 2)
    weather = level * weather_factor(loads, temp_c)
    energy: FloatArray = (level / SLOTS)[:, None] * BASE_SHAPES[k, day_type, loads.shift]
    energy += (weather / SLOTS)[:, None] * COOLING_SHAPES[k, loads.shift]
    # Slot noise is triangular (sum of two uniforms): mean 1, sd = sigma, always positive for
    # sigma < 1/√6, and several times cheaper to draw than a lognormal.
    u = rng.random((2, n, SLOTS), dtype=np.float32)
    energy *= 1 + (_SLOT_NOISE[k] * np.sqrt(6))[:, None] * (u[0] + u[1] - 1)
    return energy


def reactive_intervals(active: FloatArray, tan_phi: FloatArray) -> FloatArray:
    """Reactive energy [kvarh] for ``active`` [kWh] rows: part of it is magnetising (flat),
    so the power factor dips at light load while the daily ratio stays ``tan_phi``."""
    flat = active.mean(axis=1, keepdims=True)
    reactive: FloatArray = tan_phi[:, None] * (0.7 * active + 0.3 * flat)
    return reactive
