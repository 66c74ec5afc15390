"""The column-wise pricing stage gives exactly the lines of the pure rating function."""

from __future__ import annotations

import zlib
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter2cash.billing.pricing import DETERMINANT_COLUMNS, KWH_SCALE, price_cycle
from meter2cash.core.money import to_minor
from meter2cash.tariffs.loader import load_catalogue, parse_tariff
from meter2cash.tariffs.rating import Determinants, TierContext, rate
from meter2cash.tariffs.schema import TOU_PERIODS, TariffVersion, TouEnergy

START, END = date(2026, 7, 1), date(2026, 7, 31)

MONTHLY_HALF_EVEN = """
code: T-HALF-EVEN
name: monthly tiers, daily fixed charge, half-even to 0.1 yuan
customer_class: residential
source: a test tariff
currency: CNY
versions:
  - version: 1
    effective_from: 2026-01-01
    rounding: {step: "0.1", mode: half_even}
    components:
      - {kind: fixed, per: day, amount: "0.35", name: 日固定费}
      - kind: energy_tiered
        period: monthly
        tiers:
          - {up_to_kwh: "230", price: "0.5283"}
          - {up_to_kwh: "400.5", price: "0.5783"}
          - {up_to_kwh: null, price: "0.8283"}
      - kind: funds
        items:
          - {name: 可再生能源附加, price_per_kwh: "0.019"}
"""


def _versions() -> dict[str, TariffVersion]:
    docs = load_catalogue() | {"T-HALF-EVEN": parse_tariff(MONTHLY_HALF_EVEN, "test")}
    return {code: doc.version_on(START) for code, doc in docs.items()}


VERSIONS = _versions()


def _frame(
    rng: np.random.Generator, n: int, scale: float, periods: tuple[str, ...] = TOU_PERIODS[:4]
) -> pd.DataFrame:
    """Random determinants in 0.0001 units; energy by TOU ``periods`` sums to the total."""
    total = np.rint(rng.gamma(1.2, scale, n) * KWH_SCALE).astype(np.int64)
    total[rng.random(n) < 0.05] = 0
    share = rng.dirichlet(np.ones(len(periods)), n)
    parts = np.floor(share * total[:, None]).astype(np.int64)
    parts[:, -1] = total - parts[:, :-1].sum(axis=1)
    frame = pd.DataFrame({c: np.zeros(n, np.int64) for c in DETERMINANT_COLUMNS})
    frame["kwh_total"] = total
    for i, p in enumerate(periods):
        frame[f"kwh_{p}"] = parts[:, i]
    frame["kvarh_total"] = np.rint(total * rng.uniform(0, 1.2, n)).astype(np.int64)
    frame["max_demand_kw"] = np.rint(total / rng.uniform(200, 600, n)).astype(np.int64)
    frame["contracted_kva"] = rng.choice([315, 630, 1000, 2500], n) * KWH_SCALE
    frame["kwh_before"] = np.rint(rng.uniform(0, 6000, n) * KWH_SCALE).astype(np.int64)
    frame["days"] = (END - START).days + 1
    frame["contract_demand_kw"] = rng.choice([100, 400, 2000], n) * KWH_SCALE
    return frame


def _decimal(q4: int) -> Decimal:
    return Decimal(int(q4)) / KWH_SCALE


def _scalar(version: TariffVersion, row: pd.Series) -> list[tuple[object, ...]]:
    det = Determinants(
        period_start=START,
        period_end=END,
        kwh_total=_decimal(row["kwh_total"]),
        kwh_by_period={p: _decimal(row[f"kwh_{p}"]) for p in TOU_PERIODS if row[f"kwh_{p}"] > 0},
        kvarh_total=_decimal(row["kvarh_total"]),
        max_demand_kw=_decimal(row["max_demand_kw"]),
        contracted_kva=_decimal(row["contracted_kva"]),
        contract_demand_kw=_decimal(row["contract_demand_kw"])
        if "contract_demand_kw" in row
        else None,
    )
    result = rate(version, det, TierContext(kwh_before_in_tier_year=_decimal(row["kwh_before"])))
    return [
        (ln.kind, ln.description, ln.quantity, ln.unit, ln.unit_price, to_minor(ln.amount))
        for ln in result.lines
    ]


def _check(version: TariffVersion, frame: pd.DataFrame) -> int:
    priced = price_cycle(version, frame)
    assert priced is not None
    by_row: dict[int, list[tuple[object, ...]]] = {}
    for i, template, qty, amount in zip(
        priced.row, priced.template, priced.quantity, priced.amount, strict=True
    ):
        t = priced.templates[template]
        by_row.setdefault(int(i), []).append(
            (
                t.kind,
                t.description,
                Decimal(int(qty)) / t.quantity_scale,
                t.unit,
                t.unit_price,
                int(amount),
            )
        )
    totals = priced.totals(len(frame))
    checked = 0
    for i in range(len(frame)):
        if not priced.rows_priced[i]:
            continue
        expected = _scalar(version, frame.iloc[i])
        assert by_row.get(i, []) == expected, f"row {i}"
        assert totals[i] == sum(line[-1] for line in expected)
        checked += 1
    return checked


@pytest.mark.parametrize("code", sorted(VERSIONS))
def test_every_catalogue_tariff_prices_a_cycle_exactly_as_rating_one_bill(code: str) -> None:
    version = VERSIONS[code]
    tou = version.component("energy_tou")
    periods = tuple(tou.prices) if isinstance(tou, TouEnergy) else TOU_PERIODS[:4]
    scale = 40_000.0 if "IND" in code or "COM" in code else 250.0
    frame = _frame(np.random.default_rng(zlib.crc32(code.encode())), 600, scale, periods)
    checked = _check(VERSIONS[code], frame)
    assert checked >= 550  # only rows the scalar path refuses (no TOU energy) are left out


@settings(max_examples=60)
@given(
    kwh=st.integers(0, 10**9),
    kvar_share=st.integers(0, 150),
    before=st.integers(0, 10**8),
    demand=st.integers(0, 10**7),
    split=st.lists(st.integers(0, 100), min_size=4, max_size=4),
)
def test_industrial_two_part_matches_on_any_figures(
    kwh: int, kvar_share: int, before: int, demand: int, split: list[int]
) -> None:
    weights = np.array(split, dtype=np.float64) + 1
    parts = np.floor(weights / weights.sum() * kwh).astype(np.int64)
    parts[-1] = kwh - parts[:-1].sum()
    row = {c: 0 for c in DETERMINANT_COLUMNS} | {
        "kwh_total": kwh,
        "kwh_sharp": parts[0],
        "kwh_peak": parts[1],
        "kwh_flat": parts[2],
        "kwh_valley": parts[3],
        "kvarh_total": kwh * kvar_share // 100,
        "max_demand_kw": demand,
        "contracted_kva": 10_000_000,
        "kwh_before": before,
        "days": 31,
    }
    frame = pd.DataFrame([row]).astype(np.int64)
    for code in ("IND-TWO-PART", "RES-TOU-TIER", "T-HALF-EVEN"):
        _check(VERSIONS[code], frame)


def test_the_worked_industrial_bill_of_the_issue() -> None:
    """10 kV, multiplier 4000: 300,000 kWh, 650 kW, 180,000 kvarh (PF 0.86) → the lines of
    the tariff's own rating, one of them the +2.0 % PF adjustment."""
    row = {c: 0 for c in DETERMINANT_COLUMNS} | {
        "kwh_total": 300_000 * KWH_SCALE,
        "kwh_peak": 90_000 * KWH_SCALE,
        "kwh_flat": 120_000 * KWH_SCALE,
        "kwh_valley": 90_000 * KWH_SCALE,
        "kvarh_total": 180_000 * KWH_SCALE,
        "max_demand_kw": 650 * KWH_SCALE,
        "contracted_kva": 1000 * KWH_SCALE,
        "days": 31,
    }
    frame = pd.DataFrame([row]).astype(np.int64)
    priced = price_cycle(VERSIONS["IND-TWO-PART"], frame)
    assert priced is not None
    lines = [priced.templates[t] for t in priced.template]
    assert [t.description for t in lines if t.kind == "pf_adjustment"] == [
        "力调电费 (功率因数 0.86, 标准 0.90)"
    ]
    assert _check(VERSIONS["IND-TWO-PART"], frame) == 1


def test_a_version_with_a_price_finer_than_the_finest_scale_is_left_to_the_scalar_path() -> None:
    text = MONTHLY_HALF_EVEN.replace('"0.5283"', '"0.52831234567891"')
    version = parse_tariff(text, "test").version_on(START)
    frame = _frame(np.random.default_rng(1), 5, 250.0)
    assert price_cycle(version, frame) is None


def test_a_vacant_tou_account_rates_to_its_other_lines_in_both_paths() -> None:
    """Zero energy on a TOU tariff is not an error: no energy lines, funds none either."""
    version = VERSIONS["COM-TOU"]
    frame = pd.DataFrame([{c: 0 for c in DETERMINANT_COLUMNS} | {"days": 31}]).astype(np.int64)
    assert _check(version, frame) == 1
    det = Determinants(period_start=START, period_end=END, kwh_total=Decimal(0))
    assert rate(version, det, TierContext()).total == 0
