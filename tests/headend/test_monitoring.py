"""Status monitoring: sudden load changes against a meter's own recent days."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from meter2cash.headend.monitoring import load_change_alarms


def test_a_sudden_drop_and_a_sudden_rise_raise_alarms_and_steady_load_does_not() -> None:
    """
    A shop uses 100 kWh a day for a week, then 20 (bypass?) — a load_drop alarm.
    A flat uses 8 kWh a day, then 30 on one day (3.75×) — a load_rise alarm.
    A factory wobbles ±10 % — nothing.
    """
    days = [date(2026, 9, 1) + timedelta(days=i) for i in range(8)]
    rows = (
        [("S1", "commercial", d, 100.0) for d in days[:7]]
        + [("S1", "commercial", days[7], 20.0)]
        + [("F1", "residential", d, 8.0) for d in days[:7]]
        + [("F1", "residential", days[7], 30.0)]
        + [("P1", "industrial", d, 5000.0 * (1.1 if i % 2 else 0.9)) for i, d in enumerate(days)]
    )
    daily = pd.DataFrame(rows, columns=["meter_no", "customer_class", "day", "kwh"])
    found = load_change_alarms(daily)
    assert found[["meter_no", "day", "kind"]].values.tolist() == [
        ["F1", days[7], "load_rise"],
        ["S1", days[7], "load_drop"],
    ]
    assert found.loc[1, "detail"] == "20.0 kWh against a 7-day mean of 100.0 kWh"
