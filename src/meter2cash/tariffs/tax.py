"""Taxes on a bill (增值税 VAT, US sales taxes): each tax on the sum of the taxable lines.

Pure functions over :class:`~decimal.Decimal`; :func:`meter2cash.tariffs.rating.rate`
applies them after the minimum charge, to lines already rounded, and rounds each tax once.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final

HUNDRED: Final = Decimal(100)
RATE_PLACES: Final = Decimal("1E-10")
"""A tax rate as a bill line's unit price shows it (bill_lines.unit_price has ten decimals)."""


def tax_rates(percents: Sequence[Decimal], prices_include_tax: bool) -> tuple[Decimal, ...]:
    """Each tax's share [1] of the taxable base, for ``percents`` [%] of the same base.

    Tax-exclusive prices: p ÷ 100. Tax-inclusive prices (the base already contains every
    tax): p ÷ (100 + Σp) — the tax within the price.

    Example, VAT 13 %: exclusive 0.13; inclusive 13 ÷ 113 ≈ 0.1150 (113.00 holds 13.00).
    """
    divisor = HUNDRED + sum(percents, Decimal(0)) if prices_include_tax else HUNDRED
    return tuple(p / divisor for p in percents)


def tax_amount(base: Decimal, rate: Decimal) -> Decimal:
    """Tax [yuan, unrounded] at ``rate`` [1] on ``base`` [yuan]: 1,000.00 at 0.13 → 130.00."""
    return base * rate
