"""Asset tables: counts, class mix, tariffs, metering and addresses."""

from __future__ import annotations

import numpy as np
import pandas as pd

from meter2cash.simulator import SimulatedUtility, UtilitySpec, build_utility


def test_class_mix_and_counts(utility: SimulatedUtility) -> None:
    assert len(utility.accounts) == len(utility.customers) == 300
    shares = utility.customers["customer_class"].value_counts(normalize=True)
    assert abs(shares["residential"] - 0.88) < 0.01
    assert abs(shares["commercial"] - 0.09) < 0.01
    assert abs(shares["industrial"] - 0.03) < 0.01
    assert len(utility.zones) == 2


def test_every_area_has_customers_and_one_supply_meter(utility: SimulatedUtility) -> None:
    points = utility.service_points
    per_area = points[points["role"] == "customer"].groupby("transformer_area_code").size()
    assert per_area.between(40, 150).all()
    supply = points[points["role"] == "supply"]
    assert sorted(supply["transformer_area_code"]) == sorted(utility.transformer_areas["code"])
    assert supply["account_no"].isna().all()
    assert utility.transformer_areas["technical_loss_pct"].between(2, 6).all()


def test_tariffs_and_metering_follow_the_class(
    utility: SimulatedUtility, meter_classes: pd.DataFrame
) -> None:
    joined = utility.accounts.merge(utility.customers, on="customer_no")
    tariffs = joined.groupby("customer_class")["tariff_code"].agg(set)
    assert tariffs["residential"] == {"RES-TIER-ZJ", "RES-TOU-TIER"}
    assert tariffs["commercial"] == {"COM-TOU"}
    assert tariffs["industrial"] == {"IND-TWO-PART", "IND-TWO-PART-CD"}
    meters = utility.meters.merge(meter_classes, on="meter_no")
    residential = meters[meters["customer_class"] == "residential"]
    assert not residential["records_intervals"].any()
    assert (residential["multiplier"] == 1).all()
    industrial = meters[meters["customer_class"] == "industrial"]
    assert industrial["ct_ratio"].between(20, 200).all()
    assert meters[meters["role"] == "supply"]["records_intervals"].all()
    contracted = utility.service_points["contracted_kva"].dropna()
    assert contracted.between(315, 2000).all()
    assert len(contracted) == (utility.customers["customer_class"] == "industrial").sum()
    # Large (high-voltage, over 630 kVA) plants declare a contract demand and are billed by it.
    points = utility.service_points.merge(joined, on="account_no")
    by_contract = points["tariff_code"] == "IND-TWO-PART-CD"
    assert (by_contract == (points["contracted_kva"] > 630)).all()
    assert points.loc[by_contract, "contract_demand_kw"].gt(0).all()
    assert points.loc[~by_contract, "contract_demand_kw"].isna().all()


def test_addresses_are_twelve_unique_digits(utility: SimulatedUtility) -> None:
    addresses = utility.meters["address"]
    assert addresses.str.fullmatch(r"\d{12}").all()
    assert addresses.is_unique
    assert utility.concentrators["address"].str.fullmatch(r"\d{12}").all()
    assert utility.meters["meter_no"].is_unique


def test_installation_precedes_the_simulation_and_leaves_register_headroom(
    utility: SimulatedUtility,
) -> None:
    installed = utility.meters["installed_at"]
    assert str(installed.dt.tz) == "UTC"
    assert (installed < pd.Timestamp(utility.spec.start, tz="UTC")).all()
    assert (utility.meters["initial_read_kwh"] < 10_000).all()


def test_fingerprint_is_stable() -> None:
    assert UtilitySpec().fingerprint().startswith("sim:seed=2026:accounts=3000:start=2026-07-01")


def test_same_seed_same_assets_other_seed_different() -> None:
    spec = UtilitySpec(seed=11, accounts=120, days=3)
    first, second = build_utility(spec), build_utility(spec)
    other = build_utility(UtilitySpec(seed=12, accounts=120, days=3))
    for name in ("customers", "accounts", "service_points", "meters", "transformer_areas"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))
    assert not np.array_equal(first.meters["address"], other.meters["address"])
