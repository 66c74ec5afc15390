"""Tariff schema: TOU schedules, the slot table, versions and the published JSON Schema."""

from __future__ import annotations

import json
from datetime import date
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter2cash.core.errors import TariffError
from meter2cash.tariffs.loader import load_catalogue
from meter2cash.tariffs.schema import (
    COMPONENT_KINDS,
    DAY_TYPES,
    SLOTS_PER_DAY,
    TOU_PERIODS,
    TariffDocument,
    TariffVersion,
    TouSchedule,
    period_of,
    tariff_json_schema,
    tou_slot_table,
)

COMMERCIAL_SCHEDULE: dict[str, Any] = {
    "periods": {"valley": [[0, 8]], "peak": [[8, 11], [13, 22]], "flat": [[11, 13], [22, 24]]},
    "overrides": [{"months": [7, 8], "periods": {"sharp": [[19, 21]]}}],
}


def _day_text(schedule: TouSchedule, month: int, day_type: str) -> str:
    """The day's periods as ``HH:MM–HH:MM period`` runs, one per line."""
    runs: list[str] = []
    start = 0
    for slot in range(1, SLOTS_PER_DAY + 1):
        here = period_of(schedule, month, day_type, start)
        if slot == SLOTS_PER_DAY or period_of(schedule, month, day_type, slot) != here:
            runs.append(
                f"{start // 4:02d}:{start % 4 * 15:02d}–{slot // 4:02d}:{slot % 4 * 15:02d} {here}"
            )
            start = slot
    return "\n".join(runs)


def test_sharp_hours_only_in_july_and_august_otherwise_peak() -> None:
    schedule = TouSchedule.model_validate(COMMERCIAL_SCHEDULE)
    assert _day_text(schedule, 7, "weekend") == (
        "00:00–08:00 valley\n08:00–11:00 peak\n11:00–13:00 flat\n13:00–19:00 peak\n"
        "19:00–21:00 sharp\n21:00–22:00 peak\n22:00–24:00 flat"
    )
    assert _day_text(schedule, 6, "workday") == (
        "00:00–08:00 valley\n08:00–11:00 peak\n11:00–13:00 flat\n13:00–22:00 peak\n22:00–24:00 flat"
    )


def test_quarter_hour_boundaries_and_day_type_overrides() -> None:
    schedule = TouSchedule.model_validate(
        {
            "periods": {"valley": [[0, "07:30"]], "peak": [["07:30", 24]]},
            "overrides": [{"day_types": ["holiday"], "periods": {"valley": [[0, 24]]}}],
        }
    )
    assert period_of(schedule, 3, "workday", 29) == "valley"  # 07:15
    assert period_of(schedule, 3, "workday", 30) == "peak"  # 07:30
    assert period_of(schedule, 3, "holiday", 60) == "valley"


def test_period_of_refuses_slots_outside_the_day() -> None:
    schedule = TouSchedule.model_validate(COMMERCIAL_SCHEDULE)
    with pytest.raises(TariffError, match="slot 96"):
        period_of(schedule, 1, "workday", 96)
    with pytest.raises(TariffError, match="slot -1"):
        period_of(schedule, 1, "workday", -1)


def _assert_covers_every_slot_once(schedule: TouSchedule) -> None:
    table = tou_slot_table(schedule)
    keys = [(month, day_type, slot) for month, day_type, slot, _ in table]
    assert len(keys) == 12 * 3 * SLOTS_PER_DAY
    assert set(keys) == {
        (m, d, s) for m in range(1, 13) for d in DAY_TYPES for s in range(SLOTS_PER_DAY)
    }
    for month, day_type, slot, period in table:
        assert period_of(schedule, month, day_type, slot) == period


@pytest.mark.parametrize("code", ["RES-TOU-TIER", "COM-TOU", "IND-TWO-PART"])
def test_catalogue_slot_tables_cover_every_slot_once(code: str) -> None:
    schedule = load_catalogue()[code].versions[0].tou_schedule
    assert schedule is not None
    _assert_covers_every_slot_once(schedule)


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, Any]:
    """A random valid schedule: the day cut at random hours, plus one random override."""
    cuts = sorted(draw(st.sets(st.integers(1, 23), max_size=8)))
    edges = [0, *cuts, 24]
    periods: dict[str, list[list[int]]] = {}
    for start, end in pairwise(edges):
        periods.setdefault(draw(st.sampled_from(TOU_PERIODS)), []).append([start, end])
    start = draw(st.integers(0, 23))
    override = {
        "months": draw(st.lists(st.integers(1, 12), min_size=1, max_size=12, unique=True)),
        "day_types": draw(st.lists(st.sampled_from(DAY_TYPES), min_size=1, unique=True)),
        "periods": {
            draw(st.sampled_from(TOU_PERIODS)): [[start, draw(st.integers(start + 1, 24))]]
        },
    }
    return {"periods": periods, "overrides": [override]}


@given(schedules())
def test_slot_table_covers_every_slot_exactly_once(raw: dict[str, Any]) -> None:
    _assert_covers_every_slot_once(TouSchedule.model_validate(raw))


def _two_versions() -> TariffDocument:
    version = {
        "rounding": {"step": "0.01", "mode": "half_up"},
        "components": [
            {
                "kind": "energy_tiered",
                "period": "monthly",
                "tiers": [{"up_to_kwh": None, "price": "0.5"}],
            },
        ],
    }
    return TariffDocument.model_validate(
        {
            "code": "TEST-FLAT",
            "name": "test",
            "customer_class": "residential",
            "versions": [
                {"version": 1, "effective_from": "2024-01-01", **version},
                {"version": 2, "effective_from": "2025-07-01", **version},
            ],
        }
    )


def test_version_on_picks_the_version_in_force() -> None:
    document = _two_versions()
    assert document.version_on(date(2024, 1, 1)).version == 1
    assert document.version_on(date(2025, 6, 30)).version == 1
    assert document.version_on(date(2025, 7, 1)).version == 2
    with pytest.raises(TariffError, match="no version in force on 2023-12-31"):
        document.version_on(date(2023, 12, 31))


def test_json_schema_describes_the_document() -> None:
    schema = tariff_json_schema()
    assert schema["type"] == "object"
    assert {"code", "name", "customer_class", "versions"} <= set(schema["properties"])
    assert set(schema["required"]) >= {"code", "name", "customer_class", "versions"}
    assert schema["additionalProperties"] is False
    kinds = {
        definition["properties"]["kind"]["const"]
        for definition in schema["$defs"].values()
        if "kind" in definition.get("properties", {})
    }
    assert (
        kinds
        == set(COMPONENT_KINDS)
        == {
            "fixed",
            "energy_tiered",
            "energy_tou",
            "tier_increment",
            "energy_periods",
            "demand",
            "demand_monthly",
            "demand_tou",
            "pf_adjustment",
            "funds",
            "minimum",
            "net_metering",
            "tax",
        }
    )


@pytest.mark.parametrize("code", ["RES-TIER-ZJ", "RES-TOU-TIER", "COM-TOU", "IND-TWO-PART"])
def test_versions_survive_a_json_round_trip(code: str) -> None:
    """Tariff records store ``model_dump(mode="json")``; reading it back gives the same version."""
    for version in load_catalogue()[code].versions:
        stored = json.loads(json.dumps(version.model_dump(mode="json")))
        assert TariffVersion.model_validate(stored) == version
