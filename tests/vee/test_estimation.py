"""Estimation methods on series whose right answer is known by construction."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from meter2cash.core.errors import InputError
from meter2cash.core.timezones import zone
from meter2cash.vee import estimation as est
from meter2cash.vee.backtest import punch_gaps, score
from meter2cash.vee.estimation import RegisterSpans, make_grid

TZ = zone("Asia/Shanghai")
ETT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ett" / "ETTh2.csv"
PER_DAY = 96


def stamps(days: int, start: str = "2026-09-07", freq: str = "15min") -> pd.DatetimeIndex:
    """Interval starts from local midnight of ``start`` (a Monday by default)."""
    per_day = {"15min": 96, "1h": 24}[freq]
    return pd.date_range(start, periods=days * per_day, freq=freq, tz=TZ)


def daily_shape() -> np.ndarray:
    """A load shape over the day: low at night, high in the afternoon [kWh per interval]."""
    slot = np.arange(PER_DAY)
    return 1.0 + 0.8 * np.sin(2 * np.pi * (slot - 30) / PER_DAY)


def test_grid_days_slots_and_day_types() -> None:
    ts = stamps(14, start="2026-09-28")  # Monday; 1–7 October is the National Day holiday
    grid = make_grid(ts, TZ, holidays={date(2026, 10, d) for d in range(1, 8)})
    assert grid.points_per_day == 96 and grid.days == 14 and grid.first_day == date(2026, 9, 28)
    assert grid.slot[:3].tolist() == [0, 1, 2] and grid.day[96] == 1
    assert [est.DAY_TYPES[t] for t in grid.day_type[:7]] == [
        "workday",
        "workday",
        "workday",
        "holiday",
        "holiday",
        "holiday",
        "holiday",
    ]
    assert est.DAY_TYPES[grid.day_type[12]] == "weekend"


def test_grid_local_days_from_utc_stamps() -> None:
    grid = make_grid(stamps(2).tz_convert("UTC"), TZ)
    assert grid.day[0] == 0 and grid.slot[0] == 0 and grid.day[96] == 1


@pytest.mark.parametrize(
    ("ts", "problem"),
    [
        (pd.date_range("2026-07-01", periods=4, freq="15min"), "naive"),
        (
            pd.DatetimeIndex(["2026-07-01 00:00", "2026-07-01 00:15", "2026-07-01 00:45"], tz=TZ),
            "regular",
        ),
        (pd.date_range("2026-07-01", periods=4, freq="7min", tz=TZ), "does not divide a day"),
    ],
)
def test_grid_rejects_bad_stamps(ts: pd.DatetimeIndex, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        make_grid(ts, TZ)


# Linear ----------------------------------------------------------------------------------------
def test_linear_between_anchors_and_labels() -> None:
    values = np.array([1.0, np.nan, np.nan, 4.0, np.nan, 2.0, np.nan])
    result = est.estimate_linear(values)
    assert result.values[:6].tolist() == [1.0, 2.0, 3.0, 4.0, 3.0, 2.0]
    assert np.isnan(result.values[6])  # open at the end: no second anchor
    assert result.method.tolist() == [
        "actual",
        "linear",
        "linear",
        "actual",
        "linear",
        "actual",
        "missing",
    ]
    gaps = result.gaps
    assert gaps[["start", "stop", "left_anchor", "right_anchor"]].values.tolist() == [
        [1, 3, 0, 3],
        [4, 5, 3, 5],
        [6, 7, -1, -1],  # not filled: no inputs recorded
    ]
    assert gaps["method"].tolist() == ["linear", "linear", "missing"]


def test_linear_leaves_gaps_longer_than_the_limit() -> None:
    values = np.array([1.0, np.nan, 3.0, np.nan, np.nan, np.nan, 7.0])
    result = est.estimate_linear(values, max_points=2)
    assert result.values[1] == 2.0 and np.isnan(result.values[3:6]).all()


# Previous day -----------------------------------------------------------------------------------
def test_previous_day_copies_the_last_measured_day() -> None:
    ts = stamps(4)
    values = np.tile(daily_shape(), 4) * np.repeat([1.0, 2.0, 3.0, 4.0], PER_DAY)
    holed = values.copy()
    holed[2 * PER_DAY + 10 : 3 * PER_DAY + 20] = np.nan  # from day 2 into day 3
    result = est.estimate_previous_day(holed, make_grid(ts, TZ))
    filled = result.values[2 * PER_DAY + 10 : 3 * PER_DAY + 20]
    expected = np.concatenate(
        [
            values[PER_DAY + 10 : 2 * PER_DAY],  # day 2 from day 1
            values[2 * PER_DAY : 2 * PER_DAY + 10],  # day 3 from day 2 where day 2 was read
            values[PER_DAY + 10 : PER_DAY + 20],  # ... and from day 1 where it was not
        ]
    )
    np.testing.assert_allclose(filled, expected)
    assert set(result.method[2 * PER_DAY + 10 : 3 * PER_DAY + 20]) == {"previous_day"}
    refs = result.reference_days
    assert refs[["day", "reference_day"]].astype(str).values.tolist() == [
        ["2026-09-09", "2026-09-08"],
        ["2026-09-10", "2026-09-08"],
        ["2026-09-10", "2026-09-09"],
    ]


# Like day ---------------------------------------------------------------------------------------
def test_like_day_recovers_a_repeating_shape_exactly() -> None:
    ts = stamps(28)
    values = np.tile(daily_shape(), 28)
    holed = values.copy()
    holed[15 * PER_DAY + 8 : 16 * PER_DAY + 40] = np.nan
    result = est.estimate_like_day(holed, make_grid(ts, TZ))
    np.testing.assert_allclose(result.values, values, rtol=1e-12)
    assert set(result.method[np.isnan(holed)]) == {"like_day"}
    gap = result.gaps.iloc[0]
    assert gap["left_scale"] == pytest.approx(1.0) and gap["right_scale"] == pytest.approx(1.0)


def test_like_day_joins_the_data_on_both_sides() -> None:
    """Level 2 before the gap, 3 after: the estimate starts at 2× and ends at 3× the shape."""
    ts = stamps(28)
    shape = np.tile(daily_shape(), 28)
    start, stop = 14 * PER_DAY + 20, 17 * PER_DAY + 60
    values = shape * np.where(np.arange(len(shape)) < start, 2.0, 3.0)
    holed = values.copy()
    holed[start:stop] = np.nan
    result = est.estimate_like_day(holed, make_grid(ts, TZ))
    assert result.values[start] == pytest.approx(2 * shape[start], rel=0.03)
    assert result.values[stop - 1] == pytest.approx(3 * shape[stop - 1], rel=0.03)
    gap = result.gaps.iloc[0]
    assert gap["left_anchor"] == start - 1 and gap["right_anchor"] == stop
    # the like days mix levels 2 and 3; the scale takes each side to its own level
    assert 2 < 2 / gap["left_scale"] < 3 and 2 < 3 / gap["right_scale"] < 3


def test_like_day_takes_the_weekend_shape_for_a_weekend_gap() -> None:
    ts = stamps(35)  # starts on a Monday
    grid = make_grid(ts, TZ)
    weekend = np.repeat(grid.day_type == est.WEEKEND, PER_DAY)
    flat = np.full(PER_DAY, 0.5)
    values = np.where(weekend, np.tile(flat, 35), np.tile(daily_shape(), 35))
    saturday = 19 * PER_DAY
    holed = values.copy()
    holed[saturday + 4 : saturday + 92] = np.nan
    result = est.estimate_like_day(holed, grid)
    np.testing.assert_allclose(result.values[saturday : saturday + PER_DAY], 0.5, rtol=1e-9)
    refs = result.reference_days
    assert (pd.DatetimeIndex(refs["reference_day"]).day_of_week >= 5).all()


def test_like_day_treats_holidays_as_holidays() -> None:
    """1–7 October are a holiday week with a low flat load; a gap on 2 October (a Friday)
    follows the other holidays, not the workdays around it."""
    days = 42
    ts = stamps(days, start="2026-09-07")
    holidays = {date(2026, 10, d) for d in range(1, 8)}
    grid = make_grid(ts, TZ, holidays=holidays)
    off = np.repeat(grid.day_type != est.WORKDAY, PER_DAY)
    values = np.where(off, 0.4, np.tile(daily_shape(), days))
    day = (date(2026, 10, 2) - date(2026, 9, 7)).days * PER_DAY
    holed = values.copy()
    holed[day + 8 : day + 88] = np.nan
    result = est.estimate_like_day(holed, grid)
    np.testing.assert_allclose(result.values[day : day + PER_DAY], 0.4, rtol=1e-9)
    without = est.estimate_like_day(holed, make_grid(ts, TZ))
    assert np.abs(without.values[day + 8 : day + 88] - 0.4).max() > 0.1


def test_like_day_prefers_days_of_similar_temperature() -> None:
    """Hot days draw twice the load; the reference days for a hot day are hot days."""
    days = 35
    ts = stamps(days)
    rng = np.random.default_rng(7)
    hot_day = rng.random(days) < 0.5
    hot_day[17] = True
    temperature = np.repeat(np.where(hot_day, 34.0, 22.0), PER_DAY)
    values = np.tile(daily_shape(), days) * np.repeat(np.where(hot_day, 2.0, 1.0), PER_DAY)
    holed = values.copy()
    holed[17 * PER_DAY : 18 * PER_DAY] = np.nan
    grid = make_grid(ts, TZ)
    result = est.estimate_like_day(holed, grid, temperature=temperature)
    refs = result.reference_days
    ref_days = pd.DatetimeIndex(refs["reference_day"]).date - date(2026, 9, 7)
    heavy = refs["weight"].to_numpy() > 0.05
    assert all(hot_day[[d.days for d in ref_days[heavy]]])
    blind = est.estimate_like_day(holed, grid)
    day = slice(17 * PER_DAY, 18 * PER_DAY)
    assert (
        np.abs(result.values[day] - values[day]).sum()
        < np.abs(blind.values[day] - values[day]).sum()
    )


def test_like_day_leaves_a_gap_without_like_days() -> None:
    values = np.array([1.0, np.nan, np.nan, 2.0] * 24)  # one day only
    result = est.estimate_like_day(values, make_grid(stamps(1), TZ))
    assert set(result.method[np.isnan(values)]) == {"missing"}


# Register anchored ----------------------------------------------------------------------------
def test_register_spreads_the_delta_exactly_by_the_like_day_shape() -> None:
    ts = stamps(21)
    values = np.round(np.tile(daily_shape(), 21) * 1.3, 4)
    holed = values.copy()
    day = 10 * PER_DAY
    holed[day + 5 : day + 60] = np.nan
    delta = 150.1234  # the day's register difference [kWh]
    spans = RegisterSpans.of([(0, day, day + PER_DAY, delta)])
    result = est.estimate_register_anchored(holed, make_grid(ts, TZ), spans)
    day_values = result.values[day : day + PER_DAY]
    assert sum(Decimal(f"{v:.4f}") for v in day_values) == Decimal("150.1234")
    assert set(result.method[day + 5 : day + 60]) == {"register"}
    assert result.gaps.iloc[0]["delta_kwh"] == delta
    # spread by the shape: proportional to the true values within the gap
    gap = result.values[day + 5 : day + 60]
    ratio = gap / values[day + 5 : day + 60]
    assert ratio.std() / ratio.mean() < 0.01
    assert (gap >= 0).all()


def test_register_needs_the_gap_inside_one_span_and_a_positive_remainder() -> None:
    ts = stamps(14)
    values = np.tile(daily_shape(), 14)
    holed = values.copy()
    holed[5 * PER_DAY - 4 : 5 * PER_DAY + 4] = np.nan  # across midnight
    holed[8 * PER_DAY + 10 : 8 * PER_DAY + 20] = np.nan
    spans = RegisterSpans.of(
        [
            (0, 5 * PER_DAY, 6 * PER_DAY, 100.0),  # holds only part of the first gap
            (0, 8 * PER_DAY, 9 * PER_DAY, 1.0),  # less than the measured intervals
        ]
    )
    result = est.estimate_register_anchored(holed, make_grid(ts, TZ), spans)
    assert set(result.method[np.isnan(holed)]) == {"missing"}


def test_register_rejects_overlapping_spans() -> None:
    values = np.tile(daily_shape(), 3)
    values[10] = np.nan
    spans = RegisterSpans.of([(0, 0, 50, 10.0), (0, 40, 96, 10.0)])
    with pytest.raises(InputError, match="overlap"):
        est.estimate_register_anchored(values, make_grid(stamps(3), TZ), spans)


# The default chain --------------------------------------------------------------------------------
def test_estimate_fills_every_gap_and_says_how() -> None:
    ts = stamps(21)
    values = np.tile(daily_shape(), 21)
    holed = values.copy()
    holed[:3] = np.nan  # at the start: like days after it
    holed[500:520] = np.nan
    holed[-7:] = np.nan
    result = est.estimate(holed, make_grid(ts, TZ))
    assert not np.isnan(result.values).any()
    np.testing.assert_allclose(result.values, values, rtol=1e-9)
    assert set(result.method[np.isnan(holed)]) == {"like_day"}
    assert result.method[3] == "actual"


def test_estimate_falls_back_when_there_are_no_like_days() -> None:
    values = np.array([np.nan, 2.0, np.nan, np.nan, 5.0, np.nan, np.nan] + [3.0] * 89)
    result = est.estimate(values, make_grid(stamps(1), TZ))
    assert result.method[:7].tolist() == [
        "nearest",
        "actual",
        "linear",
        "linear",
        "actual",
        "linear",
        "linear",
    ]
    assert not np.isnan(result.values).any()


def test_estimate_uses_register_spans_first() -> None:
    ts = stamps(14)
    values = np.round(np.tile(daily_shape(), 14), 4)
    holed = values.copy()
    holed[PER_DAY * 6 + 10 : PER_DAY * 6 + 30] = np.nan
    spans = RegisterSpans.of([(0, PER_DAY * 6, PER_DAY * 7, 120.0)])
    result = est.estimate(holed, make_grid(ts, TZ), spans=spans)
    assert set(result.method[np.isnan(holed)]) == {"register"}
    day = result.values[PER_DAY * 6 : PER_DAY * 7]
    assert sum(Decimal(f"{v:.4f}") for v in day) == Decimal("120.0000")


def test_a_batch_is_the_same_as_its_series_one_by_one() -> None:
    ts = stamps(21)
    grid = make_grid(ts, TZ)
    rng = np.random.default_rng(3)
    batch = np.tile(daily_shape(), (3, 21)) * rng.uniform(0.8, 1.2, size=(3, 21 * PER_DAY))
    removed = punch_gaps(batch.shape, 30, 3, rng, skip_start=PER_DAY)
    holed = np.where(removed, np.nan, batch)
    together = est.estimate(holed, grid)
    for row in range(3):
        alone = est.estimate(holed[row], grid)
        np.testing.assert_allclose(together.values[row], alone.values, rtol=1e-12)
        assert (together.method[row] == alone.method).all()
    assert set(together.gaps["series"]) == {0, 1, 2}


@settings(max_examples=60, deadline=None)
@given(
    values=hnp.arrays(
        np.float64,
        4 * 24,
        elements=st.one_of(st.just(np.nan), st.floats(0, 50, allow_nan=False)),
    ),
    delta=st.floats(0, 500),
)
def test_estimates_are_never_negative(values: np.ndarray, delta: float) -> None:
    grid = make_grid(stamps(4, freq="1h"), TZ)
    spans = RegisterSpans.of([(0, 24, 48, round(delta, 4))])
    for result in (
        est.estimate(values, grid),
        est.estimate_linear(values),
        est.estimate_like_day(values, grid),
        est.estimate_previous_day(values, grid),
        est.estimate_register_anchored(values, grid, spans),
    ):
        filled = result.values[np.isfinite(result.values)]
        assert (filled >= 0).all()
        assert ((result.method == "actual") == np.isfinite(values)).all()
        np.testing.assert_array_equal(
            result.values[np.isfinite(values)], values[np.isfinite(values)]
        )


# Real data ----------------------------------------------------------------------------------------
@pytest.mark.skipif(not ETT.exists(), reason=f"reference data absent: {ETT}")
def test_like_day_beats_linear_on_real_transformer_load() -> None:
    frame = pd.read_csv(ETT, usecols=["date", "HUFL"], nrows=120 * 24)
    ts = pd.DatetimeIndex(pd.to_datetime(frame["date"])).tz_localize(TZ)
    actual = frame["HUFL"].to_numpy(dtype=np.float64)[None, :]
    grid = make_grid(ts, TZ)
    rng = np.random.default_rng(11)
    for hours in (6, 24):
        removed = punch_gaps(actual.shape, hours, 30, rng, skip_start=24)
        holed = np.where(removed, np.nan, actual)
        like = score(actual, est.estimate_like_day(holed, grid).values, removed)
        linear = score(actual, est.estimate_linear(holed).values, removed)
        assert like.filled == 1.0 and linear.filled == 1.0
        assert like.wape < 0.9 * linear.wape, (hours, like, linear)


def test_one_day_of_15_minute_gaps_is_estimated_with_previous_weeks() -> None:
    """A whole day missing: like days from the weeks around it, linear cannot do it."""
    ts = stamps(28)
    values = np.tile(daily_shape(), 28) * np.repeat(1 + 0.1 * np.sin(np.arange(28)), PER_DAY)
    holed = values.copy()
    holed[20 * PER_DAY : 21 * PER_DAY] = np.nan
    removed = np.isnan(holed)
    like = score(values, est.estimate_like_day(holed, make_grid(ts, TZ)).values, removed)
    linear = score(values, est.estimate_linear(holed).values, removed)
    assert like.wape < 0.5 * linear.wape


def test_gaps_before_fill_from_are_history_left_as_they_are() -> None:
    """A job estimating one window reads the days before it; their gaps stay missing."""
    ts = pd.date_range("2026-07-01", periods=3 * 96, freq="15min", tz=TZ)
    values = np.tile(np.linspace(0.5, 1.5, 96), 3)
    values[10:20] = np.nan  # day 1: history
    values[2 * 96 + 30 : 2 * 96 + 40] = np.nan  # day 3: the window
    result = est.estimate(values, make_grid(ts, TZ), fill_from=2 * 96)
    assert np.isnan(result.values[10:20]).all() and set(result.method[10:20]) == {"missing"}
    assert np.isfinite(result.values[2 * 96 + 30 : 2 * 96 + 40]).all()


def test_the_public_entry_exports_every_name_of_its_modules() -> None:
    from meter2cash.vee import gaps, grid, like_day, register_spread

    assert all(hasattr(est, name) for name in est.__all__)
    assert est.Grid is grid.Grid and est.Estimate is gaps.Estimate
    assert est.LikeDay is like_day.LikeDay and est.RegisterSpans is register_spread.RegisterSpans
    assert set(est.METHODS) == {
        "actual",
        "linear",
        "like_day",
        "register",
        "previous_day",
        "nearest",
        "missing",
    }
