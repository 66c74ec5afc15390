"""Fee control: warn once when low, notify at zero, trip after the grace, reconnect on top-up."""

from __future__ import annotations

import math

import pandas as pd

from meter2cash.collections.fee_control import FeeControlRules, control

RULES = FeeControlRules(warn_below_minor=2_000, grace_hours=48)


def _state(
    balance: int, warned: bool = False, zero_since: float = math.nan, tripped: bool = False
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": [1],
            "balance_minor": [balance],
            "warned": [warned],
            "zero_since_h": [zero_since],
            "tripped": [tripped],
        }
    )


def _run(days: list[tuple[float, int]]) -> list[str]:
    """Actions over passes of (hour, balance after that day's charges and top-ups)."""
    state = _state(days[0][1])
    actions = []
    for hour, balance in days:
        state = control(RULES, state.assign(balance_minor=[balance]), hour)
        actions.append(str(state["action"].iloc[0]))
    return actions


def test_a_balance_run_down_is_warned_once_noticed_at_zero_and_tripped_after_48_hours() -> None:
    assert _run([(0, 5_000), (24, 1_500), (48, 800), (72, -100), (96, -400), (120, -700)]) == [
        "",
        "sms_warning",
        "",
        "zero_notice",
        "",
        "relay_trip",
    ]


def test_a_top_up_reconnects_and_rearms_the_warning() -> None:
    actions = _run([(0, -100), (48, -300), (50, 10_000), (74, 1_000)])
    assert actions == ["zero_notice", "relay_trip", "relay_close", "sms_warning"]


def test_a_top_up_that_leaves_the_balance_negative_keeps_the_relay_open() -> None:
    state = control(RULES, _state(-50, warned=True, zero_since=0.0, tripped=True), 100)
    assert state["action"].iloc[0] == "" and bool(state["tripped"].iloc[0])


def test_with_no_grace_the_notice_and_the_trip_go_together() -> None:
    state = control(FeeControlRules(grace_hours=0), _state(-1), 10)
    assert state["action"].iloc[0] == "zero_notice,relay_trip"
