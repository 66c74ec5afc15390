"""Dunning policy: accounts climb one step at a time, with the waits between notices, and
exempt customers are never disconnected."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from meter2cash.collections.dunning import NO_STEP, RECONNECT, advance, load_policy
from meter2cash.core.errors import InputError

POLICY = load_policy()
REMINDER, NOTICE, WARNING, CUT = (
    POLICY.index(n) for n in ("reminder", "formal_notice", "disconnection_warning", "disconnection")
)


def _account(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "account_id": 1,
        "customer_class": "residential",
        "exemption": "",
        "days_past_due": 40,
        "overdue_minor": 12_345,
        "step": NO_STEP,
        "days_since_step": 0,
        "disconnected": False,
    }
    return row | overrides


def _moves(*rows: dict[str, object]) -> list[tuple[int, int, int, str]]:
    got = advance(POLICY, pd.DataFrame(list(rows)))
    return list(got.itertuples(index=False, name=None))


def test_a_long_overdue_account_gets_the_reminder_first_not_the_disconnection() -> None:
    assert _moves(_account()) == [(1, NO_STEP, REMINDER, "sms")]


def test_the_next_step_waits_for_its_days_since_the_last_one() -> None:
    assert _moves(_account(step=REMINDER, days_since_step=6)) == []
    assert _moves(_account(step=REMINDER, days_since_step=7)) == [
        (1, REMINDER, NOTICE, "sms,letter,notice_pdf")
    ]


def test_disconnection_comes_three_days_after_the_warning() -> None:
    assert _moves(_account(step=WARNING, days_since_step=2)) == []
    assert _moves(_account(step=WARNING, days_since_step=3)) == [
        (1, WARNING, CUT, "relay_trip,sms")
    ]


def test_an_account_not_yet_overdue_enough_stays_where_it_is() -> None:
    assert _moves(_account(step=NOTICE, days_since_step=30, days_past_due=29)) == []


def test_a_hospital_is_warned_but_never_disconnected() -> None:
    hospital = _account(exemption="hospital", step=WARNING, days_since_step=30, days_past_due=90)
    assert _moves(hospital) == []


def test_paying_ends_dunning_and_reconnects_a_disconnected_account() -> None:
    assert _moves(_account(step=CUT, overdue_minor=0, days_past_due=-1, disconnected=True)) == [
        (1, CUT, NO_STEP, RECONNECT)
    ]
    assert _moves(_account(step=NOTICE, overdue_minor=0, days_past_due=-1)) == [
        (1, NOTICE, NO_STEP, "")
    ]
    assert _moves(_account(overdue_minor=0, days_past_due=-1)) == []


def test_many_accounts_move_at_once_each_by_its_own_facts() -> None:
    got = _moves(
        _account(account_id=1),
        _account(account_id=2, days_past_due=0),
        _account(account_id=3, step=NOTICE, days_since_step=7),
        _account(account_id=4, customer_class="industrial", step=CUT),
    )
    assert [(a, t) for a, _, t, _ in got] == [(1, REMINDER), (3, WARNING)]


def test_a_policy_with_an_unknown_exemption_step_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "steps:\n  - {name: reminder, label: R, after_days: 1, actions: [sms]}\n"
        "exemptions:\n  - {flag: hospital, up_to: cut}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="exemption hospital names no step 'cut'"):
        load_policy(path)


def test_a_policy_with_an_unknown_action_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "steps:\n  - {name: reminder, label: R, after_days: 1, actions: [pigeon]}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"steps\.0\.actions\.0"):
        load_policy(path)
