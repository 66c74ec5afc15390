"""Amounts in Chinese capital numerals (人民币大写), as a cashier writes them on a receipt."""

from __future__ import annotations

import pytest

from meter2cash.core.money import capital_yuan


@pytest.mark.parametrize(
    ("minor", "text"),
    [
        (0, "零元整"),
        (100, "壹元整"),
        (1_000, "壹拾元整"),
        (10_500, "壹佰零伍元整"),
        (100_530, "壹仟零伍元叁角"),
        (101_000, "壹仟零壹拾元整"),
        (10_000_000, "壹拾万元整"),
        (100_000_100, "壹佰万零壹元整"),
        (1_005_000_005, "壹仟零伍万元零伍分"),
        (10_001_000_000, "壹亿零壹万元整"),
        (12_345_678_912, "壹亿贰仟叁佰肆拾伍万陆仟柒佰捌拾玖元壹角贰分"),
        (50, "伍角"),
        (5, "伍分"),
        (105, "壹元零伍分"),
        (12_150, "壹佰贰拾壹元伍角"),
    ],
)
def test_capital_numerals(minor: int, text: str) -> None:
    assert capital_yuan(minor) == text


def test_a_negative_amount_has_no_capital_form() -> None:
    with pytest.raises(ValueError, match="not -1 fen"):
        capital_yuan(-1)
