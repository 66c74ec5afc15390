"""Read success (采集成功率) and signal-loss analysis — pure, vectorised over meters and days.

Input is the *read grid*: one row per (meter, day) expected, with ``read`` True when the
meter's daily freeze for that day arrived, and the meter's place in the grid
(concentrator, transformer area, zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import pandas as pd

Level = Literal["concentrator", "transformer_area", "zone"]
LEVELS: Final[tuple[Level, ...]] = ("concentrator", "transformer_area", "zone")


@dataclass(frozen=True, slots=True)
class SignalLossRules:
    """Thresholds of the findings that raise field work orders."""

    unreachable_days: int = 3
    """A meter silent for this many consecutive days up to the last day [days]."""
    window_days: int = 7
    """Concentrator success compared over the last window with the one before [days]."""
    drop: float = 0.05
    """A fall in success rate (fraction) that flags a concentrator."""
    floor: float = 0.95
    """A concentrator below this success rate over the last window is flagged too."""


def _rates(grid: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Expected, read, and rates first try / after retries / after backfill (= ``rate``).

    Grids without ``first_try`` / ``after_retries`` columns count every read as a first try.
    """
    marks = grid.assign(
        first_try=grid.get("first_try", grid["read"]),
        after_retries=grid.get("after_retries", grid["read"]),
    )
    table = (
        marks.groupby(keys, sort=True)
        .agg(
            expected=("read", "size"),
            read=("read", "sum"),
            first_try=("first_try", "sum"),
            after_retries=("after_retries", "sum"),
        )
        .reset_index()
    )
    table["rate_first_try"] = table["first_try"] / table["expected"]
    table["rate_after_retries"] = table["after_retries"] / table["expected"]
    table["rate"] = table["read"] / table["expected"]
    return table.drop(columns=["first_try", "after_retries"])


def success_by_day(grid: pd.DataFrame, level: Level | None = None) -> pd.DataFrame:
    """Expected meters, meters read and rates per day (and per ``level`` member).

    ``rate`` is success after backfill (every freeze stored, however it came);
    ``rate_first_try`` and ``rate_after_retries`` say how many came on the day they were due.
    """
    return _rates(grid, ["day"] if level is None else [level, "day"])


def success_overall(grid: pd.DataFrame, level: Level) -> pd.DataFrame:
    """Expected meter-days, meter-days read and rates per ``level`` member, worst first."""
    return _rates(grid, [level]).sort_values(["rate", level]).reset_index(drop=True)


def unreachable_meters(grid: pd.DataFrame, rules: SignalLossRules) -> pd.DataFrame:
    """Meters with no read on each of the last ``unreachable_days`` days of the grid.

    Columns: meter_no, concentrator, transformer_area, zone, silent_days (consecutive days
    without a read up to the last day), last_read (date or NaT).
    """
    last_day = grid["day"].max()
    ordered = grid.sort_values(["meter_no", "day"])
    read_days = ordered["day"].where(ordered["read"])
    last_read = read_days.groupby(ordered["meter_no"]).max()
    first_day = grid["day"].min()
    silent = (
        (pd.Timestamp(last_day) - pd.to_datetime(last_read)).dt.days.fillna(
            (pd.Timestamp(last_day) - pd.Timestamp(first_day)).days + 1
        )
    ).astype(int)
    places = grid.drop_duplicates("meter_no").set_index("meter_no")[list(LEVELS)]
    table = places.assign(silent_days=silent, last_read=last_read).reset_index()
    return (
        table[table["silent_days"] >= rules.unreachable_days]
        .sort_values(["silent_days", "meter_no"], ascending=[False, True])
        .reset_index(drop=True)
    )


def falling_concentrators(grid: pd.DataFrame, rules: SignalLossRules) -> pd.DataFrame:
    """Concentrators whose success fell by ``drop`` or sits below ``floor`` in the last window.

    Columns: concentrator, transformer_area, zone, rate_before, rate_last, reason.
    """
    last_day = pd.Timestamp(grid["day"].max())
    day = pd.to_datetime(grid["day"])
    recent = day > last_day - pd.Timedelta(days=rules.window_days)
    before = ~recent & (day > last_day - pd.Timedelta(days=2 * rules.window_days))
    rate_last = grid[recent].groupby("concentrator")["read"].mean()
    rate_before = grid[before].groupby("concentrator")["read"].mean()
    table = pd.DataFrame({"rate_before": rate_before, "rate_last": rate_last})
    fell = (table["rate_before"] - table["rate_last"]) >= rules.drop
    low = table["rate_last"] < rules.floor
    table = table[fell | low].copy()
    table["reason"] = [
        f"read success {last:.1%} over the last {rules.window_days} days"
        + (f", down from {prev:.1%}" if prev == prev and prev - last >= rules.drop else "")
        for prev, last in zip(table["rate_before"], table["rate_last"], strict=True)
    ]
    places = grid.drop_duplicates("concentrator").set_index("concentrator")[
        ["transformer_area", "zone"]
    ]
    return (
        table.join(places)
        .reset_index()
        .rename(columns={"index": "concentrator"})
        .sort_values(["rate_last", "concentrator"])
        .reset_index(drop=True)
    )
