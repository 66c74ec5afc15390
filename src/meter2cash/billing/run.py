"""The bill run: determinants through the batch engine, rating, review, and persistence.

Determinants for every account of a month are computed in one engine query (intervals
for interval meters, register deltas for the rest); rating is the pure tariff functions;
bills and lines are written in bulk. Bills that pass review are ``approved``; the others
wait ``in_review`` for a person. :func:`price_accounts` is the pricing path of one period for
any set of accounts — the whole cycle here, one account in a rebill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from meter2cash.billing import repository
from meter2cash.billing.account_terms import carried_exports_out, with_account_terms
from meter2cash.billing.bill_store import bill_records, insert_bills
from meter2cash.billing.cycles import MonthPeriod, ensure_cycles
from meter2cash.billing.determinant_frame import determinant_frame
from meter2cash.billing.pricing import KWH_SCALE
from meter2cash.billing.rate_frame import PricedBills, rate_frame
from meter2cash.billing.review import DEFAULT_LIMITS, ReviewLimits, review
from meter2cash.billing.tariff_changes import SplitBills, rate_split
from meter2cash.billing.true_up import true_ups
from meter2cash.core.clock import Clock
from meter2cash.db.session import unit_of_work
from meter2cash.engines import BatchEngine
from meter2cash.holidays.repository import utility_calendar
from meter2cash.tariffs.schema import TariffDocument
from meter2cash.tariffs.service import store_tariffs

FEW_ACCOUNTS = 5000
"""Up to this many accounts, history queries name them; beyond, they read every account."""


@dataclass(frozen=True, slots=True)
class BillRunReport:
    period: MonthPeriod
    accounts: int
    billed: int
    in_review: int
    unbillable: int
    amount_minor: int


def price_accounts(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    tariffs: Mapping[str, TariffDocument],
    period: MonthPeriod,
    meters: pd.DataFrame,
    limits: ReviewLimits = DEFAULT_LIMITS,
    *,
    true_up: bool = True,
    kwh_before_adjust: Mapping[int, int] | None = None,
) -> PricedBills:
    """Determinants, rating and review of ``meters``' accounts (rows of
    :func:`repository.billable_meters`) for ``period``, from the current reads, tariffs and
    multipliers — the whole cycle in a bill run, one account in a rebill — with each
    account's own terms (:func:`with_account_terms`). Accounts without the reads to bill are
    left out; an account its tariff cannot rate is kept, with total 0, no lines, its
    ``rating_error`` and the export credit it had carried forward (``carried_export_out``),
    for review to hold. An actual bill after estimated ones carries their true-up
    (:func:`true_ups`; not with ``true_up`` False, as when re-rating those periods);
    ``kwh_before_adjust`` raises an account's kWh before in the tier year [0.0001 kWh]."""
    version_ids = store_tariffs(session, clock, tariffs)
    calendar = utility_calendar(session)
    frame = determinant_frame(engine, meters, tariffs, period, calendar)
    few = list(frame["account_id"]) if len(frame) <= FEW_ACCOUNTS else None
    tier_year = date(period.period_start.year, 1, 1)
    before = repository.kwh_billed_since(session, tier_year, period.period_start, few)
    billed_before = (
        frame["account_id"].map(pd.Series(before, dtype=object)).fillna(0).astype(np.float64)
    )
    versions = {
        code: (version_ids[(doc.code, doc.version_on(period.period_end).version)], doc.currency)
        for code, doc in tariffs.items()
    }
    frame = frame.assign(
        kwh_before=np.rint(billed_before.to_numpy(np.float64) * KWH_SCALE).astype(np.int64),
        version_id=frame["tariff_code"].map({c: v[0] for c, v in versions.items()}),
        currency=frame["tariff_code"].map({c: v[1] for c, v in versions.items()}),
    )
    if kwh_before_adjust:
        raised = frame["account_id"].map(kwh_before_adjust).fillna(0).to_numpy(np.int64)
        frame["kwh_before"] += raised
    frame = with_account_terms(session, frame, tariffs, period)
    trued = None
    if true_up:

        def reprice(
            earlier: MonthPeriod, accounts: pd.DataFrame, adjust: Mapping[int, int]
        ) -> PricedBills:
            return price_accounts(
                session,
                clock,
                engine,
                tariffs,
                earlier,
                accounts,
                limits,
                true_up=False,
                kwh_before_adjust=adjust,
            )

        trued = true_ups(session, frame, period, reprice)
        if trued is not None:
            frame["kwh_before"] += trued.kwh_before_adjust
    split = rate_split(engine, meters, frame, tariffs, period, calendar)
    totals, lines = _rate_unsplit(frame, tariffs, period, split)
    rating_error = np.full(len(frame), "", dtype=object)
    if (refused := lines["seq"].to_numpy() == 0).any():  # RATING_ERROR lines
        rating_error[lines["bill"].to_numpy(np.int64)[refused]] = lines["description"][refused]
        lines = lines[~refused].reset_index(drop=True)
    if trued is not None:
        totals, lines = trued.added_to(totals, lines, rating_error != "")
    frame["total_minor"] = totals
    frame["rating_error"] = rating_error
    frame["carried_export_out"] = carried_exports_out(frame, tariffs, period)
    if split is not None:
        frame.loc[split.rows, "carried_export_out"] = split.carried_export_out
    frame["review_reasons"] = _review(session, period, frame, limits)
    return PricedBills(frame, lines)


def _rate_unsplit(
    frame: pd.DataFrame,
    tariffs: Mapping[str, TariffDocument],
    period: MonthPeriod,
    split: SplitBills | None,
) -> tuple[npt.NDArray[np.int64], pd.DataFrame]:
    """:func:`rate_frame` of the rows not billed in parts, joined with the ``split`` rows'
    totals and lines."""
    if split is None:
        return rate_frame(frame, tariffs, period)
    whole = np.setdiff1d(np.arange(len(frame)), split.rows)
    totals = np.zeros(len(frame), np.int64)
    totals[split.rows] = split.totals
    parts = [split.lines]
    if whole.size:
        whole_totals, lines = rate_frame(frame.iloc[whole].reset_index(drop=True), tariffs, period)
        totals[whole] = whole_totals
        parts.append(lines.assign(bill=whole[lines["bill"].to_numpy(np.int64)]))
    lines = pd.concat(parts, ignore_index=True).sort_values(
        ["bill", "seq"], kind="stable", ignore_index=True
    )
    return totals, lines


def _review(
    session: Session, period: MonthPeriod, bills: pd.DataFrame, limits: ReviewLimits
) -> npt.NDArray[np.object_]:
    """Review's reasons per row of ``bills`` (a priced :func:`determinant_frame`)."""
    if bills.empty:
        return np.zeros(0, dtype=object)
    account_ids = bills["account_id"].tolist()
    few = account_ids if len(account_ids) <= FEW_ACCOUNTS else None
    places = repository.account_places(session, account_ids).set_index("account_id")
    closed = places["closed_on"].reindex(account_ids)
    demand = bills["max_demand_kw"].to_numpy()
    facts = pd.DataFrame(
        {
            "account_id": account_ids,
            "customer_class": bills["customer_class"].to_numpy(),
            "tariff_code": bills["tariff_code"].to_numpy(),
            "zone": places["zone"].reindex(account_ids).to_numpy(),
            "transformer_area": places["transformer_area"].reindex(account_ids).to_numpy(),
            "active": (closed.isna() | (closed > period.period_end)).to_numpy(),
            "days": bills["days"].to_numpy(),
            "kwh": bills["kwh_total"].to_numpy() / KWH_SCALE,
            "total": bills["total_minor"].to_numpy() / 100,
            "estimated": bills["estimated"].to_numpy(bool),
            "multiplier": bills["multiplier"].to_numpy(np.int64),
            "installed_in_period": bills["installed_in_period"].to_numpy(bool),
            "max_demand_kw": np.where(demand < 0, np.nan, demand / KWH_SCALE),
        }
    )
    if "rating_error" in bills and (bills["rating_error"].to_numpy() != "").any():
        facts["rating_error"] = bills["rating_error"].to_numpy()
    history = repository.recent_bills(session, period.period_start, account_ids=few)
    peers = repository.period_peers(
        session, period.period_start, facts["tariff_code"].unique().tolist(), account_ids
    )
    reasons: npt.NDArray[np.object_] = review(facts, history, peers, limits).to_numpy(object)
    return reasons


BATCH_ACCOUNTS: Final = 100_000
"""Accounts per bill-run batch: each batch's bills and lines commit together."""


def bill_month(
    records: Engine,
    clock: Clock,
    engine: BatchEngine,
    tariffs: Mapping[str, TariffDocument],
    period: MonthPeriod,
    limits: ReviewLimits = DEFAULT_LIMITS,
    batch: int = BATCH_ACCOUNTS,
) -> BillRunReport:
    """Bill every billable account for ``period`` that has no live bill yet.

    The cycle is priced and reviewed at once, then written ``batch`` accounts at a time,
    each batch's bills and lines in one transaction: a crash leaves whole batches, and
    running again bills only the accounts still without a bill. An account whose bill was
    rejected gets the next revision, replacing it.
    """
    with unit_of_work(records) as session:
        cycles = ensure_cycles(session, period)
        cycle_ids = list(cycles.values())
        meters = repository.billable_meters(session, period.period_start, period.period_end)
        if meters.empty:
            return BillRunReport(period, 0, 0, 0, 0, 0)
        done = repository.already_billed(session, cycle_ids)
        meters = meters[~meters["account_id"].isin(done)].reset_index(drop=True)
        if meters.empty:
            return BillRunReport(period, 0, 0, 0, 0, 0)
        priced = price_accounts(session, clock, engine, tariffs, period, meters, limits)
        dates = repository.cycle_dates(session, cycle_ids)
        rejected = repository.latest_revisions(session, cycle_ids)
    bills = priced.bills
    cycle_id = bills["route_id"].map(cycles)
    revision = bills["account_id"].map({a: r for a, (r, _) in rejected.items()})
    replaces = bills["account_id"].map({a: b for a, (_, b) in rejected.items()})
    records_all = bill_records(
        bills,
        period,
        cycle_id.to_numpy(np.int64),
        cycle_id.map({c: d.isoformat() for c, (d, _) in dates.items()}).to_numpy(),
        cycle_id.map({c: d.isoformat() for c, (_, d) in dates.items()}).to_numpy(),
        revision.fillna(-1).to_numpy(np.int64) + 1,
        replaces.to_numpy(np.float64),
    )
    line_bill = priced.lines["bill"].to_numpy(np.int64)
    for start in range(0, len(bills), batch):
        stop = min(start + batch, len(bills))
        lo, hi = np.searchsorted(line_bill, [start, stop])
        lines = priced.lines.iloc[lo:hi].assign(bill=line_bill[lo:hi] - start)
        part = {k: _slice(v, start, stop) for k, v in records_all.items()}
        with unit_of_work(records) as session:
            insert_bills(session, part, lines)
    held = bills["review_reasons"].to_numpy() != ""
    return BillRunReport(
        period=period,
        accounts=meters["account_id"].nunique(),
        billed=len(bills),
        in_review=int(held.sum()),
        unbillable=meters["account_id"].nunique() - len(bills),
        amount_minor=int(bills["total_minor"].sum()),
    )


def _slice(value: Any, start: int, stop: int) -> Any:
    if np.ndim(value) == 0:
        return value
    if isinstance(value, pd.Series):
        return value.iloc[start:stop].to_numpy()
    return value[start:stop]
