"""The back-test file format: reading, checking (with line numbers), writing; gap scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from meter2cash.core.errors import InputError
from meter2cash.core.timezones import zone
from meter2cash.vee.backtest import (
    estimate_series,
    punch_gaps,
    read_series_csv,
    score,
    write_series_csv,
)

TZ = zone("Asia/Shanghai")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "series.csv"
    path.write_text(text)
    return path


def series_text(days: int = 15, gaps: tuple[int, ...] = (30, 31, 300)) -> str:
    ts = pd.date_range("2026-07-01", periods=days * 24, freq="1h", tz="Asia/Shanghai")
    rows = ["timestamp,value,temperature,note"]
    for i, t in enumerate(ts):
        value = "" if i in gaps else f"{2 + np.sin(2 * np.pi * (i % 24) / 24):.4f}"
        rows.append(f"{t.isoformat()},{value},{20 + i % 24 / 4:.1f},n{i}")
    return "\n".join(rows) + "\n"


def test_round_trip_keeps_rows_and_fills_gaps(tmp_path: Path) -> None:
    series = read_series_csv(write(tmp_path, series_text()))
    assert series.temperature is not None and np.isnan(series.values).sum() == 3
    result = estimate_series(series, TZ)
    out = tmp_path / "out.csv"
    write_series_csv(series, result, out)
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    original = pd.read_csv(tmp_path / "series.csv", dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["timestamp", "value", "temperature", "note", "method"]
    assert frame["timestamp"].tolist() == original["timestamp"].tolist()
    assert frame["note"].tolist() == original["note"].tolist()
    given = original["value"] != ""
    assert frame.loc[given, "value"].tolist() == original.loc[given, "value"].tolist()
    assert (frame.loc[given, "method"] == "actual").all()
    assert (frame.loc[~given, "method"] == "like_day").all()
    assert (frame["value"] != "").all()


def test_a_chosen_method_and_the_best_for_what_it_cannot_fill(tmp_path: Path) -> None:
    text = series_text(gaps=(0, 30, 31))
    series = read_series_csv(write(tmp_path, text))
    result = estimate_series(series, TZ, method="linear")
    assert result.method[[0, 30, 31]].tolist() == ["like_day", "linear", "linear"]
    with pytest.raises(InputError, match="unknown method"):
        estimate_series(series, TZ, method="magic")


HEADER = "timestamp,value\n"
T0, T1, T2 = "2026-07-01T00:00:00+08:00", "2026-07-01T00:15:00+08:00", "2026-07-01T00:30:00+08:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEADER + f"{T0},1\n2026-07-01T00:15:00,2\n{T2},3\n", "line 3: naive timestamp"),
        (HEADER + f"{T0},1\n{T2},2\n{T1},3\n", "line 4: timestamp .* is earlier than line 3"),
        (HEADER + f"{T0},1\n{T1},2\n{T1},3\n", "line 4: timestamp .* duplicates line 3"),
        (
            HEADER + f"{T0},1\n{T1},2\n2026-07-01T01:00:00+08:00,3\n",
            "line 4: .* but the series steps",
        ),
        (HEADER + f"{T0},1\n{T1},abc\n{T2},3\n", "line 3: value 'abc' is not a number"),
        (HEADER + f"{T0},1\n{T1},nan\n{T2},3\n", "line 3: value 'nan' is not a number"),
        (HEADER + f"{T0},1\n{T1},-2\n{T2},3\n", "line 3: value -2 is negative"),
        (HEADER + f"{T0},1\n{T1}\n{T2},3\n", "line 3: 1 fields, the header has 2"),
        (HEADER + f"{T0},1\nyesterday,2\n{T2},3\n", "line 3: 'yesterday' is not an ISO 8601"),
        (HEADER + f"{T0},1\n2026-13-01T00:15:00+08:00,2\n", "line 3: .* is not a valid instant"),
        ("time,value\n" + f"{T0},1\n", "line 1: no 'timestamp' column"),
        (HEADER + f"{T0},\n{T1},\n", "no value is given"),
        ("timestamp,value,temperature\n" + f"{T0},1,warm\n{T1},2,20\n", "line 2: temperature"),
    ],
)
def test_bad_input_names_the_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        read_series_csv(write(tmp_path, text))


def test_blank_lines_do_not_shift_line_numbers(tmp_path: Path) -> None:
    text = HEADER + f"{T0},1\n\n{T1},x\n"
    with pytest.raises(InputError, match="line 4: value 'x'"):
        read_series_csv(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_series_csv(tmp_path / "absent.csv")


def test_punch_gaps_apart_and_clear_of_the_start() -> None:
    rng = np.random.default_rng(1)
    removed = punch_gaps((3, 1000), 24, 5, rng, skip_start=96)
    assert removed.sum() == 3 * 5 * 24
    assert not removed[:, :96].any() and not removed[:, -1].any()
    runs = np.diff(np.pad(removed.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    assert ((runs == 1).sum(axis=1) == 5).all()  # five separate runs per series


def test_punch_gaps_between_skip_start_and_stop() -> None:
    removed = punch_gaps((2, 1000), 24, 3, np.random.default_rng(2), skip_start=400, stop=700)
    assert removed.sum() == 2 * 3 * 24
    assert not removed[:, :400].any() and not removed[:, 699:].any()


def test_score_wape_and_bias() -> None:
    actual = np.array([[10.0, 20.0, np.nan, 5.0]])
    estimate = np.array([[12.0, 15.0, 3.0, np.nan]])
    removed = np.array([[True, True, True, True]])
    s = score(actual, estimate, removed)
    assert s.wape == pytest.approx(7 / 30) and s.bias == pytest.approx(-3 / 30)
    assert s.points == 3 and s.filled == pytest.approx(2 / 3)
