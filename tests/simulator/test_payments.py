"""Payment behaviour."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from meter2cash.simulator import SimulatedUtility, UtilitySpec, build_utility


def _bills(utility: SimulatedUtility) -> pd.DataFrame:
    accounts = utility.accounts["account_no"]
    bill_date = utility.spec.start + timedelta(days=1)
    return pd.DataFrame(
        {
            "account_no": accounts,
            "bill_no": [f"B{n:06d}" for n in range(len(accounts))],
            "total_minor": np.arange(len(accounts)) * 7 + 1000,
            "bill_date": bill_date,
            "due_date": bill_date + timedelta(days=15),
        }
    )


def test_behaviour_mix_and_rules() -> None:
    utility = build_utility(UtilitySpec(seed=3, accounts=2000, days=120))
    bills = _bills(utility)
    payments = utility.simulate_payments(bills)
    labels = utility.ground_truth().payers.set_index("account_no")["behaviour"]
    shares = labels.value_counts(normalize=True)
    assert abs(shares["on_time"] - 0.70) < 0.04
    assert abs(shares["never"] - 0.07) < 0.03

    joined = payments.merge(bills, on=["account_no", "bill_no"])
    joined["behaviour"] = labels[joined["account_no"]].to_numpy()
    assert set(joined["behaviour"]) == {"on_time", "late", "partial"}
    on_time = joined[joined["behaviour"] == "on_time"]
    assert (on_time["amount_minor"] == on_time["total_minor"]).all()
    assert (on_time["received_on"] >= on_time["bill_date"]).all()
    assert (on_time["received_on"] <= on_time["due_date"]).all()
    late = joined[joined["behaviour"] == "late"]
    assert ((late["received_on"] - late["due_date"]).map(lambda d: d.days) >= 5).all()
    partial = joined[joined["behaviour"] == "partial"]
    share = partial["amount_minor"] / partial["total_minor"]
    assert share.between(0.29, 0.91).all()
    assert (joined["amount_minor"] > 0).all()
    assert set(joined["channel"]) == {"counter", "bank", "wechat", "alipay", "agent"}
    assert payments["transaction_id"].is_unique


def test_no_payment_after_the_simulation_and_deterministic(utility: SimulatedUtility) -> None:
    bills = _bills(utility)
    payments = utility.simulate_payments(bills)
    assert (payments["received_on"] < utility.spec.end).all()
    labels = utility.ground_truth().payers
    late = labels[labels["behaviour"].isin(["late", "never"])]["account_no"]
    assert len(payments) > 0
    assert not payments["account_no"].isin(late).any()  # late payers pay after the simulation
    reversed_bills = bills.iloc[::-1].reset_index(drop=True)
    again = utility.simulate_payments(reversed_bills).sort_values("bill_no").reset_index(drop=True)
    pd.testing.assert_frame_equal(again, payments.sort_values("bill_no").reset_index(drop=True))


def test_ground_truth_round_trips_through_parquet(
    utility: SimulatedUtility, tmp_path: Path
) -> None:
    truth = utility.ground_truth()
    truth.write(tmp_path)
    theft = pd.read_parquet(tmp_path / "theft.parquet")
    assert list(theft.columns) == ["meter_no", "kind", "start", "factor"]
    assert len(pd.read_parquet(tmp_path / "true_daily_kwh.parquet")) == len(truth.true_daily_kwh)
