"""The bill run's pricing stage: a tariff version applied to a whole cycle at once.

:func:`price_cycle` gives, for every account of a cycle on one tariff version, exactly the
lines and amounts that the pure rating function :func:`meter2cash.tariffs.rating.rate` gives
for that account alone — it is the same arithmetic on columns. Quantities are integers in
units of 0.0001 kWh (the store's precision), prices integers in units of 10⁻⁶ yuan (finer
where a price needs it, to 10⁻¹⁰), so every product is exact and each line is rounded once,
like ``quantize_money``, by integer division.

A version with a component this module does not know, a price finer than 10⁻¹⁰ yuan or a
rounding step that is not a whole number of fen is not priced here (:func:`price_cycle`
returns ``None``), nor is an account whose figures the scalar path would refuse (no energy
by TOU period, demand or kvarh missing where billed) or whose power factor lies within
10⁻⁹ of a rounding boundary: the caller rates those with ``rate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from meter2cash.tariffs.rating import PF_ADJUSTMENT_TABLES
from meter2cash.tariffs.schema import (
    TOU_PERIODS,
    DemandCharge,
    FixedCharge,
    Funds,
    PfAdjustment,
    TariffVersion,
    TieredEnergy,
    TierIncrement,
    TouEnergy,
)

IntArray = npt.NDArray[np.int64]

KWH_SCALE: Final = 10_000
"""Quantities are integers of 0.0001 kWh (kW, kVA, kvarh)."""
PRICE_SCALE: Final = 1_000_000
"""Prices are integers of 10⁻⁶ yuan, or of a finer power of ten a price needs."""
MAX_PRICE_SCALE: Final = 10**10
FEN_PER_YUAN: Final = 100
_PF_BASE_KINDS: Final = frozenset({"energy_tiered", "energy_tou", "tier_increment", "demand"})
_TOU_NAMES: Final = {
    "sharp": "尖峰",
    "peak": "高峰",
    "flat": "平段",
    "valley": "低谷",
    "deep_valley": "深谷",
}
_LIMIT: Final = 2**62
"""Largest |product| computed in int64 before a row is left to the scalar path."""

DETERMINANT_COLUMNS: Final = (
    "kwh_total",
    *(f"kwh_{p}" for p in TOU_PERIODS),
    "kvarh_total",
    "max_demand_kw",
    "contracted_kva",
    "kwh_before",
    "days",
)
"""Input columns of :func:`price_cycle`: quantities in 0.0001 units (``-1`` = none), except
``days`` (days in the period) — all int64."""


@dataclass(frozen=True, slots=True)
class PricedLines:
    """Bill lines of the priced rows, ordered by row then by line number.

    Row indices refer to the input frame's positions; ``rows_priced`` says which rows were
    priced here (the others need the scalar path). ``quantity`` and ``unit_price`` are
    decimal strings; ``amount`` is integer fen."""

    row: IntArray
    kind: npt.NDArray[np.object_]
    description: npt.NDArray[np.object_]
    quantity: npt.NDArray[np.object_]
    unit: npt.NDArray[np.object_]
    unit_price: npt.NDArray[np.object_]
    amount: IntArray
    rows_priced: npt.NDArray[np.bool_]

    def totals(self, rows: int) -> IntArray:
        """Bill total [fen] per input row (0 for rows not priced)."""
        return np.bincount(self.row, weights=self.amount, minlength=rows).astype(np.int64)


def _scaled(value: Decimal, scale: int) -> int | None:
    """``value × scale`` as an int when exact, else None."""
    scaled = value * scale
    return int(scaled) if scaled == scaled.to_integral_value() else None


def _round(numerator: IntArray, unit: int, mode: str) -> IntArray:
    """``numerator / unit`` rounded to an integer with ``mode`` (half away from zero for
    ``half_up``, as :class:`decimal.Decimal` does), elementwise and exact."""
    magnitude = np.abs(numerator)
    quotient, remainder = np.divmod(magnitude, unit)
    twice = 2 * remainder
    if mode == "half_up":
        up = twice >= unit
    else:
        up = (twice > unit) | ((twice == unit) & (quotient % 2 == 1))
    rounded: IntArray = np.sign(numerator) * (quotient + up)
    return rounded


def _text4(q4: IntArray) -> npt.NDArray[np.object_]:
    """Decimal strings, four places, of quantities in 0.0001 units."""
    whole, frac = np.divmod(np.abs(q4), KWH_SCALE)
    sign = np.where(q4 < 0, "-", "")
    return np.array(
        [f"{s}{w}.{f:04d}" for s, w, f in zip(sign, whole, frac, strict=True)], dtype=object
    )


@dataclass(slots=True)
class _Block:
    rows: IntArray
    kind: str
    description: npt.NDArray[np.object_] | str
    quantity: npt.NDArray[np.object_]
    unit: str
    unit_price: npt.NDArray[np.object_] | str
    amount: IntArray
    order: int


class _Unsupported(Exception):
    """The version cannot be priced column-wise."""


def _price_int(value: Decimal) -> tuple[int, int]:
    """``value`` [yuan] as an integer count of ``1/scale`` yuan, the scale a power of ten
    from :data:`PRICE_SCALE` up to 10¹⁰."""
    scale = PRICE_SCALE
    while (scaled := _scaled(value, scale)) is None:
        if scale >= MAX_PRICE_SCALE:
            raise _Unsupported(f"price {value} is finer than 10⁻¹⁰ yuan")
        scale *= 10
    return scaled, scale


def _bound_text(lower: Decimal | None, upper: Decimal | None, period: str) -> str:
    per = "年" if period == "annual" else "月"
    if upper is None:
        return f">{lower} kWh/{per}"
    return f"≤{upper} kWh/{per}" if lower is None else f"{lower}–{upper} kWh/{per}"


class _Pricer:
    """Column-wise rating of one tariff version over an input frame."""

    def __init__(self, version: TariffVersion, frame: pd.DataFrame) -> None:
        step = _scaled(version.rounding.step, FEN_PER_YUAN)
        if step is None or step < 1:
            raise _Unsupported(f"rounding step {version.rounding.step} is not whole fen")
        self.step = step
        self.mode = version.rounding.mode
        self.n = len(frame)
        self.col = {c: frame[c].to_numpy(dtype=np.int64) for c in DETERMINANT_COLUMNS}
        self.ok = np.ones(self.n, dtype=bool)
        self.blocks: list[_Block] = []

    def money(self, product: IntArray, scale: int) -> IntArray:
        """Fen of ``product / scale`` yuan, rounded to the version's step."""
        over = np.abs(product) >= _LIMIT
        self.ok &= ~over
        unit = scale // FEN_PER_YUAN * self.step
        return _round(np.where(over, 0, product), unit, self.mode) * self.step

    def times(self, q4: IntArray, price_scaled: tuple[int, int]) -> IntArray:
        """Fen of ``q4`` [0.0001 units] × ``price`` [1/scale yuan]."""
        price, scale = price_scaled
        if price and (limit := _LIMIT // abs(price)) < np.abs(q4).max(initial=0):
            self.ok &= np.abs(q4) < limit
            q4 = np.where(np.abs(q4) < limit, q4, 0)
        return self.money(q4 * price, KWH_SCALE * scale)

    def add(
        self,
        mask: npt.NDArray[np.bool_],
        kind: str,
        description: npt.NDArray[np.object_] | str,
        quantity: npt.NDArray[np.object_],
        unit: str,
        unit_price: npt.NDArray[np.object_] | str,
        amount: IntArray,
    ) -> None:
        rows = np.flatnonzero(mask)
        self.blocks.append(
            _Block(
                rows,
                kind,
                description if isinstance(description, str) else description[rows],
                quantity[rows],
                unit,
                unit_price if isinstance(unit_price, str) else unit_price[rows],
                amount[rows],
                len(self.blocks),
            )
        )

    # ------------------------------------------------------------------------ components

    def fixed(self, c: FixedCharge) -> None:
        price = _price_int(c.amount)
        if c.per == "month":
            qty = np.full(self.n, 10_000, dtype=np.int64)
        else:
            qty = self.col["days"] * KWH_SCALE
        amount = self.times(qty, price)
        unit = "month" if c.per == "month" else "day"
        self.add(np.ones(self.n, bool), "fixed", c.name, _text4(qty), unit, str(c.amount), amount)

    def tiers(
        self,
        kind: str,
        label: str,
        period: str,
        bounds: list[Decimal | None],
        prices: list[Decimal],
    ) -> None:
        kwh = self.col["kwh_total"]
        before = self.col["kwh_before"] if period == "annual" else np.zeros(self.n, np.int64)
        start, end = before, before + kwh
        lower = np.zeros(self.n, np.int64)
        for index, (bound, price) in enumerate(zip(bounds, prices, strict=True)):
            if bound is None:
                upper = end
            else:
                b4 = _scaled(bound, KWH_SCALE)
                if b4 is None:
                    raise _Unsupported(f"tier bound {bound} is finer than 0.0001 kWh")
                upper = np.minimum(end, b4)
            quantity = np.maximum(upper - np.maximum(start, lower), 0)
            if bound is not None:
                lower = np.full(self.n, _scaled(bound, KWH_SCALE), np.int64)
            if not (price or kind == "energy_tiered"):
                continue
            text = _bound_text(bounds[index - 1] if index else None, bound, period)
            self.add(
                quantity > 0,
                kind,
                f"{label} 第{index + 1}档 ({text})",
                _text4(quantity),
                "kWh",
                str(price),
                self.times(quantity, _price_int(price)),
            )

    def tou(self, c: TouEnergy) -> None:
        by_period = {p: self.col[f"kwh_{p}"] for p in TOU_PERIODS}
        has_any = np.zeros(self.n, bool)
        for p, q in by_period.items():
            has_any |= q > 0
            if p not in c.prices:
                self.ok &= q <= 0  # energy in an unpriced period: the scalar path refuses
        self.ok &= has_any
        for p in TOU_PERIODS:
            if p not in c.prices:
                continue
            q = np.maximum(by_period[p], 0)
            self.add(
                q > 0,
                "energy_tou",
                f"电度电费 {_TOU_NAMES[p]}",
                _text4(q),
                "kWh",
                str(c.prices[p]),
                self.times(q, _price_int(c.prices[p])),
            )

    def demand(self, c: DemandCharge) -> None:
        if c.basis == "max_demand_kw":
            column, unit, label = "max_demand_kw", "kW", "最大需量"
        else:
            column, unit, label = "contracted_kva", "kVA", "合同容量"
        q = self.col[column]
        self.ok &= q >= 0
        q = np.maximum(q, 0)
        self.add(
            np.ones(self.n, bool),
            "demand",
            f"基本电费 ({label})",
            _text4(q),
            unit,
            str(c.price),
            self.times(q, _price_int(c.price)),
        )

    def funds(self, c: Funds) -> None:
        kwh = self.col["kwh_total"]
        for item in c.items:
            self.add(
                kwh != 0,
                "funds",
                item.name,
                _text4(kwh),
                "kWh",
                str(item.price_per_kwh),
                self.times(kwh, _price_int(item.price_per_kwh)),
            )

    def pf(self, c: PfAdjustment, base: IntArray, order: int) -> None:
        """The PF line from ``base`` [fen] (quantised energy and demand lines)."""
        kwh = self.col["kwh_total"].astype(np.float64)
        kvarh = self.col["kvarh_total"]
        self.ok &= kvarh >= 0
        kvar = np.maximum(kvarh, 0).astype(np.float64)
        present = (kwh != 0) | (kvar != 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            exact = np.where(present, kwh / np.sqrt(kwh * kwh + kvar * kvar), 1.0) * 100
        pf100 = np.floor(exact + 0.5).astype(np.int64)
        self.ok &= ~present | (np.abs(exact - np.floor(exact) - 0.5) > 1e-9)
        table = PF_ADJUSTMENT_TABLES[c.standard]
        rows = {int(pf * 100): pct for pf, pct in table.rows.items()}
        best, floor = int(table.best_from * 100), int(table.floor * 100)
        lookup = np.zeros(101, dtype=object)
        for p in range(101):
            if p >= best:
                pct = rows[best]
            elif p < floor:
                pct = rows[floor] + 2 * (floor - p)
            else:
                pct = rows[p]
            lookup[p] = pct / 100
        rate_dec = lookup[np.clip(pf100, 0, 100)]
        rate_e6 = np.array([_scaled(r, PRICE_SCALE) for r in lookup], dtype=np.int64)[
            np.clip(pf100, 0, 100)
        ]
        amount = self.money(base * rate_e6, PRICE_SCALE * FEN_PER_YUAN)
        pf_text = np.array([f"{p // 100}.{p % 100:02d}" for p in range(101)], dtype=object)[
            np.clip(pf100, 0, 100)
        ]
        description = np.array(
            [f"力调电费 (功率因数 {t}, 标准 {c.standard})" for t in pf_text], dtype=object
        )
        base_text = np.array(
            [f"{'-' if b < 0 else ''}{abs(b) // 100}.{abs(b) % 100:02d}" for b in base],
            dtype=object,
        )
        rows_idx = np.flatnonzero(present)
        self.blocks.append(
            _Block(
                rows_idx,
                "pf_adjustment",
                description[rows_idx],
                base_text[rows_idx],
                "yuan",
                np.array([str(r) for r in rate_dec[rows_idx]], dtype=object),
                amount[rows_idx],
                order,
            )
        )

    # ------------------------------------------------------------------------ assembly

    def run(self, version: TariffVersion) -> PricedLines:
        pf: tuple[int, PfAdjustment] | None = None
        for component in version.components:
            match component:
                case FixedCharge():
                    self.fixed(component)
                case TieredEnergy():
                    self.tiers(
                        "energy_tiered",
                        "电度电费",
                        component.period,
                        [t.up_to_kwh for t in component.tiers],
                        [t.price for t in component.tiers],
                    )
                case TierIncrement():
                    self.tiers(
                        "tier_increment",
                        "阶梯加价",
                        component.period,
                        [t.up_to_kwh for t in component.tiers],
                        [t.increment for t in component.tiers],
                    )
                case TouEnergy():
                    self.tou(component)
                case DemandCharge():
                    self.demand(component)
                case Funds():
                    self.funds(component)
                case PfAdjustment():
                    pf = (len(self.blocks), component)
                case _:
                    raise _Unsupported(f"component {component.kind}")
        if pf is not None:
            order, component = pf
            base = np.zeros(self.n, np.int64)
            for block in self.blocks:
                if block.kind in _PF_BASE_KINDS:
                    np.add.at(base, block.rows, block.amount)
            for block in self.blocks[order:]:
                block.order += 1
            self.pf(component, base, order)
        return self._assemble()

    def _assemble(self) -> PricedLines:
        blocks = self.blocks
        rows = np.concatenate([b.rows for b in blocks]) if blocks else np.zeros(0, np.int64)
        order = np.concatenate([np.full(len(b.rows), b.order) for b in blocks]) if blocks else rows

        def cat(get: str) -> npt.NDArray[np.object_]:
            parts = []
            for b in blocks:
                value = getattr(b, get)
                parts.append(
                    np.full(len(b.rows), value, dtype=object) if isinstance(value, str) else value
                )
            return np.concatenate(parts) if parts else np.zeros(0, dtype=object)

        keep = self.ok[rows]
        sort = np.lexsort((order[keep], rows[keep]))
        pick = np.flatnonzero(keep)[sort]
        amount = np.concatenate([b.amount for b in blocks]) if blocks else rows
        return PricedLines(
            row=rows[pick],
            kind=np.concatenate([np.full(len(b.rows), b.kind, dtype=object) for b in blocks])[pick],
            description=cat("description")[pick],
            quantity=cat("quantity")[pick],
            unit=np.concatenate([np.full(len(b.rows), b.unit, dtype=object) for b in blocks])[pick],
            unit_price=cat("unit_price")[pick],
            amount=amount[pick].astype(np.int64),
            rows_priced=self.ok.copy(),
        )


def price_cycle(version: TariffVersion, frame: pd.DataFrame) -> PricedLines | None:
    """Lines of every row of ``frame`` (columns :data:`DETERMINANT_COLUMNS`) under
    ``version``, or ``None`` when the version cannot be priced column-wise."""
    try:
        return _Pricer(version, frame).run(version)
    except _Unsupported:
        return None
