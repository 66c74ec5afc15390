"""Loading tariff files: the catalogue, and one clear error line per malformed file."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from meter2cash.core.errors import TariffError
from meter2cash.tariffs.loader import load_catalogue, load_tariff_file
from meter2cash.tariffs.schema import TieredEnergy

VALID: dict[str, Any] = {
    "code": "TEST-TOU-TIER",
    "name": "test tariff",
    "customer_class": "residential",
    "currency": "CNY",
    "versions": [
        {
            "version": 1,
            "effective_from": date(2024, 1, 1),
            "rounding": {"step": "0.01", "mode": "half_up"},
            "tou_schedule": {"periods": {"peak": [[8, 22]], "valley": [[22, 24], [0, 8]]}},
            "components": [
                {
                    "kind": "tier_increment",
                    "period": "annual",
                    "tiers": [
                        {"up_to_kwh": "2760", "increment": "0"},
                        {"up_to_kwh": "4800", "increment": "0.05"},
                        {"up_to_kwh": None, "increment": "0.30"},
                    ],
                },
                {"kind": "energy_tou", "prices": {"peak": "0.568", "valley": "0.288"}},
            ],
        },
    ],
}


def _write(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    document = copy.deepcopy(VALID)
    change(document)
    path = tmp_path / "tariff.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(TariffError) as caught:
        load_tariff_file(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_catalogue_has_the_five_worked_tariffs() -> None:
    catalogue = load_catalogue()
    assert set(catalogue) == {
        "RES-TIER-ZJ",
        "RES-TOU-TIER",
        "COM-TOU",
        "IND-TWO-PART",
        "IND-TWO-PART-CD",
    }
    for document in catalogue.values():
        assert document.source
        assert document.currency == "CNY"


def test_decimals_are_read_exactly_even_unquoted(tmp_path: Path) -> None:
    path = tmp_path / "unquoted.yaml"
    text = yaml.safe_dump(VALID).replace("'0.568'", "0.568").replace("'0.05'", "0.05")
    path.write_text(text, encoding="utf-8")
    version = load_tariff_file(path).versions[0]
    assert version.components[1].prices["peak"] == Decimal("0.568")  # type: ignore[union-attr]


def test_valid_file_loads(tmp_path: Path) -> None:
    document = load_tariff_file(_write(tmp_path, lambda d: None))
    assert document.code == "TEST-TOU-TIER"
    assert not isinstance(document.versions[0].components[0], TieredEnergy)


def test_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("code: RES\nversions: [\n  - {version: 1\n", encoding="utf-8")
    message = _error(path)
    assert "not valid YAML" in message
    assert "line" in message


def test_missing_field(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, lambda d: d.pop("name")))
    assert ": name: is required — add the field" in message


def test_missing_nested_field(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, lambda d: d["versions"][0].pop("effective_from")))
    assert "versions[0].effective_from: is required" in message


def test_unknown_component_kind(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["versions"][0]["components"][1]["kind"] = "energy_flat"

    message = _error(_write(tmp_path, change))
    assert "versions[0].components[1].kind" in message
    assert "energy_flat" in message
    assert "use one of: fixed, energy_tiered" in message


def test_unknown_field(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["versions"][0]["components"][1]["price"] = "0.5"

    message = _error(_write(tmp_path, change))
    assert "versions[0].components[1].price" in message
    assert "remove the field" in message


def test_non_monotone_tiers(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["versions"][0]["components"][0]["tiers"][1]["up_to_kwh"] = "2000"

    message = _error(_write(tmp_path, change))
    assert "versions[0].components[0].tiers[1].up_to_kwh" in message
    assert "2000 kWh is not above the previous tier's 2760 kWh" in message


def test_last_tier_must_be_open(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["versions"][0]["components"][0]["tiers"][2]["up_to_kwh"] = "9000"

    message = _error(_write(tmp_path, change))
    assert "versions[0].components[0].tiers[2].up_to_kwh" in message
    assert "set the last tier's up_to_kwh to null" in message


def test_overlapping_tou_hours(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["versions"][0]["tou_schedule"]["periods"]["peak"] = [[7, 22]]

    message = _error(_write(tmp_path, change))
    assert (
        "versions[0].tou_schedule.periods.valley[1]: valley [0, 8) overlaps peak[0] at 07:00 — "
        "give every hour of the day to exactly one period"
    ) in message


def test_uncovered_tou_hours(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["versions"][0]["tou_schedule"]["periods"]["peak"] = [[8, 20]]

    message = _error(_write(tmp_path, change))
    assert "versions[0].tou_schedule.periods: 20:00–20:15 and 7 more quarter hours" in message


def test_tou_range_wrapping_midnight(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["versions"][0]["tou_schedule"]["periods"]["valley"] = [[22, 8]]

    message = _error(_write(tmp_path, change))
    assert "versions[0].tou_schedule.periods.valley[0]" in message
    assert "split a range over midnight" in message


def test_unpriced_tou_period(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["versions"][0]["components"][1]["prices"].pop("valley")

    message = _error(_write(tmp_path, change))
    assert "versions[0].components[1].prices: no price for valley" in message


def test_negative_price(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["versions"][0]["components"][1]["prices"]["peak"] = "-0.1"

    message = _error(_write(tmp_path, change))
    assert "versions[0].components[1].prices.peak" in message
    assert "greater than or equal to 0" in message


def test_version_effective_before_previous(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        later = copy.deepcopy(d["versions"][0])
        later.update(version=2, effective_from=date(2023, 6, 1))
        d["versions"].append(later)

    message = _error(_write(tmp_path, change))
    assert "versions[1].effective_from: effective 2023-06-01, not after" in message


def test_duplicate_component_kind(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["versions"][0]["components"].append(copy.deepcopy(d["versions"][0]["components"][1]))

    message = _error(_write(tmp_path, change))
    assert "versions[0].components[2].kind: a second energy_tou component" in message


def test_missing_file(tmp_path: Path) -> None:
    message = _error(tmp_path / "absent.yaml")
    assert "cannot read" in message
