"""The measurement store: idempotent, conflict-keeping, versioned, durable, DST-correct."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from meter2cash.core.errors import InputError
from meter2cash.measurements import IngestReport, MeasurementStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
UTC_US = pa.timestamp("us", tz="UTC")
T0 = datetime(2024, 3, 1, 16, 0, tzinfo=UTC)  # 00:00 on 2 March in Shanghai


def _intervals(
    values: list[Any], *, meters: list[str | None] | None = None, start: datetime = T0
) -> pa.Table:
    return pa.table(
        {
            "meter_no": meters or ["M1"] * len(values),
            "channel": ["kWh"] * len(values),
            "ts": pa.array([start + timedelta(minutes=15 * i) for i in range(len(values))], UTC_US),
            "value": values,
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> MeasurementStore:
    return MeasurementStore(tmp_path / "m", SHANGHAI)


def test_reingesting_the_same_batch_changes_nothing(store: MeasurementStore) -> None:
    batch = _intervals([0.25, 0.5, 0.75])
    assert store.ingest_intervals(batch, source="headend:sim") == IngestReport(
        "intervals", 3, 3, 0, 0, 0
    )
    assert store.ingest_intervals(batch, source="headend:sim") == IngestReport(
        "intervals", 3, 0, 3, 0, 0
    )
    assert store.count("intervals", current=False) == 3


def test_duplicates_within_one_batch_are_counted_once(store: MeasurementStore) -> None:
    batch = pa.concat_tables([_intervals([0.25, 0.5]), _intervals([0.25])])
    report = store.ingest_intervals(batch, source="headend:sim")
    assert (report.accepted, report.duplicates) == (2, 1)


def test_a_different_raw_value_goes_to_conflicts_not_over_the_raw(
    store: MeasurementStore,
) -> None:
    store.ingest_intervals(_intervals([0.25, 0.5]), source="headend:sim")
    report = store.ingest_intervals(_intervals([0.25, 0.6]), source="headend:late")
    assert (report.accepted, report.duplicates, report.conflicts) == (0, 1, 1)
    assert store.scan("intervals")["value"].to_pylist() == [Decimal("0.25"), Decimal("0.5")]
    conflicts = store.conflicts("intervals")
    assert conflicts["value"].to_pylist() == [Decimal("0.6")]
    assert conflicts["existing_value"].to_pylist() == [Decimal("0.5")]
    assert conflicts["source"].to_pylist() == ["headend:late"]


def test_versions_are_added_above_raw_and_scan_returns_the_latest(
    store: MeasurementStore,
) -> None:
    store.ingest_intervals(_intervals([0.25, 0.5]), source="headend:sim")
    fix = _intervals([0.3])
    assert store.write_versions("intervals", fix, quality="edited", source="vee:manual").accepted
    again = store.write_versions("intervals", fix, quality="edited", source="vee:manual")
    assert (again.accepted, again.duplicates) == (0, 1), "re-running VEE is a no-op"
    store.write_versions("intervals", _intervals([0.35]), quality="estimated", source="vee:x")

    current = store.scan("intervals").to_pylist()
    assert [(r["value"], r["version"], r["quality"]) for r in current] == [
        (Decimal("0.35"), 2, "estimated"),
        (Decimal("0.5"), 0, "raw"),
    ]
    every = store.scan("intervals", current=False)
    assert sorted(every["version"].to_pylist()) == [0, 0, 1, 2]
    assert store.count("intervals") == 2 and store.count("intervals", current=False) == 4


def test_versions_of_unknown_keys_start_at_zero(store: MeasurementStore) -> None:
    store.write_versions("intervals", _intervals([1.0]), quality="estimated", source="vee:x")
    assert store.scan("intervals")["version"].to_pylist() == [0]


def test_bad_rows_are_quarantined_and_good_rows_stored(store: MeasurementStore) -> None:
    batch = _intervals(
        [0.1, float("nan"), None, float("-inf"), 1e20, 0.5],
        meters=["M1", "M1", "M1", "M1", "M1", None],
    )
    report = store.ingest_intervals(batch, source="headend:sim")
    assert (report.received, report.accepted, report.quarantined) == (6, 1, 5)
    assert store.count("intervals") == 1
    bad = store.quarantined().to_pylist()
    assert [r["reason"] for r in bad] == [
        "value is NaN",
        "value is null",
        "value is infinite",
        "value out of range for DECIMAL(18,4)",
        "missing meter_no",
    ]
    assert bad[0]["value"] == "nan" and bad[0]["meter_no"] == "M1"
    assert {r["source"] for r in bad} == {"headend:sim"}


def test_floats_round_half_up_at_four_places(store: MeasurementStore) -> None:
    store.ingest_intervals(_intervals([0.00015, 2.67505, 1.23444]), source="t")
    assert store.scan("intervals")["value"].to_pylist() == [
        Decimal("0.0002"),
        Decimal("2.6751"),
        Decimal("1.2344"),
    ]


def test_a_batch_of_naive_timestamps_is_rejected_naming_the_column(
    store: MeasurementStore,
) -> None:
    naive = pa.table(
        {
            "meter_no": ["M1"],
            "channel": ["kWh"],
            "ts": pa.array([datetime(2024, 3, 2)], pa.timestamp("us")),
            "value": [1.0],
        }
    )
    with pytest.raises(InputError, match="column 'ts' holds naive timestamps"):
        store.ingest_intervals(naive, source="t")
    assert store.count("intervals") == 0


def test_register_reads_and_events(store: MeasurementStore) -> None:
    reads = pa.table(
        {
            "meter_no": ["M1", "M1"],
            "channel": ["A+", "A+"],
            "ts": pa.array([T0, T0 + timedelta(days=1)], UTC_US),
            "value": pa.array([Decimal("100.12345"), Decimal("110.5")], pa.decimal128(10, 5)),
            "read_type": ["daily_frozen", "bogus"],
        }
    )
    report = store.ingest_register_reads(reads, source="headend:sim")
    assert (report.accepted, report.quarantined) == (1, 1)
    row = store.scan("register_reads").to_pylist()[0]
    assert row["value"] == Decimal("100.1235") and row["read_type"] == "daily_frozen"
    events = pa.table(
        {
            "meter_no": ["M1", "M1"],
            "ts": pa.array([T0, T0], UTC_US),
            "code": ["power_down", "power_down"],
            "detail": ["a", "b"],
        }
    )
    report = store.ingest_events(events, source="headend:sim")
    assert (report.accepted, report.conflicts) == (1, 1)
    assert store.ingest_events(events.slice(0, 1), source="x").duplicates == 1


def test_scan_by_time_range_and_meters(store: MeasurementStore) -> None:
    batch = pa.concat_tables(
        [_intervals([1.0] * 192, meters=["M1"] * 192), _intervals([2.0] * 192, meters=["M2"] * 192)]
    )
    store.ingest_intervals(batch, source="t")
    day2 = datetime(2024, 3, 3, tzinfo=SHANGHAI)
    part = store.scan("intervals", start=day2, end=day2 + timedelta(hours=1), meters=["M2"])
    assert part.num_rows == 4 and set(part["meter_no"].to_pylist()) == {"M2"}
    assert part["ts"][0].as_py() == day2
    assert store.scan("intervals", start=day2).num_rows == 192
    with pytest.raises(InputError):
        store.scan("intervals", start=datetime(2024, 3, 3))


def test_slots_and_local_dates_in_shanghai(store: MeasurementStore) -> None:
    store.ingest_intervals(_intervals([1.0] * 96, start=T0 - timedelta(minutes=15)), source="t")
    rows = store.scan("intervals").to_pylist()
    assert (str(rows[0]["local_date"]), rows[0]["slot"]) == ("2024-03-01", 95)
    assert [r["slot"] for r in rows[1:]] == list(range(95))
    assert {str(r["local_date"]) for r in rows[1:]} == {"2024-03-02"}


def test_slots_across_new_york_dst_changes(tmp_path: Path) -> None:
    store = MeasurementStore(tmp_path / "ny", NEW_YORK)
    spring = datetime(2024, 3, 10, 5, 0, tzinfo=UTC)  # 00:00 EST, the short day
    fall = datetime(2024, 11, 3, 4, 0, tzinfo=UTC)  # 00:00 EDT, the long day
    store.ingest_intervals(_intervals([1.0] * 92, start=spring), source="t")
    store.ingest_intervals(_intervals([1.0] * 100, start=fall), source="t")
    rows = store.scan("intervals").to_pylist()
    short = [r["slot"] for r in rows if str(r["local_date"]) == "2024-03-10"]
    long = [r["slot"] for r in rows if str(r["local_date"]) == "2024-11-03"]
    assert len(short) == 92 and short == [*range(8), *range(12, 96)], "02:00–02:59 skipped"
    assert len(long) == 100 and sorted(long) == sorted([*range(96), 4, 5, 6, 7]), "01:xx twice"


def test_files_are_whole_and_no_temporaries_remain(store: MeasurementStore) -> None:
    store.ingest_intervals(_intervals([1.0] * 200), source="t")
    files = sorted((store.root / "intervals").rglob("*"))
    parquet = [f for f in files if f.is_file()]
    assert parquet and all(f.suffix == ".parquet" and not f.name.startswith(".") for f in parquet)
    assert sum(pq.read_table(f).num_rows for f in parquet) == 200
    assert [p.name for p in (store.root / "intervals").iterdir()] != []
    assert not list(store.root.rglob("*.tmp"))
    assert (store.root / ".writer.lock").exists()


def test_the_store_refuses_a_different_zone(store: MeasurementStore) -> None:
    store.ingest_intervals(_intervals([1.0]), source="t")
    with pytest.raises(Exception, match="partitioned in Asia/Shanghai"):
        MeasurementStore(store.root, NEW_YORK)
