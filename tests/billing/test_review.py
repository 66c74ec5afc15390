"""Bill review (复核): each rule stops the bill it should and passes the one it shouldn't."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from meter2cash.billing import repository
from meter2cash.billing.issue import decide
from meter2cash.billing.review import (
    BILL_COLUMNS,
    DEFAULT_LIMITS,
    HISTORY_COLUMNS,
    PEER_COLUMNS,
    RULES,
    ClassLimits,
    ReviewLimits,
    count_by_rule,
    review,
    rules_of,
)
from meter2cash.core.clock import FixedClock
from meter2cash.core.errors import InputError
from meter2cash.db.audit import AuditEvent
from meter2cash.db.session import unit_of_work
from tests.factories import create_account, create_bill


def a_bill(**facts: Any) -> dict[str, Any]:
    """A quiet residential July bill: 200 kWh, 110 yuan."""
    return {
        "account_id": 1,
        "customer_class": "residential",
        "tariff_code": "RES-TIER-ZJ",
        "zone": "Z1",
        "transformer_area": "TA1",
        "active": True,
        "days": 31,
        "kwh": 200.0,
        "total": 110.0,
        "estimated": False,
        "multiplier": 1,
        "max_demand_kw": np.nan,
        **facts,
    }


def history(account_id: int = 1, *kwhs: float, **facts: Any) -> list[dict[str, Any]]:
    """Monthly bills before July 2026, oldest first; ``facts`` values may be lists."""
    rows = []
    for i, kwh in enumerate(kwhs):
        month = 7 - len(kwhs) + i
        row: dict[str, Any] = {
            "account_id": account_id,
            "period_start": date(2026, month, 1),
            "kwh": kwh,
            "estimated": False,
            "multiplier": 1.0,
            "tariff_code": "RES-TIER-ZJ",
            "max_demand_kw": np.nan,
        }
        row.update({k: (v[i] if isinstance(v, list) else v) for k, v in facts.items()})
        rows.append(row)
    return rows


def peers(n: int, kwh_per_day: float, **facts: Any) -> list[dict[str, Any]]:
    """``n`` other residential bills of the cycle around ``kwh_per_day``."""
    spread = np.linspace(-0.5, 0.5, n)
    return [
        {
            "customer_class": "residential",
            "tariff_code": "RES-TIER-ZJ",
            "zone": "Z1",
            "transformer_area": "TA1",
            "kwh": (kwh_per_day + d) * 31,
            "days": 31,
            **facts,
        }
        for d in spread
    ]


def reasons(
    bills: list[dict[str, Any]],
    earlier: list[dict[str, Any]] = (),  # type: ignore[assignment]
    others: list[dict[str, Any]] = (),  # type: ignore[assignment]
    limits: ReviewLimits = DEFAULT_LIMITS,
) -> list[str]:
    found = review(
        pd.DataFrame(bills, columns=list(BILL_COLUMNS)),
        pd.DataFrame(list(earlier), columns=list(HISTORY_COLUMNS)),
        pd.DataFrame(list(others), columns=list(PEER_COLUMNS)),
        limits,
    )
    return list(found)


def test_every_rule_is_registered_and_named_in_the_reasons() -> None:
    assert list(RULES) == [
        "rating_error",
        "zero_consumption",
        "negative_amount",
        "absurd_amount",
        "history_kwh",
        "peer_kwh",
        "estimated_run",
        "multiplier_changed",
        "tariff_changed",
        "demand_jump",
    ]


def test_a_quiet_bill_passes() -> None:
    assert reasons([a_bill()], history(1, 190, 210, 205), peers(20, 6.5)) == [""]


def test_zero_consumption_stops_an_active_account_only() -> None:
    assert reasons([a_bill(kwh=0.0, total=0.0)]) == [
        "zero_consumption: no kWh on an active account"
    ]
    assert reasons([a_bill(kwh=0.0, total=0.0, active=False)]) == [""]


def test_negative_and_absurd_amounts() -> None:
    assert reasons([a_bill(total=-12.5)]) == ["negative_amount: amount -12.50 yuan for 200.00 kWh"]
    assert reasons([a_bill(total=6_000.0)]) == [
        "absurd_amount: amount 6,000.00 yuan is above 5,000 for a residential bill"
    ]
    # The cap is per customer class: 6,000 yuan is an ordinary commercial bill.
    assert reasons([a_bill(customer_class="commercial", tariff_code="COM-TOU", total=6e3)]) == [""]


def test_history_kwh_compares_with_the_accounts_own_usual_month() -> None:
    usual = history(1, 200, 220, 210)
    assert reasons([a_bill(kwh=205.0)], usual) == [""]
    assert reasons([a_bill(kwh=900.0)], usual) == [
        "history_kwh: 900.00 kWh is over 2× the usual 210.00 kWh"
    ]
    assert reasons([a_bill(kwh=40.0)], usual) == [
        "history_kwh: 40.00 kWh is under 0.5× the usual 210.00 kWh"
    ]
    # Swings among small numbers are noise.
    assert reasons([a_bill(kwh=45.0)], history(1, 10, 12, 11)) == [""]


def test_thresholds_are_configurable_per_class() -> None:
    lenient: ReviewLimits = {
        **DEFAULT_LIMITS,
        "residential": ClassLimits(absurd_total=5_000, high_factor=3.0),
    }
    usual = history(1, 200, 220, 210)
    assert reasons([a_bill(kwh=500.0)], usual, limits=lenient) == [""]
    assert reasons([a_bill(kwh=700.0)], usual, limits=lenient) == [
        "history_kwh: 700.00 kWh is over 3× the usual 210.00 kWh"
    ]


def test_peer_kwh_stops_a_bill_outside_its_transformer_areas_range() -> None:
    group = peers(20, 6.5)
    assert reasons([a_bill(kwh=7.0 * 31)], others=group) == [""]
    # Median 6.55, MAD 0.26 kWh/day over the 20 peers and the bill itself: ± 6 MAD.
    assert reasons([a_bill(kwh=30.0 * 31)], others=group) == [
        "peer_kwh: 30.00 kWh/day is outside 4.95–8.11, "
        "the range of 21 residential bills on RES-TIER-ZJ in TA1"
    ]
    # Peers elsewhere, or too few of them, give no verdict.
    assert reasons([a_bill(kwh=30.0 * 31)], others=peers(20, 6.5, transformer_area="TA2")) == [""]
    assert reasons([a_bill(kwh=30.0 * 31)], others=peers(5, 6.5)) == [""]


def test_estimated_run_counts_consecutive_estimates() -> None:
    two_estimates = history(1, 200, 200, 200, estimated=[False, True, True])
    assert reasons([a_bill(estimated=True)], two_estimates) == [
        "estimated_run: estimated 3 bills in a row"
    ]
    broken = history(1, 200, 200, 200, estimated=[True, False, True])
    assert reasons([a_bill(estimated=True)], broken) == [""]
    assert reasons([a_bill(estimated=False)], two_estimates) == [""]


def test_multiplier_and_tariff_changes_since_the_last_bill() -> None:
    was_40 = history(1, 200, 200, multiplier=40.0)
    assert reasons([a_bill(multiplier=80)], was_40) == [
        "multiplier_changed: multiplier 80, the last bill's was 40"
    ]
    assert reasons([a_bill(multiplier=40)], was_40) == [""]
    assert reasons([a_bill(multiplier=80)]) == [""]  # a first bill has nothing to compare
    moved = history(1, 200, 200, tariff_code=["RES-TIER-ZJ", "RES-TOU-TIER"])
    assert reasons([a_bill()], moved) == [
        "tariff_changed: tariff RES-TIER-ZJ, the last bill's was RES-TOU-TIER"
    ]


def test_demand_jump_compares_with_the_earlier_peak() -> None:
    industrial = {"customer_class": "industrial", "tariff_code": "IND-TWO-PART"}
    earlier = history(1, 9e4, 9e4, max_demand_kw=[300.0, 320.0], tariff_code="IND-TWO-PART")
    big = {"kwh": 9e4, "total": 7e4, **industrial}
    assert reasons([a_bill(max_demand_kw=650.0, **big)], earlier) == [
        "demand_jump: maximum demand 650.0 kW is over 1.5× the earlier peak 320.0 kW"
    ]
    assert reasons([a_bill(max_demand_kw=400.0, **big)], earlier) == [""]
    tiny = history(1, 9e4, max_demand_kw=[20.0], tariff_code="IND-TWO-PART")
    assert reasons([a_bill(max_demand_kw=100.0, **big)], tiny) == [""]  # below 50 kW


def test_a_cycle_is_reviewed_in_one_call_each_bill_against_its_own_history() -> None:
    cycle = [a_bill(account_id=1, kwh=205.0), a_bill(account_id=2, kwh=900.0)]
    earlier = history(1, 200, 210) + history(2, 200, 210, multiplier=2.0)
    assert reasons(cycle, earlier) == [
        "",
        "history_kwh: 900.00 kWh is over 2× the usual 205.00 kWh; "
        "multiplier_changed: multiplier 1, the last bill's was 2",
    ]


def test_reasons_count_by_rule() -> None:
    stopped = [
        "history_kwh: 900.00 kWh is over 2× the usual 210.00 kWh; peer_kwh: 30.00 kWh/day …",
        "zero_consumption: no kWh on an active account",
        "peer_kwh: 1.00 kWh/day …; reads changed after billing (edit: x): reject and re-run",
    ]
    assert rules_of(stopped[2]) == ["peer_kwh", "other"]
    assert count_by_rule(stopped) == {
        "peer_kwh": 2,
        "history_kwh": 1,
        "other": 1,
        "zero_consumption": 1,
    }


def test_an_unknown_customer_class_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="no review limits for customer class 'farm'"):
        reasons([a_bill(customer_class="farm")])


def test_approve_and_reject_are_audited(records: Engine, clock: FixedClock) -> None:
    with unit_of_work(records) as session:
        held = create_bill(
            session, create_account(session, "A1"), 11_000, date(2026, 7, 31), status="in_review"
        )
        other = create_bill(
            session, create_account(session, "A2"), 9_000, date(2026, 7, 31), status="in_review"
        )
        held_no, other_no = held.bill_no, other.bill_no
    with unit_of_work(records) as session:
        approved = decide(
            session, clock, held_no, approve=True, actor="li.clerk", reason="new air conditioner"
        )
        rejected = decide(
            session, clock, other_no, approve=False, actor="li.clerk", reason="bad read"
        )
        assert (approved.status, rejected.status) == ("approved", "cancelled")
    with unit_of_work(records) as session:
        acts = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [(a.actor, a.action, a.object_key, a.reason, a.after) for a in acts] == [
            ("li.clerk", "bill.approve", held_no, "new air conditioner", {"status": "approved"}),
            ("li.clerk", "bill.reject", other_no, "bad read", {"status": "cancelled"}),
        ]
        assert all(a.at == clock.now() for a in acts)
    with unit_of_work(records) as session, pytest.raises(InputError, match="not in review"):
        decide(session, clock, held_no, approve=True, actor="li.clerk", reason="again")
    with unit_of_work(records) as session, pytest.raises(InputError, match="needs a reason"):
        decide(session, clock, held_no, approve=True, actor="li.clerk", reason=" ")


def test_a_bill_held_with_rating_error_cannot_be_approved(
    records: Engine, clock: FixedClock
) -> None:
    with unit_of_work(records) as session:
        held = create_bill(
            session, create_account(session, "A1"), 0, date(2026, 7, 31), status="in_review"
        )
        held.review_reasons = (
            "history_kwh: 900.00 kWh is over 2× the usual 210.00 kWh; "
            "rating_error: the tariff bills demand by contract_demand_kw but the determinants "
            "have no contract_demand_kw — supply contract_demand_kw"
        )
        held_no = held.bill_no
    with unit_of_work(records) as session, pytest.raises(InputError) as refused:
        decide(session, clock, held_no, approve=True, actor="li.clerk", reason="looks fine")
    assert str(refused.value) == (
        f"bill {held_no} could not be rated (rating_error) and has no lines; approving it "
        "would issue a bill of 0 — correct the record it names, reject the bill "
        "(m2c bill review reject) and run the month again"
    )
    with unit_of_work(records) as session:
        still = repository.bill_by_no(session, held_no)
        assert still is not None and still.status == "in_review"
        rejected = decide(
            session, clock, held_no, approve=False, actor="li.clerk", reason="no contract demand"
        )
        assert rejected.status == "cancelled"
