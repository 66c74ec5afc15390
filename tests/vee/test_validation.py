"""The validation rule chain on a hand-built store: each rule finds what it is for, on the
meters of the classes that run it, and nothing on clean data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from meter2cash.core.timezones import local_midnight, zone
from meter2cash.engines.duckdb_engine import DuckDBEngine
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee.history import HISTORY, fold
from meter2cash.vee.interval_estimates import estimate_intervals
from meter2cash.vee.validation import EVERY_RULE, RULES, Inputs, daily_kwh, facts_table, validate

TZ = zone("Asia/Shanghai")
FIRST, LAST = date(2026, 7, 1), date(2026, 7, 7)
DAYS = [FIRST + timedelta(days=i) for i in range(7)]
FLAT = 0.25
"""Every clean interval [kWh]: 24 kWh a day."""
WORKED = datetime(2026, 7, 5, 2, tzinfo=TZ)
"""When the CTs of BIG and TOU were changed; only TOU's meter logged the visit."""
ROLLING = [999_990.0, 999_999.0, 8.0, 17.0, 26.0, 35.0, 44.0, 53.0]
"""A 6-digit register passing 999,999 kWh."""
PEAK_DEMAND = [0.30, 0.12, 0.15, 0.18, 0.16, 0.18, -0.01, 0.20]
"""PEAK's MD+ freezes stamped 1 … 8 July [kW]: June's maximum, then July's own from the
freeze of the 2nd (the settlement); a fall on the 5th and a negative read on the 7th."""


def _midnight(day: date) -> datetime:
    return local_midnight(day, TZ)


def _curve(meter: str, day: date, values: np.ndarray) -> pd.DataFrame:
    start = _midnight(day)
    return pd.DataFrame(
        {
            "meter_no": meter,
            "channel": "kWh",
            "ts": [start + timedelta(minutes=15 * k) for k in range(96)],
            "value": values,
        }
    )


def _freezes(
    meter: str, totals: list[float], rates: list[list[float]] | None = None
) -> pd.DataFrame:
    """Freezes stamped FIRST … LAST + 1 (each closing the day before)."""
    rows = []
    for n, total in enumerate(totals):
        ts = _midnight(FIRST + timedelta(days=n))
        rows.append((meter, "A+", ts, total))
        split = rates[n] if rates else [total / 4] * 4
        rows += [(meter, f"A+{k + 1}", ts, split[k]) for k in range(4)]
    return pd.DataFrame(rows, columns=["meter_no", "channel", "ts", "value"])


_METERS = {  # meter → (class, records a curve, multiplier, capacity [kVA])
    "CLEAN": ("commercial", True, 1, 100.0),
    "SPIKY": ("commercial", True, 1, 100.0),
    "GAPPY": ("commercial", True, 1, 100.0),
    "ROLL": ("commercial", False, 1, np.nan),
    "DROP": ("commercial", False, 1, np.nan),
    "TOU": ("commercial", False, 1, np.nan),
    "ZERO": ("commercial", False, 1, np.nan),
    "HIGH": ("commercial", False, 1, np.nan),
    "LOW": ("commercial", False, 1, np.nan),
    "LOST": ("commercial", False, 1, np.nan),
    "EST": ("commercial", False, 1, np.nan),
    "BIG": ("industrial", True, 40, 200.0),
    "PEAK": ("industrial", False, 4000, np.nan),
    "RES1": ("residential", False, 1, np.nan),
}
FACTS = pd.DataFrame(
    {
        "meter_no": list(_METERS),
        "meter_class": [v[0] for v in _METERS.values()],
        "transformer_area": "TA1",
        "register_digits": 6,
        "records_intervals": [v[1] for v in _METERS.values()],
        "multiplier": [v[2] for v in _METERS.values()],
        "capacity_kva": [v[3] for v in _METERS.values()],
    }
)
DAILY = [1000.0 + 24 * n for n in range(8)]
"""24 kWh a day, freezes stamped 1 … 8 July."""


@pytest.fixture
def inputs(tmp_path: Path) -> Iterator[tuple[DuckDBEngine, Inputs]]:
    store = MeasurementStore(tmp_path / "m", TZ)
    flat = np.full(96, FLAT)
    curves = []
    for day in DAYS:
        curves.append(_curve("CLEAN", day, flat))
        spiky = flat.copy()
        if day == date(2026, 7, 3):
            spiky[40] = 9.0
            spiky[41] = -0.5
        curves.append(_curve("SPIKY", day, spiky))
        gappy = _curve("GAPPY", day, flat)
        curves.append(gappy.iloc[:90] if day == date(2026, 7, 4) else gappy)
        big = np.full(96, 1.0)
        if day == date(2026, 7, 5):
            big[50] = 2.0  # 2 kWh × 4 × 40 = 320 kW on a 200 kVA service
        curves.append(_curve("BIG", day, big))
    store.ingest_intervals(
        pa.Table.from_pandas(pd.concat(curves), preserve_index=False), source="t"
    )

    daily = [1000.0 + 24 * n for n in range(8)]
    spiky_daily = [1000.0 + 24 * n + (9.0 - 0.25 - 0.5 - 0.25 if n >= 3 else 0) for n in range(8)]
    freezes = [
        _freezes("CLEAN", daily),
        _freezes("SPIKY", spiky_daily),
        _freezes("GAPPY", DAILY),
        _freezes("ROLL", ROLLING, [[t, 0.0, 0.0, 0.0] for t in ROLLING]),
        _freezes("DROP", [500.0, 510.0, 520.0, 400.0, 410.0, 420.0, 430.0, 440.0]),
        _freezes(
            "TOU",
            daily,
            [
                [t / 4] * 4 if n != 2 else [t / 4, t / 4, t / 4, t / 4 - 3]
                for n, t in enumerate(daily)
            ],
        ),
        _freezes("ZERO", [300.0, 310.0] + [320.0] * 6),
        _freezes("BIG", [1000.0 + 96 * n for n in range(8)]),  # missed the peak's extra kWh
        _freezes("RES1", [200.0 + 5 * n for n in range(8)]),
        _freezes("HIGH", [1000.0 + 24 * n + (176.0 if n >= 4 else 0) for n in range(8)]),
        _freezes("LOW", [1000.0 + 24 * n - (22.0 if n >= 5 else 0) for n in range(8)]),
        _freezes("LOST", DAILY).pipe(lambda f: f[f["ts"] != _midnight(date(2026, 7, 5))]),
        _freezes("EST", DAILY),
        _freezes("PEAK", DAILY),
        pd.DataFrame(
            [
                ("PEAK", channel, _midnight(FIRST + timedelta(days=n)), value)
                for channel, values in (("MD+", PEAK_DEMAND), ("R+", ROLLING))
                for n, value in enumerate(values)
            ],
            columns=["meter_no", "channel", "ts", "value"],
        ),
    ]
    registers = pd.concat(freezes).assign(read_type="daily_frozen")
    store.ingest_register_reads(pa.Table.from_pandas(registers, preserve_index=False), source="t")
    estimated = registers[
        (registers["meter_no"] == "EST")
        & (registers["channel"] == "A+")
        & registers["ts"].isin([_midnight(date(2026, 7, d)) for d in (3, 4, 5, 6)])
    ]
    store.write_versions(
        "register_reads",
        pa.Table.from_pandas(estimated, preserve_index=False),
        quality="estimated",
        source="vee:linear",
    )
    store.ingest_events(
        pa.table(
            {
                "meter_no": ["CLEAN", "TOU"],
                "ts": pa.array(
                    [_midnight(date(2026, 7, 2)) + timedelta(hours=1), WORKED - timedelta(hours=3)],
                    pa.timestamp("us", tz="UTC"),
                ),
                "code": ["clock_drift", "terminal_box_open"],
                "detail": ["offset +95 s", "terminal cover opened"],
            }
        ),
        source="t",
    )
    engine = DuckDBEngine(store)
    # two weeks of ordinary history for everyone: 24 kWh a day, peak 0.25 kWh
    past = pd.DataFrame(
        [
            (m, date(2026, 6, 16) + timedelta(days=d), 24.0, FLAT)
            for m in FACTS["meter_no"]
            for d in range(14)
        ],
        columns=["meter_no", "local_date", "kwh", "peak"],
    )
    history = fold(HISTORY.empty_table(), past)
    registers_t = engine.measurements("register_reads", FIRST, LAST + timedelta(days=1))
    yield (
        engine,
        Inputs(
            intervals=engine.measurements("intervals", FIRST, LAST),
            registers=registers_t,
            facts=facts_table(engine, FACTS),
            history=engine.table("history", history),
            days=engine.table(
                "days",
                pa.table(
                    {
                        "local_date": pa.array(DAYS, pa.date32()),
                        "day_start": pa.array(
                            [_midnight(d) for d in DAYS], pa.timestamp("us", tz="UTC")
                        ),
                    }
                ),
            ),
            events=engine.measurements("events", FIRST, LAST + timedelta(days=1)),
            alarms=engine.table(
                "alarms",
                pa.table(
                    {
                        "meter_no": ["RES1", "BIG"],
                        "kind": ["voltage_without_current", "tamper"],
                        "ts": pa.array(
                            [_midnight(date(2026, 7, 6))] * 2, pa.timestamp("us", tz="UTC")
                        ),
                        "detail": ["phase A 221.0 V, 0.000 A", "cover open"],
                    }
                ),
            ),
            multiplier_changes=engine.table(
                "changes",
                pa.table(
                    {
                        "meter_no": ["BIG", "TOU"],
                        "changed_at": pa.array([WORKED] * 2, pa.timestamp("us", tz="UTC")),
                        "multiplier_before": [30, 1],
                        "multiplier_after": [40, 2],
                    }
                ),
            ),
            first=FIRST,
            last=LAST,
        ),
    )
    engine.close()


def _found(inputs: tuple[DuckDBEngine, Inputs]) -> pd.DataFrame:
    engine, data = inputs
    return validate(engine, data).to_pandas()


def _local_day(ts: pd.Series) -> list[date]:
    return [t.astimezone(TZ).date() for t in ts]


def test_clean_meters_raise_nothing_but_what_is_theirs(inputs: tuple[DuckDBEngine, Inputs]) -> None:
    found = _found(inputs)
    clean = found[found["meter_no"] == "CLEAN"]
    assert list(clean["rule"]) == ["clock_drift"]  # its only fault: the clock
    assert set(found["severity"]) <= {"information", "issue", "terminate"}


def test_each_rule_finds_its_fault(inputs: tuple[DuckDBEngine, Inputs]) -> None:
    found = _found(inputs)
    by = {(r.meter_no, r.rule) for r in found.itertuples()}
    assert ("SPIKY", "spike") in by and ("SPIKY", "negative_interval") in by
    assert ("GAPPY", "missing_intervals") in by
    assert ("ROLL", "register_rollover") in by and ("ROLL", "register_decrease") not in by
    assert ("DROP", "register_decrease") in by
    assert ("TOU", "tou_vs_total") in by
    assert ("ZERO", "zero_consumption") in by
    assert ("BIG", "demand_over_capacity") in by
    assert ("RES1", "voltage_without_current") in by
    assert ("BIG", "voltage_without_current") not in by  # a tamper alarm is another matter
    assert ("HIGH", "daily_high") in by and ("HIGH", "peer_high") in by
    assert ("LOW", "daily_low") in by
    assert ("LOST", "missing_day") in by and ("EST", "consecutive_estimates") in by
    assert ("BIG", "multiplier_change") in by and ("TOU", "multiplier_change") not in by
    lost = found[(found["meter_no"] == "LOST") & (found["rule"] == "missing_day")]
    assert _local_day(lost["ts"]) == [date(2026, 7, 4)]
    streak = found[(found["meter_no"] == "EST") & (found["rule"] == "consecutive_estimates")]
    assert _local_day(streak["ts"]) == [date(2026, 7, 6)]  # the 4th in a row: over the 3
    spike = found[(found["meter_no"] == "SPIKY") & (found["rule"] == "spike")]
    assert _local_day(spike["ts"]) == [date(2026, 7, 3)] and "9.0" in spike["detail"].iat[0]
    decrease = found[
        (found["meter_no"] == "DROP")
        & (found["rule"] == "register_decrease")
        & (found["channel"] == "A+")
    ]
    assert decrease["severity"].tolist() == ["terminate"] and "120.0" in decrease["detail"].iat[0]
    gap = found[(found["meter_no"] == "GAPPY") & (found["rule"] == "missing_intervals")]
    assert _local_day(gap["ts"]) == [date(2026, 7, 4)] and gap["detail"].iat[0].startswith(
        "6 of 96"
    )
    zero = found[(found["meter_no"] == "ZERO") & (found["rule"] == "zero_consumption")]
    assert _local_day(zero["ts"]) == [date(2026, 7, 7)]  # the 5th zero day in a row


def test_the_class_decides_which_rules_run(inputs: tuple[DuckDBEngine, Inputs]) -> None:
    found = _found(inputs)
    assert "demand_over_capacity" not in set(found.loc[found["meter_no"] == "RES1", "rule"])
    assert set(RULES) == EVERY_RULE  # every rule the classes may name is registered


def test_interval_sums_are_checked_against_the_register(
    inputs: tuple[DuckDBEngine, Inputs],
) -> None:
    found = _found(inputs)
    mismatched = found[found["rule"] == "interval_vs_register"]
    assert set(mismatched["meter_no"]) == {"BIG"}
    assert _local_day(mismatched["ts"]) == [date(2026, 7, 5)]
    engine, data = inputs
    daily = engine.to_arrow(daily_kwh(data)).to_pandas()
    assert daily.loc[daily["meter_no"] == "CLEAN", "kwh"].round(6).eq(24.0).all()


def test_history_folds_only_new_days() -> None:
    days = pd.DataFrame(
        {
            "meter_no": ["M"] * 3,
            "local_date": DAYS[:3],
            "kwh": [10.0, 20.0, 30.0],
            "peak": [1.0, np.nan, 2.0],
        }
    )
    once = fold(HISTORY.empty_table(), days)
    again = fold(once, days)  # the same days again change nothing
    assert once.to_pylist() == again.to_pylist()
    row = once.to_pylist()[0]
    assert row["history_days"] == 3 and row["through"] == DAYS[2]
    assert 10.0 < row["mean_kwh"] < 20.0 and 1.0 < row["peak_kwh"] < 2.0


def test_missing_intervals_are_estimated_to_the_register_and_stored_as_versions(
    inputs: tuple[DuckDBEngine, Inputs],
) -> None:
    """GAPPY lost six intervals on 4 July while its freezes show the whole day's 24 kWh: the
    estimates spread the missing 1.5 kWh exactly, as new versions of quality ``estimated``."""
    engine, data = inputs
    found = validate(engine, data).to_pandas()
    gaps = found[found["rule"] == "missing_intervals"]
    daily = engine.to_arrow(daily_kwh(data)).to_pandas()
    filled = estimate_intervals(engine, engine.store, gaps, daily, FIRST, LAST)
    assert list(filled.values()) == ["register"]
    current = engine.to_arrow(
        engine.measurements("intervals", date(2026, 7, 4), date(2026, 7, 4))
    ).to_pandas()
    gappy = current[current["meter_no"] == "GAPPY"]
    estimated = gappy[gappy["quality"] == "estimated"]
    assert len(gappy) == 96 and len(estimated) == 6
    assert set(estimated["source"]) == {"vee:register"}
    assert float(gappy["value"].astype(float).sum()) == pytest.approx(24.0, abs=1e-9)
    assert (estimated["value"].astype(float) >= 0).all()


def test_the_demand_register_may_fall_only_at_the_monthly_settlement(
    inputs: tuple[DuckDBEngine, Inputs],
) -> None:
    found = _found(inputs)
    peak = found[found["meter_no"] == "PEAK"]
    falls = peak[peak["rule"] == "demand_register_fall"]
    # 0.30 → 0.12 onto the freeze of 2 July is the settlement; 0.18 → 0.16 on the 5th is not
    assert _local_day(falls["ts"]) == [date(2026, 7, 5)]
    assert (
        falls["detail"].iat[0]
        == "maximum demand fell from 0.18 to 0.16 kW with no monthly settlement between"
    )
    negative = peak[peak["rule"] == "negative_demand"]
    assert _local_day(negative["ts"]) == [date(2026, 7, 7)]
    assert negative["severity"].tolist() == ["terminate"]
    demand = peak[peak["channel"] == "MD+"]
    assert set(demand["rule"]) == {"demand_register_fall", "negative_demand"}  # no energy rule


def test_the_reactive_register_rolls_over_like_an_energy_register(
    inputs: tuple[DuckDBEngine, Inputs],
) -> None:
    found = _found(inputs)
    reactive = found[(found["meter_no"] == "PEAK") & (found["channel"] == "R+")]
    assert reactive["rule"].tolist() == ["register_rollover"]
    assert reactive["detail"].iat[0] == "rolled over at 6 digits: 9.0 kvarh"
