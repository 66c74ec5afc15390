"""Bill review (复核): pure rules that stop a suspect bill before it is issued.

Each rule sees one rated bill with the account's recent history and returns a reason or
``None``. The foundation set; the billing issue extends it (peers, demand jumps, …).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final


@dataclass(frozen=True, slots=True)
class BillFacts:
    """What review looks at [kWh, yuan]; ``history_kwh`` = earlier bills, newest last."""

    customer_class: str
    kwh: Decimal
    total: Decimal
    estimated: bool
    history_kwh: Sequence[Decimal]


Rule = Callable[[BillFacts], str | None]

HIGH_FACTOR: Final = Decimal(2)
"""Stop a bill above twice the account's usual monthly kWh (median of recent bills)."""
LOW_FACTOR: Final = Decimal("0.5")
"""Stop a bill below half the account's usual monthly kWh."""
MIN_KWH_FOR_RATIO: Final = Decimal(50)
"""Below this on both sides [kWh], swings are noise, not news."""
ABSURD_TOTAL: Final = {
    "residential": Decimal(5_000),
    "commercial": Decimal(500_000),
    "industrial": Decimal(20_000_000),
}


def zero_consumption(f: BillFacts) -> str | None:
    return "zero consumption" if f.kwh == 0 else None


def negative_amount(f: BillFacts) -> str | None:
    return f"negative amount {f.total}" if f.total < 0 or f.kwh < 0 else None


def absurd_amount(f: BillFacts) -> str | None:
    cap = ABSURD_TOTAL.get(f.customer_class)
    return (
        f"amount {f.total} above {cap} for a {f.customer_class} bill"
        if cap and f.total > cap
        else None
    )


def high_or_low_vs_history(f: BillFacts) -> str | None:
    if not f.history_kwh:
        return None
    typical = sorted(f.history_kwh)[len(f.history_kwh) // 2]
    if typical < MIN_KWH_FOR_RATIO and f.kwh < MIN_KWH_FOR_RATIO:
        return None
    if typical > 0 and f.kwh > typical * HIGH_FACTOR:
        return f"{f.kwh:.2f} kWh is over {HIGH_FACTOR}× the usual {typical:.2f} kWh"
    if f.kwh < typical * LOW_FACTOR:
        return f"{f.kwh:.2f} kWh is under {LOW_FACTOR}× the usual {typical:.2f} kWh"
    return None


RULES: Final[tuple[Rule, ...]] = (
    zero_consumption,
    negative_amount,
    absurd_amount,
    high_or_low_vs_history,
)


def review(facts: BillFacts) -> list[str]:
    """Reasons to stop this bill for a person's review; empty means it may be issued."""
    return [reason for rule in RULES if (reason := rule(facts)) is not None]
