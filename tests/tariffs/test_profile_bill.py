"""Numbered-period rating worked by hand, and billing a load profile by calendar month."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from meter2cash.tariffs.load_profile import LoadProfile
from meter2cash.tariffs.loader import load_catalogue
from meter2cash.tariffs.profile_bill import bill_profile
from meter2cash.tariffs.rating import Determinants, TierContext, rate
from meter2cash.tariffs.schema import TariffDocument, TariffVersion
from meter2cash.tariffs.tiers import kwh_by_period_tier
from tests.cli.test_bad_input import _one_line_error
from tests.cli.test_spine import m2c

D = Decimal
JULY = (date(2024, 7, 1), date(2024, 7, 31))
ALL_ONE = [[1] * 24 for _ in range(12)]
PEAK_AFTERNOON = [[1] * 14 + [2] * 6 + [1] * 4 for _ in range(12)]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _document(components: list[dict[str, Any]]) -> TariffDocument:
    return TariffDocument.model_validate(
        {
            "code": "TEST",
            "name": "test",
            "customer_class": "commercial",
            "currency": "USD",
            "versions": [{"version": 1, "effective_from": "2024-01-01", "components": components}],
        }
    )


def _version(components: list[dict[str, Any]]) -> TariffVersion:
    return _document(components).versions[0]


def _tiers(*pairs: tuple[str | None, str]) -> dict[str, Any]:
    return {"tiers": [{"up_to": up_to, "price": price} for up_to, price in pairs]}


def _energy_periods(*periods: dict[str, Any], unit: str = "kWh") -> dict[str, Any]:
    schedule = ALL_ONE if len(periods) == 1 else PEAK_AFTERNOON
    return {
        "kind": "energy_periods",
        "schedule": {"weekday": schedule, "weekend": ALL_ONE},
        "tier_unit": unit,
        "periods": list(periods),
    }


# ---------------------------------------------------------------------------------------------
# Rating, worked by hand


def test_blocks_on_the_month_total_spread_by_share() -> None:
    # 600 kWh in all, block 1 ≤ 500: off-peak 150 kWh (¼) → 125 + 25, on-peak 450 → 375 + 75.
    assert kwh_by_period_tier({1: D(150), 2: D(450)}, {1: [D(500), None], 2: [D(500), None]}) == {
        (1, 0): D(125),
        (1, 1): D(25),
        (2, 0): D(375),
        (2, 1): D(75),
    }
    version = _version(
        [
            _energy_periods(
                _tiers(("500", "0.10"), (None, "0.20")), _tiers(("500", "0.30"), (None, "0.40"))
            )
        ]
    )
    det = Determinants(*JULY, kwh_total=D(600), kwh_by_schedule_period={1: D(150), 2: D(450)})
    bill = rate(version, det, TierContext())
    assert [ln.amount for ln in bill.lines] == [D("12.50"), D("5.00"), D("112.50"), D("30.00")]
    assert bill.total == D("160.00")


def test_hours_use_blocks_scale_by_maximum_demand() -> None:
    # 300 kWh/kW at 10 kW → the first block ends at 3000 kWh: 3000 × 0.08 + 1000 × 0.05.
    version = _version([_energy_periods(_tiers(("300", "0.08"), (None, "0.05")), unit="kWh/kW")])
    det = Determinants(
        *JULY, kwh_total=D(4000), max_demand_kw=D(10), kwh_by_schedule_period={1: D(4000)}
    )
    assert rate(version, det, TierContext()).total == D("290.00")


def test_day_fixed_charge_and_minimum_that_counts_it() -> None:
    # 31 days × 0.50 = 15.50 fixed + 20.00 energy = 35.50, topped up to the 50.00 minimum.
    version = _version(
        [
            {"kind": "fixed", "per": "day", "amount": "0.50"},
            _energy_periods(_tiers((None, "0.10"))),
            {"kind": "minimum", "per": "month", "amount": "50"},
        ]
    )
    det = Determinants(*JULY, kwh_total=D(200), kwh_by_schedule_period={1: D(200)})
    bill = rate(version, det, TierContext())
    assert [(ln.kind, ln.amount) for ln in bill.lines] == [
        ("fixed", D("15.50")),
        ("energy_periods", D("20.00")),
        ("minimum", D("14.50")),
    ]
    assert bill.total == D("50.00")


def test_seasonal_and_tou_demand_in_kw_blocks() -> None:
    # July is season 2: 100 kW × 15 + 50 kW × 13 = 2150; on-peak 120 kW × 9 = 1080.
    version = _version(
        [
            _energy_periods(_tiers((None, "0.06"))),
            {
                "kind": "demand_monthly",
                "months": [1, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1],
                "seasons": [
                    _tiers(("100", "11"), (None, "9")),
                    _tiers(("100", "15"), (None, "13")),
                ],
            },
            {
                "kind": "demand_tou",
                "schedule": {"weekday": PEAK_AFTERNOON, "weekend": ALL_ONE},
                "periods": [_tiers((None, "0")), _tiers((None, "9"))],
            },
        ]
    )
    det = Determinants(
        *JULY,
        kwh_total=D(0),
        max_demand_kw=D(150),
        max_demand_kw_by_period={1: D(150), 2: D(120)},
    )
    bill = rate(version, det, TierContext())
    assert [(ln.kind, ln.amount) for ln in bill.lines] == [
        ("demand_monthly", D("1500.00")),
        ("demand_monthly", D("650.00")),
        ("demand_tou", D("0.00")),
        ("demand_tou", D("1080.00")),
    ]


def test_energy_periods_refuses_a_second_energy_component() -> None:
    with pytest.raises(ValueError, match="energy is priced twice"):
        _version(
            [
                _energy_periods(_tiers((None, "0.1"))),
                {
                    "kind": "energy_tiered",
                    "period": "monthly",
                    "tiers": [{"up_to_kwh": None, "price": "1"}],
                },
            ]
        )


# ---------------------------------------------------------------------------------------------
# Load profiles by calendar month


def _profile(first: str, count: int, minutes: int, kwh: np.ndarray) -> LoadProfile:
    step = np.timedelta64(minutes, "m")
    start = np.datetime64(first, "ns") + np.arange(count) * step
    return LoadProfile(start, kwh, None, float(minutes))


def test_months_are_local_and_demand_is_the_largest_interval_average() -> None:
    # 15-minute intervals across 2024-01-31 16:00Z = 2024-02-01 00:00 in Shanghai.
    kwh = np.full(8, 0.25)
    kwh[6] = 1.5  # 1.5 kWh in 15 minutes = 6 kW
    profile = _profile("2024-01-31T15:00", 8, 15, kwh)
    document = _document([_energy_periods(_tiers((None, "0.1")))])
    january, february = bill_profile(document, profile, SHANGHAI)
    assert (january.month, january.determinants.kwh_total) == ("2024-01", D("1.0000"))
    assert (february.month, february.determinants.max_demand_kw) == ("2024-02", D("6.0000"))
    assert february.determinants.period_start == date(2024, 2, 1)


def test_catalogue_tou_tariff_bills_a_profile_by_period() -> None:
    # COM-TOU, July 2024 (尖峰 19–21): 1 kWh every hour → sharp 2 h, peak 10 h, flat 4 h,
    # valley 8 h a day, 31 days.
    profile = _profile("2024-06-30T16:00", 31 * 24, 60, np.ones(31 * 24))
    (july,) = bill_profile(load_catalogue()["COM-TOU"], profile, SHANGHAI)
    assert july.determinants.kwh_by_period == {
        "sharp": D(62),
        "peak": D(310),
        "flat": D(124),
        "valley": D(248),
    }
    assert july.charges["energy"] == D("74.40") + D("310.00") + D("80.60") + D("74.40")
    assert july.charges["funds"] > 0


def test_holidays_take_the_weekend_matrix() -> None:
    # 2024-07-01 is a Monday: on-peak 14:00–20:00 unless it is a holiday.
    profile = _profile("2024-07-01T00:00", 24, 60, np.ones(24))
    document = _document([_energy_periods(_tiers((None, "0.1")), _tiers((None, "0.3")))])
    (workday,) = bill_profile(document, profile, ZoneInfo("UTC"))
    (holiday,) = bill_profile(document, profile, ZoneInfo("UTC"), holidays=[date(2024, 7, 1)])
    assert workday.determinants.kwh_by_schedule_period == {1: D(18), 2: D(6)}
    assert holiday.determinants.kwh_by_schedule_period == {1: D(24)}


# ---------------------------------------------------------------------------------------------
# m2c tariff bill / import-urdb


def _csv(path: Path, rows: list[str], header: str = "timestamp,kwh") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _hours(first_hour: int, count: int) -> list[str]:
    return [f"2024-07-01T{h:02d}:00:00+08:00,1.5" for h in range(first_hour, first_hour + count)]


def test_bill_json_gives_each_month_its_charges(tmp_path: Path) -> None:
    load = _csv(tmp_path / "load.csv", [*_hours(0, 24)], header="timestamp,kwh")
    result = m2c(
        tmp_path, "tariff", "bill", "--tariff", _catalogue("COM-TOU"), "--load", str(load), "--json"
    )
    assert result.returncode == 0, result.stderr
    (month,) = json.loads(result.stdout)["months"]
    assert month["month"] == "2024-07"
    assert set(month) >= {"energy", "demand", "fixed", "minimum", "pf_adjustment", "funds", "total"}
    parts = ("energy", "demand", "fixed", "minimum", "pf_adjustment", "funds")
    assert D(month["total"]) == sum(D(month[p]) for p in parts)
    assert D(month["total"]) == sum(D(line["amount"]) for line in month["lines"])


def test_bill_table_and_urdb_tariff(tmp_path: Path) -> None:
    record = tmp_path / "rate.json"
    record.write_text(
        json.dumps(
            {
                "items": [
                    {
                        "label": "t1",
                        "sector": "Residential",
                        "startdate": 1704067200,
                        "energyratestructure": [[{"rate": 0.12, "adj": 0.01}]],
                        "fixedchargefirstmeter": 4,
                        "fixedchargeunits": "$/month",
                        "demandwindow": 15,
                    }
                ]
            }
        )
    )
    load = _csv(tmp_path / "load.csv", _hours(0, 24))
    result = m2c(tmp_path, "tariff", "bill", "--tariff", str(record), "--load", str(load))
    assert result.returncode == 0, result.stderr
    assert "2024-07" in result.stdout and "8.68" in result.stdout  # 4 + 36 kWh × 0.13
    assert "not honoured: demandwindow" in result.stderr


def test_import_urdb_writes_checkable_yaml(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "urdb"
    record = source / "xcel-co-re-tou.json"
    if not record.exists():
        pytest.skip(f"reference URDB record {record} is absent (see ../shared/data/README.md)")
    out = tmp_path / "xcel.yaml"
    result = m2c(tmp_path, "tariff", "import-urdb", str(record), "--output", str(out), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["components"] == ["fixed", "energy_periods"]
    assert any(item.startswith("dgrules:") for item in summary["not_honoured"])
    checked = m2c(tmp_path, "tariff", "check", str(out))
    assert checked.returncode == 0 and "URDB-618940545457A35A1C4097EC" in checked.stdout


def _catalogue(code: str) -> str:
    root = Path(__file__).resolve().parents[2]
    return str(root / "src" / "meter2cash" / "tariffs" / "catalogue" / f"{code}.yaml")


@pytest.mark.parametrize(
    ("rows", "header", "expected"),
    [
        (["2024-07-01T00:00:00,1", "2024-07-01T01:00:00,1"], "timestamp,kwh", "line 2: timestamp"),
        (_hours(1, 1) + _hours(0, 1), "timestamp,kwh", "line 3: timestamp is earlier"),
        (_hours(0, 2) + _hours(1, 1), "timestamp,kwh", "line 4: timestamp repeats"),
        (_hours(0, 2) + _hours(3, 1), "timestamp,kwh", "line 4: timestamp breaks the 60-minute"),
        (["2024-07-01T00:00:00+08:00,abc", *_hours(1, 1)], "timestamp,kwh", "line 2: kwh 'abc'"),
        (_hours(0, 2), "timestamp,energy", "no 'kwh' column"),
    ],
)
def test_bad_load_profile_is_one_line_naming_file_and_line(
    tmp_path: Path, rows: list[str], header: str, expected: str
) -> None:
    load = _csv(tmp_path / "load.csv", rows, header)
    result = m2c(tmp_path, "tariff", "bill", "--tariff", _catalogue("COM-TOU"), "--load", str(load))
    line = _one_line_error(result)
    assert "load.csv" in line and expected in line
    assert result.stdout == ""
    assert result.returncode == 2


def test_unreadable_tariff_is_one_line(tmp_path: Path) -> None:
    load = _csv(tmp_path / "load.csv", _hours(0, 2))
    bad = tmp_path / "rate.json"
    bad.write_text(
        '{"items": [{"energyratestructure": [[{"rate": 1}]], "flatdemandunit": "kVA", '
        '"flatdemandstructure": [[{"rate": 2}]]}]}'
    )
    line = _one_line_error(
        m2c(tmp_path, "tariff", "bill", "--tariff", str(bad), "--load", str(load))
    )
    assert "rate.json: flatdemandunit" in line
    missing = _one_line_error(
        m2c(
            tmp_path, "tariff", "bill", "--tariff", str(tmp_path / "nope.yaml"), "--load", str(load)
        )
    )
    assert "nope.yaml: cannot read" in missing
