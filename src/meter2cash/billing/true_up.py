"""Estimated bills trued up on the next actual read (估抄多退少补).

An account billed on estimated reads (a missed freeze filled by VEE, an incomplete curve)
for one or more months in a row is trued up on its first bill from actual reads: each
estimated period of that run is re-rated with the reads as they are now (the estimated
freeze replaced by the meter's read, or re-estimated between two actual reads) through the
bill run's own pricing path, and the difference from what the estimated bill charged is
added to the actual bill as lines naming the estimated bill and its kWh difference: a
``true_up`` line for the energy, demand and other charges, a ``funds`` line for the funds
(so the ledger posts it to funds payable). Over the periods the customer pays exactly what
the current reads give under the tariff, each month priced on its own tiers and prices.

Nothing is counted twice: a register bill opens at the freeze the bill before it closed at,
and the re-rated estimated period closes at that same freeze as it is *now*, so the
re-rated periods and the actual bill together cover the meter's energy once. Annual tiers
see the corrected kWh: the actual bill's kWh before in the tier year, and each later
re-rated period's, include the earlier periods' kWh differences.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from meter2cash.billing import repository
from meter2cash.billing.cycles import MonthPeriod
from meter2cash.billing.issue import FUND_LINE_KIND
from meter2cash.billing.pricing import KWH_SCALE, IntArray
from meter2cash.billing.rate_frame import LINE_COLUMNS, PricedBills

TRUE_UP_KIND: Final = "true_up"
TRUE_UP_TEXT: Final = "估抄电费调整"
FUNDS_TRUE_UP_TEXT: Final = "估抄基金及附加调整"
LOOKBACK_MONTHS: Final = 12
"""Estimated bills further back than this are not trued up (the run is cut there)."""

Reprice = Callable[[MonthPeriod, pd.DataFrame, Mapping[int, int]], PricedBills]
"""Rates one earlier period for some accounts (rows of ``billable_meters``), the kWh before
in the tier year raised per account_id by the mapping [0.0001 kWh] — ``price_accounts``
without a true-up of its own."""


@dataclass(frozen=True, slots=True)
class TrueUps:
    """The true-up of a cycle's actual bills: ``lines`` (:data:`LINE_COLUMNS`, ``bill`` a row
    of the cycle's frame, ``seq`` numbered from 1 within the true-up lines of each bill) and
    ``kwh_before_adjust`` [0.0001 kWh] per frame row, the kWh difference of trued-up
    periods in the same tier year."""

    lines: pd.DataFrame
    kwh_before_adjust: IntArray

    def added_to(
        self, totals: IntArray, lines: pd.DataFrame, refused: np.ndarray
    ) -> tuple[IntArray, pd.DataFrame]:
        """Bill totals [fen] and lines with the true-up lines after each bill's own, except
        on bills the tariff refused (``refused`` per frame row; they have no lines)."""
        mine = self.lines[~refused[self.lines["bill"].to_numpy(np.int64)]]
        if mine.empty:
            return totals, lines
        after = lines.groupby("bill").size()
        bill = mine["bill"].to_numpy(np.int64)
        mine = mine.assign(seq=mine["seq"].to_numpy() + after.reindex(bill).fillna(0).to_numpy())
        totals = totals + np.bincount(
            bill, weights=mine["amount_minor"].to_numpy(np.float64), minlength=len(totals)
        ).astype(np.int64)
        merged = pd.concat([lines, mine], ignore_index=True)
        return totals, merged.sort_values(["bill", "seq"], kind="stable", ignore_index=True)


def _months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def trued_bill_no(description: str) -> str:
    """The estimated bill a true-up line (or its funds line) names."""
    return description.split(" ", 2)[1]


def estimated_runs(bills: pd.DataFrame, before: date) -> pd.DataFrame:
    """The rows of ``bills`` (live estimated bills, :func:`repository.estimated_bills`) that
    make, per account, an unbroken run of periods ending the day before ``before``."""
    if bills.empty:
        return bills
    ordered = bills.sort_values(["account_id", "period_end"], ascending=[True, False])
    starts = ordered.groupby("account_id", sort=False)["period_start"].shift(1).astype(object)
    expected = starts.where(starts.notna(), before).map(lambda d: d - timedelta(days=1))
    joined = (ordered["period_end"] == expected).astype(int)
    in_run = joined.groupby(ordered["account_id"], sort=False).cumprod().astype(bool)
    return ordered[in_run.to_numpy()].sort_values(["account_id", "period_start"])


def true_ups(
    session: Session, frame: pd.DataFrame, period: MonthPeriod, reprice: Reprice
) -> TrueUps | None:
    """True-ups of the actual (not ``estimated``) rows of ``frame`` (a cycle's
    :func:`determinant_frame` rows) for ``period``: ``None`` when no account ends a run of
    estimated bills. Periods are re-rated oldest first, so each sees the kWh differences
    before it."""
    actual = frame.loc[~frame["estimated"].to_numpy(bool), "account_id"]
    few = actual.astype(int).tolist() if len(actual) <= repository.CHUNK else None
    since = _months_before(period.period_start, LOOKBACK_MONTHS)
    bills = repository.estimated_bills(session, since, period.period_start, few)
    runs = estimated_runs(bills, period.period_start)
    runs = runs[runs["account_id"].isin(actual)]
    if runs.empty:
        return None
    funds = repository.line_totals(session, runs["bill_id"].astype(int).tolist(), FUND_LINE_KIND)
    adjust: dict[int, dict[int, int]] = {}  # tier year → account → 0.0001 kWh
    rerated: list[pd.DataFrame] = []
    for (start, end), group in runs.groupby(["period_start", "period_end"], sort=True):
        accounts = group["account_id"].astype(int).tolist()
        meters = repository.billable_meters(session, start, end, accounts)
        year = adjust.setdefault(start.year, {})
        priced = reprice(MonthPeriod(start, end), meters, year)
        bills_now = priced.bills[priced.bills["rating_error"] == ""]
        rows = bills_now.index.to_numpy()
        fund_lines = priced.lines[priced.lines["kind"] == FUND_LINE_KIND]
        funds_now = fund_lines.groupby("bill")["amount_minor"].sum()
        now = pd.DataFrame(
            {
                "account_id": bills_now["account_id"].to_numpy(np.int64),
                "kwh_now": bills_now["kwh_total"].to_numpy(np.int64),
                "total_now": bills_now["total_minor"].to_numpy(np.int64),
                "funds_now": funds_now.reindex(rows).fillna(0).to_numpy(np.int64),
            }
        )
        done = group.astype({"account_id": np.int64}).merge(now, on="account_id")
        done["kwh_was"] = [int(Decimal(k) * KWH_SCALE) for k in done["kwh"]]
        done["funds_was"] = done["bill_id"].map(funds).fillna(0).astype(np.int64)
        for account, was, kwh_now in done[["account_id", "kwh_was", "kwh_now"]].itertuples(
            index=False
        ):
            year[account] = year.get(account, 0) + kwh_now - was
        rerated.append(done)
    if not rerated:
        return None
    done = pd.concat(rerated, ignore_index=True)
    row_of = pd.Series(np.arange(len(frame)), index=frame["account_id"].astype(np.int64))
    lines = _lines(done, row_of)
    this_year = adjust.get(period.period_start.year, {})
    kwh_adjust = frame["account_id"].map(this_year).fillna(0).to_numpy(np.int64)
    return TrueUps(lines, kwh_adjust)


def _lines(done: pd.DataFrame, row_of: pd.Series) -> pd.DataFrame:
    """A ``true_up`` line per re-rated bill, and a ``funds`` line where its funds changed."""
    records: list[tuple[object, ...]] = []
    for bill in done.itertuples(index=False):
        funds = int(bill.funds_now) - int(bill.funds_was)
        charges = int(bill.total_now) - int(bill.total_minor) - funds
        was = Decimal(int(bill.kwh_was)) / KWH_SCALE
        now = Decimal(int(bill.kwh_now)) / KWH_SCALE
        diff = now - was
        span = f"{bill.period_start:%Y-%m-%d}–{bill.period_end:%Y-%m-%d}"
        row = int(row_of[int(bill.account_id)])
        records.append(
            (
                row,
                TRUE_UP_KIND,
                f"{TRUE_UP_TEXT} {bill.bill_no} ({span}): 按实抄 {now.normalize():f} kWh 重算, "
                f"原估 {was.normalize():f} kWh, 差 {diff.normalize():+f} kWh",
                float(diff),
                charges,
            )
        )
        if funds:
            records.append(
                (row, FUND_LINE_KIND, f"{FUNDS_TRUE_UP_TEXT} {bill.bill_no}", float(diff), funds)
            )
    lines = pd.DataFrame(records, columns=["bill", "kind", "description", "quantity", "amount"])
    return pd.DataFrame(
        {
            "bill": lines["bill"].to_numpy(np.int64),
            "seq": lines.groupby("bill").cumcount().to_numpy() + 1,
            "kind": lines["kind"],
            "description": lines["description"],
            "quantity": lines["quantity"],
            "unit": "kWh",
            "unit_price": 0.0,
            "amount_minor": lines["amount"].to_numpy(np.int64),
        },
        columns=list(LINE_COLUMNS),
    )
