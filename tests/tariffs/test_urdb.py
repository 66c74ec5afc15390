"""OpenEI URDB import: what becomes our tariff, what is reported, what is refused."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from meter2cash.core.errors import TariffError
from meter2cash.tariffs.loader import dump_tariff, load_tariff_or_urdb, load_urdb_file, parse_tariff
from meter2cash.tariffs.schema import MinimumCharge, MonthlyDemand, PeriodEnergy, TouDemand
from meter2cash.tariffs.urdb import import_urdb, parse_urdb

URDB_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "urdb"
FLAT = [[0] * 24 for _ in range(12)]


def _record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "label": "abc123",
        "utility": "Test Utility",
        "name": "Test Rate",
        "sector": "Commercial",
        "startdate": 1514764800,  # 2018-01-01T00:00Z
        "energyratestructure": [[{"rate": Decimal("0.1"), "unit": "kWh"}]],
        "energyweekdayschedule": FLAT,
        "energyweekendschedule": FLAT,
    }
    return base | fields


def _real(name: str) -> Path:
    path = URDB_DIR / name
    if not path.exists():
        pytest.skip(f"reference URDB record {path} is absent (see ../shared/data/README.md)")
    return path


def test_xcel_tou_record_becomes_five_priced_periods() -> None:
    imported = load_urdb_file(_real("xcel-co-re-tou.json"))
    doc = imported.document
    version = doc.versions[0]
    energy = version.component("energy_periods")
    assert isinstance(energy, PeriodEnergy)
    assert (doc.code, doc.currency, doc.customer_class) == (
        "URDB-618940545457A35A1C4097EC",
        "USD",
        "residential",
    )
    assert str(version.effective_from) == "2021-10-01"
    # rate + adj: 0.06387 + 0.035187
    assert energy.periods[0].tiers[0].price == Decimal("0.099057")
    assert energy.schedule.weekday[6][14] == 5  # URDB period 4 (from 0): July 14:00, on-peak
    fixed = version.component("fixed")
    assert fixed is not None and fixed.amount == Decimal("5.71") and fixed.per == "month"
    assert [r.split(":")[0] for r in imported.not_honoured] == [
        "enddate",
        "energycomments",
        "dgrules",
    ]


def test_scppd_hours_use_tiers_and_seasonal_demand() -> None:
    imported = load_urdb_file(_real("scppd-lp1-large-power.json"))
    version = imported.document.versions[0]
    energy, demand = version.component("energy_periods"), version.component("demand_monthly")
    assert isinstance(energy, PeriodEnergy) and isinstance(demand, MonthlyDemand)
    assert energy.tier_unit == "kWh/kW"
    assert energy.periods[0].tiers[0].up_to == 300
    assert demand.months == (1, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1)
    assert demand.seasons[1].tiers[0].price == Decimal("16.3")
    # The $1000 minimum is stated only in the description: reported, not guessed.
    assert imported.not_honoured == (
        'description: free text is not interpreted; read it for charges it states ("Minimum '
        'charge of $1000.00.")',
    )


def test_imported_tariff_round_trips_through_yaml() -> None:
    document, _ = load_tariff_or_urdb(_real("scppd-lp1-large-power.json"))
    assert parse_tariff(dump_tariff(document), "round-trip.yaml") == document


def test_items_wrapper_and_bare_record_import_alike() -> None:
    record = _record()
    bare = parse_urdb(json.dumps(record, default=str), "bare.json")
    wrapped = parse_urdb(json.dumps({"items": [record]}, default=str), "wrapped.json")
    assert bare.document.versions == wrapped.document.versions


def test_day_charges_minimum_and_tou_demand() -> None:
    record = _record(
        fixedchargefirstmeter=Decimal("0.5"),
        fixedchargeunits="$/day",
        mincharge=40,
        minchargeunits="$/month",
        demandratestructure=[[{"rate": 2}], [{"rate": 9, "adj": Decimal("0.5")}]],
        demandweekdayschedule=[[0] * 12 + [1] * 6 + [0] * 6 for _ in range(12)],
        demandweekendschedule=FLAT,
        demandrateunit="kW",
    )
    version = import_urdb(record, "r.json").document.versions[0]
    fixed, minimum, demand = (version.component(k) for k in ("fixed", "minimum", "demand_tou"))
    assert fixed is not None and fixed.per == "day" and fixed.amount == Decimal("0.5")
    assert isinstance(minimum, MinimumCharge) and minimum.amount == 40
    assert isinstance(demand, TouDemand) and demand.periods[1].tiers[0].price == Decimal("9.5")


@pytest.mark.parametrize(
    ("fields", "reported"),
    [
        ({"fixedchargefirstmeter": 120, "fixedchargeunits": "$/year"}, "fixedchargefirstmeter"),
        ({"mincharge": 300, "minchargeunits": "$/year"}, "mincharge"),
        ({"demandratchetpercentage": [0] * 11 + [80]}, "demandratchetpercentage"),
        ({"lookbackPercent": Decimal("0.8"), "lookbackRange": 11}, "lookbackPercent"),
        ({"demandwindow": 30}, "demandwindow"),
        ({"coincidentratestructure": [[{"rate": 3}]]}, "coincidentratestructure"),
        ({"somethingnew": 1}, "somethingnew"),
    ],
)
def test_fields_not_honoured_are_reported(fields: dict[str, Any], reported: str) -> None:
    imported = import_urdb(_record(**fields), "r.json")
    assert any(item.startswith(f"{reported}: ") for item in imported.not_honoured)


def test_all_zero_ratchet_is_nothing_to_report() -> None:
    imported = import_urdb(_record(demandratchetpercentage=[0] * 12), "r.json")
    assert imported.not_honoured == ()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"flatdemandstructure": [[{"rate": 5}]], "flatdemandunit": "kVA"},
            "r.json: flatdemandunit: demand in 'kVA' is not supported",
        ),
        (
            {"demandratestructure": [[{"rate": 5}]], "demandrateunit": "hp"},
            "r.json: demandrateunit: demand in 'hp' is not supported",
        ),
        (
            {"energyratestructure": [[{"rate": 1, "unit": "kWh/hp"}]]},
            "r.json: energyratestructure[0][0].unit: energy blocks in 'kWh/hp'",
        ),
        (
            {"energyratestructure": [[{"rate": 1}], [{"rate": 2}]]},
            "r.json: energyweekdayschedule[0][0]",
        ),
        (
            {"energyweekdayschedule": [[0] * 24 for _ in range(11)]},
            "r.json: energyweekdayschedule: is not 12 rows",
        ),
        (
            {"energyratestructure": [[{"rate": -1}]]},
            "r.json: energyratestructure[0][0]: rate + adj is negative",
        ),
    ],
)
def test_unsupported_records_are_refused_naming_the_field(
    fields: dict[str, Any], message: str
) -> None:
    record = _record(**fields)
    if "energyweekdayschedule[0][0]" in message:
        record["energyweekdayschedule"] = [[5] * 24 for _ in range(12)]
    with pytest.raises(TariffError) as caught:
        import_urdb(record, "r.json")
    assert str(caught.value).startswith(message)
