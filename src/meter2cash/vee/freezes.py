"""The VEE job over daily register reads: validate freezes, estimate what can be, queue the rest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.core.timezones import local_midnight
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee import rules
from meter2cash.vee.repository import save_findings


@dataclass(frozen=True, slots=True)
class VeeReport:
    expected_reads: int
    missing: int
    estimated: int
    decreasing: int
    negative: int
    conflicts: int
    open_exceptions: int


def freeze_instants(first: date, last: date, tz: ZoneInfo) -> pd.DatetimeIndex:
    """The daily-freeze instants (local midnights) stamped on days ``first``…``last``, in UTC."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return pd.DatetimeIndex([local_midnight(d, tz) for d in days]).as_unit("us")


def _grid(store: MeasurementStore, meters: list[str], first: date, last: date) -> pd.DataFrame:
    instants = freeze_instants(first, last, store.tz)
    reads = store.scan(
        "register_reads",
        start=instants[0].to_pydatetime(),
        end=(instants[-1] + pd.Timedelta(microseconds=1)).to_pydatetime(),
    ).to_pandas()
    reads = reads[reads["read_type"] == "daily_frozen"]
    channels = sorted(reads["channel"].unique()) if len(reads) else ["A+"]
    index = pd.MultiIndex.from_product(
        [sorted(meters), channels, instants], names=["meter_no", "channel", "ts"]
    )
    observed = reads.assign(value=reads["value"].astype("float64")).set_index(
        ["meter_no", "channel", "ts"]
    )["value"]
    observed = observed[~observed.index.duplicated()]
    return observed.reindex(index).rename("value").reset_index()


def run_vee(
    session: Session,
    clock: Clock,
    store: MeasurementStore,
    meters: list[str],
    first: date,
    last: date,
) -> VeeReport:
    """Validate daily freezes stamped ``first``…``last`` and estimate gaps by interpolation.

    Estimates are stored as new versions (quality ``estimated``, source ``vee:linear``);
    raw reads are untouched. Findings go to ``vee_findings``: ``estimated`` when fixed,
    ``open`` when a person must act (gap with no anchor on one side, decrease, negative).
    """
    grid = _grid(store, meters, first, last)
    missing = grid["value"].isna()
    negative = rules.flag_negative(grid)
    decreasing = rules.flag_decreasing(grid)
    estimate = rules.estimate_linear(grid)
    estimated = missing & estimate.notna()

    conflicts = _conflicts(store, meters, first, last)
    found = pd.concat(
        [
            conflicts,
            grid[estimated].assign(
                rule=rules.MISSING,
                severity="issue",
                status="estimated",
                detail="estimated by linear interpolation",
            ),
            grid[missing & ~estimated].assign(
                rule=rules.MISSING, severity="issue", status="open", detail="no read on one side"
            ),
            grid[decreasing].assign(
                rule=rules.DECREASING,
                severity="terminate",
                status="open",
                detail="register below the previous read",
            ),
            grid[negative].assign(
                rule=rules.NEGATIVE,
                severity="terminate",
                status="open",
                detail="negative register value",
            ),
        ]
    )
    save_findings(session, clock, found)
    if estimated.any():
        rows = grid[estimated].assign(value=estimate[estimated].round(4))
        store.write_versions(
            "register_reads",
            pa.table(
                {
                    "meter_no": rows["meter_no"].to_numpy(),
                    "channel": rows["channel"].to_numpy(),
                    "ts": pa.array(rows["ts"], pa.timestamp("us", tz="UTC")),
                    "value": rows["value"].to_numpy(),
                    "read_type": np.full(len(rows), "daily_frozen"),
                }
            ),
            quality="estimated",
            source="vee:linear",
        )
    return VeeReport(
        expected_reads=len(grid),
        missing=int(missing.sum()),
        estimated=int(estimated.sum()),
        decreasing=int(decreasing.sum()),
        negative=int(negative.sum()),
        conflicts=len(conflicts),
        open_exceptions=int((found["status"] == "open").sum()),
    )


def _conflicts(store: MeasurementStore, meters: list[str], first: date, last: date) -> pd.DataFrame:
    """Reads of ``meters`` delivered again with a different value (the store kept the
    first), as findings."""
    rows = store.conflicts("register_reads").to_pandas()
    rows = rows[
        (rows["local_date"] >= first) & (rows["local_date"] <= last) & rows["meter_no"].isin(meters)
    ]
    return pd.DataFrame(
        {
            "meter_no": rows["meter_no"],
            "channel": rows["channel"],
            "ts": rows["ts"],
            "value": rows["value"].astype("float64"),
            "rule": rules.DUPLICATE_CONFLICT,
            "severity": "issue",
            "status": "open",
            "detail": [
                f"delivered again as {new}, first value {old} kept"
                for new, old in zip(rows["value"], rows["existing_value"], strict=True)
            ],
        }
    )
