"""The bill run's pricing stage: a tariff version applied to a whole cycle at once.

:func:`price_cycle` gives, for every account of a cycle on one tariff version, exactly the
lines and amounts that the pure rating function :func:`meter2cash.tariffs.rating.rate` gives
for that account alone — it is the same arithmetic on columns. Quantities are integers in
units of 0.0001 kWh (the store's precision), prices integers in units of 10⁻⁶ yuan (finer
where a price needs it, to 10⁻¹⁰), so every product is exact and each line is rounded once,
like ``quantize_money``, by integer division.

Contract demand with its excess, demand floors and the 526 discount are priced here too
(:data:`TERM_COLUMNS` carries the contract demand). A version with a component this module
does not know, a rule it does not price (demand ratchets, seasonal or household tier
bounds), a price finer than 10⁻¹⁰ yuan or a rounding step that is not a whole number of fen
is not priced here (:func:`price_cycle` returns ``None``), nor is an account whose figures
the scalar path would refuse (energy used but none by TOU period, demand, contract demand or
kvarh missing where billed), whose billing demand is finer than 0.0001 kW, or whose power
factor lies within 10⁻⁹ of a rounding boundary: the caller rates those with ``rate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from meter2cash.tariffs.demand import percent_of
from meter2cash.tariffs.power_factor import PF_BASE_KINDS, pf_adjustment_rate, pf_description
from meter2cash.tariffs.proration import prorated_bound, share_text, shown_bound
from meter2cash.tariffs.rating import TOU_NAMES, bound_text
from meter2cash.tariffs.schema import (
    TOU_PERIODS,
    DemandCharge,
    FixedCharge,
    Funds,
    NetMetering,
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
PART_COLUMNS: Final = ("cycle_days", "supplied_days")
"""Optional int64 columns of a part period (move-in, move-out, a tariff change): days of the
whole cycle and days the account was supplied in it (:func:`~meter2cash.tariffs.rating.
monthly_share`); without them every row is a whole cycle of ``days``."""
TERM_COLUMNS: Final = ("contract_demand_kw",)
"""Per-account input columns read only by the rules that use them, int64: the contract
demand [0.0001 kW] (``-1`` = none on file). A frame without one leaves the versions that
need it to the scalar path."""


@dataclass(frozen=True, slots=True)
class LineTemplate:
    """What the lines of one kind share: text, unit, unit price, and the scale of their
    integer quantities (10000 for 0.0001 kWh, 100 for a PF base in fen)."""

    kind: str
    description: str
    unit: str
    unit_price: Decimal
    quantity_scale: int


@dataclass(frozen=True, slots=True)
class PricedLines:
    """Bill lines of the priced rows, ordered by row then by line number.

    ``row`` indexes the input frame; ``template`` indexes ``templates``; ``quantity`` is an
    integer in the template's scale; ``amount`` is integer fen. ``rows_priced`` says which
    rows were priced here (the others need the scalar path)."""

    templates: tuple[LineTemplate, ...]
    row: IntArray
    template: IntArray
    quantity: IntArray
    amount: IntArray
    rows_priced: npt.NDArray[np.bool_]

    def totals(self, rows: int) -> IntArray:
        """Bill total [fen] per input row (0 for rows not priced)."""
        return _sum_by_row(self.row, self.amount, rows)


def _sum_by_row(rows: IntArray, amount: IntArray, n: int) -> IntArray:
    """Sum of ``amount`` [fen] per row, exact below 2⁵³ fen."""
    return np.bincount(rows, weights=amount, minlength=n).astype(np.int64)


def _scaled(value: Decimal, scale: int) -> int | None:
    """``value × scale`` as an int when exact, else None."""
    scaled = value * scale
    return int(scaled) if scaled == scaled.to_integral_value() else None


def _round(numerator: IntArray, unit: int | IntArray, mode: str) -> IntArray:
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


@dataclass(slots=True)
class _Block:
    kind: str
    rows: IntArray
    template: IntArray
    quantity: IntArray
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
        days = self.col["days"]
        self.cycle, self.supplied = (
            frame[c].to_numpy(dtype=np.int64) if c in frame else days for c in PART_COLUMNS
        )
        self.whole = (days == self.cycle) & (self.supplied == self.cycle)
        self.frame = frame
        self.ok = np.ones(self.n, dtype=bool)
        self.blocks: list[_Block] = []
        self.templates: list[LineTemplate] = []

    def term(self, name: str) -> IntArray:
        """The :data:`TERM_COLUMNS` column ``name``; without it the version is left to ``rate``."""
        if name not in self.frame:
            raise _Unsupported(f"no {name} column")
        column: IntArray = self.frame[name].to_numpy(dtype=np.int64)
        return column

    def template(self, kind: str, description: str, unit: str, price: Decimal, scale: int) -> int:
        self.templates.append(LineTemplate(kind, description, unit, price, scale))
        return len(self.templates) - 1

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
        template: int,
        quantity: IntArray,
        amount: IntArray,
    ) -> None:
        rows = np.flatnonzero(mask)
        self.blocks.append(
            _Block(
                self.templates[template].kind,
                rows,
                np.full(len(rows), template, np.int64),
                quantity[rows],
                amount[rows],
                len(self.blocks),
            )
        )

    # ------------------------------------------------------------------------ components

    def shares(self) -> tuple[IntArray, IntArray, IntArray, list[str]]:
        """Each row's share of a month's charges (numerator, denominator), its group and the
        groups' texts (:func:`~meter2cash.tariffs.proration.monthly_share`, ``share_text``)."""
        days, supplied, cycle = self.col["days"], self.supplied, self.cycle
        used = np.minimum(supplied, 30)
        moved = supplied < cycle
        own = days == supplied
        numerator = np.where(moved, np.where(own, used, used * days), days)
        denominator = np.where(moved, np.where(own, 30, 30 * supplied), cycle)
        keys = (days * 1000 + supplied) * 1000 + cycle
        codes, uniques = pd.factorize(keys)
        texts = [
            share_text(int(k) // 1_000_000, int(k) // 1000 % 1000, int(k) % 1000) for k in uniques
        ]
        return numerator, denominator, codes.astype(np.int64), texts

    def fixed(self, c: FixedCharge) -> None:
        if c.per == "day":
            qty = self.col["days"] * KWH_SCALE
            template = self.template("fixed", c.name, c.per, c.amount, KWH_SCALE)
            self.add(np.ones(self.n, bool), template, qty, self.times(qty, _price_int(c.amount)))
            return
        qty = np.full(self.n, KWH_SCALE, dtype=np.int64)
        if self.whole.all():
            template = self.template("fixed", c.name, c.per, c.amount, KWH_SCALE)
            self.add(np.ones(self.n, bool), template, qty, self.times(qty, _price_int(c.amount)))
            return
        numerator, denominator, codes, texts = self.shares()
        price, scale = _price_int(c.amount)
        first = len(self.templates)
        for text in texts:
            self.template(
                "fixed", f"{c.name} ({text})" if text else c.name, c.per, c.amount, KWH_SCALE
            )
        amount = self.money_share(qty * price, KWH_SCALE * scale, numerator, denominator)
        rows = np.arange(self.n)
        self.blocks.append(_Block("fixed", rows, first + codes, qty, amount, len(self.blocks)))

    def money_share(
        self, product: IntArray, scale: int, numerator: IntArray, denominator: IntArray
    ) -> IntArray:
        """Fen of ``product / scale`` yuan × numerator ÷ denominator, rounded once."""
        limit = _LIMIT // max(int(np.max(numerator, initial=1)), 1)
        over = np.abs(product) >= limit
        self.ok &= ~over
        unit = scale // FEN_PER_YUAN * self.step * denominator
        shared = np.where(over, 0, product) * numerator
        return _round(shared, unit, self.mode) * self.step

    def tiers(
        self,
        kind: str,
        label: str,
        c: TieredEnergy | TierIncrement,
        prices: list[Decimal],
    ) -> None:
        if c.seasonal_bounds or c.household is not None:
            raise _Unsupported("seasonal or household tier bounds")
        period = c.period
        bounds = [t.up_to_kwh for t in c.tiers]
        kwh = self.col["kwh_total"]
        before = self.col["kwh_before"] if period == "annual" else np.zeros(self.n, np.int64)
        start, end = before, before + kwh
        # monthly bounds of a part period: × days ÷ cycle days, half-up to 0.0001 kWh
        days, cycle = self.col["days"], self.cycle
        part = period == "monthly" and not (days == cycle).all()
        codes, shares = pd.factorize(days * 1000 + cycle) if part else (None, [])
        lower: IntArray | int = 0
        lower_bound: list[Decimal | None] = [None] * len(shares)
        for index, (bound, price) in enumerate(zip(bounds, prices, strict=True)):
            upper = None if bound is None else _scaled(bound, KWH_SCALE)
            if bound is not None and upper is None:
                raise _Unsupported(f"tier bound {bound} is finer than 0.0001 kWh")
            if part and upper is not None:
                upper = (2 * upper * days + cycle) // (2 * cycle)
            high = end if upper is None else np.minimum(end, upper)
            quantity = np.maximum(high - np.maximum(start, lower), 0)
            if upper is not None:
                lower = upper
            shown = [
                bound
                if bound is None or int(k) // 1000 == int(k) % 1000
                else shown_bound(prorated_bound(bound, int(k) // 1000, int(k) % 1000))
                for k in shares
            ]
            if price or kind == "energy_tiered":
                amount = self.times(quantity, _price_int(price))
                if not part:
                    text = bound_text(bounds[index - 1] if index else None, bound, period)
                    template = self.template(
                        kind, f"{label} 第{index + 1}档 ({text})", "kWh", price, KWH_SCALE
                    )
                    self.add(quantity > 0, template, quantity, amount)
                else:
                    first = len(self.templates)
                    for was, now in zip(lower_bound, shown, strict=True):
                        text = bound_text(was if index else None, now, period)
                        self.template(
                            kind, f"{label} 第{index + 1}档 ({text})", "kWh", price, KWH_SCALE
                        )
                    rows = np.flatnonzero(quantity > 0)
                    self.blocks.append(
                        _Block(
                            kind,
                            rows,
                            first + codes[rows].astype(np.int64),
                            quantity[rows],
                            amount[rows],
                            len(self.blocks),
                        )
                    )
            lower_bound = shown

    def tou(self, c: TouEnergy) -> None:
        has_any = np.zeros(self.n, bool)
        for p in TOU_PERIODS:
            q = self.col[f"kwh_{p}"]
            has_any |= q > 0
            if p not in c.prices:
                self.ok &= q <= 0  # energy in an unpriced period: the scalar path refuses
        self.ok &= has_any | (self.col["kwh_total"] == 0)  # no energy: no TOU lines
        for p in TOU_PERIODS:
            if p not in c.prices:
                continue
            q = np.maximum(self.col[f"kwh_{p}"], 0)
            price = c.prices[p]
            template = self.template(
                "energy_tou", f"电度电费 {TOU_NAMES[p]}", "kWh", price, KWH_SCALE
            )
            self.add(q > 0, template, q, self.times(q, _price_int(price)))

    def demand(self, c: DemandCharge) -> None:
        if not self.whole.all():  # a part month's basic charge is left to ``rate``
            numerator, denominator, _, _ = self.shares()
            self.ok &= numerator == denominator
        if c.has_rules:
            self.billing_demand(c)
            return
        if c.basis == "max_demand_kw":
            column, unit, label = "max_demand_kw", "kW", "最大需量"
        else:
            column, unit, label = "contracted_kva", "kVA", "合同容量"
        q = self.col[column]
        self.ok &= q >= 0
        q = np.maximum(q, 0)
        template = self.template("demand", f"基本电费 ({label})", unit, c.price, KWH_SCALE)
        self.add(np.ones(self.n, bool), template, q, self.times(q, _price_int(c.price)))

    def percent(self, q4: IntArray, percent: Decimal) -> IntArray:
        """``percent`` [%] of ``q4`` [0.0001 units]; a row where that is finer than 0.0001 is
        left to the scalar path."""
        numerator, denominator = _fraction(percent)
        value, rest = np.divmod(q4 * numerator, denominator * 100)
        self.ok &= rest == 0
        return value

    def billing_demand(self, c: DemandCharge) -> None:
        """The basic charge under the demand floor, the 526 discount and contract demand with
        its excess (发改办价格〔2016〕1583号, 发改价格〔2023〕526号), exactly as
        :func:`~meter2cash.tariffs.rating.rate` bills it; ratchets are left to ``rate``."""
        if c.ratchet is not None:
            raise _Unsupported("a demand ratchet reads each account's history")
        actual, kva = self.col["max_demand_kw"], self.col["contracted_kva"]
        self.ok &= actual >= 0
        floor = np.full(self.n, -1, np.int64)
        floor_text = ""
        if c.floor_percent_of_capacity is not None:
            self.ok &= kva >= 0
            floor = self.percent(kva, c.floor_percent_of_capacity)
            floor_text = f" kVA × {c.floor_percent_of_capacity}%"
        prices = [c.price, c.price]
        cheaper = np.zeros(self.n, bool)
        note = np.full(self.n, "", dtype=object)
        if (rule := c.high_use_discount) is not None:
            self.ok &= kva >= 0
            prices[1] = percent_of(c.price, rule.price_percent)
            if prices[1] != c.price:
                numerator, denominator = _fraction(rule.kwh_per_kva)
                cheaper = (kva > 0) & (self.col["kwh_total"] * denominator >= numerator * kva)
                note[cheaper] = f"; ≥ {rule.kwh_per_kva} kWh/kVA, 电价 × {rule.price_percent}%"
        level = cheaper.astype(np.int64)
        if c.excess is None:
            floored = floor > actual
            label = _labels(
                floored, "最大需量", "最大需量 {} kW, 按容量 {}" + floor_text, actual, kva
            )
            billed = np.where(floored, floor, actual)
            self.demand_lines(np.ones(self.n, bool), label + note, billed, prices, level)
            return
        declared = self.term("contract_demand_kw")
        self.ok &= declared >= 0
        floored = floor > declared
        label = _labels(
            floored, "合同最大需量", "合同最大需量 {} kW, 按容量 {}" + floor_text, declared, kva
        )
        contract = np.where(floored, floor, declared)
        above = c.excess.above_percent
        tolerance = self.percent(contract, above)
        over = actual > tolerance
        within = np.where(over, f"; {above}% 以内", "").astype(object)
        billed = np.where(over, tolerance, contract)
        self.demand_lines(np.ones(self.n, bool), label + within + note, billed, prices, level)
        excess_text = np.full(self.n, "", dtype=object)
        excess_text[over] = [
            f"实际 {_q4_text(kw)} kW 超过合同 {above}% 部分" for kw in actual[over]
        ]
        multiplied = [price * c.excess.multiplier for price in prices]
        excess = np.where(over, actual - tolerance, 0)
        self.demand_lines(over, excess_text + note, excess, multiplied, level)

    def demand_lines(
        self,
        mask: npt.NDArray[np.bool_],
        text: npt.NDArray[np.object_],
        quantity: IntArray,
        prices: list[Decimal],
        level: IntArray,
    ) -> None:
        """One demand line on each row of ``mask``: ``基本电费 (text)``, ``quantity`` [0.0001 kW]
        at ``prices[level]``; one template per distinct text and price."""
        amount = np.zeros(self.n, np.int64)
        for index, price in enumerate(prices):
            at = level == index
            amount = np.where(at, self.times(np.where(at, quantity, 0), _price_int(price)), amount)
        rows = np.flatnonzero(mask)
        keys = pd.Series(text[rows]) + "|" + pd.Series(level[rows]).astype(str)
        codes, uniques = pd.factorize(keys)
        first = len(self.templates)
        for key in uniques:
            description, level_text = str(key).rsplit("|", 1)
            self.template(
                "demand", f"基本电费 ({description})", "kW", prices[int(level_text)], KWH_SCALE
            )
        self.blocks.append(
            _Block(
                "demand",
                rows,
                first + codes.astype(np.int64),
                quantity[rows],
                amount[rows],
                len(self.blocks),
            )
        )

    def funds(self, c: Funds) -> None:
        kwh = self.col["kwh_total"]
        for item in c.items:
            price = item.price_per_kwh
            template = self.template("funds", item.name, "kWh", price, KWH_SCALE)
            self.add(kwh != 0, template, kwh, self.times(kwh, _price_int(price)))

    def pf(self, c: PfAdjustment, base: IntArray, order: int) -> None:
        """The PF line from ``base`` [fen] (quantised energy and demand lines): one template
        per whole-percent power factor 0.00–1.00."""
        kwh = self.col["kwh_total"].astype(np.float64)
        kvarh = self.col["kvarh_total"]
        self.ok &= kvarh >= 0
        kvar = np.maximum(kvarh, 0).astype(np.float64)
        present = (kwh != 0) | (kvar != 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            exact = np.where(present, kwh / np.sqrt(kwh * kwh + kvar * kvar), 1.0) * 100
        pf100 = np.clip(np.floor(exact + 0.5).astype(np.int64), 0, 100)
        self.ok &= ~present | (np.abs(exact - np.floor(exact) - 0.5) > 1e-9)
        first = len(self.templates)
        rates = np.zeros(101, np.int64)
        for p in range(101):
            pf = (Decimal(p) / 100).quantize(Decimal("0.01"))
            rate = pf_adjustment_rate(pf, c.standard)
            rates[p] = int(rate * PRICE_SCALE)  # table rates have at most four decimals
            text = pf_description(pf, c.standard)
            self.template("pf_adjustment", text, "yuan", rate, FEN_PER_YUAN)
        amount = self.money(base * rates[pf100], PRICE_SCALE * FEN_PER_YUAN)
        rows = np.flatnonzero(present)
        self.blocks.append(
            _Block("pf_adjustment", rows, first + pf100[rows], base[rows], amount[rows], order)
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
                        "energy_tiered", "电度电费", component, [t.price for t in component.tiers]
                    )
                case TierIncrement():
                    self.tiers(
                        "tier_increment",
                        "阶梯加价",
                        component,
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
                if block.kind in PF_BASE_KINDS:
                    base += _sum_by_row(block.rows, block.amount, self.n)
            for block in self.blocks[order:]:
                block.order += 1
            self.pf(component, base, order)
        return self._assemble()

    def _assemble(self) -> PricedLines:
        blocks = self.blocks

        def cat(name: str) -> IntArray:
            parts = [np.asarray(getattr(b, name), np.int64) for b in blocks]
            return np.concatenate(parts) if parts else np.zeros(0, np.int64)

        rows = cat("rows")
        order = np.concatenate([np.full(len(b.rows), b.order) for b in blocks]) if blocks else rows
        keep = np.flatnonzero(self.ok[rows])
        pick = keep[np.lexsort((order[keep], rows[keep]))]
        return PricedLines(
            templates=tuple(self.templates),
            row=rows[pick],
            template=cat("template")[pick],
            quantity=cat("quantity")[pick],
            amount=cat("amount")[pick],
            rows_priced=self.ok.copy(),
        )


def _fraction(value: Decimal) -> tuple[int, int]:
    """``value`` as an exact (numerator, power-of-ten denominator)."""
    exponent = value.as_tuple().exponent
    denominator = 10 ** max(-exponent, 0) if isinstance(exponent, int) else 1
    return int(value * denominator), denominator


def _q4_text(q4: int) -> str:
    """A quantity [0.0001 units] as ``rate`` prints the Decimal it reads: 3505000 → 350.5."""
    return str(Decimal(int(q4)) / KWH_SCALE)


def _labels(
    special: npt.NDArray[np.bool_], plain: str, pattern: str, *values: IntArray
) -> npt.NDArray[np.object_]:
    """``plain`` per row, or ``pattern`` filled with the rows' ``values`` [0.0001 units] as
    text where ``special`` (the few floored rows: Python runs only on those)."""
    label = np.full(len(special), plain, dtype=object)
    rows = np.flatnonzero(special)
    label[rows] = [pattern.format(*(_q4_text(v[r]) for v in values)) for r in rows]
    return label


def carried_export(version: TariffVersion, frame: pd.DataFrame) -> IntArray:
    """Export credit [0.0001 kWh] each row carries to its next period under ``version`` —
    ``RatedBill.carried_export_kwh`` of :func:`~meter2cash.tariffs.rating.rate`: import less
    export less the credit carried in (``carried_export_in``, 0 without the column), where
    that is negative, under ``net`` metering with ``carry_over``; ``-1`` where the version
    carries no credit or the export was not read."""
    metering = version.component("net_metering")
    if not (isinstance(metering, NetMetering) and metering.option == "net" and metering.carry_over):
        return np.full(len(frame), -1, np.int64)
    export = frame["kwh_export_total"].to_numpy(np.int64)
    carried_in = (
        frame["carried_export_in"].to_numpy(np.int64)
        if "carried_export_in" in frame
        else np.zeros(len(frame), np.int64)
    )
    excess = export + carried_in - frame["kwh_total"].to_numpy(np.int64)
    out: IntArray = np.where(export < 0, -1, np.maximum(excess, 0))
    return out


def price_cycle(version: TariffVersion, frame: pd.DataFrame) -> PricedLines | None:
    """Lines of every row of ``frame`` (columns :data:`DETERMINANT_COLUMNS`, and any of
    :data:`TERM_COLUMNS`) under ``version``, or ``None`` when the version cannot be priced
    column-wise."""
    try:
        return _Pricer(version, frame).run(version)
    except _Unsupported:
        return None
