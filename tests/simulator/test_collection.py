"""Head-end data: registers, intervals, supply meters, reads, events, determinism."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from meter2cash.core.errors import InputError
from meter2cash.measurements.schema import ENERGY_REGISTERS
from meter2cash.simulator import DayCollection, SimulatedUtility, build_utility


def _wide(registers: pd.DataFrame) -> pd.DataFrame:
    """The active energy registers, one column per channel (R+ and MD+: test_registers.py)."""
    energy = registers[registers["channel"].isin(ENERGY_REGISTERS)]
    return energy.pivot_table(index=["meter_no", "ts"], columns="channel", values="value")


def test_schemas(collections: list[DayCollection]) -> None:
    day = collections[0]
    assert day.register_reads.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert day.intervals.column_names == ["meter_no", "channel", "ts", "value"]
    assert day.events.column_names == ["meter_no", "ts", "code", "detail"]
    assert set(day.register_reads.column("read_type").to_pylist()) == {"daily_frozen"}
    assert set(day.intervals.column("channel").to_pylist()) == {"kWh", "kvarh"}


def test_freeze_is_at_the_local_midnight_ending_the_day(collections: list[DayCollection]) -> None:
    ts = collections[0].register_reads.column("ts").to_pandas().unique()
    assert list(ts) == [pd.Timestamp("2026-07-01 16:00", tz="UTC")]  # 2026-07-02 00:00 +08:00
    starts = collections[0].intervals.column("ts").to_pandas()
    assert starts.min() == pd.Timestamp("2026-06-30 16:00", tz="UTC")
    assert starts.nunique() == 96


def test_total_is_sum_of_rates_and_registers_never_decrease(registers: pd.DataFrame) -> None:
    wide = _wide(registers)
    rates = wide[["A+1", "A+2", "A+3", "A+4"]].sum(axis=1)
    assert np.allclose(wide["A+"], rates, atol=0.011)
    assert (wide["A+"] >= wide[["A+1", "A+2", "A+3", "A+4"]].max(axis=1)).all()
    steps = wide.groupby(level="meter_no").diff().dropna()
    assert (steps >= 0).all().all()
    assert (wide.round(2) == wide).all().all()


def test_intervals_add_up_to_the_register_advance(
    collections: list[DayCollection], registers: pd.DataFrame
) -> None:
    totals = registers[registers["channel"] == "A+"].pivot_table(
        index="meter_no", columns="ts", values="value"
    )
    day = collections[5].intervals.to_pandas()
    kwh = day[day["channel"] == "kWh"].groupby("meter_no")["value"].sum()
    freeze = [c for c in totals.columns if c.date() == collections[5].day]
    before = totals.columns[totals.columns.get_loc(freeze[0]) - 1]
    advance = (totals[freeze[0]] - totals[before]).dropna()
    common = kwh.index.intersection(advance.index)
    assert len(common) > 20
    assert np.allclose(kwh[common], advance[common], atol=0.05)


def test_supply_meter_is_customers_truth_plus_technical_loss(
    utility: SimulatedUtility, meter_classes: pd.DataFrame
) -> None:
    truth = utility.ground_truth().true_daily_kwh.merge(meter_classes, on="meter_no")
    truth = truth.merge(utility.transformer_areas, left_on="transformer_area_code", right_on="code")
    customers = truth[truth["role"] == "customer"]
    expected = customers.groupby(["transformer_area_code", "local_date"]).agg(
        kwh=("kwh", "sum"), loss=("technical_loss_pct", "first")
    )
    expected = expected["kwh"] * (1 + expected["loss"] / 100)
    supply = truth[truth["role"] == "supply"].set_index(["transformer_area_code", "local_date"])
    assert np.allclose(supply["kwh"], expected[supply.index], rtol=1e-6)

    start = utility.spec.start
    day = utility.collect_day(start).intervals.to_pandas()
    recorded = day[day["channel"] == "kWh"].merge(meter_classes, on="meter_no")
    recorded = recorded[recorded["role"] == "supply"]
    primary = (recorded["value"] * recorded["multiplier"]).groupby(recorded["meter_no"]).sum()
    first_day = truth[(truth["local_date"] == start) & (truth["role"] == "supply")]
    assert np.allclose(primary, first_day.set_index("meter_no")["kwh"][primary.index], rtol=1e-3)


def test_read_failures_leave_gaps(collections: list[DayCollection]) -> None:
    expected = sum(c.meters_expected for c in collections)
    read = sum(c.meters_read for c in collections)
    assert 0.93 < read / expected < 0.995
    assert all(
        c.meters_read == c.register_reads.to_pandas()["meter_no"].nunique() for c in collections
    )


def test_failed_meters_go_silent(
    utility: SimulatedUtility, collections: list[DayCollection]
) -> None:
    failures = utility.ground_truth().failures
    assert set(failures["kind"]) == {"dead", "comm_loss"}
    for row in failures.itertuples():
        last = row.end if row.kind == "comm_loss" else utility.spec.end - timedelta(days=1)
        for c in collections:
            if row.start <= c.day <= last:
                assert row.meter_no not in c.register_reads.column("meter_no").to_pylist()


def test_theft_meters_record_less_than_truth(
    utility: SimulatedUtility, registers: pd.DataFrame, meter_classes: pd.DataFrame
) -> None:
    truth = utility.ground_truth()
    assert len(truth.theft) >= 1
    plus = registers[registers["channel"] == "A+"].merge(meter_classes, on="meter_no")
    plus["local_date"] = (plus["ts"] - pd.Timedelta(hours=16)).dt.date
    plus = plus.sort_values("ts")
    plus["kwh"] = plus.groupby("meter_no")["value"].diff() * plus["multiplier"]
    daily = plus.merge(truth.true_daily_kwh, on=["meter_no", "local_date"], suffixes=("", "_true"))
    checked = 0
    for theft in truth.theft.itertuples():
        after = daily[(daily["meter_no"] == theft.meter_no) & (daily["local_date"] > theft.start)]
        consecutive = after.dropna(subset=["kwh"])
        if len(consecutive):
            ratio = consecutive["kwh"].sum() / consecutive["kwh_true"].sum()
            assert ratio < 0.9
            assert ratio == pytest.approx(theft.factor, abs=0.05)
            checked += 1
    assert checked >= 1


def test_events_are_known_codes(collections: list[DayCollection]) -> None:
    codes = set(pa.concat_tables([c.events for c in collections]).column("code").to_pylist())
    known = {
        "power_down",
        "power_up",
        "cover_open",
        "terminal_box_open",
        "magnetic_tamper",
        "clock_drift",
        "reverse_energy",
    }
    assert codes <= known
    assert "clock_drift" in codes


def test_same_seed_gives_identical_days_in_any_order(
    utility: SimulatedUtility, collections: list[DayCollection]
) -> None:
    again = build_utility(utility.spec)
    later_first = again.collect_day(utility.spec.start + timedelta(days=3))
    assert later_first.register_reads.equals(collections[3].register_reads)
    assert later_first.intervals.equals(collections[3].intervals)
    assert later_first.events.equals(collections[3].events)
    pd.testing.assert_frame_equal(
        again.ground_truth().true_daily_kwh, utility.ground_truth().true_daily_kwh
    )


def test_other_seed_gives_other_data(
    utility: SimulatedUtility, collections: list[DayCollection]
) -> None:
    other = build_utility(replace(utility.spec, seed=utility.spec.seed + 1))
    assert not other.collect_day(utility.spec.start).register_reads.equals(
        collections[0].register_reads
    )


def test_days_outside_the_simulation_are_refused(utility: SimulatedUtility) -> None:
    with pytest.raises(InputError):
        utility.collect_day(date(2026, 6, 30))
    with pytest.raises(InputError):
        utility.collect_day(utility.spec.end)
