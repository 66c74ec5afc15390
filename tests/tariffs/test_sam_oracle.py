"""NREL SAM as an independent oracle for URDB tariffs billed by calendar month.

Each URDB record goes two ways: through NREL's own converter (``PySAM.UtilityRateTools``)
into SAM's Utilityrate5, and through our importer into our rating. SAM's conventions: the year
is 2018 (starts on a Monday, no leap day, no holidays), so the profile is hourly 2018 in UTC
with no holidays; blocks bound the month's total with each period's kWh spread by share; the
fixed charge counts toward the minimum; SAM does not round.

Comparison: every month's energy, demand, fixed, minimum and total charge, rated *unrounded*
(the version's rounding step set to 1e-9), is within half a cent of SAM's — equal to the cent.
As issued (each line rounded half-up to the cent), each charge is within half a cent per line.
"""

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
from meter2cash.tariffs.profile_bill import CHARGE_OF_LINE, MonthBill, bill_profile
from meter2cash.tariffs.schema import Rounding, TariffDocument
from meter2cash.tariffs.urdb import import_urdb, urdb_record

Utilityrate5 = pytest.importorskip(
    "PySAM.Utilityrate5", reason="NREL PySAM (nrel-pysam, dev extra) is not installed"
)
from PySAM.UtilityRateTools import URDBv8_to_ElectricityRates  # noqa: E402

URDB_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "urdb"
HOURS = 8760
UNROUNDED = Rounding(step=Decimal("1E-9"))
CENT_HALF = 0.005
SAM_CHARGES = {
    "energy": ("charge_w_sys_ec_ym",),
    "demand": ("charge_w_sys_dc_fixed_ym", "charge_w_sys_dc_tou_ym"),
    "fixed": ("charge_w_sys_fixed_ym",),
    "minimum": ("charge_w_sys_minimum_ym",),
    "total": ("utility_bill_w_sys_ym",),
}


def _load_kw(seed: int, scale: float) -> np.ndarray:
    """Hourly 2018 load [kW]: daily and seasonal shape plus seeded noise."""
    rng = np.random.default_rng(seed)
    hour = np.arange(HOURS)
    daily = 1 + 0.6 * np.sin((hour % 24 - 8) / 24 * 2 * np.pi)
    seasonal = 1 + 0.3 * np.cos((hour / HOURS - 0.55) * 2 * np.pi)
    return np.round(scale * daily * seasonal * rng.uniform(0.5, 1.5, HOURS), 3)


def _profile(load_kw: np.ndarray) -> LoadProfile:
    start = np.datetime64("2018-01-01T00:00", "ns") + np.arange(HOURS) * np.timedelta64(1, "h")
    return LoadProfile(start, load_kw.astype(np.float64), None, 60.0)


def _sam(record: dict[str, Any], load_kw: np.ndarray) -> dict[str, list[float]]:
    model = Utilityrate5.new()
    model.Lifetime.analysis_period = 1
    model.Lifetime.system_use_lifetime_output = 0
    model.Lifetime.inflation_rate = 0
    model.SystemOutput.degradation = [0]
    model.SystemOutput.gen = [0.0] * HOURS
    model.Load.load = [float(x) for x in load_kw]
    rates = model.ElectricityRates
    rates.ur_monthly_fixed_charge = 0
    rates.ur_monthly_min_charge = 0
    rates.ur_annual_min_charge = 0
    rates.ur_sell_eq_buy = 0
    rates.ur_dc_enable = 0
    # The converter edits schedules in place and rows may be shared: give it a fresh copy.
    rates.assign(URDBv8_to_ElectricityRates(json.loads(json.dumps(record))))
    model.execute(0)
    outputs = model.Outputs
    return {
        charge: [sum(getattr(outputs, name)[1][m] for name in names) for m in range(12)]
        for charge, names in SAM_CHARGES.items()
    }


def _ours(record: dict[str, Any], load_kw: np.ndarray, *, unrounded: bool) -> list[MonthBill]:
    """Our monthly bills, the record's version re-dated to SAM's 2018."""
    document = import_urdb(_decimal_record(record), "test").document
    version = document.versions[0].model_copy(
        update={"effective_from": date(2018, 1, 1)} | ({"rounding": UNROUNDED} if unrounded else {})
    )
    redated = document.model_copy(update={"versions": (version,)})
    assert isinstance(redated, TariffDocument)

    return list(bill_profile(redated, _profile(load_kw), ZoneInfo("UTC")))


def _decimal_record(record: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(json.dumps(record), parse_float=Decimal)
    return parsed


def _charges(bill: MonthBill) -> dict[str, Decimal]:
    """Our charges under SAM's names; a URDB tariff has no PF adjustment or funds."""
    charges = bill.charges
    assert charges["pf_adjustment"] == charges["funds"] == 0
    return {charge: charges[charge] for charge in SAM_CHARGES if charge != "total"} | {
        "total": bill.bill.total
    }


def _line_count(bill: MonthBill, charge: str) -> int:
    if charge == "total":
        return len(bill.bill.lines)
    return sum(1 for line in bill.bill.lines if CHARGE_OF_LINE[line.kind] == charge)


def _assert_matches_sam(record: dict[str, Any], load_kw: np.ndarray) -> None:
    sam = _sam(record, load_kw)
    exact = _ours(record, load_kw, unrounded=True)
    issued = _ours(record, load_kw, unrounded=False)
    assert [b.month for b in exact] == [f"2018-{m:02d}" for m in range(1, 13)]
    for m, (ours, billed) in enumerate(zip(exact, issued, strict=True)):
        for charge, amount in _charges(ours).items():
            assert abs(float(amount) - sam[charge][m]) < CENT_HALF, (ours.month, charge)
        for charge, amount in _charges(billed).items():
            allowance = CENT_HALF * max(_line_count(billed, charge), 1) + 1e-9
            assert abs(float(amount) - sam[charge][m]) <= allowance, (billed.month, charge)
        assert billed.bill.total == sum(line.amount for line in billed.bill.lines)


# ---------------------------------------------------------------------------------------------
# Synthetic URDB records: one feature each


def _matrix(by_hour: list[int], months: range = range(12), other: list[int] | None = None):
    return [by_hour if m in months else (other or by_hour) for m in range(12)]


FLAT = [0] * 24
PEAK_2_TO_8 = [0] * 14 + [1] * 6 + [0] * 4
THREE_PERIODS = [0] * 7 + [1] * 7 + [2] * 5 + [1] * 2 + [0] * 3

SYNTHETIC: dict[str, tuple[dict[str, Any], float]] = {
    "flat": (
        {
            "sector": "Residential",
            "energyratestructure": [[{"rate": 0.1123, "unit": "kWh"}]],
            "energyweekdayschedule": _matrix(FLAT),
            "energyweekendschedule": _matrix(FLAT),
            "fixedchargefirstmeter": 9.5,
            "fixedchargeunits": "$/month",
        },
        1.2,
    ),
    "block tiers": (
        {
            "sector": "Residential",
            "energyratestructure": [
                [
                    {"max": 500, "rate": 0.09, "unit": "kWh"},
                    {"max": 1000, "rate": 0.12, "adj": 0.004, "unit": "kWh"},
                    {"rate": 0.16, "unit": "kWh"},
                ]
            ],
            "energyweekdayschedule": _matrix(FLAT),
            "energyweekendschedule": _matrix(FLAT),
        },
        1.5,
    ),
    "seasonal": (
        {
            "sector": "Residential",
            "energyratestructure": [
                [{"max": 600, "rate": 0.08}, {"rate": 0.10}],
                [{"max": 600, "rate": 0.11}, {"rate": 0.15}],
            ],
            "energyweekdayschedule": _matrix([1] * 24, range(5, 9), FLAT),
            "energyweekendschedule": _matrix([1] * 24, range(5, 9), FLAT),
        },
        1.0,
    ),
    "TOU": (
        {
            "sector": "Commercial",
            "energyratestructure": [
                [{"rate": 0.07, "adj": 0.011}],
                [{"rate": 0.13, "adj": 0.011}],
                [{"rate": 0.21, "adj": 0.011}],
            ],
            "energyweekdayschedule": _matrix(THREE_PERIODS),
            "energyweekendschedule": _matrix(FLAT),
            "fixedchargefirstmeter": 25,
            "fixedchargeunits": "$/month",
        },
        8.0,
    ),
    "TOU + tiers": (
        {
            "sector": "Residential",
            "energyratestructure": [
                [{"max": 700, "rate": 0.09, "adj": 0.01}, {"rate": 0.12, "adj": 0.01}],
                [{"max": 700, "rate": 0.19, "adj": 0.01}, {"rate": 0.26, "adj": 0.01}],
            ],
            "energyweekdayschedule": _matrix(PEAK_2_TO_8),
            "energyweekendschedule": _matrix(FLAT),
        },
        1.4,
    ),
    "flat demand with tiers": (
        {
            "sector": "Industrial",
            "energyratestructure": [[{"rate": 0.061}]],
            "energyweekdayschedule": _matrix(FLAT),
            "energyweekendschedule": _matrix(FLAT),
            "flatdemandstructure": [
                [{"max": 100, "rate": 11.0}, {"rate": 9.25}],
                [{"max": 100, "rate": 15.5, "adj": 0.5}, {"rate": 13.0}],
            ],
            "flatdemandmonths": [0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0],
            "flatdemandunit": "kW",
        },
        90.0,
    ),
    "TOU demand": (
        {
            "sector": "Commercial",
            "energyratestructure": [[{"rate": 0.07}], [{"rate": 0.12}]],
            "energyweekdayschedule": _matrix(PEAK_2_TO_8),
            "energyweekendschedule": _matrix(FLAT),
            "demandratestructure": [
                [{"max": 50, "rate": 4.0}, {"rate": 3.5}],
                [{"max": 50, "rate": 14.0}, {"rate": 12.0}],
            ],
            "demandweekdayschedule": _matrix(PEAK_2_TO_8),
            "demandweekendschedule": _matrix(FLAT),
            "demandrateunit": "kW",
            "flatdemandstructure": [[{"rate": 3.0}]],
            "flatdemandmonths": [0] * 12,
        },
        40.0,
    ),
    "minimum charge": (
        {
            "sector": "Residential",
            "energyratestructure": [[{"rate": 0.1}]],
            "energyweekdayschedule": _matrix(FLAT),
            "energyweekendschedule": _matrix(FLAT),
            "fixedchargefirstmeter": 12,
            "fixedchargeunits": "$/month",
            "mincharge": 95,
            "minchargeunits": "$/month",
        },
        1.2,
    ),
    "hours-use blocks (kWh/kW)": (
        {
            "sector": "Industrial",
            "energyratestructure": [
                [{"max": 200, "rate": 0.08, "unit": "kWh/kW"}, {"rate": 0.05, "unit": "kWh/kW"}]
            ],
            "energyweekdayschedule": _matrix(FLAT),
            "energyweekendschedule": _matrix(FLAT),
            "flatdemandstructure": [[{"rate": 10.0}]],
            "flatdemandmonths": [0] * 12,
        },
        60.0,
    ),
}


@pytest.mark.parametrize("name", list(SYNTHETIC))
def test_synthetic_record_bills_as_sam(name: str) -> None:
    record, scale = SYNTHETIC[name]
    _assert_matches_sam(record, _load_kw(seed=len(name), scale=scale))


@pytest.mark.parametrize(
    ("file", "scale"), [("xcel-co-re-tou.json", 1.3), ("scppd-lp1-large-power.json", 180.0)]
)
def test_real_record_bills_as_sam(file: str, scale: float) -> None:
    path = URDB_DIR / file
    if not path.exists():
        pytest.skip(f"reference URDB record {path} is absent (see ../shared/data/README.md)")
    record = urdb_record(json.loads(path.read_text()), file)
    _assert_matches_sam(dict(record), _load_kw(seed=7, scale=scale))


def test_minimum_charge_binds_in_the_spread() -> None:
    """The spread really exercises the minimum: SAM charges it in some months, not all."""
    record, scale = SYNTHETIC["minimum charge"]
    minimum = _sam(record, _load_kw(seed=len("minimum charge"), scale=scale))["minimum"]
    assert 0 < sum(1 for m in minimum if m > 0) < 12


def test_use_above_a_bounded_last_block_is_billed_where_sam_bills_nothing() -> None:
    """A known, reported difference: SAM leaves energy above the last block's max unbilled."""
    record = {
        "sector": "Residential",
        "energyratestructure": [[{"max": 400, "rate": 0.1}, {"max": 900, "rate": 0.14}]],
        "energyweekdayschedule": _matrix(FLAT),
        "energyweekendschedule": _matrix(FLAT),
    }
    load_kw = _load_kw(seed=3, scale=1.6)
    sam = _sam(record, load_kw)["energy"]
    ours = _ours(record, load_kw, unrounded=True)
    assert any(bill.determinants.kwh_total > 900 for bill in ours)
    for m, bill in enumerate(ours):
        above = max(float(bill.determinants.kwh_total) - 900, 0.0)
        assert abs(float(bill.charges["energy"]) - sam[m] - above * 0.14) < CENT_HALF
    report = import_urdb(_decimal_record(record), "test").not_honoured
    assert (
        "energyratestructure[0][1].max: the last block's bound 900 is dropped; use above it "
        "is priced at this block's rate (NREL SAM bills nothing above it)"
    ) in report
