"""Money and units.

Rating works in :class:`~decimal.Decimal` yuan; exactly one function, :func:`quantize_money`,
turns a rated amount into a billable amount (half-up to 0.01 yuan unless a tariff says
otherwise), and :func:`to_minor` turns that into the integer fen the ledger stores.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Final, Literal

CURRENCY: Final = "CNY"
MINOR_PER_MAJOR: Final = 100
CENT: Final = Decimal("0.01")

RoundingMode = Literal["half_up", "half_even"]
_MODES: Final = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}

KWH_PLACES: Final = Decimal("0.0001")
"""Stored precision of energy [kWh] and demand [kW]: four decimal places."""


def quantize_money(
    amount: Decimal, step: Decimal = CENT, mode: RoundingMode = "half_up"
) -> Decimal:
    """Round a rated amount [yuan] to ``step`` with ``mode`` (default half-up to 0.01)."""
    return amount.quantize(step, rounding=_MODES[mode])


def to_minor(amount: Decimal) -> int:
    """Integer fen of a quantised yuan amount; refuses amounts finer than a fen."""
    minor = amount * MINOR_PER_MAJOR
    if minor != minor.to_integral_value():
        raise ValueError(f"{amount} yuan is not quantised to the fen; call quantize_money first")
    return int(minor)


def from_minor(minor: int) -> Decimal:
    """Yuan amount of ``minor`` fen."""
    return (Decimal(minor) / MINOR_PER_MAJOR).quantize(CENT)


def energy(value: float | int | str | Decimal) -> Decimal:
    """Energy [kWh] or demand [kW] as a Decimal at stored precision (4 dp, half-up).

    Floats from vectorised kernels become Decimals here, through their shortest repr.
    """
    return Decimal(str(value)).quantize(KWH_PLACES, rounding=ROUND_HALF_UP)
