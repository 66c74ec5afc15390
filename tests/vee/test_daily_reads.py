"""Estimating missing daily reads for billing: monotone, exact, digits-aware, labelled."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Meter, MeterInstallation, ServicePoint, TransformerArea, Zone
from meter2cash.core.calendar import WEEKEND, WORKDAY
from meter2cash.core.clock import FixedClock
from meter2cash.core.timezones import local_midnight, zone
from meter2cash.db.session import unit_of_work
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee import daily_reads as dr
from meter2cash.vee.freezes import run_vee
from meter2cash.vee.models import VeeFinding

TZ = zone("Asia/Shanghai")
NAN = np.nan
NO_USAGE = np.full((1, 3), NAN)
WORKDAYS = np.zeros(12, dtype=np.int64)


def usage(workday: float, weekend: float, holiday: float | None = None) -> dr.FloatArray:
    return np.array([[workday, weekend, weekend if holiday is None else holiday]])


def estimate(
    values: list[float],
    *,
    wrap: float = np.inf,
    day_type: dr.IntArray | None = None,
    per_day: dr.FloatArray = NO_USAGE,
    intervals: list[float] | None = None,
    limits: dr.DailyReadLimits = dr.LIMITS,
) -> tuple[list[float], list[str]]:
    est = dr.estimate_daily_reads(
        np.array([values]),
        np.array([wrap]),
        WORKDAYS[: len(values)] if day_type is None else day_type,
        per_day,
        interval_kwh=None if intervals is None else np.array([intervals]),
        limits=limits,
    )
    return est.value.tolist(), est.method_names().tolist()


def test_a_gap_with_no_history_is_a_straight_line() -> None:
    assert estimate([100.0, NAN, NAN, 130.0]) == ([110.0, 120.0], ["linear", "linear"])


def test_profile_spreads_the_delta_by_day_type_and_adds_up_to_it_exactly() -> None:
    """
    A shop uses 10 kWh on workdays and nothing at weekends. Its reads of Friday 00:00 (100)
    and Tuesday 00:00 (120) bracket a gap: Friday's use goes to the Saturday read, the
    weekend adds nothing, Monday's use closes the gap. 0.0001 kWh over three even days goes
    to the day where the running share first rounds up, so the gap adds up exactly.
    """
    types = np.array([WORKDAY, WORKDAY, WEEKEND, WEEKEND, WORKDAY])
    values, methods = estimate(
        [100.0, NAN, NAN, NAN, 120.0], day_type=types, per_day=usage(10.0, 0.0)
    )
    assert values == [110.0, 110.0, 110.0]
    assert methods == ["profile"] * 3
    thirds, _ = estimate([0.0, NAN, NAN, 0.0001], per_day=usage(1.0, 1.0))
    assert thirds == [0.0, 0.0001]


def test_a_rollover_is_a_delta_across_the_wrap() -> None:
    """A 6-digit register reads 999,990 then 20: 30 kWh over three days, through zero."""
    values, methods = estimate([999_990.0, NAN, NAN, 20.0], wrap=1e6)
    assert (values, methods) == ([0.0, 10.0], ["linear", "linear"])
    ahead, _ = estimate([999_995.0, NAN], wrap=1e6, per_day=usage(10.0, 10.0))
    assert ahead == [5.0]


def test_reads_falling_around_a_gap_wait_for_a_person() -> None:
    est = dr.estimate_daily_reads(
        np.array([[200.0, NAN, 190.0]]), np.array([1e6]), WORKDAYS[:3], NO_USAGE
    )
    assert est.method_names().tolist() == ["missing"]
    assert dr.REASONS[est.reason[0]] == "the reads around it decrease"


def test_the_billing_case_runs_on_expected_use_up_to_the_limit() -> None:
    """
    The last read is 100 at a Monday midnight; nothing since. Expected use is 10 kWh a
    workday and 4 a weekend day, so reads go on by those for 3 days, then wait for a person.
    """
    types = np.array([WORKDAY, WORKDAY, WORKDAY, WORKDAY, WORKDAY, WORKDAY])
    types[3:5] = WEEKEND
    est = dr.estimate_daily_reads(
        np.array([[100.0, NAN, NAN, NAN, NAN, NAN]]),
        np.array([1e6]),
        types,
        usage(10.0, 4.0),
        limits=dr.DailyReadLimits(max_open_days=3),
    )
    assert est.value[:3].tolist() == [110.0, 120.0, 124.0]
    assert est.method_names().tolist() == ["usage_history"] * 3 + ["missing"] * 2
    assert dr.REASONS[est.reason[-1]] == "more than {max_open_days} days after the last real read"
    without, methods = estimate([100.0, NAN])
    assert methods == ["missing"] and np.isnan(without[0])


def test_a_gap_before_the_first_read_stays_open() -> None:
    _, methods = estimate([NAN, 100.0, NAN], per_day=usage(1.0, 1.0))
    assert methods == ["missing", "usage_history"]


def test_interval_sums_are_the_read_before_plus_the_days_intervals() -> None:
    """Each freeze closes the day before it: intervals of that day add to the read before."""
    closed, methods = estimate([100.0, NAN, NAN, 130.1234], intervals=[NAN, 10.0, 15.1234, 5.0])
    assert (closed, methods) == ([110.0, 125.1234], ["interval_sum"] * 2)
    ahead, methods = estimate(
        [100.0, NAN, NAN, NAN], intervals=[NAN, 1.2345, 2.0, NAN], per_day=usage(5.0, 5.0)
    )
    assert ahead == [101.2345, 103.2345, 108.2345]
    assert methods == ["interval_sum", "interval_sum", "usage_history"]


def test_intervals_that_disagree_with_the_register_give_way_to_the_profile() -> None:
    values, methods = estimate(
        [100.0, NAN, 130.0], intervals=[NAN, 12.0, 12.0], per_day=usage(1.0, 1.0)
    )
    assert (values, methods) == ([115.0], ["profile"])
    _, incomplete = estimate([100.0, NAN, 130.0], intervals=[NAN, 15.0, NAN])
    assert incomplete == ["linear"]


def test_usage_per_day_type_comes_from_measured_days_rollover_unwrapped() -> None:
    types = np.array([WORKDAY, WORKDAY, WORKDAY, WEEKEND, WORKDAY])
    values = np.array([[999_990.0, 0.0, 12.0, 14.0, 24.0], [0.0, 1.0, NAN, NAN, NAN]])
    per_day = dr.usage_by_day_type(values, np.array([1e6, 1e6]), types, prior=np.array([7, 8.0]))
    assert per_day[0].tolist() == [pytest.approx(32 / 3), 2.0, 8.5]  # holiday: mean of all
    assert per_day[1].tolist() == [8.0, 8.0, 8.0]  # one measured day: the prior


def test_falls_are_decreases_but_not_rollovers() -> None:
    values = np.array([[10.0, 9.0, NAN, 8.0], [999_999.0, 1.0, 2.0, 3.0]])
    assert dr.falls(values, np.array([1e6, 1e6])).tolist() == [
        [False, True, False, True],
        [False, False, False, False],
    ]


def test_only_estimates_in_a_gap_a_later_read_contradicts_are_stale() -> None:
    real = np.array([[True, False, False, True, False], [True, False, False, True, False]])
    estimated = ~real
    open_end = np.array([[False, True, True, False, True], [False, False, False, False, True]])
    assert dr.stale_estimates(real, estimated, open_end).tolist() == [
        [False, True, True, False, False],  # the later read closed them; the last is still open
        [False, False, False, False, False],  # estimated between reads: kept
    ]


@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(0, 200_000), st.booleans()), min_size=2, max_size=30
    ),
    st.integers(0, 999_999),
    st.one_of(st.none(), st.tuples(*[st.integers(0, 5_000)] * 3)),
    st.integers(0, 10),
)
def test_estimates_rise_stay_between_the_reads_and_add_up_exactly(
    days: list[tuple[bool, int, bool]],
    opening_kwh: int,
    per_type: tuple[int, int, int] | None,
    max_open_days: int,
) -> None:
    """Any pattern of gaps and daily deltas [0.0001 kWh] on a 6-digit register, with or without
    usage history and intervals: no negative step, nothing below the read before or above
    the read after, every estimate on the 0.0001 grid (so a gap's steps sum to its delta)."""
    steps = np.array([0] + [d for _, d, _ in days[1:]], dtype=np.int64)
    truth = opening_kwh * 10_000 + np.cumsum(steps)
    given_read = np.array([True] + [seen for seen, _, _ in days[1:]])
    values = np.where(given_read, (truth % 10**10) / 10_000, np.nan)
    intervals = np.where([has for _, _, has in days], steps / 10_000, np.nan)
    per_day = NO_USAGE if per_type is None else np.array([per_type], dtype=np.float64) / 100
    est = dr.estimate_daily_reads(
        values[None, :],
        np.array([1e6]),
        np.arange(len(days), dtype=np.int64) % 3,
        per_day,
        interval_kwh=intervals[None, :],
        limits=dr.DailyReadLimits(max_open_days=max_open_days),
    )
    filled = values.copy()
    filled[est.column] = est.value
    units = filled * 10_000
    known = ~np.isnan(units)
    assert np.allclose(units[known], np.round(units[known]), rtol=0, atol=1e-4)
    unwrapped = np.full(len(days), np.nan)
    rises = dr.register_steps(filled[None, known], np.array([1e6]))[0]
    unwrapped[known] = np.concatenate([[0.0], np.cumsum(np.round(rises * 10_000))])
    assert (np.diff(unwrapped[known]) >= 0).all()
    real_at = np.flatnonzero(given_read)
    for col, before, after in zip(est.column, est.before, est.after, strict=True):
        if np.isnan(filled[col]):
            continue
        assert unwrapped[before] <= unwrapped[col]
        if after >= 0:
            assert unwrapped[col] <= unwrapped[after]
            assert after == real_at[real_at > col][0]


# ------------------------------------------------------------------------ through run_vee


def freeze(day: date) -> datetime:
    return local_midnight(day, TZ)


def reads(meter: str, values: dict[date, float], channel: str = "A+") -> pa.Table:
    return pa.table(
        {
            "meter_no": [meter] * len(values),
            "channel": [channel] * len(values),
            "ts": pa.array([freeze(d) for d in values], pa.timestamp("us", tz="UTC")),
            "value": list(values.values()),
            "read_type": ["daily_frozen"] * len(values),
        }
    )


def jul(day: int) -> date:
    return date(2026, 7, day)


def current(store: MeasurementStore, meter: str) -> dict[date, tuple[float, str, str]]:
    rows = store.scan("register_reads", meters=[meter]).to_pandas()
    return {
        r.ts.tz_convert(TZ).date(): (float(r.value), r.quality, r.source) for r in rows.itertuples()
    }


def place_meter(session: Session, meter_no: str, *, records_intervals: bool = False) -> None:
    """A 6-digit meter installed at a service point of its own."""
    place = Zone(code=f"Z-{meter_no}", name="供电所")
    session.add(place)
    session.flush()
    area = TransformerArea(code=f"T-{meter_no}", zone_id=place.id, name="台区", capacity_kva=400)
    session.add(area)
    session.flush()
    point = ServicePoint(code=f"SP-{meter_no}", transformer_area_id=area.id)
    meter = Meter(
        meter_no=meter_no, address=meter_no.rjust(12, "0"), records_intervals=records_intervals
    )
    session.add_all([point, meter])
    session.flush()
    session.add(
        MeterInstallation(
            meter_id=meter.id,
            service_point_id=point.id,
            installed_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


@pytest.fixture
def store(tmp_path: Path) -> MeasurementStore:
    return MeasurementStore(tmp_path / "m", TZ)


def test_the_bill_cycle_end_is_estimated_then_redone_when_the_read_comes(
    records: Engine, store: MeasurementStore
) -> None:
    """
    Meter M1 reads 10 kWh a day from 1 Jul (100) to 8 Jul (170), then goes quiet.
    VEE over 1…10 Jul estimates 9 and 10 Jul from its usage: 180 and 190 (usage_history).
    On 11 Jul it reads 182: VEE over that day redoes the two by profile, 174 and 178, so the
    register rises to the real read.
    """
    clock = FixedClock(datetime(2026, 7, 12, tzinfo=UTC))
    with unit_of_work(records) as session:
        place_meter(session, "M1")
    store.ingest_register_reads(
        reads("M1", {jul(d): 100.0 + 10 * (d - 1) for d in range(1, 9)}), source="test"
    )
    with unit_of_work(records) as session:
        report = run_vee(session, clock, store, ["M1"], jul(1), jul(10))
    assert (report.missing, report.estimated_usage_history, report.open_exceptions) == (2, 2, 0)
    assert current(store, "M1")[jul(10)] == (190.0, "estimated", "vee:usage_history")

    store.ingest_register_reads(reads("M1", {jul(11): 182.0}), source="test")
    with unit_of_work(records) as session:
        report = run_vee(session, clock, store, ["M1"], jul(11), jul(11))
        details = dict(
            session.execute(select(VeeFinding.ts, VeeFinding.detail).order_by(VeeFinding.ts))
            .tuples()
            .all()
        )
    assert (report.missing, report.reestimated) == (0, 2)
    now = current(store, "M1")
    assert [now[jul(d)] for d in (9, 10)] == [
        (174.0, "estimated", "vee:profile"),
        (178.0, "estimated", "vee:profile"),
    ]
    assert details[freeze(jul(9))] == (
        "estimated by usage_history: 2026-07-08 170.0000 + 10.0000 kWh of expected use over 1 d"
    )


def test_a_person_edited_read_anchors_estimates_and_is_never_overwritten(
    records: Engine, store: MeasurementStore
) -> None:
    """
    M1 reads 100 on 1 Jul and 150 on 8 Jul; a person entered 125 for 3 Jul from a photo.
    VEE fills 2 Jul between 100 and 125 and 4…7 Jul between 125 and 150; 3 Jul stays 125.
    """
    clock = FixedClock(datetime(2026, 7, 9, tzinfo=UTC))
    with unit_of_work(records) as session:
        place_meter(session, "M1")
    store.ingest_register_reads(reads("M1", {jul(1): 100.0, jul(8): 150.0}), source="test")
    store.write_versions(
        "register_reads", reads("M1", {jul(3): 125.0}), quality="edited", source="edit:li.wei"
    )
    with unit_of_work(records) as session:
        report = run_vee(session, clock, store, ["M1"], jul(1), jul(8))
        run_vee(session, clock, store, ["M1"], jul(1), jul(8))
    now = current(store, "M1")
    assert now[jul(3)] == (125.0, "edited", "edit:li.wei")
    assert [now[jul(d)][0] for d in range(1, 9)] == [100, 112.5, 125, 130, 135, 140, 145, 150]
    assert report.estimated_linear == report.missing == 5


def test_a_day_with_complete_intervals_is_estimated_by_their_sum(
    records: Engine, store: MeasurementStore
) -> None:
    """M1 reads 100 on 1 Jul and misses 2 Jul; its 96 intervals of 1 Jul add to 9.6 kWh."""
    clock = FixedClock(datetime(2026, 7, 3, tzinfo=UTC))
    with unit_of_work(records) as session:
        place_meter(session, "M1", records_intervals=True)
    store.ingest_register_reads(reads("M1", {jul(1): 100.0}), source="test")
    start = freeze(jul(1))
    store.ingest_intervals(
        pa.table(
            {
                "meter_no": ["M1"] * 96,
                "channel": ["kWh"] * 96,
                "ts": pa.array(
                    [start + timedelta(minutes=15 * i) for i in range(96)],
                    pa.timestamp("us", tz="UTC"),
                ),
                "value": [0.1] * 96,
            }
        ),
        source="test",
    )
    with unit_of_work(records) as session:
        report = run_vee(session, clock, store, ["M1"], jul(1), jul(2))
    assert report.estimated_interval_sum == 1
    assert current(store, "M1")[jul(2)] == (109.6, "estimated", "vee:interval_sum")


def test_a_reactive_register_gap_is_estimated_and_the_demand_register_is_left_alone(
    records: Engine, store: MeasurementStore
) -> None:
    """
    M1's R+ [kvarh] reads 100 on 1 Jul, 120 on 5 Jul and 135 on 8 Jul, no day measured on its
    own: 2…4 Jul and 6…7 Jul are a straight line (the A+-only interval sum and running-mean
    prior do not apply). Its MD+ [kW] misses 3, 7 and 8 Jul and falls on 4 Jul: a running
    maximum is neither estimated, nor queued as missing, nor a register decrease here (the
    rule chain judges it; billing takes the largest freeze there is).
    """
    clock = FixedClock(datetime(2026, 7, 9, tzinfo=UTC))
    with unit_of_work(records) as session:
        place_meter(session, "M1")
    reactive = {jul(1): 100.0, jul(5): 120.0, jul(8): 135.0}
    demand = {jul(d): v for d, v in ((1, 0.3), (2, 0.1), (4, 0.05), (5, 0.2), (6, 0.2))}
    for channel, values in (("A+", {jul(d): 10.0 * d for d in range(1, 9)}), ("R+", reactive)):
        store.ingest_register_reads(reads("M1", values, channel), source="test")
    store.ingest_register_reads(reads("M1", demand, "MD+"), source="test")
    with unit_of_work(records) as session:
        report = run_vee(session, clock, store, ["M1"], jul(1), jul(8))
        findings = session.execute(select(VeeFinding.channel, VeeFinding.rule)).tuples().all()
    assert (report.missing, report.estimated_linear, report.decreasing) == (5, 5, 0)
    rows = store.scan("register_reads", meters=["M1"]).to_pandas()
    now = {
        (r.channel, r.ts.tz_convert(TZ).date()): (float(r.value), r.quality)
        for r in rows.itertuples()
    }
    assert [now[("R+", jul(d))] for d in range(2, 8)] == [
        (105.0, "estimated"),
        (110.0, "estimated"),
        (115.0, "estimated"),
        (120.0, "raw"),
        (125.0, "estimated"),
        (130.0, "estimated"),
    ]
    assert ("MD+", jul(3)) not in now and ("MD+", jul(7)) not in now
    assert set(findings) == {("R+", "missing_read")}


def test_a_meter_without_a_reactive_register_has_no_reactive_freeze_to_miss(
    records: Engine, store: MeasurementStore
) -> None:
    """A single-phase M1 freezes A+ only; the three-phase M2 beside it freezes A+ and R+
    every day. Nothing is missing: M1 is not asked for an R+ it does not have."""
    clock = FixedClock(datetime(2026, 7, 9, tzinfo=UTC))
    with unit_of_work(records) as session:
        place_meter(session, "M1")
        place_meter(session, "M2")
    energy = {jul(d): 10.0 * d for d in range(1, 9)}
    for meter, channel in (("M1", "A+"), ("M2", "A+"), ("M2", "R+")):
        store.ingest_register_reads(reads(meter, energy, channel), source="test")
    with unit_of_work(records) as session:
        report = run_vee(session, clock, store, ["M1", "M2"], jul(1), jul(8))
        findings = session.execute(select(VeeFinding.meter_no, VeeFinding.rule)).tuples().all()
    assert (report.missing, report.expected_reads) == (0, 3 * 8)
    assert findings == []
