"""A bill period split where a tariff's next version takes effect inside it (调价).

Every account on a tariff with a version effective inside the period is billed in *parts*,
one per version in force: each part is a row of its own (the part's days, energy and the
day shares of :func:`~meter2cash.tariffs.proration.monthly_share` and ``tier_share``), and the
parts of one version are rated together, column-wise, by
:func:`~meter2cash.billing.rate_frame.rate_frame` under that version. The lines of an
account's parts then make one bill, each line saying the dates it covers. Accounts on other
tariffs never come here.

Energy per part: from the 15-minute curve when the period's curve is complete (interval sums
per part, TOU periods by the part's own schedule); otherwise the register energy of the
period split by days (``电量按天数分摊`` on the part's kWh lines). Maximum demand, contracted
and contract demand are the period's, each part billing its share of days of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise

import numpy as np
import pandas as pd

from meter2cash.billing.account_terms import carried_exports_out
from meter2cash.billing.cycles import MonthPeriod
from meter2cash.billing.determinant_frame import determinant_frame
from meter2cash.billing.pricing import IntArray
from meter2cash.billing.rate_frame import LINE_COLUMNS, rate_frame
from meter2cash.core.calendar import HolidayCalendar
from meter2cash.engines import BatchEngine
from meter2cash.tariffs.schema import TOU_PERIODS, TariffDocument

SPLIT_BY_DAYS = "电量按天数分摊"
"""Said on a part's kWh lines when its energy is the period's register energy by days."""
DAY_SPLIT_COLUMNS = (
    "kwh_total",
    *(f"kwh_{p}" for p in TOU_PERIODS),
    "kvarh_total",
    "kwh_export_total",
)
"""Energy columns [0.0001 kWh, kvarh] a part takes by its share of days."""
CURVE_COLUMNS = ("kwh_total", *(f"kwh_{p}" for p in TOU_PERIODS), "kvarh_total")
"""Energy columns a part takes from its own interval sums when the curve is complete."""


def change_days(doc: TariffDocument, period: MonthPeriod) -> tuple[date, ...]:
    """Local days after ``period``'s first on which a new version of ``doc`` takes effect."""
    return tuple(
        v.effective_from
        for v in doc.versions
        if period.period_start < v.effective_from <= period.period_end
    )


def period_parts(period: MonthPeriod, changes: tuple[date, ...]) -> list[MonthPeriod]:
    """``period`` cut before each of ``changes`` (local days, in order)."""
    bounds = [period.period_start, *changes, period.period_end + timedelta(days=1)]
    return [MonthPeriod(start, end - timedelta(days=1)) for start, end in pairwise(bounds)]


def changed_tariffs(
    tariffs: Mapping[str, TariffDocument], period: MonthPeriod
) -> dict[str, tuple[date, ...]]:
    """The tariffs with a version taking effect inside ``period``, with the days it does."""
    return {code: days for code, doc in tariffs.items() if (days := change_days(doc, period))}


@dataclass(frozen=True, slots=True)
class SplitBills:
    """The rows of a period's frame billed in parts: ``rows`` (indexes of the frame),
    their ``totals`` [fen], ``lines`` (:data:`LINE_COLUMNS`, ``bill`` a frame row, the
    parts' lines in date order; a refused bill has only its ``seq`` 0 line) and the export
    credit each carries on (``carried_export_out`` [0.0001 kWh], ``-1`` = none)."""

    rows: IntArray
    totals: IntArray
    lines: pd.DataFrame
    carried_export_out: IntArray


def _split_by_days(values: IntArray, upto: IntArray, before: IntArray, days: IntArray) -> IntArray:
    """The part of ``values`` (0.0001 units, ``-1`` = none) from day ``before`` to day
    ``upto`` of ``days``: cumulative shares rounded half-up, so parts add up exactly."""

    def through(day: IntArray) -> IntArray:
        shared: IntArray = (2 * values * day + days) // (2 * days)
        return shared

    part: IntArray = np.where(values == -1, -1, through(upto) - through(before))
    return part


def _dates(start: date, end: date) -> str:
    return f"{start.month}/{start.day}–{end.month}/{end.day}"


def _part_frame(
    whole: pd.DataFrame,
    part: MonthPeriod,
    curves: pd.DataFrame | None,
) -> tuple[IntArray, pd.DataFrame]:
    """The rows of ``whole`` (the split accounts' period rows) billed in ``part``, and
    their part rows: the part's days and day shares, energy by the part's curve (``curves``:
    :func:`determinant_frame` of ``part``, by account_id) or by days."""
    first = whole["first_day"].to_numpy("datetime64[D]")
    last = whole["last_day"].to_numpy("datetime64[D]")
    start = np.maximum(first, np.datetime64(part.period_start, "D"))
    end = np.minimum(last, np.datetime64(part.period_end, "D"))
    rows = np.flatnonzero(start <= end)
    start, end, first = start[rows], end[rows], first[rows]
    frame = whole.iloc[rows].reset_index(drop=True)
    days = frame["days"].to_numpy(np.int64)
    before = (start - first).astype(np.int64)
    upto = (end - first).astype(np.int64) + 1
    changes = {
        name: _split_by_days(frame[name].to_numpy(np.int64), upto, before, days)
        for name in DAY_SPLIT_COLUMNS
    }
    by_curve = np.zeros(len(frame), bool)
    if curves is not None and len(curves):
        matched = curves.reindex(frame["account_id"])
        by_curve = frame["from_curve"].to_numpy(bool) & matched["from_curve"].eq(True).to_numpy()
        for name in CURVE_COLUMNS:
            changes[name] = np.where(by_curve, matched[name].to_numpy(), changes[name]).astype(
                np.int64
            )
    frame = frame.assign(
        **changes,
        first_day=start,
        last_day=end,
        days=upto - before,
        supplied_days=days,
        by_days=~by_curve & (upto - before < days),
    )
    return rows, frame


def _suffixes(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per part row, what its lines add to their description: the dates, and on kWh lines
    also :data:`SPLIT_BY_DAYS` where the energy is by days."""
    spans = frame["first_day"].astype(str) + "|" + frame["last_day"].astype(str)
    text = {
        key: _dates(date.fromisoformat(key[:10]), date.fromisoformat(key[11:]))
        for key in pd.unique(spans)
    }
    dates = spans.map(text)
    by_days = frame["by_days"].to_numpy(bool)
    return " (" + dates + ")", " (" + dates + np.where(by_days, f", {SPLIT_BY_DAYS})", ")")


def rate_split(
    engine: BatchEngine,
    meters: pd.DataFrame,
    frame: pd.DataFrame,
    tariffs: Mapping[str, TariffDocument],
    period: MonthPeriod,
    calendar: HolidayCalendar,
) -> SplitBills | None:
    """Bill in parts every row of ``frame`` (a priced :func:`determinant_frame` of
    ``period`` with its account terms) whose tariff changes version inside the period;
    ``None`` when none does. ``meters`` are the rows the frame was built from: accounts
    billed from the curve are read again per part. Each part's annual-tier kWh before and
    export credit carried in follow from the part before it."""
    changes = changed_tariffs(tariffs, period)
    if not changes:
        return None
    codes = frame["tariff_code"].to_numpy()
    split = np.flatnonzero(np.isin(codes, list(changes)))
    if not split.size:
        return None
    totals = np.zeros(len(frame), np.int64)
    carried = np.full(len(frame), -1, np.int64)
    pieces: list[pd.DataFrame] = []
    for days in sorted(set(changes.values())):
        rows = split[np.isin(codes[split], [c for c, d in changes.items() if d == days])]
        whole = frame.iloc[rows].reset_index(drop=True)
        curve_accounts = whole.loc[whole["from_curve"].to_numpy(bool), "account_id"]
        kwh_before = whole["kwh_before"].to_numpy(np.int64).copy()
        carry_in = whole["carried_export_in"].to_numpy(np.int64).copy()
        carry_out = np.full(len(whole), -1, np.int64)
        refused = np.zeros(len(whole), bool)
        for order, part in enumerate(period_parts(period, days)):
            curves = None
            if len(curve_accounts):
                curves = determinant_frame(
                    engine,
                    meters[meters["account_id"].isin(curve_accounts)],
                    tariffs,
                    part,
                    calendar,
                ).set_index("account_id")
            at, part_rows = _part_frame(whole, part, curves)
            part_rows["kwh_before"] = kwh_before[at]
            part_rows["carried_export_in"] = carry_in[at]
            part_totals, lines = rate_frame(part_rows, tariffs, part)
            refusal = lines["seq"].to_numpy() == 0
            refused_rows = np.zeros(len(at), bool)
            refused_rows[lines["bill"].to_numpy(np.int64)[refusal]] = True
            refused[at] |= refused_rows
            part_rows["rating_error"] = np.where(refused_rows, "refused", "")
            out = carried_exports_out(part_rows, tariffs, part)
            carry_out[at] = out
            carry_in[at] = np.where(out >= 0, out, carry_in[at])
            kwh_before[at] += np.maximum(part_rows["kwh_total"].to_numpy(np.int64), 0)
            totals[rows[at]] += part_totals
            on_row, on_kwh = _suffixes(part_rows)
            bill = lines["bill"].to_numpy(np.int64)
            kwh = (lines["unit"] == "kWh").to_numpy()
            suffix = np.where(kwh, on_kwh.to_numpy()[bill], on_row.to_numpy()[bill])
            pieces.append(
                lines.assign(
                    description=np.where(
                        refusal, lines["description"], lines["description"] + suffix
                    ),
                    bill=rows[at][bill],
                    part=order,
                )
            )
        totals[rows[refused]] = 0
        carried[rows] = np.where(refused, whole["carried_export_in"].to_numpy(np.int64), carry_out)
    return SplitBills(split, totals[split], _merged(pieces), carried[split])


def _merged(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts' lines as one bill per account: in date order, numbered from 1; a bill a
    part could not rate keeps only its first refusal (``seq`` 0)."""
    lines = pd.concat(pieces, ignore_index=True).sort_values(
        ["bill", "part", "seq"], kind="stable", ignore_index=True
    )
    refusal = lines["seq"].to_numpy() == 0
    refused = lines["bill"].isin(lines.loc[refusal, "bill"]).to_numpy()
    first_refusal = refusal.copy()
    first_refusal[refusal] = ~lines.loc[refusal, "bill"].duplicated().to_numpy()
    lines = lines[~refused | first_refusal].reset_index(drop=True)
    lines["seq"] = np.where(
        lines["seq"].to_numpy() == 0, 0, lines.groupby("bill").cumcount().to_numpy() + 1
    )
    return lines[list(LINE_COLUMNS)]
