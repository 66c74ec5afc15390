"""Power-factor adjustment (力调电费): the monthly power factor and the published tables.

《功率因数调整电费办法》(83)水电财字第215号: the month's average power factor, from active and
reactive energy, adjusts the energy and demand charges by a percentage read from the table of
the customer's standard (0.90, 0.85 or 0.80). Pure functions over :class:`~decimal.Decimal`;
:func:`meter2cash.tariffs.rating.rate` composes the bill line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from meter2cash.core.errors import TariffError

PF_PLACES: Final = Decimal("0.01")

PF_BASE_KINDS: Final = frozenset(
    {
        "energy_tiered",
        "energy_tou",
        "tier_increment",
        "energy_periods",
        "demand",
        "demand_monthly",
        "demand_tou",
    }
)
"""Line kinds the adjustment applies to: energy and demand charges (funds, fixed excluded)."""


def power_factor(kwh: Decimal, kvarh: Decimal) -> Decimal:
    """Monthly average power factor [1] from active [kWh] and reactive [kvarh] energy.

    PF = kWh / √(kWh² + kvarh²), rounded half-up to two decimals, as 《功率因数调整电费办法》
    (83)水电财字第215号 prescribes. Example: 1000 kWh, 484 kvarh → 0.90.
    """
    if kwh == 0 and kvarh == 0:
        raise TariffError("power factor is undefined without energy", "skip the adjustment")
    return (kwh / (kwh * kwh + kvarh * kvarh).sqrt()).quantize(PF_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class _PfTable:
    """One table of 《功率因数调整电费办法》: adjustment [%] by PF, as published.

    PFs from ``best_from`` to 1.00 share its row; below ``floor`` each further 0.01 adds 2 %.
    """

    rows: Mapping[Decimal, Decimal]
    best_from: Decimal
    floor: Decimal


def _pf_rows(text: str) -> dict[Decimal, Decimal]:
    return {Decimal(pf): Decimal(pct) for pf, pct in (cell.split(":") for cell in text.split())}


PF_ADJUSTMENT_TABLES: Final[Mapping[Decimal, _PfTable]] = {
    # 表一 以 0.90 为标准值; 0.95–1.00 −0.75 %; 0.64 及以下每降低 0.01 增加 2 %.
    Decimal("0.90"): _PfTable(
        _pf_rows(
            "0.95:-0.75 0.94:-0.60 0.93:-0.45 0.92:-0.30 0.91:-0.15 0.90:0 "
            "0.89:0.5 0.88:1.0 0.87:1.5 0.86:2.0 0.85:2.5 0.84:3.0 0.83:3.5 0.82:4.0 "
            "0.81:4.5 0.80:5.0 0.79:5.5 0.78:6.0 0.77:6.5 0.76:7.0 0.75:7.5 0.74:8.0 "
            "0.73:8.5 0.72:9.0 0.71:9.5 0.70:10.0 0.69:11.0 0.68:12.0 0.67:13.0 "
            "0.66:14.0 0.65:15.0"
        ),
        best_from=Decimal("0.95"),
        floor=Decimal("0.65"),
    ),
    # 表二 以 0.85 为标准值; 0.94–1.00 −1.10 %; 0.59 及以下每降低 0.01 增加 2 %.
    Decimal("0.85"): _PfTable(
        _pf_rows(
            "0.94:-1.10 0.93:-0.95 0.92:-0.80 0.91:-0.65 0.90:-0.50 0.89:-0.40 0.88:-0.30 "
            "0.87:-0.20 0.86:-0.10 0.85:0 "
            "0.84:0.5 0.83:1.0 0.82:1.5 0.81:2.0 0.80:2.5 0.79:3.0 0.78:3.5 0.77:4.0 "
            "0.76:4.5 0.75:5.0 0.74:5.5 0.73:6.0 0.72:6.5 0.71:7.0 0.70:7.5 0.69:8.0 "
            "0.68:8.5 0.67:9.0 0.66:9.5 0.65:10.0 0.64:11.0 0.63:12.0 0.62:13.0 "
            "0.61:14.0 0.60:15.0"
        ),
        best_from=Decimal("0.94"),
        floor=Decimal("0.60"),
    ),
    # 表三 以 0.80 为标准值; 0.92–1.00 −1.30 %; 0.54 及以下每降低 0.01 增加 2 %.
    Decimal("0.80"): _PfTable(
        _pf_rows(
            "0.92:-1.30 0.91:-1.15 0.90:-1.00 0.89:-0.90 0.88:-0.80 0.87:-0.70 0.86:-0.60 "
            "0.85:-0.50 0.84:-0.40 0.83:-0.30 0.82:-0.20 0.81:-0.10 0.80:0 "
            "0.79:0.5 0.78:1.0 0.77:1.5 0.76:2.0 0.75:2.5 0.74:3.0 0.73:3.5 0.72:4.0 "
            "0.71:4.5 0.70:5.0 0.69:5.5 0.68:6.0 0.67:6.5 0.66:7.0 0.65:7.5 0.64:8.0 "
            "0.63:8.5 0.62:9.0 0.61:9.5 0.60:10.0 0.59:11.0 0.58:12.0 0.57:13.0 "
            "0.56:14.0 0.55:15.0"
        ),
        best_from=Decimal("0.92"),
        floor=Decimal("0.55"),
    ),
}
"""功率因数调整电费表, 《功率因数调整电费办法》(83)水电财字第215号, tables 1–3 [%]."""


def pf_adjustment_rate(pf: Decimal, standard: Decimal) -> Decimal:
    """Power-factor adjustment [fraction of energy + demand charges]; negative is a rebate.

    ``pf`` [1] is the monthly average power factor (rounded half-up to 0.01 here if finer);
    ``standard`` is 0.90, 0.85 or 0.80. Source: 《功率因数调整电费办法》(83)水电财字第215号.

    >>> pf_adjustment_rate(Decimal("0.85"), Decimal("0.90"))
    Decimal('0.025')
    """
    table = PF_ADJUSTMENT_TABLES.get(standard)
    if table is None:
        raise TariffError(f"no power-factor table for standard {standard}", "use 0.90/0.85/0.80")
    if not 0 <= pf <= 1:
        raise TariffError(f"power factor {pf} is outside 0–1", "compute it from kWh and kvarh")
    pf = pf.quantize(PF_PLACES, rounding=ROUND_HALF_UP)
    if pf >= table.best_from:
        percent = table.rows[table.best_from]
    elif pf < table.floor:
        percent = table.rows[table.floor] + 2 * (table.floor - pf) / PF_PLACES
    else:
        percent = table.rows[pf]
    return percent / 100


def pf_description(pf: Decimal, standard: Decimal) -> str:
    """The PF adjustment line's text for power factor ``pf`` under ``standard``."""
    return f"力调电费 (功率因数 {pf}, 标准 {standard})"
