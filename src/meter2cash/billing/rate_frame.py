"""Rating a priced frame: every row of a bill period to its total and its lines.

Each tariff's rows go column-wise through :func:`~meter2cash.billing.pricing.price_cycle`;
the rows it leaves are rated one by one by the pure :func:`~meter2cash.tariffs.rating.rate`.
Both give the same lines to the fen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from meter2cash.billing.pricing import (
    DETERMINANT_COLUMNS,
    KWH_SCALE,
    PART_COLUMNS,
    TERM_COLUMNS,
    IntArray,
    PricedLines,
    price_cycle,
)
from meter2cash.core.errors import InputError, TariffError
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
        period_start=_day(row["first_day"]) if "first_day" in row else period.period_start,
        period_end=_day(row["last_day"]) if "last_day" in row else period.period_end,
        cycle_days=int(row["cycle_days"]) if "cycle_days" in row else None,
        supplied_days=int(row["supplied_days"]) if "supplied_days" in row else None,
        kwh_total=Decimal(int(row["kwh_total"])) / KWH_SCALE,
        kwh_by_period={p: kwh for p, kwh in by_period.items() if kwh},
        kvarh_total=decimal("kvarh_total"),
        max_demand_kw=decimal("max_demand_kw"),
        contracted_kva=decimal("contracted_kva"),
        contract_demand_kw=decimal("contract_demand_kw") if "contract_demand_kw" in row else None,
        kwh_export_total=decimal("kwh_export_total"),
        estimated=bool(row["estimated"]),
    )


RATING_ERROR: Final = "rating_error"
"""Kind of the line :func:`rate_frame` gives a row ``rate`` refused — the only line with
``seq`` 0: no amount, the refusal as its description; the caller takes it off the bill and
holds the bill for review."""


def rating_terms_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The per-account inputs of ``rate`` in one row (columns of
    :func:`~meter2cash.billing.account_terms.with_account_terms`, each optional): tier context
    with the household size (``household_persons``, 0 = none on file), ``demand_history`` and
    the export credit carried in (``carried_export_in`` [0.0001 kWh])."""
    persons = int(row.get("household_persons", 0))
    carried = int(row.get("carried_export_in", 0))
    return {
        "ctx": TierContext(
            kwh_before_in_tier_year=Decimal(int(row["kwh_before"])) / KWH_SCALE,
            household_persons=persons if persons > 0 else None,
        ),
        "demand_history": row.get("demand_history"),
        "carried_export_kwh": Decimal(carried) / KWH_SCALE,
    }


def _day(value: Any) -> date:
    """A frame's local date (date, datetime64 or Timestamp) as a ``date``."""
    day: date = pd.Timestamp(value).date()
    return day


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
    column-wise by :func:`price_cycle`, the rows it leaves by the scalar ``rate`` with the
    row's per-account inputs (:func:`rating_terms_of`). A row ``rate`` refuses totals 0 and
    gets one :data:`RATING_ERROR` line saying why, so one bad account does not stop the run."""
    totals = np.zeros(len(frame), np.int64)
    parts: list[pd.DataFrame] = []
    scalar: list[tuple[object, ...]] = []
    codes = frame["tariff_code"].to_numpy()
    for code in pd.unique(codes):
        rows = np.flatnonzero(codes == code)
        version = tariffs[str(code)].version_on(period.period_start)
        subset = frame.iloc[rows]
        priced = price_cycle(
            version,
            subset[
                [c for c in (*DETERMINANT_COLUMNS, *PART_COLUMNS, *TERM_COLUMNS) if c in subset]
            ],
        )
        left = rows
        if priced is not None:
            totals[rows] = priced.totals(len(rows))
            parts.append(_columnar_lines(priced, rows))
            left = rows[~priced.rows_priced]
        for row in left:
            values = frame.iloc[row]
            try:
                rated = rate(version, determinants_of(values, period), **rating_terms_of(values))
            except (TariffError, InputError) as error:  # one account's bill, not the run
                scalar.append((int(row), 0, RATING_ERROR, str(error), 0.0, "", 0.0, 0))
                continue
            totals[row] = to_minor(rated.total)
            scalar.extend(_scalar_lines(rated, int(row)))
    parts.append(pd.DataFrame(scalar, columns=list(LINE_COLUMNS)))
    lines = pd.concat([p for p in parts if len(p)] or parts, ignore_index=True)
    lines = lines.sort_values(["bill", "seq"], kind="stable", ignore_index=True)
    return totals, lines
