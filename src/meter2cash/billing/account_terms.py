"""Per-account rating inputs the meter data does not carry, for a whole bill cycle.

Some tariff rules need a fact about the account besides its determinants: contract demand
(按合同最大需量, from the service point), the household size for household tier bounds, the
actual maximum demands of earlier bills for a demand ratchet, and the export credit the last
bill carried forward under net metering. Each is read in one query for the whole cycle, only
for the accounts on a tariff with a version in force in the cycle that uses it, and joined to
the cycle's frame as a column (:data:`TERM_COLUMNS`); accounts on other tariffs get the "none"
value without a query, so ordinary accounts cost nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.orm import Session

from meter2cash.billing import repository
from meter2cash.billing.cycles import MonthPeriod
from meter2cash.billing.pricing import KWH_SCALE, IntArray, carried_export
from meter2cash.tariffs.demand import DemandHistory
from meter2cash.tariffs.schema import (
    DemandCharge,
    NetMetering,
    TariffDocument,
    TariffVersion,
    TieredEnergy,
    TierIncrement,
)

Term = Literal["contract_demand", "household", "demand_history", "export_credit"]

TERM_COLUMNS: Final = (
    "contract_demand_kw",
    "household_persons",
    "demand_history",
    "carried_export_in",
)
"""Columns :func:`with_account_terms` adds: contract demand [0.0001 kW, int64, ``-1`` = none
on file], household size [persons, int64, 0 = none on file], :class:`DemandHistory` (object,
``None`` where the tariff has no ratchet) and the export credit carried in [0.0001 kWh,
int64, 0 = none]."""


def terms_used(version: TariffVersion) -> frozenset[Term]:
    """The per-account inputs ``version``'s rules read."""
    used: set[Term] = set()
    for component in version.components:
        match component:
            case DemandCharge():
                if component.excess is not None:
                    used.add("contract_demand")
                if component.ratchet is not None:
                    used.add("demand_history")
            case TieredEnergy() | TierIncrement():
                if component.household is not None:
                    used.add("household")
            case NetMetering():
                if component.carry_over:
                    used.add("export_credit")
    return frozenset(used)


def versions_in_force(doc: TariffDocument, period: MonthPeriod) -> list[TariffVersion]:
    """Every version of ``doc`` in force on some day of ``period``, oldest first (more
    than one when a version takes effect inside it)."""
    later = [v for v in doc.versions if period.period_start < v.effective_from <= period.period_end]
    return [doc.version_on(period.period_start), *later]


def ratchet_months(version: TariffVersion) -> int:
    """Bill months a ratchet of ``version`` looks back over (0 without one)."""
    return max(
        (
            c.ratchet.months
            for c in version.components
            if isinstance(c, DemandCharge) and c.ratchet is not None
        ),
        default=0,
    )


def _month(day: date) -> date:
    return day.replace(day=1)


def _months_before(day: date, months: int) -> date:
    """The first of the month ``months`` before ``day``'s month."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _q4(values: pd.Series) -> IntArray:
    """Decimal quantities [kWh, kW] as int64 of 0.0001 units (store precision: exact)."""
    return np.asarray([int(v * KWH_SCALE) for v in values], np.int64)


def demand_histories(peaks: pd.DataFrame, account_ids: pd.Series) -> pd.Series:
    """A :class:`DemandHistory` per entry of ``account_ids`` from ``peaks``
    (:func:`repository.demand_peaks`: account_id, period_end, max_demand_kw [kW]): each earlier
    bill month keyed by the month its period ended in, the largest where a month has several
    bills; an empty history for an account without earlier bills."""
    by_account: dict[int, dict[date, Decimal]] = {}
    for account_id, period_end, kw in peaks.itertuples(index=False):
        months = by_account.setdefault(int(account_id), {})
        month = _month(period_end)
        months[month] = max(months.get(month, kw), kw)
    return pd.Series(
        [DemandHistory(by_account.get(int(a), {})) for a in account_ids],
        index=account_ids.index,
        dtype=object,
    )


def with_account_terms(
    session: Session,
    frame: pd.DataFrame,
    tariffs: Mapping[str, TariffDocument],
    period: MonthPeriod,
) -> pd.DataFrame:
    """``frame`` (rows of :func:`~meter2cash.billing.determinant_frame.determinant_frame`)
    with :data:`TERM_COLUMNS` for ``period``.

    A household size below 1 (the simulator gives 0 to non-residential accounts) counts as
    none on file: the tariff's base bounds apply. Demand history is the live (not cancelled)
    bills' maximum demand over the longest ratchet window of the cycle's tariffs; the credit
    carried in is that of the account's latest live bill before the period.
    """
    versions = {code: versions_in_force(doc, period) for code, doc in tariffs.items()}
    codes = frame["tariff_code"].to_numpy()
    accounts = frame["account_id"]

    def users(term: Term) -> tuple[list[str], npt.NDArray[np.bool_], list[int] | None]:
        """Tariffs using ``term`` in a version in force, the rows on them, and their
        accounts when few."""
        using = sorted(c for c, vs in versions.items() if any(term in terms_used(v) for v in vs))
        rows = np.isin(codes, using) if using else np.zeros(len(frame), bool)
        ids = accounts[rows].astype(int).tolist()
        return using, rows, ids if len(ids) <= repository.CHUNK else None

    n = len(frame)
    contract = np.full(n, -1, np.int64)
    using, rows, ids = users("contract_demand")
    if rows.any():
        on_file = accounts[rows].map(repository.contract_demands(session, using, ids))
        known = on_file.notna().to_numpy()
        contract[np.flatnonzero(rows)[known]] = _q4(on_file[known])

    persons = np.zeros(n, np.int64)
    using, rows, ids = users("household")
    if rows.any():
        sizes = accounts[rows].map(repository.household_sizes(session, using, ids))
        persons[rows] = np.maximum(sizes.fillna(0).to_numpy(np.int64), 0)

    history = np.full(n, None, dtype=object)
    using, rows, ids = users("demand_history")
    if rows.any():
        months = max(ratchet_months(v) for c in using for v in versions[c])
        since = _months_before(period.period_start, months)
        peaks = repository.demand_peaks(session, using, since, period.period_start, ids)
        history[rows] = demand_histories(peaks, accounts[rows]).to_numpy()

    carried = np.zeros(n, np.int64)
    using, rows, ids = users("export_credit")
    if rows.any():
        credit = accounts[rows].map(
            repository.carried_exports(session, using, period.period_start, ids)
        )
        known = credit.notna().to_numpy()
        carried[np.flatnonzero(rows)[known]] = _q4(credit[known])

    return frame.assign(
        contract_demand_kw=contract,
        household_persons=persons,
        demand_history=history,
        carried_export_in=carried,
    )


def carried_exports_out(
    frame: pd.DataFrame, tariffs: Mapping[str, TariffDocument], period: MonthPeriod
) -> IntArray:
    """Export credit [0.0001 kWh] each row of a priced ``frame`` carries to its next bill
    (``-1`` = none: its tariff carries no credit). A row that could not be rated
    (``rating_error`` not empty) passes the credit it had on, unused."""
    out = np.full(len(frame), -1, np.int64)
    codes = frame["tariff_code"].to_numpy()
    for code in pd.unique(codes):
        version = tariffs[str(code)].version_on(period.period_start)
        if "export_credit" not in terms_used(version):
            continue
        rows = np.flatnonzero(codes == code)
        out[rows] = carried_export(version, frame.iloc[rows])
        if "rating_error" in frame:
            unrated = rows[frame["rating_error"].to_numpy()[rows] != ""]
            out[unrated] = frame["carried_export_in"].to_numpy(np.int64)[unrated]
    return out
