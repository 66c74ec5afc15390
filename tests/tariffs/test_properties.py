"""Properties of rating that hold for any figures (Hypothesis).

1. A period split in two bills the same as the whole, for a tariff *linear in days*: every
   charge is a sum over days or over kWh — a per-day fixed charge, TOU energy prices, per-kWh
   funds, and tiers counted over the tier year (the second part carries the first part's kWh
   as ``kwh_before_in_tier_year``). Per-month fixed charges, monthly tiers, demand charges
   and the PF adjustment are not linear in days and are left out. Unrounded (each line
   quantised to 10⁻¹² yuan, which is exact for these prices) the parts add up to the whole
   line for line; as issued, each line is rounded once per bill, so a line of the whole may
   differ from the sum of its two parts by at most one fen (|e₁ + e₂ − e| ≤ 1.5 fen for
   rounding errors of at most half a fen each, and the difference is a whole number of fen).
2. Charges never decrease as consumption grows: for every catalogue tariff, scaling the
   period's energy (every TOU period in proportion, kvarh too so the power factor is held
   fixed; demand and the tier year unchanged) never lowers the bill. The energy starts above
   zero: at zero the power factor is undefined and no adjustment applies, so a first kWh at
   a rebate-earning PF may lower a bill by the rebate on its demand charge. The one other
   exception is in the regulation itself, the 526 discount
   (``test_worked_cases.test_the_526_discount_is_a_step_that_can_lower_a_bill``).
3. Under the demand rules (floor, ratchet, contract excess) more demand never bills less;
   a larger household never pays more for the same energy.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from meter2cash.tariffs.demand import DemandHistory
from meter2cash.tariffs.loader import load_catalogue, parse_tariff
from meter2cash.tariffs.rating import Determinants, RatedBill, TierContext, rate
from meter2cash.tariffs.schema import Rounding, TariffVersion, TouEnergy

D = Decimal
FEN = D("0.01")
CATALOGUE = load_catalogue()

LINEAR_IN_DAYS = parse_tariff(
    """
code: T-LINEAR
name: linear in days
customer_class: residential
source: a test tariff
versions:
  - version: 1
    effective_from: 2024-01-01
    tou_schedule:
      periods: {peak: [[8, 22]], valley: [[22, 24], [0, 8]]}
    components:
      - {kind: fixed, per: day, amount: "0.35", name: 日固定费}
      - kind: energy_tou
        prices: {peak: "0.568", valley: "0.288"}
      - kind: tier_increment
        period: annual
        tiers:
          - {up_to_kwh: "2760", increment: "0"}
          - {up_to_kwh: "4800", increment: "0.05"}
          - {up_to_kwh: null, increment: "0.30"}
      - kind: funds
        items:
          - {name: 国家重大水利工程建设基金, price_per_kwh: "0.00196875"}
          - {name: 可再生能源电价附加, price_per_kwh: "0.019"}
""",
    "test",
).versions[0]
UNROUNDED = LINEAR_IN_DAYS.model_copy(update={"rounding": Rounding(step=D("1e-12"))})

kwh = st.decimals(min_value=0, max_value=20_000, places=4)


def _by_line(bills: list[RatedBill]) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """(kind, description) → (quantity, amount) summed over ``bills``."""
    sums: dict[tuple[str, str], tuple[Decimal, Decimal]] = defaultdict(lambda: (D(0), D(0)))
    for bill in bills:
        for line in bill.lines:
            quantity, amount = sums[line.kind, line.description]
            sums[line.kind, line.description] = (quantity + line.quantity, amount + line.amount)
    return dict(sums)


@given(
    start=st.dates(date(2024, 1, 1), date(2024, 12, 1)),
    days=st.integers(2, 62),
    cut=st.integers(1, 61),
    first=st.tuples(kwh, kwh),
    second=st.tuples(kwh, kwh),
    before=kwh,
)
def test_splitting_a_period_at_any_day_bills_the_same_as_the_whole(
    start: date,
    days: int,
    cut: int,
    first: tuple[Decimal, Decimal],
    second: tuple[Decimal, Decimal],
    before: Decimal,
) -> None:
    """Days ``[start, start + cut)`` use ``first`` (peak, valley) kWh, the rest ``second``."""
    cut = min(cut, days - 1)
    end, middle = start + timedelta(days=days - 1), start + timedelta(days=cut)

    def det(begin: date, finish: date, peak: Decimal, valley: Decimal) -> Determinants:
        periods = {"peak": peak, "valley": valley}
        return Determinants(begin, finish, kwh_total=peak + valley, kwh_by_period=periods)

    both = (first[0] + second[0], first[1] + second[1])

    def bills(version: TariffVersion) -> tuple[RatedBill, list[RatedBill]]:
        whole = rate(version, det(start, end, *both), TierContext(before))
        part_one = rate(
            version, det(start, middle - timedelta(days=1), *first), TierContext(before)
        )
        part_two = rate(version, det(middle, end, *second), TierContext(before + sum(first)))
        return whole, [part_one, part_two]

    whole, parts = bills(UNROUNDED)
    assert _by_line(parts) == _by_line([whole])
    assert sum(p.total for p in parts) == whole.total

    whole, parts = bills(LINEAR_IN_DAYS)
    split = _by_line(parts)
    assert split.keys() == _by_line([whole]).keys()
    for key, (quantity, amount) in _by_line([whole]).items():
        assert split[key][0] == quantity
        assert abs(split[key][1] - amount) <= FEN
    assert abs(sum(p.total for p in parts) - whole.total) <= FEN * len(split)


def _catalogue_bill(
    code: str,
    weights: dict[str, int],
    scale: Decimal,
    kvar_ratio: Decimal,
    demand: Decimal,
    before: Decimal,
    month: int,
) -> RatedBill:
    """Energy ``weight × scale`` [kWh] per TOU period the tariff prices (one open bucket for
    tariffs without TOU prices); kvarh = kWh × ``kvar_ratio``."""
    version = CATALOGUE[code].versions[0]
    tou = version.component("energy_tou")
    by_period: dict[str, Decimal] = (
        {p: w * scale for p, w in weights.items() if p in tou.prices}
        if isinstance(tou, TouEnergy)
        else {}
    )
    total = sum(by_period.values(), D(0)) if by_period else sum(weights.values()) * scale
    det = Determinants(
        date(2024, month, 1),
        date(2024, month, 28),
        kwh_total=total,
        kwh_by_period=by_period,
        kvarh_total=total * kvar_ratio,
        max_demand_kw=demand,
        contracted_kva=D(1000),
        contract_demand_kw=D(500),
    )
    return rate(version, det, TierContext(before))


@given(
    code=st.sampled_from(sorted(CATALOGUE)),
    weights=st.fixed_dictionaries(
        {p: st.integers(0, 100) for p in ("sharp", "peak", "flat", "valley")}
    ).filter(lambda w: any(w.values())),
    scale=st.decimals(min_value=D("0.0001"), max_value=500, places=4),
    growth=st.decimals(min_value=0, max_value=500, places=4),
    kvar_ratio=st.decimals(min_value=0, max_value=2, places=2),
    demand=st.decimals(min_value=0, max_value=5_000, places=4),
    before=kwh,
    month=st.integers(1, 12),
)
def test_charges_never_decrease_as_consumption_grows(
    code: str,
    weights: dict[str, int],
    scale: Decimal,
    growth: Decimal,
    kvar_ratio: Decimal,
    demand: Decimal,
    before: Decimal,
    month: int,
) -> None:
    """kWh × (scale + growth) / scale in every period, kvarh likewise (same PF)."""
    figures = (kvar_ratio, demand, before, month)
    less = _catalogue_bill(code, weights, scale, *figures)
    more = _catalogue_bill(code, weights, scale + growth, *figures)
    assert more.total >= less.total


DEMAND_RULES = {
    basis: parse_tariff(
        f"""
code: T-DEMAND
name: demand rules
customer_class: industrial
source: a test tariff
versions:
  - version: 1
    effective_from: 2024-01-01
    components:
      - kind: demand
        basis: {basis}
        price: "38.5"
        floor_percent_of_capacity: "40"
        {rule}
      - kind: energy_tiered
        period: monthly
        tiers: [{{up_to_kwh: null, price: "0.62"}}]
""",
        "test",
    ).versions[0]
    for basis, rule in (
        ("max_demand_kw", 'ratchet: {percent: "75", months: 11}'),
        ("contract_demand_kw", 'excess: {above_percent: "105", multiplier: "2"}'),
    )
}
kw = st.decimals(min_value=0, max_value=3_000, places=4)


@given(
    basis=st.sampled_from(sorted(DEMAND_RULES)),
    actual=kw,
    growth=kw,
    contract=kw,
    capacity=kw,
    history=st.lists(kw, max_size=14),
)
def test_billing_demand_never_lowers_the_bill_as_demand_grows(
    basis: str,
    actual: Decimal,
    growth: Decimal,
    contract: Decimal,
    capacity: Decimal,
    history: list[Decimal],
) -> None:
    """Floor, ratchet and contract excess: more demand never bills less, and the bill never
    falls below the floor's or the contract's charge."""
    # history[0] is June 2024, history[1] May 2024, … back to May 2023.
    by_month: dict[date, Decimal] = {}
    for back, kw_month in enumerate(history):
        index = 2024 * 12 + 5 - back  # June 2024 is month index 2024 × 12 + 5
        by_month[date(index // 12, index % 12 + 1, 1)] = kw_month
    months = DemandHistory(by_month)
    version = DEMAND_RULES[basis]

    def bill(kw_actual: Decimal) -> RatedBill:
        det = Determinants(
            date(2024, 7, 1),
            date(2024, 7, 31),
            kwh_total=D(1000),
            max_demand_kw=kw_actual,
            contracted_kva=capacity,
            contract_demand_kw=contract,
        )
        return rate(version, det, TierContext(), months)

    less, more = bill(actual), bill(actual + growth)
    assert more.total >= less.total
    demand = sum(ln.amount for ln in less.lines if ln.kind == "demand")
    reserved = max(capacity * D("0.4"), contract if basis == "contract_demand_kw" else actual)
    assert demand >= (reserved * D("38.5")).quantize(FEN) - FEN


HOUSEHOLD = parse_tariff(
    """
code: T-HOUSEHOLD
name: household-size tiers
customer_class: residential
versions:
  - version: 1
    effective_from: 2024-01-01
    components:
      - kind: energy_tiered
        period: annual
        tiers:
          - {up_to_kwh: "2760", price: "0.538"}
          - {up_to_kwh: "4800", price: "0.588"}
          - {up_to_kwh: null, price: "0.838"}
        household: {base_persons: 3, kwh_per_extra_person: "600"}
""",
    "test",
).versions[0]


@given(energy=kwh, before=kwh, persons=st.integers(1, 12), more=st.integers(0, 5))
def test_a_larger_household_never_pays_more_for_the_same_energy(
    energy: Decimal, before: Decimal, persons: int, more: int
) -> None:
    det = Determinants(date(2024, 7, 1), date(2024, 7, 31), kwh_total=energy)
    smaller = rate(HOUSEHOLD, det, TierContext(before, household_persons=persons))
    larger = rate(HOUSEHOLD, det, TierContext(before, household_persons=persons + more))
    assert larger.total <= smaller.total
