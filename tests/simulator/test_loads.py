"""Load levels and shapes: class averages, weekly pattern, season."""

from __future__ import annotations

from datetime import date

import pandas as pd

from meter2cash.simulator import SimulatedUtility, UtilitySpec, build_utility


def _daily_by_class(utility: SimulatedUtility) -> pd.DataFrame:
    truth = utility.ground_truth().true_daily_kwh
    meters = utility.meters.merge(
        utility.service_points, left_on="service_point_code", right_on="code"
    )
    meters = meters.merge(utility.accounts, on="account_no").merge(
        utility.customers, on="customer_no"
    )
    frame = truth.merge(meters[["meter_no", "customer_class"]], on="meter_no")
    return frame.merge(utility.day_types(), on="local_date")


def test_class_averages_are_believable(utility: SimulatedUtility) -> None:
    mean = _daily_by_class(utility).groupby("customer_class")["kwh"].mean()
    assert 6 <= mean["residential"] <= 12
    assert 100 <= mean["commercial"] <= 600
    assert 2_000 <= mean["industrial"] <= 20_000


def test_commercial_load_drops_at_weekends(utility: SimulatedUtility) -> None:
    frame = _daily_by_class(utility)
    commercial = frame[frame["customer_class"] == "commercial"]
    by_type = commercial.groupby("day_type")["kwh"].mean()
    assert by_type["weekend"] < 0.8 * by_type["workday"]


def test_summer_air_conditioning_raises_residential_load(utility: SimulatedUtility) -> None:
    spring = build_utility(UtilitySpec(seed=7, accounts=300, start=date(2026, 4, 13), days=14))
    frames = [_daily_by_class(u) for u in (spring, utility)]
    residential = [f[f["customer_class"] == "residential"]["kwh"].mean() for f in frames]
    assert residential[1] > 1.25 * residential[0]


def test_commercial_power_factor_spread(utility: SimulatedUtility) -> None:
    frames = [utility.collect_day(utility.spec.start).intervals.to_pandas()]
    day = pd.concat(frames).pivot_table(
        index="meter_no", columns="channel", values="value", aggfunc="sum"
    )
    power_factor = day["kWh"] / (day["kWh"] ** 2 + day["kvarh"] ** 2) ** 0.5
    assert power_factor.between(0.78, 0.98).all()
    assert power_factor.max() - power_factor.min() > 0.08
