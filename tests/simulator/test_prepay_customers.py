"""Prepay customers (费控户): who they are, and how they top up when fee control tells them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from meter2cash.simulator import SimulatedUtility
from meter2cash.simulator.grid import PREPAY_SHARE, build_grid
from meter2cash.simulator.payers import (
    ANSWER_HOURS,
    TOP_UP_BEHAVIOURS,
    TOP_UP_COLUMNS,
    TOP_UP_STEP_YUAN,
    PrepayCustomers,
)

AT = datetime(2026, 9, 5, 1, tzinfo=UTC)


def _notices(accounts: list[str], notice: str, balance_minor: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {"account_no": accounts, "notice": notice, "at": AT, "balance_minor": balance_minor}
    )


def test_a_twentieth_of_the_households_are_on_prepay_and_no_business() -> None:
    rng = np.random.default_rng(np.random.SeedSequence([11, 0]))
    grid = build_grid(rng, 6000, date(2026, 7, 1), 30, ZoneInfo("Asia/Shanghai"))
    klass = grid.accounts["customer_no"].map(
        grid.customers.set_index("customer_no")["customer_class"]
    )
    prepay = grid.accounts["prepay"].to_numpy(bool)
    assert set(klass[prepay]) == {"residential"}
    share = prepay.sum() / (klass == "residential").sum()
    assert abs(share - PREPAY_SHARE) < 0.01


def test_the_utility_hands_its_prepay_customers_over(utility: SimulatedUtility) -> None:
    customers = utility.prepay_customers()
    prepay = utility.accounts.loc[utility.accounts["prepay"], "account_no"]
    assert sorted(customers.behaviour) == sorted(prepay)
    assert set(customers.behaviour.values()) <= set(TOP_UP_BEHAVIOURS)


def test_behaviours_answer_as_they_should() -> None:
    accounts = [f"P{n:05d}" for n in range(3000)]
    customers = PrepayCustomers(accounts, "salt")
    kinds = pd.Series(customers.behaviour).value_counts(normalize=True)
    assert abs(kinds["when_warned"] - 0.60) < 0.03 and abs(kinds["late"] - 0.10) < 0.02

    customers.notify(_notices(accounts, "warning", balance_minor=1_500))
    warned = customers.made_by(AT + timedelta(days=30))
    assert set(warned["account_no"]) == {
        a for a, k in customers.behaviour.items() if k == "when_warned"
    }
    waited = (pd.to_datetime(warned["paid_at"], utc=True) - AT) / pd.Timedelta(hours=1)
    assert waited.between(*ANSWER_HOURS["warning"]["when_warned"]).all()

    customers.notify(_notices(accounts, "cut", balance_minor=-1_234))
    cut = customers.made_by(AT + timedelta(days=30)).merge(
        pd.Series(customers.behaviour, name="behaviour"), left_on="account_no", right_index=True
    )
    hours = (pd.to_datetime(cut["paid_at"], utc=True) - AT) / pd.Timedelta(hours=1)
    for behaviour, (low, high) in ANSWER_HOURS["cut"].items():
        mine = hours[cut["behaviour"] == behaviour]
        assert len(mine) and mine.between(low, high).all()
    step = TOP_UP_STEP_YUAN * 100
    assert ((cut["amount_minor"] % step == 0) & (cut["amount_minor"] > 1_234)).all()
    assert list(cut.columns[: len(TOP_UP_COLUMNS)]) == list(TOP_UP_COLUMNS)
    assert cut["transaction_id"].is_unique


def test_a_top_up_on_the_way_answers_nothing_else_and_is_handed_over_once() -> None:
    customers = PrepayCustomers(["P1", "P2"], "salt")
    customers.behaviour = {"P1": "when_warned", "P2": "when_warned"}
    customers.notify(_notices(["P1"], "warning", 1_000))
    pending = customers.next_at()
    assert pending is not None and pending >= AT
    customers.notify(_notices(["P1", "P2"], "zero", -100))  # P1 is topping up already
    made = customers.made_by(AT + timedelta(days=2))
    assert sorted(made["account_no"]) == ["P1", "P2"]
    assert made["paid_at"].is_monotonic_increasing
    assert customers.made_by(AT + timedelta(days=2)).empty
    again = PrepayCustomers(["P1", "P2"], "salt")
    again.behaviour = dict(customers.behaviour)
    again.notify(_notices(["P1"], "warning", 1_000))
    first = again.made_by(AT + timedelta(days=2))
    assert first.iloc[0].to_dict() == made[made["account_no"] == "P1"].iloc[0].to_dict()
