"""Rating a priced frame: every row of a bill period to its total and its lines.

Each tariff's rows go column-wise through :func:`~meter2cash.billing.pricing.price_cycle`;
the rows it leaves are rated one by one by the pure :func:`~meter2cash.tariffs.rating.rate`.
Both give the same lines to the fen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from meter2cash.billing.pricing import (
    DETERMINANT_COLUMNS,
    KWH_SCALE,
    IntArray,
    PricedLines,
    price_cycle,
)
from meter2cash.core.money import to_minor
from meter2cash.tariffs.rating import Determinants, RatedBill, TierContext, rate
from meter2cash.tariffs.schema import TOU_PERIODS, TariffDocument

if TYPE_CHECKING:
    from meter2cash.billing.cycles import MonthPeriod


def determinants_of(row: Mapping[str, Any], period: MonthPeriod) -> Determinants:
    """The scalar :class:`Determinants` of one row of :func:`determinant_frame`."""

    def decimal(name: str) -> Decimal | None:
        value = int(row[name])
        return None if value < 0 else Decimal(value) / KWH_SCALE

    by_period = {p: decimal(f"kwh_{p}") for p in TOU_PERIODS}
    return Determinants(
        period_start=period.period_start,
        period_end=period.period_end,
        kwh_total=Decimal(int(row["kwh_total"])) / KWH_SCALE,
        kwh_by_period={p: kwh for p, kwh in by_period.items() if kwh},
        kvarh_total=decimal("kvarh_total"),
        max_demand_kw=decimal("max_demand_kw"),
        contracted_kva=decimal("contracted_kva"),
        kwh_export_total=decimal("kwh_export_total"),
        estimated=bool(row["estimated"]),
    )


LINE_COLUMNS: Final = (
    "bill",
    "seq",
    "kind",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "amount_minor",
)
"""Columns of :attr:`PricedBills.lines`: ``bill`` is the row of :attr:`PricedBills.bills`,
``quantity`` [kWh, kW, …] a float of at most 4 dp, ``unit_price`` [yuan] a float,
``amount_minor`` [fen]."""


@dataclass(frozen=True, slots=True)
class PricedBills:
    """Accounts of one period rated and reviewed, column-wise.

    ``bills``: the :func:`determinant_frame` rows that were billed, plus ``version_id``,
    ``currency``, ``total_minor`` [fen] and ``review_reasons`` ("" = may be issued);
    ``lines``: :data:`LINE_COLUMNS`, ordered by bill then ``seq``.
    """

    bills: pd.DataFrame
    lines: pd.DataFrame


def _columnar_lines(priced: PricedLines, rows: IntArray) -> pd.DataFrame:
    """The lines of ``priced`` as :data:`LINE_COLUMNS`, ``bill`` mapped through ``rows``."""
    templates = priced.templates
    field = {
        name: np.array([getattr(t, name) for t in templates] + [None], dtype=object)
        for name in ("kind", "description", "unit")
    } | {"unit_price": np.array([float(t.unit_price) for t in templates] + [0.0])}
    to_q4 = np.array([KWH_SCALE // t.quantity_scale for t in templates] + [1], np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(priced.row)) + 1]
    counts = np.diff(np.r_[starts, len(priced.row)])
    return pd.DataFrame(
        {
            "bill": rows[priced.row],
            "seq": np.arange(len(priced.row)) - np.repeat(starts, counts) + 1,
            **{name: values[priced.template] for name, values in field.items()},
            "quantity": priced.quantity * to_q4[priced.template] / KWH_SCALE,
            "amount_minor": priced.amount,
        },
        columns=list(LINE_COLUMNS),
    )


def _scalar_lines(rated: RatedBill, bill: int) -> list[tuple[object, ...]]:
    return [
        (
            bill,
            seq,
            line.kind,
            line.description,
            float(line.quantity),
            line.unit,
            float(line.unit_price),
            to_minor(line.amount),
        )
        for seq, line in enumerate(rated.lines, start=1)
    ]


def rate_frame(
    frame: pd.DataFrame, tariffs: Mapping[str, TariffDocument], period: MonthPeriod
) -> tuple[IntArray, pd.DataFrame]:
    """Bill totals [fen] and lines (:data:`LINE_COLUMNS`) of every row of ``frame``
    (:data:`DETERMINANT_COLUMNS`, ``tariff_code``, ``estimated``): each tariff's rows
    column-wise by :func:`price_cycle`, the rows it leaves by the scalar ``rate``."""
    totals = np.zeros(len(frame), np.int64)
    parts: list[pd.DataFrame] = []
    scalar: list[tuple[object, ...]] = []
    codes = frame["tariff_code"].to_numpy()
    for code in pd.unique(codes):
        rows = np.flatnonzero(codes == code)
        version = tariffs[str(code)].version_on(period.period_start)
        subset = frame.iloc[rows]
        priced = price_cycle(version, subset[list(DETERMINANT_COLUMNS)])
        left = rows
        if priced is not None:
            totals[rows] = priced.totals(len(rows))
            parts.append(_columnar_lines(priced, rows))
            left = rows[~priced.rows_priced]
        for row in left:
            values = frame.iloc[row]
            ctx = TierContext(
                kwh_before_in_tier_year=Decimal(int(values["kwh_before"])) / KWH_SCALE
            )
            rated = rate(version, determinants_of(values, period), ctx)
            totals[row] = to_minor(rated.total)
            scalar.extend(_scalar_lines(rated, int(row)))
    parts.append(pd.DataFrame(scalar, columns=list(LINE_COLUMNS)))
    lines = pd.concat([p for p in parts if len(p)] or parts, ignore_index=True)
    lines = lines.sort_values(["bill", "seq"], kind="stable", ignore_index=True)
    return totals, lines
