"""The C&I meters' reactive (``R+``) and maximum-demand (``MD+``) registers: what they hold and
what the in-process head-end feed (``collect_day``) delivers of them."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from meter2cash.core.timezones import local_midnight, zone
from meter2cash.simulator import DayCollection, SimulatedUtility, UtilitySpec, build_utility


@pytest.fixture(scope="module")
def month_end() -> SimulatedUtility:
    """60 accounts, 28 Jul – 3 Aug 2026: the settlement of 1 Aug falls inside."""
    return build_utility(UtilitySpec(seed=7, accounts=60, start=date(2026, 7, 28), days=7))


def test_collect_day_delivers_reactive_and_demand_of_the_read_curve_meters(
    utility: SimulatedUtility, collections: list[DayCollection], registers: pd.DataFrame
) -> None:
    curve = utility.meters["records_intervals"].to_numpy(dtype=np.bool_)
    index = pd.Index(utility.meters["meter_no"])
    for d, day in enumerate(collections):
        reads = day.register_reads.to_pandas()
        read_meters = set(reads["meter_no"])
        for channel, register, decimals in (
            ("R+", utility.reactive_register, 2),
            ("MD+", utility.demand_register, 4),
        ):
            rows = reads[reads["channel"] == channel]
            assert rows["meter_no"].is_unique  # never delivered twice
            assert set(rows["meter_no"]) == read_meters & set(index[curve])
            expected = np.round(register[d, index.get_indexer(rows["meter_no"])], decimals)
            assert (rows["value"].to_numpy() == expected).all()
            assert (
                rows["ts"]
                == local_midnight(day.day + timedelta(days=1), zone(utility.spec.timezone))
            ).all()
    reactive = registers[registers["channel"] == "R+"].sort_values("ts")
    assert (reactive.groupby("meter_no")["value"].diff().dropna() >= 0).all()


def test_residential_meters_keep_no_demand_register(utility: SimulatedUtility) -> None:
    curve = utility.meters["records_intervals"].to_numpy(dtype=np.bool_)
    assert np.isnan(utility.demand_register[:, ~curve]).all()
    assert np.isnat(utility.demand_time[:, ~curve]).all()
    assert not np.isnan(utility.demand_register[:, curve]).any()


def test_demand_is_the_running_quarter_hour_maximum_cleared_on_the_1st(
    month_end: SimulatedUtility,
) -> None:
    utility = month_end
    tz = zone(utility.spec.timezone)
    days = [utility.spec.start + timedelta(days=d) for d in range(utility.spec.days)]
    peak, when = [], []  # per day and curve meter: highest quarter-hour [kW] and its end
    for day in days:
        recorded = utility.meter_day(day)
        quarter_hours = np.diff(recorded.forward_kwh, axis=1)
        slot = quarter_hours.argmax(axis=1)
        peak.append(quarter_hours.max(axis=1) * 4)
        when.append([local_midnight(day, tz) + timedelta(minutes=15 * (int(k) + 1)) for k in slot])
    meters = utility.meter_day(days[0]).curve_meters
    settlement = days.index(date(2026, 8, 1))
    for d in range(len(days)):
        since = settlement if d >= settlement else 0
        best = np.argmax(np.stack(peak[since : d + 1]), axis=0)  # first day reaching the max
        expected = np.stack(peak[since : d + 1]).max(axis=0)
        assert utility.demand_register[d, meters] == pytest.approx(expected, abs=1e-9)
        stamps = utility.demand_time[d, meters].astype("datetime64[s]").astype(np.int64)
        occurred = [when[since + b][m].timestamp() for m, b in enumerate(best)]
        assert stamps.tolist() == occurred
    cleared = (
        utility.demand_register[settlement, meters]
        < utility.demand_register[settlement - 1, meters]
    )
    assert cleared.sum() >= len(meters) // 2
