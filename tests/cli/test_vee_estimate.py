"""`m2c vee estimate` through the real command: a round trip, and bad files refused."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.cli.test_spine import m2c


def series_file(path: Path) -> Path:
    ts = pd.date_range("2026-09-01", periods=21 * 96, freq="15min", tz="Asia/Shanghai")
    slot = ts.hour * 4 + ts.minute // 15
    values = [f"{1.5 + (s % 96) / 96:.4f}" for s in slot]
    for i in [*range(200, 260), 900, 901, *range(1500, 1600)]:
        values[i] = ""
    pd.DataFrame(
        {"timestamp": [t.isoformat() for t in ts], "value": values, "temperature": "26.5"}
    ).to_csv(path, index=False)
    return path


def test_round_trip(tmp_path: Path) -> None:
    source = series_file(tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    result = m2c(
        tmp_path, "vee", "estimate", "--input", str(source), "--output", str(out), "--json"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows"] == 21 * 96 and summary["gaps"] == 3
    assert summary["estimated_like_day"] == 162
    given = pd.read_csv(source, dtype=str, keep_default_na=False)
    filled = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(filled.columns) == ["timestamp", "value", "temperature", "method"]
    assert filled["timestamp"].tolist() == given["timestamp"].tolist()
    gap = given["value"] == ""
    assert (filled.loc[~gap, "value"] == given.loc[~gap, "value"]).all()
    assert (filled.loc[~gap, "method"] == "actual").all()
    assert (filled.loc[gap, "method"] == "like_day").all()
    # The shape repeats every day, so like days give it back exactly.
    expected = [f"{1.5 + i % 96 / 96:.4f}" for i in range(21 * 96)]
    assert filled["value"].tolist() == expected


def test_round_trip_with_a_chosen_method_and_table_output(tmp_path: Path) -> None:
    source = series_file(tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    result = m2c(
        tmp_path, "vee", "estimate", "--input", str(source), "--output", str(out),
        "--method", "previous-day", "--holidays", "2026-09-25,2026-10-01",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "estimated_previous_day" in result.stdout
    methods = set(pd.read_csv(out)["method"])
    assert methods == {"actual", "previous_day"}


T0, T1, T2 = "2026-07-01T00:00:00+08:00", "2026-07-01T00:15:00+08:00", "2026-07-01T00:30:00+08:00"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([f"{T0},1", "2026-07-01T00:15:00,2", f"{T2},3"], "line 3: naive timestamp"),
        ([f"{T0},1", f"{T2},2", f"{T1},3"], "line 4: timestamp"),
        ([f"{T0},1", f"{T1},2", f"{T1},3"], "duplicates line 3"),
        ([f"{T0},1", f"{T1},2", "2026-07-01T02:00:00+08:00,3"], "line 4:"),
        ([f"{T0},1", f"{T1},twelve", f"{T2},3"], "line 3: value 'twelve' is not a number"),
    ],
    ids=["naive", "unsorted", "duplicated", "irregular", "non-numeric"],
)
def test_bad_input_is_one_line_naming_the_row(
    tmp_path: Path, rows: list[str], expected: str
) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    out = tmp_path / "out.csv"
    result = m2c(tmp_path, "vee", "estimate", "--input", str(source), "--output", str(out))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "bad.csv" in lines[0] and expected in lines[0]
    assert not out.exists()


def test_missing_input_file(tmp_path: Path) -> None:
    result = m2c(
        tmp_path, "vee", "estimate", "--input", str(tmp_path / "no.csv"), "--output", "x.csv"
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cannot read" in result.stderr
