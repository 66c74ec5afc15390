"""Pure rating, checked against bills worked by hand.

Each worked example states its scenario and the expected bill as text; the bill is rendered one
line per charge (``kind | description | quantity unit × unit price = amount``).
"""

from __future__ import annotations

import textwrap
from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter2cash.core.errors import TariffError
from meter2cash.tariffs.loader import load_catalogue
from meter2cash.tariffs.power_factor import pf_adjustment_rate, power_factor
from meter2cash.tariffs.rating import (
    Determinants,
    RatedBill,
    TierContext,
    demand_charge,
    fund_charges,
    rate,
    tou_energy_charge,
)
from meter2cash.tariffs.schema import (
    EnergyTier,
    IncrementTier,
    TariffDocument,
    TariffVersion,
    TouEnergy,
)
from meter2cash.tariffs.tiers import kwh_by_tier, tier_increment_charge, tiered_energy_charge

D = Decimal
JULY = (date(2024, 7, 1), date(2024, 7, 31))
CATALOGUE = load_catalogue()


def _version(code: str) -> TariffVersion:
    return CATALOGUE[code].version_on(JULY[0])


def _render(bill: RatedBill) -> str:
    rows = [
        f"{ln.kind} | {ln.description} | {ln.quantity} {ln.unit} × {ln.unit_price} = {ln.amount}"
        for ln in bill.lines
    ]
    return "\n".join([*rows, f"total {bill.total}"])


def _expect(text: str) -> str:
    return textwrap.dedent(text).strip()


def _inline(version: dict[str, Any]) -> TariffVersion:
    document = TariffDocument.model_validate(
        {
            "code": "TEST",
            "name": "test",
            "customer_class": "residential",
            "versions": [{"version": 1, "effective_from": "2024-01-01", **version}],
        }
    )
    return document.versions[0]


# ---------------------------------------------------------------------------------------------
# Worked examples


def test_annual_tier_crossing() -> None:
    """Zhejiang annual tiers. 2700 kWh billed so far this tier year; July uses 100 kWh:
    60 kWh fill tier 1 at 0.538 (32.28), 40 kWh fall in tier 2 at 0.588 (23.52)."""
    det = Determinants(*JULY, kwh_total=D(100))
    bill = rate(_version("RES-TIER-ZJ"), det, TierContext(kwh_before_in_tier_year=D(2700)))
    assert _render(bill) == _expect("""
        energy_tiered | 电度电费 第1档 (≤2760 kWh/年) | 60 kWh × 0.538 = 32.28
        energy_tiered | 电度电费 第2档 (2760–4800 kWh/年) | 40 kWh × 0.588 = 23.52
        total 55.80
    """)


def test_monthly_tiers_ignore_the_tier_year() -> None:
    """Monthly tiers 200 / 400 kWh at 0.59 / 0.64 / 0.89 and a 0.50 yuan/day service charge.
    450 kWh in 31 days: 200 × 0.59 = 118.00, 200 × 0.64 = 128.00, 50 × 0.89 = 44.50,
    31 × 0.50 = 15.50; the 5000 kWh billed earlier in the year do not count."""
    version = _inline(
        {
            "components": [
                {"kind": "fixed", "per": "day", "amount": "0.50", "name": "服务费"},
                {
                    "kind": "energy_tiered",
                    "period": "monthly",
                    "tiers": [
                        {"up_to_kwh": "200", "price": "0.59"},
                        {"up_to_kwh": "400", "price": "0.64"},
                        {"up_to_kwh": None, "price": "0.89"},
                    ],
                },
            ]
        }
    )
    bill = rate(version, Determinants(*JULY, kwh_total=D(450)), TierContext(D(5000)))
    assert _render(bill) == _expect("""
        fixed | 服务费 | 31 day × 0.50 = 15.50
        energy_tiered | 电度电费 第1档 (≤200 kWh/月) | 200 kWh × 0.59 = 118.00
        energy_tiered | 电度电费 第2档 (200–400 kWh/月) | 200 kWh × 0.64 = 128.00
        energy_tiered | 电度电费 第3档 (>400 kWh/月) | 50 kWh × 0.89 = 44.50
        total 306.00
    """)


def test_tou_plus_tier_increment() -> None:
    """Zhejiang 峰谷 + annual tier. 4700 kWh billed so far; July: 200 kWh peak, 100 valley.
    Energy 200 × 0.568 + 100 × 0.288; the 300 kWh total crosses 4800: 100 kWh at +0.05 and
    200 kWh at +0.30. Tier 1's zero increment is not printed."""
    det = Determinants(*JULY, kwh_total=D(300), kwh_by_period={"peak": D(200), "valley": D(100)})
    bill = rate(_version("RES-TOU-TIER"), det, TierContext(D(4700)))
    assert _render(bill) == _expect("""
        energy_tou | 电度电费 高峰 | 200 kWh × 0.568 = 113.60
        energy_tou | 电度电费 低谷 | 100 kWh × 0.288 = 28.80
        tier_increment | 阶梯加价 第2档 (2760–4800 kWh/年) | 100 kWh × 0.05 = 5.00
        tier_increment | 阶梯加价 第3档 (>4800 kWh/年) | 200 kWh × 0.30 = 60.00
        total 207.40
    """)


def test_commercial_tou_with_itemised_funds() -> None:
    """COM-TOU in July (尖峰 month): 1000 kWh = 100 sharp + 400 peak + 200 flat + 300 valley.
    Funds on all 1000 kWh: 1.96875 → 1.97, 6.20, 19.00."""
    det = Determinants(
        *JULY,
        kwh_total=D(1000),
        kwh_by_period={"sharp": D(100), "peak": D(400), "flat": D(200), "valley": D(300)},
    )
    bill = rate(_version("COM-TOU"), det, TierContext())
    assert _render(bill) == _expect("""
        energy_tou | 电度电费 尖峰 | 100 kWh × 1.2000 = 120.00
        energy_tou | 电度电费 高峰 | 400 kWh × 1.0000 = 400.00
        energy_tou | 电度电费 平段 | 200 kWh × 0.6500 = 130.00
        energy_tou | 电度电费 低谷 | 300 kWh × 0.3000 = 90.00
        funds | 国家重大水利工程建设基金 | 1000 kWh × 0.00196875 = 1.97
        funds | 大中型水库移民后期扶持资金 | 1000 kWh × 0.0062 = 6.20
        funds | 可再生能源电价附加 | 1000 kWh × 0.019 = 19.00
        total 767.17
    """)


TWO_PART_DET: dict[str, Any] = {
    "kwh_total": D(100000),
    "kwh_by_period": {"sharp": D(8000), "peak": D(42000), "flat": D(20000), "valley": D(30000)},
    "max_demand_kw": D(400),
}
TWO_PART_HEAD = """
    demand | 基本电费 (最大需量) | 400 kW × 38 = 15200.00
    energy_tou | 电度电费 尖峰 | 8000 kWh × 1.0860 = 8688.00
    energy_tou | 电度电费 高峰 | 42000 kWh × 0.9050 = 38010.00
    energy_tou | 电度电费 平段 | 20000 kWh × 0.6130 = 12260.00
    energy_tou | 电度电费 低谷 | 30000 kWh × 0.2900 = 8700.00
"""
TWO_PART_FUNDS = """
    funds | 国家重大水利工程建设基金 | 100000 kWh × 0.00196875 = 196.88
    funds | 大中型水库移民后期扶持资金 | 100000 kWh × 0.0062 = 620.00
    funds | 可再生能源电价附加 | 100000 kWh × 0.019 = 1900.00
"""


@pytest.mark.parametrize(
    ("kvarh", "pf_line", "total"),
    [
        # 100000 kWh; kvarh chosen so PF = kWh / √(kWh² + kvarh²) rounds to the PF shown.
        # PF adjustment on energy + demand = 15200.00 + 67658.00 = 82858.00 yuan.
        (32868, "(功率因数 0.95, 标准 0.90) | 82858.00 yuan × -0.0075 = -621.44", "84953.44"),
        (48432, "(功率因数 0.90, 标准 0.90) | 82858.00 yuan × 0 = 0.00", "85574.88"),
        (61974, "(功率因数 0.85, 标准 0.90) | 82858.00 yuan × 0.025 = 2071.45", "87646.33"),
        (102020, "(功率因数 0.70, 标准 0.90) | 82858.00 yuan × 0.1 = 8285.80", "93860.68"),
    ],
)
def test_two_part_with_pf_adjustment(kvarh: int, pf_line: str, total: str) -> None:
    """IND-TWO-PART in July: 400 kW maximum demand at 38 yuan/kW-month, TOU energy,
    力调电费 at standard 0.90 on energy + demand, then the three funds (never adjusted)."""
    det = Determinants(*JULY, kvarh_total=D(kvarh), **TWO_PART_DET)
    bill = rate(_version("IND-TWO-PART"), det, TierContext())
    expected = (
        _expect(TWO_PART_HEAD)
        + f"\npf_adjustment | 力调电费 {pf_line}\n"
        + _expect(TWO_PART_FUNDS)
        + f"\ntotal {total}"
    )
    assert _render(bill) == expected
    assert bill.total == sum(line.amount for line in bill.lines)


def test_rounding_is_half_up_at_the_fen_per_line() -> None:
    """12.5 kWh × 0.538 = 6.725 yuan: half-up gives 6.73 (half-even would give 6.72), and a
    tariff that states half_even gets 6.72."""
    tiers = {"kind": "energy_tiered", "period": "monthly",
             "tiers": [{"up_to_kwh": None, "price": "0.538"}]}  # fmt: skip
    det = Determinants(*JULY, kwh_total=D("12.5"))
    assert rate(_inline({"components": [tiers]}), det, TierContext()).total == D("6.73")
    half_even = _inline({"rounding": {"mode": "half_even"}, "components": [tiers]})
    assert rate(half_even, det, TierContext()).total == D("6.72")
    per_jiao = _inline({"rounding": {"step": "0.1"}, "components": [tiers]})
    assert rate(per_jiao, det, TierContext()).total == D("6.7")


def test_zero_use_bills_only_fixed_and_demand_charges() -> None:
    det = Determinants(*JULY, kwh_total=D(0), kvarh_total=D(0), max_demand_kw=D(0),
                       kwh_by_period={"peak": D(0)})  # fmt: skip
    bill = rate(_version("IND-TWO-PART"), det, TierContext())
    assert _render(bill) == _expect("""
        demand | 基本电费 (最大需量) | 0 kW × 38 = 0.00
        total 0.00
    """)


# ---------------------------------------------------------------------------------------------
# Refusals


def test_tou_prices_without_period_data_are_refused() -> None:
    det = Determinants(*JULY, kwh_total=D(100))
    with pytest.raises(TariffError, match="cannot rate TOU prices without energy by TOU period"):
        rate(_version("COM-TOU"), det, TierContext())


def test_energy_in_an_unpriced_period_is_refused() -> None:
    det = Determinants(*JULY, kwh_total=D(100), kwh_by_period={"peak": D(90), "flat": D(10)})
    with pytest.raises(TariffError, match="flat"):
        rate(_version("RES-TOU-TIER"), det, TierContext())


def test_two_part_needs_demand_and_kvarh() -> None:
    no_demand = Determinants(*JULY, kvarh_total=D(1), **(TWO_PART_DET | {"max_demand_kw": None}))
    with pytest.raises(TariffError, match="max_demand_kw"):
        rate(_version("IND-TWO-PART"), no_demand, TierContext())
    no_kvarh = Determinants(*JULY, **TWO_PART_DET)
    with pytest.raises(TariffError, match="kvarh"):
        rate(_version("IND-TWO-PART"), no_kvarh, TierContext())


def test_bad_determinants_are_refused() -> None:
    with pytest.raises(TariffError, match="kwh_total is negative"):
        Determinants(*JULY, kwh_total=D(-1))
    with pytest.raises(TariffError, match="before it starts"):
        Determinants(JULY[1], JULY[0], kwh_total=D(1))
    with pytest.raises(TariffError, match="tier_year_fraction"):
        TierContext(D(0), tier_year_fraction=D(0))


# ---------------------------------------------------------------------------------------------
# Power factor (《功率因数调整电费办法》(83)水电财字第215号)


@pytest.mark.parametrize(
    ("standard", "pf", "percent"),
    [
        ("0.90", "1.00", "-0.75"), ("0.90", "0.95", "-0.75"), ("0.90", "0.94", "-0.60"),
        ("0.90", "0.91", "-0.15"), ("0.90", "0.90", "0"), ("0.90", "0.89", "0.5"),
        ("0.90", "0.85", "2.5"), ("0.90", "0.70", "10"), ("0.90", "0.69", "11"),
        ("0.90", "0.65", "15"), ("0.90", "0.64", "17"), ("0.90", "0.60", "25"),
        ("0.85", "1.00", "-1.10"), ("0.85", "0.94", "-1.10"), ("0.85", "0.93", "-0.95"),
        ("0.85", "0.90", "-0.50"), ("0.85", "0.86", "-0.10"), ("0.85", "0.85", "0"),
        ("0.85", "0.84", "0.5"), ("0.85", "0.65", "10"), ("0.85", "0.60", "15"),
        ("0.85", "0.59", "17"),
        ("0.80", "1.00", "-1.30"), ("0.80", "0.92", "-1.30"), ("0.80", "0.91", "-1.15"),
        ("0.80", "0.90", "-1.00"), ("0.80", "0.81", "-0.10"), ("0.80", "0.80", "0"),
        ("0.80", "0.79", "0.5"), ("0.80", "0.60", "10"), ("0.80", "0.55", "15"),
        ("0.80", "0.54", "17"),
    ],
)  # fmt: skip
def test_pf_adjustment_table(standard: str, pf: str, percent: str) -> None:
    assert pf_adjustment_rate(D(pf), D(standard)) * 100 == D(percent)


@pytest.mark.parametrize("standard", ["0.90", "0.85", "0.80"])
def test_pf_adjustment_falls_as_pf_rises_and_is_zero_at_standard(standard: str) -> None:
    rates = [pf_adjustment_rate(D(n) / 100, D(standard)) for n in range(101)]
    assert all(a >= b for a, b in pairwise(rates))
    assert pf_adjustment_rate(D(standard), D(standard)) == 0


def test_power_factor_rounds_half_up_to_two_places() -> None:
    assert power_factor(D(1000), D(484)) == D("0.90")
    assert power_factor(D(3), D(4)) == D("0.60")
    assert power_factor(D(1), D(0)) == D("1.00")
    assert pf_adjustment_rate(D("0.845"), D("0.90")) == D("0.025")  # 0.845 → 0.85
    with pytest.raises(TariffError):
        power_factor(D(0), D(0))


# ---------------------------------------------------------------------------------------------
# The unrounded functions


ZJ_TIERS = (
    EnergyTier(up_to_kwh=D(2760), price=D("0.538")),
    EnergyTier(up_to_kwh=D(4800), price=D("0.588")),
    EnergyTier(up_to_kwh=None, price=D("0.838")),
)
ZJ_INCREMENTS = (
    IncrementTier(up_to_kwh=D(2760), increment=D(0)),
    IncrementTier(up_to_kwh=D(4800), increment=D("0.05")),
    IncrementTier(up_to_kwh=None, increment=D("0.30")),
)


def test_unrounded_functions_match_their_docstrings() -> None:
    bounds = [D(2760), D(4800), None]
    assert kwh_by_tier(D(100), bounds, D(2700)) == (D(60), D(40), D(0))
    assert kwh_by_tier(D(100), bounds, D(0), fraction=D("0.5")) == (D(100), D(0), D(0))
    assert tiered_energy_charge(D(100), ZJ_TIERS, D(2700)) == D("55.800")
    assert tier_increment_charge(D(300), ZJ_INCREMENTS, D(4700)) == D("65.00")
    assert tou_energy_charge({"peak": D(10), "valley": D(0)}, {"peak": D("0.568")}) == D("5.680")
    assert demand_charge(D(400), D(38)) == D(15200)
    assert fund_charges(D(1000), CATALOGUE["COM-TOU"].versions[0].components[1].items) == {  # type: ignore[union-attr]
        "国家重大水利工程建设基金": D("1.96875000"),
        "大中型水库移民后期扶持资金": D("6.2000"),
        "可再生能源电价附加": D("19.000"),
    }


kwh = st.decimals(min_value=0, max_value=100_000, places=4)


@given(before=kwh, first=kwh, second=kwh)
def test_splitting_a_period_in_two_gives_the_same_energy_charge(
    before: Decimal, first: Decimal, second: Decimal
) -> None:
    """Rating 'first' then 'second' with carried-over kWh equals rating their sum at once."""
    whole = tiered_energy_charge(first + second, ZJ_TIERS, before)
    split = tiered_energy_charge(first, ZJ_TIERS, before) + tiered_energy_charge(
        second, ZJ_TIERS, before + first
    )
    assert split == whole
    whole_inc = tier_increment_charge(first + second, ZJ_INCREMENTS, before)
    split_inc = tier_increment_charge(first, ZJ_INCREMENTS, before) + tier_increment_charge(
        second, ZJ_INCREMENTS, before + first
    )
    assert split_inc == whole_inc


@given(
    code=st.sampled_from(sorted(CATALOGUE)),
    by_period=st.fixed_dictionaries({p: kwh for p in ("sharp", "peak", "flat", "valley")}),
    total=kwh,
    kvarh=kwh,
    demand=st.decimals(min_value=0, max_value=10_000, places=4),
    before=kwh,
    month=st.integers(1, 12),
)
def test_rating_is_never_negative(
    code: str,
    by_period: dict[str, Decimal],
    total: Decimal,
    kvarh: Decimal,
    demand: Decimal,
    before: Decimal,
    month: int,
) -> None:
    """Any catalogue tariff, any non-negative determinants: no negative bill, no negative
    line but the PF rebate, and the total is the sum of the lines."""
    version = CATALOGUE[code].versions[0]
    tou = version.component("energy_tou")
    if isinstance(tou, TouEnergy):
        by_period = {p: v for p, v in by_period.items() if p in tou.prices}
        total = sum(by_period.values(), D(0))
    else:
        by_period = {}
    det = Determinants(
        date(2024, month, 1),
        date(2024, month, 28),
        kwh_total=total,
        kwh_by_period=by_period,
        kvarh_total=kvarh,
        max_demand_kw=demand,
        contracted_kva=D(1000),
        contract_demand_kw=D(500),
    )
    bill = rate(version, det, TierContext(before))
    assert bill.total >= 0
    assert bill.total == sum(line.amount for line in bill.lines)
    assert all(line.amount >= 0 for line in bill.lines if line.kind != "pf_adjustment")
