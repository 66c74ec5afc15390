"""A small utility shared by the simulator tests (300 accounts, 14 days in July)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
import pytest

from meter2cash.simulator import DayCollection, SimulatedUtility, UtilitySpec, build_utility

SMALL = UtilitySpec(seed=7, accounts=300, start=date(2026, 7, 1), days=14)


@pytest.fixture(scope="session")
def utility() -> SimulatedUtility:
    return build_utility(SMALL)


@pytest.fixture(scope="session")
def collections(utility: SimulatedUtility) -> list[DayCollection]:
    return [utility.collect_day(utility.spec.start + timedelta(days=d)) for d in range(SMALL.days)]


@pytest.fixture(scope="session")
def registers(collections: list[DayCollection]) -> pd.DataFrame:
    table = pa.concat_tables([c.register_reads for c in collections])
    return table.to_pandas().drop_duplicates()


@pytest.fixture(scope="session")
def meter_classes(utility: SimulatedUtility) -> pd.DataFrame:
    """meter_no, role, customer_class (None for supply meters), multiplier."""
    frame = utility.meters.merge(
        utility.service_points, left_on="service_point_code", right_on="code"
    )
    frame = frame.merge(utility.accounts, on="account_no", how="left")
    frame = frame.merge(utility.customers, on="customer_no", how="left")
    frame["multiplier"] = frame["ct_ratio"] * frame["pt_ratio"]
    return frame[["meter_no", "role", "customer_class", "multiplier", "transformer_area_code"]]
