"""Bills worked by hand, for what NREL SAM cannot check: two-part demand rules, PF adjustment,
funds, annual tiers and their proration, seasonal and household tier bounds, rounding modes.

Each case states its scenario and arithmetic in the docstring and asserts every line to the
fen (``kind | description | quantity unit × unit price = amount``) and the total.
"""

from __future__ import annotations

import textwrap
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from meter2cash.core.errors import TariffError
from meter2cash.tariffs.demand import (
    DemandHistory,
    contract_demand_split,
    high_use_demand_price,
    peak_demand_before,
)
from meter2cash.tariffs.loader import load_catalogue, load_tariff_file, parse_tariff
from meter2cash.tariffs.rating import Determinants, RatedBill, TierContext, rate
from meter2cash.tariffs.schema import (
    HighUseDiscount,
    HouseholdSize,
    Rounding,
    SeasonalBounds,
    TariffVersion,
)
from meter2cash.tariffs.tiers import tier_bounds

D = Decimal
JUNE = (date(2024, 6, 1), date(2024, 6, 30))
JULY = (date(2024, 7, 1), date(2024, 7, 31))
CATALOGUE = load_catalogue()


def _render(bill: RatedBill) -> str:
    rows = [
        f"{ln.kind} | {ln.description} | {ln.quantity} {ln.unit} × {ln.unit_price} = {ln.amount}"
        for ln in bill.lines
    ]
    return "\n".join([*rows, f"total {bill.total}"])


def _expect(text: str) -> str:
    return textwrap.dedent(text).strip()


def _tariff(components: str, rounding: str = "", tou: str = "") -> TariffVersion:
    """A test tariff read through the YAML loader, in force from 2024-01-01."""
    text = f"""
code: T-WORKED
name: worked case
customer_class: industrial
source: a test tariff
versions:
  - version: 1
    effective_from: 2024-01-01
{textwrap.indent(textwrap.dedent(rounding).strip(), "    ")}
{textwrap.indent(textwrap.dedent(tou).strip(), "    ")}
    components:
{textwrap.indent(textwrap.dedent(components).strip(), "      ")}
"""
    return parse_tariff(text, "test").versions[0]


FLAT_ENERGY = """
- kind: energy_tiered
  period: monthly
  tiers: [{up_to_kwh: null, price: "0.62"}]
"""
TOU_10KV = """
tou_schedule:
  periods: {valley: [[0, 8]], peak: [[8, 11], [13, 22]], flat: [[11, 13], [22, 24]]}
"""

# ---------------------------------------------------------------------------------------------
# The two cases of issue 5


TEN_KV = _tariff(
    """
    - kind: demand
      basis: max_demand_kw
      price: "38"
      high_use_discount: {kwh_per_kva: "260", price_percent: "90"}
    - kind: energy_tou
      prices: {peak: "1.00", flat: "0.62", valley: "0.30"}
    - kind: pf_adjustment
      standard: "0.90"
    - kind: funds
      items: [{name: 政府性基金及附加, price_per_kwh: "0.028"}]
    """,
    tou=TOU_10KV,
)


def test_ten_kv_industrial_customer_of_the_issue() -> None:
    """10 kV industrial customer, CT 200/5 and PT 10000/100: multiplier 40 × 100 = 4000.
    Register deltas (total 75.00 = peak 22.50 + flat 30.00 + valley 22.50; reactive 45.00)
    × 4000 → 300,000 kWh (90,000 / 120,000 / 90,000) and 180,000 kvarh. Capacity 1000 kVA:
    300 kWh/kVA ≥ 260, so the demand price is 38 × 90 % = 34.20 (发改价格〔2023〕526号);
    650 kW → 22,230.00. Energy 90,000 × 1.00 + 120,000 × 0.62 + 90,000 × 0.30 = 191,400.00.
    PF = 300,000 / √(300,000² + 180,000²) = 0.857 → 0.86; standard 0.90 → +2.0 % of
    (22,230.00 + 191,400.00) = 4,272.60. Funds 300,000 × 0.028 = 8,400.00 (not adjusted).
    Total 226,302.60 yuan."""
    multiplier = (D(200) / D(5)) * (D(10000) / D(100))
    assert multiplier == 4000
    det = Determinants(
        *JULY,
        kwh_total=D("75.00") * multiplier,
        kwh_by_period={
            "peak": D("22.50") * multiplier,
            "flat": D("30.00") * multiplier,
            "valley": D("22.50") * multiplier,
        },
        kvarh_total=D("45.00") * multiplier,
        max_demand_kw=D(650),
        contracted_kva=D(1000),
    )
    bill = rate(TEN_KV, det, TierContext())
    assert _render(bill) == _expect("""
        demand | 基本电费 (最大需量; ≥ 260 kWh/kVA, 电价 × 90%) | 650 kW × 34.2 = 22230.00
        energy_tou | 电度电费 高峰 | 90000.00 kWh × 1.00 = 90000.00
        energy_tou | 电度电费 平段 | 120000.00 kWh × 0.62 = 74400.00
        energy_tou | 电度电费 低谷 | 90000.00 kWh × 0.30 = 27000.00
        pf_adjustment | 力调电费 (功率因数 0.86, 标准 0.90) | 213630.00 yuan × 0.02 = 4272.60
        funds | 政府性基金及附加 | 300000.00 kWh × 0.028 = 8400.00
        total 226302.60
    """)


def test_annual_tiers_of_the_issue() -> None:
    """RES-TIER-ZJ: 2,600 kWh billed so far this tier year, 400 kWh this month: 160 kWh
    fill tier 1 (160 × 0.538 = 86.08), 240 kWh fall in tier 2 (240 × 0.588 = 141.12)."""
    version = CATALOGUE["RES-TIER-ZJ"].version_on(JULY[0])
    bill = rate(version, Determinants(*JULY, kwh_total=D(400)), TierContext(D(2600)))
    assert _render(bill) == _expect("""
        energy_tiered | 电度电费 第1档 (≤2760 kWh/年) | 160 kWh × 0.538 = 86.08
        energy_tiered | 电度电费 第2档 (2760–4800 kWh/年) | 240 kWh × 0.588 = 141.12
        total 227.20
    """)


# ---------------------------------------------------------------------------------------------
# Demand rules


def test_the_526_discount_is_a_step_that_can_lower_a_bill() -> None:
    """One kWh short of 260 kWh/kVA the demand is billed at 38 (24,700.00); at 260,000 kWh on
    1000 kVA at 34.20 (22,230.00). The extra kWh costs 0.62 + PF + funds but saves 2,470.00 of
    demand charge: the regulation's step, the one exception to "more use never costs less"."""

    def bill(kwh: int) -> RatedBill:
        det = Determinants(
            *JULY,
            kwh_total=D(kwh),
            kwh_by_period={"flat": D(kwh)},
            kvarh_total=D(0),
            max_demand_kw=D(650),
            contracted_kva=D(1000),
        )
        return rate(TEN_KV, det, TierContext())

    below, at = bill(259_999), bill(260_000)
    assert [ln.amount for ln in below.lines if ln.kind == "demand"] == [D("24700.00")]
    assert [ln.amount for ln in at.lines if ln.kind == "demand"] == [D("22230.00")]
    assert at.total < below.total
    rule = HighUseDiscount(kwh_per_kva=D(260), price_percent=D(90))
    assert high_use_demand_price(D(38), D(259_999), D(1000), rule) == D(38)
    assert high_use_demand_price(D(38), D(260_000), D(1000), rule) == D("34.2")


CONTRACT = _tariff(
    textwrap.dedent("""
    - kind: demand
      basis: contract_demand_kw
      price: "38"
      excess: {above_percent: "105", multiplier: "2"}
      floor_percent_of_capacity: "40"
    """)
    + FLAT_ENERGY
)


def _contract_bill(actual: int, contract: int, kwh: int = 100_000) -> str:
    det = Determinants(
        *JULY,
        kwh_total=D(kwh),
        max_demand_kw=D(actual),
        contracted_kva=D(1000),
        contract_demand_kw=D(contract),
    )
    return _render(rate(CONTRACT, det, TierContext()))


def test_contract_demand_excess_above_105_percent_is_charged_double() -> None:
    """按合同最大需量, contract 500 kW, capacity 1000 kVA, actual 600 kW: up to 105 % of the
    contract (525 kW) at 38 = 19,950.00; the 75 kW above at 2 × 38 = 5,700.00
    (发改办价格〔2016〕1583号). Energy 100,000 × 0.62 = 62,000.00."""
    assert _contract_bill(600, 500) == _expect("""
        demand | 基本电费 (合同最大需量; 105% 以内) | 525 kW × 38 = 19950.00
        demand | 基本电费 (实际 600 kW 超过合同 105% 部分) | 75 kW × 76 = 5700.00
        energy_tiered | 电度电费 第1档 (不分档) | 100000 kWh × 0.62 = 62000.00
        total 87650.00
    """)


@pytest.mark.parametrize("actual", [300, 500, 520, 525])
def test_contract_demand_within_105_percent_bills_the_contract(actual: int) -> None:
    """Contract 500 kW: any actual demand up to 525 kW (105 %) bills 500 kW × 38 = 19,000.00,
    below the contract too — the contract demand is what the customer reserved."""
    assert _contract_bill(actual, 500).splitlines()[0] == (
        "demand | 基本电费 (合同最大需量) | 500 kW × 38 = 19000.00"
    )
    assert contract_demand_split(D(actual), D(500), D(105)) == (D(500), D(0))


def test_contract_demand_below_40_percent_of_capacity_is_raised_to_it() -> None:
    """A contract of 350 kW on 1000 kVA is below the 40 % floor: 400 kW is billed
    (申请最大需量核定值低于容量总和的 40% 时按 40% 核定). The actual 430 kW exceeds 105 % of
    the 400 kW (420 kW): 10 kW at 76."""
    assert _contract_bill(300, 350).splitlines()[0] == (
        "demand | 基本电费 (合同最大需量 350 kW, 按容量 1000 kVA × 40%) | 400 kW × 38 = 15200.00"
    )
    assert _contract_bill(430, 350).splitlines()[:2] == [
        "demand | 基本电费 (合同最大需量 350 kW, 按容量 1000 kVA × 40%; 105% 以内) "
        "| 420 kW × 38 = 15960.00",
        "demand | 基本电费 (实际 430 kW 超过合同 105% 部分) | 10 kW × 76 = 760.00",
    ]


ACTUAL_WITH_FLOOR_AND_RATCHET = _tariff(
    textwrap.dedent("""
    - kind: demand
      basis: max_demand_kw
      price: "38"
      floor_percent_of_capacity: "40"
      ratchet: {percent: "80", months: 11}
    """)
    + FLAT_ENERGY
)
HISTORY = DemandHistory(
    {date(2023, 7, 1): D(1000), date(2024, 1, 1): D(900), date(2024, 6, 1): D(650)}
)


def _actual_bill(actual: int, history: DemandHistory, end: date = JULY[1]) -> str:
    det = Determinants(
        date(end.year, end.month, 1),
        end,
        kwh_total=D(50_000),
        max_demand_kw=D(actual),
        contracted_kva=D(1000),
    )
    return _render(rate(ACTUAL_WITH_FLOOR_AND_RATCHET, det, TierContext(), history))


def test_actual_demand_below_40_percent_of_capacity_is_billed_at_40_percent() -> None:
    """按实际最大需量 with a 40 % floor, 1000 kVA, no history: 300 kW actual → 400 kW × 38."""
    assert _actual_bill(300, DemandHistory()) == _expect("""
        demand | 基本电费 (最大需量 300 kW, 按容量 1000 kVA × 40%) | 400 kW × 38 = 15200.00
        energy_tiered | 电度电费 第1档 (不分档) | 50000 kWh × 0.62 = 31000.00
        total 46200.00
    """)


def test_a_ratchet_month() -> None:
    """Ratchet 80 % of the highest actual demand of the 11 bill months before. July 2024: the
    window is August 2023 – June 2024, so last July's 1000 kW has dropped out and January's
    900 kW sets the ratchet at 720 kW; actual 600 kW → 720 kW × 38 = 27,360.00. In August
    an actual 750 kW beats the ratchet and is billed as measured."""
    assert peak_demand_before(HISTORY, JULY[1], 11) == D(900)
    assert peak_demand_before(HISTORY, date(2024, 6, 30), 11) == D(1000)
    assert _actual_bill(600, HISTORY).splitlines()[0] == (
        "demand | 基本电费 (最大需量 600 kW, 按前 11 月最高 900 kW × 80%) | 720 kW × 38 = 27360.00"
    )
    assert _actual_bill(750, HISTORY, date(2024, 8, 31)).splitlines()[0] == (
        "demand | 基本电费 (最大需量) | 750 kW × 38 = 28500.00"
    )


def test_a_ratchet_needs_the_history_passed() -> None:
    det = Determinants(*JULY, kwh_total=D(1), max_demand_kw=D(1), contracted_kva=D(1))
    with pytest.raises(TariffError, match="no demand history was passed"):
        rate(ACTUAL_WITH_FLOOR_AND_RATCHET, det, TierContext())
    with pytest.raises(TariffError, match="not the first of a month"):
        DemandHistory({date(2024, 1, 31): D(1)})


# ---------------------------------------------------------------------------------------------
# Tiers: rounding, seasons, household size, proration

HALF_EVEN = _tariff(
    """
    - {kind: fixed, per: day, amount: "0.35", name: 日固定费}
    - kind: energy_tiered
      period: monthly
      tiers:
        - {up_to_kwh: "200", price: "0.5283"}
        - {up_to_kwh: "400", price: "0.5783"}
        - {up_to_kwh: null, price: "0.8283"}
    - kind: funds
      items: [{name: 附加, price_per_kwh: "0.0193"}]
    """,
    rounding='rounding: {step: "0.01", mode: half_even}',
)


def test_a_half_even_tariff() -> None:
    """June (30 days), 350 kWh, rounding half-even to the fen: 30 × 0.35 = 10.50;
    200 × 0.5283 = 105.66; 150 × 0.5783 = 86.745 → 86.74 (tie, 4 is even; half-up would give
    86.75); 350 × 0.0193 = 6.755 → 6.76 (tie, 5 is odd: up either way). Total 209.66."""
    bill = rate(HALF_EVEN, Determinants(*JUNE, kwh_total=D(350)), TierContext())
    assert _render(bill) == _expect("""
        fixed | 日固定费 | 30 day × 0.35 = 10.50
        energy_tiered | 电度电费 第1档 (≤200 kWh/月) | 200 kWh × 0.5283 = 105.66
        energy_tiered | 电度电费 第2档 (200–400 kWh/月) | 150 kWh × 0.5783 = 86.74
        funds | 附加 | 350 kWh × 0.0193 = 6.76
        total 209.66
    """)
    half_up = HALF_EVEN.model_copy(update={"rounding": Rounding()})
    assert rate(half_up, Determinants(*JUNE, kwh_total=D(350)), TierContext()).total == D("209.67")


SEASONAL_HOUSEHOLD = _tariff(
    """
    - kind: energy_tiered
      period: monthly
      tiers:
        - {up_to_kwh: "200", price: "0.5883"}
        - {up_to_kwh: "400", price: "0.6383"}
        - {up_to_kwh: null, price: "0.8883"}
      seasonal_bounds:
        - {months: [5, 6, 7, 8, 9, 10], up_to_kwh: ["260", "600"]}
      household: {base_persons: 4, kwh_per_extra_person: "100", max_extra_persons: 1}
    """
)


@pytest.mark.parametrize(
    ("period", "persons", "expected"),
    [
        (
            JULY,
            3,
            """
            energy_tiered | 电度电费 第1档 (≤260 kWh/月) | 260 kWh × 0.5883 = 152.96
            energy_tiered | 电度电费 第2档 (260–600 kWh/月) | 190 kWh × 0.6383 = 121.28
            total 274.24
            """,
        ),
        (
            JULY,
            6,
            """
            energy_tiered | 电度电费 第1档 (≤360 kWh/月) | 360 kWh × 0.5883 = 211.79
            energy_tiered | 电度电费 第2档 (360–700 kWh/月) | 90 kWh × 0.6383 = 57.45
            total 269.24
            """,
        ),
        (
            (date(2024, 1, 1), date(2024, 1, 31)),
            None,
            """
            energy_tiered | 电度电费 第1档 (≤200 kWh/月) | 200 kWh × 0.5883 = 117.66
            energy_tiered | 电度电费 第2档 (200–400 kWh/月) | 200 kWh × 0.6383 = 127.66
            energy_tiered | 电度电费 第3档 (>400 kWh/月) | 50 kWh × 0.8883 = 44.42
            total 289.74
            """,
        ),
    ],
)
def test_seasonal_and_household_adjusted_tiers(
    period: tuple[date, date], persons: int | None, expected: str
) -> None:
    """Monthly tiers 200 / 400 kWh, in May–October 260 / 600 kWh (a summer block); households
    of 5 or more get every bound raised by 100 kWh (base 4 persons, one raise at most).
    450 kWh: July, 3 persons: 260 × 0.5883 + 190 × 0.6383. July, 6 persons (bounds 360 /
    700): 360 × 0.5883 + 90 × 0.6383. January, no size on file: 200 / 200 / 50 kWh, the
    last 44.415 → 44.42 half-up."""
    det = Determinants(*period, kwh_total=D(450))
    bill = rate(SEASONAL_HOUSEHOLD, det, TierContext(household_persons=persons))
    assert _render(bill) == _expect(expected)


def test_tier_bounds_in_force() -> None:
    bounds = [D(200), D(400), None]
    seasons = (SeasonalBounds(months=(7,), up_to_kwh=(D(260), D(600))),)
    step = HouseholdSize(base_persons=4, kwh_per_extra_person=D(100), max_extra_persons=1)
    each = HouseholdSize(base_persons=2, kwh_per_extra_person=D(50))
    assert tier_bounds(bounds, 7, seasons) == [D(260), D(600), None]
    assert tier_bounds(bounds, 1, seasons, step, 9) == [D(300), D(500), None]
    assert tier_bounds(bounds, 1, seasons, step, 4) == bounds
    assert tier_bounds(bounds, 1, (), each, 5) == [D(350), D(550), None]


def test_annual_tiers_prorated_for_a_part_year() -> None:
    """RES-TIER-ZJ for an account supplied 6 months of the tier year (fraction 0.5): bounds
    1380 / 2400 kWh. 1,300 kWh billed so far, 200 kWh this month: 80 × 0.538 = 43.04,
    120 × 0.588 = 70.56; total 113.60."""
    version = CATALOGUE["RES-TIER-ZJ"].version_on(JULY[0])
    ctx = TierContext(D(1300), tier_year_fraction=D("0.5"))
    bill = rate(version, Determinants(*JULY, kwh_total=D(200)), ctx)
    assert _render(bill) == _expect("""
        energy_tiered | 电度电费 第1档 (≤1380 kWh/年) | 80.0 kWh × 0.538 = 43.04
        energy_tiered | 电度电费 第2档 (1380–2400 kWh/年) | 120.0 kWh × 0.588 = 70.56
        total 113.60
    """)


# ---------------------------------------------------------------------------------------------
# Bad input: one line naming the field


@pytest.mark.parametrize(
    ("rule", "field", "problem"),
    [
        ('floor_percent_of_capacity: "-5"', "components[0].floor_percent_of_capacity", "-5 %"),
        ('floor_percent_of_capacity: "140"', "components[0].floor_percent_of_capacity", "0–100"),
        (
            'high_use_discount: {kwh_per_kva: "260", price_percent: "110"}',
            "components[0].high_use_discount.price_percent",
            "110 %",
        ),
        (
            'ratchet: {percent: "180", months: 11}',
            "components[0].ratchet.percent",
            "outside 0–100",
        ),
        ('ratchet: {percent: "80", months: 0}', "components[0].ratchet.months", "greater than"),
        (
            'ratchet: {percent: "80", months: 11, lookback: 3}',
            "components[0].ratchet.lookback",
            "Extra inputs",
        ),
        ("contract_demand: 500", "components[0].contract_demand", "Extra inputs"),
        (
            'excess: {above_percent: "105", multiplier: "2"}',
            "components[0].excess",
            "basis max_demand_kw",
        ),
    ],
)
def test_bad_demand_rules_name_the_field(
    tmp_path: Path, rule: str, field: str, problem: str
) -> None:
    text = f"""
code: T-BAD
name: bad demand rule
customer_class: industrial
versions:
  - version: 1
    effective_from: 2024-01-01
    components:
      - kind: demand
        basis: max_demand_kw
        price: "38"
        {rule}
      - kind: energy_tiered
        period: monthly
        tiers: [{{up_to_kwh: null, price: "0.62"}}]
"""
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TariffError) as caught:
        load_tariff_file(path)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{path}: versions[0].{field}: " in message
    assert problem in message


def test_contract_basis_without_excess_and_bad_seasons_name_the_field() -> None:
    contract = """
      - {kind: demand, basis: contract_demand_kw, price: "38"}
      - kind: energy_tiered
        period: monthly
        tiers: [{up_to_kwh: null, price: "0.62"}]
"""
    seasons = """
      - kind: energy_tiered
        period: annual
        tiers: [{up_to_kwh: "2760", price: "0.538"}, {up_to_kwh: null, price: "0.588"}]
        seasonal_bounds: [{months: [7], up_to_kwh: ["300"]}]
"""
    head = """
code: T-BAD
name: bad
customer_class: industrial
versions:
  - version: 1
    effective_from: 2024-01-01
    components:
"""
    with pytest.raises(TariffError, match=r"components\[0\]\.excess: contract-demand billing"):
        parse_tariff(head + contract, "t")
    with pytest.raises(TariffError, match=r"seasonal_bounds\[0\]: seasonal bounds need monthly"):
        parse_tariff(head + seasons, "t")
