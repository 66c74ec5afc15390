"""Read success (采集成功率) and signal-loss findings, as a zone manager reads them."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from sqlalchemy import Engine, select

from meter2cash.core.clock import FixedClock
from meter2cash.db.session import unit_of_work
from meter2cash.headend import analysis
from meter2cash.headend.analysis import SignalLossRules
from meter2cash.headend.report import _raise, _with_attempts
from meter2cash.operations.models import WorkOrder

DAYS = [date(2026, 9, 1) + timedelta(days=i) for i in range(14)]


def grid(reads: dict[str, str]) -> pd.DataFrame:
    """Meters as rows of read marks ('x' read, '.' missed) over DAYS, all on concentrator C1
    except meter 'M9' on C2."""
    rows = [
        {
            "meter_no": m,
            "concentrator": "C2" if m == "M9" else "C1",
            "transformer_area": "T1",
            "zone": "Z1",
            "day": day,
            "read": mark == "x",
        }
        for m, marks in reads.items()
        for day, mark in zip(DAYS, marks, strict=True)
    ]
    return pd.DataFrame(rows)


SCENARIO = grid(
    {
        "M1": "xxxxxxxxxxxxxx",
        "M2": "xxxxxxxxxxx...",  # silent for the last 3 days: unreachable
        "M3": "..............",  # never read: unreachable, 14 days
        "M9": "xxxxxxx.x.x..x",  # C2 falls from 100 % to 43 %
    }
)


def test_success_rates_by_day_and_level() -> None:
    daily = analysis.success_by_day(SCENARIO)
    assert daily.loc[0, ["expected", "read"]].tolist() == [4, 3]
    by_conc = analysis.success_overall(SCENARIO, "concentrator").set_index("concentrator")
    assert by_conc.loc["C1", "read"] == 14 + 11
    assert by_conc.loc["C2", "rate"] == 10 / 14


def test_rates_split_first_try_after_retries_and_after_backfill() -> None:
    """M1 is read on the day its freeze is due, M2 after a retry, M3 only days later by
    backfill, M4 never: 25 % first try, 50 % after retries, 75 % after backfill."""
    day = DAYS[0]
    grid = pd.DataFrame(
        {
            "meter_no": ["M1", "M2", "M3", "M4"],
            "concentrator": "C1",
            "transformer_area": "T1",
            "zone": "Z1",
            "day": day,
            "read": [True, True, True, False],
        }
    )
    exchanges = pd.DataFrame(
        {
            "meter_no": ["M1", "M2", "M3", "M4", "M3"],
            "day": [day] * 5,
            "collected_on": [day] * 4 + [day + timedelta(days=2)],
            "outcome": ["first_try", "after_retry", "unreachable", "unreachable", "backfilled"],
        }
    )
    (row,) = analysis.success_by_day(_with_attempts(grid, exchanges)).itertuples()
    assert (row.rate_first_try, row.rate_after_retries, row.rate) == (0.25, 0.5, 0.75)


def test_unreachable_meters_are_those_silent_up_to_the_last_day() -> None:
    found = analysis.unreachable_meters(SCENARIO, SignalLossRules(unreachable_days=3))
    assert found[["meter_no", "silent_days"]].values.tolist() == [["M3", 14], ["M2", 3]]


def test_a_concentrator_whose_success_falls_is_flagged() -> None:
    found = analysis.falling_concentrators(SCENARIO, SignalLossRules(window_days=7, floor=0.5))
    # C2 falls from 100 % to 43 %; C1 from 67 % to 52 % as M2 goes silent. Worst first.
    assert found["concentrator"].tolist() == ["C2", "C1"]
    assert found.loc[0, "reason"] == "read success 42.9% over the last 7 days, down from 100.0%"


def test_work_order_suggestions_are_raised_once_per_target_and_day(
    records: Engine, clock: FixedClock
) -> None:
    suggestion = [("inspect_meter", "meter", "M3", "no daily freeze for 14 days")]
    with unit_of_work(records) as session:
        assert _raise(session, clock, DAYS[-1], suggestion) == 1
        assert _raise(session, clock, DAYS[-1], suggestion) == 0
        orders = session.scalars(select(WorkOrder)).all()
    assert [(o.kind, o.target_code, o.status) for o in orders] == [
        ("inspect_meter", "M3", "suggested")
    ]
