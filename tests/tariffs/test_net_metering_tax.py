"""Net metering (import A+, export A−) and taxes: worked cases, refusals, properties."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter2cash.billing.pricing import DETERMINANT_COLUMNS, price_cycle
from meter2cash.core.errors import TariffError
from meter2cash.tariffs.loader import parse_tariff
from meter2cash.tariffs.net_metering import export_credit, net_energy
from meter2cash.tariffs.rating import Determinants, RatedBill, TierContext, rate
from meter2cash.tariffs.schema import TariffVersion
from meter2cash.tariffs.tax import tax_rates

D = Decimal
JULY = (date(2024, 7, 1), date(2024, 7, 31))
ZJ_TIERS: dict[str, Any] = {
    "kind": "energy_tiered",
    "period": "annual",
    "tiers": [
        {"up_to_kwh": "2760", "price": "0.538"},
        {"up_to_kwh": "4800", "price": "0.588"},
        {"up_to_kwh": None, "price": "0.838"},
    ],
}
YTD_2600 = TierContext(kwh_before_in_tier_year=D(2600))


def _version(*components: dict[str, Any], **extra: Any) -> TariffVersion:
    return TariffVersion.model_validate(
        {"version": 1, "effective_from": "2024-01-01", "components": components, **extra}
    )


def _refusal(*components: dict[str, Any], **extra: Any) -> str:
    """The one-line error the loader gives for a document with these components."""
    version = {"version": 1, "effective_from": "2024-01-01", "components": components, **extra}
    document = {"code": "T-NM", "name": "t", "customer_class": "residential", "versions": [version]}
    with pytest.raises(TariffError) as caught:
        parse_tariff(json.dumps(document), "t.yaml")
    return str(caught.value)


def _det(kwh: str, export: str | None = None, **extra: Any) -> Determinants:
    return Determinants(
        *JULY, kwh_total=D(kwh), kwh_export_total=None if export is None else D(export), **extra
    )


def _lines(bill: RatedBill) -> list[tuple[str, str, str]]:
    return [(ln.kind, ln.description, f"{ln.amount}") for ln in bill.lines]


# ---------------------------------------------------------------------------------------------
# Taxes


def test_sales_tax_applies_after_the_minimum_charge() -> None:
    """A US-style bill: $10 customer charge, $0.10/kWh, $30 minimum, 6 % sales tax on all.

    150 kWh → energy 15.00 + fixed 10.00 = 25.00 → minimum tops up 5.00 → taxable 30.00 →
    tax 1.80 → total 31.80.
    """
    version = _version(
        {"kind": "fixed", "per": "month", "amount": "10", "name": "customer charge"},
        {
            "kind": "energy_tiered",
            "period": "monthly",
            "tiers": [{"up_to_kwh": None, "price": "0.10"}],
        },
        {"kind": "minimum", "per": "month", "amount": "30"},
        {
            "kind": "tax",
            "items": [{"name": "sales tax", "percent": "6"}],
            "taxable": ["fixed", "energy_tiered", "minimum"],
        },
    )
    bill = rate(version, _det("150"), TierContext())
    assert _lines(bill) == [
        ("fixed", "customer charge", "10.00"),
        ("energy_tiered", "电度电费 第1档 (不分档)", "15.00"),
        ("minimum", "minimum charge", "5.00"),
        ("tax", "sales tax 6%", "1.80"),
    ]
    assert bill.total == D("31.80")
    tax = bill.lines[-1]
    assert (tax.quantity, tax.unit, tax.unit_price) == (D("30.00"), "yuan", D("0.06"))


def test_vat_shown_on_tax_inclusive_prices_leaves_the_total_unchanged() -> None:
    """Chinese retail prices include VAT 13 %: 1,000 kWh × 0.6 = 600.00 holds
    600.00 × 13 ÷ 113 = 69.0265… → 69.03 of VAT; funds are not taxable here."""
    version = _version(
        {
            "kind": "energy_tiered",
            "period": "monthly",
            "tiers": [{"up_to_kwh": None, "price": "0.6"}],
        },
        {"kind": "funds", "items": [{"name": "可再生能源电价附加", "price_per_kwh": "0.019"}]},
        {
            "kind": "tax",
            "items": [{"name": "增值税", "percent": "13"}],
            "taxable": ["energy_tiered"],
            "prices_include_tax": True,
        },
    )
    bill = rate(version, _det("1000"), TierContext())
    assert _lines(bill)[2:] == [
        ("tax", "增值税 13% (价内含税)", "69.03"),
        ("tax_included", "减: 电价所含税额", "-69.03"),
    ]
    assert bill.total == D("619.00")
    assert bill.lines[2].unit_price == D("0.1150442478")


def test_vat_added_to_tax_exclusive_prices_rounds_once_per_tax() -> None:
    """Two taxes on one base: 227.20 (the issue's annual-tier case) × 13 % = 29.536 → 29.54;
    × 0.5 % = 1.136 → 1.14."""
    version = _version(
        ZJ_TIERS,
        {
            "kind": "tax",
            "items": [{"name": "增值税", "percent": "13"}, {"name": "local", "percent": "0.5"}],
            "taxable": ["energy_tiered"],
        },
    )
    bill = rate(version, _det("400"), YTD_2600)
    assert [ln.amount for ln in bill.lines] == [D("86.08"), D("141.12"), D("29.54"), D("1.14")]
    assert bill.total == D("257.88")


def test_tax_rates_exclusive_and_inclusive() -> None:
    assert tax_rates([D(13)], prices_include_tax=False) == (D("0.13"),)
    inclusive = tax_rates([D(13)], prices_include_tax=True)[0]
    assert (D(113) * inclusive).quantize(D("0.0001")) == D("13.0000")


# ---------------------------------------------------------------------------------------------
# Net metering


def test_net_option_bills_import_less_export_through_the_tiers() -> None:
    """Import 400, export 150 kWh, 2,600 kWh so far this tier year: 250 kWh net →
    160 × 0.538 + 90 × 0.588 = 86.08 + 52.92 = 139.00. Funds stay on the import."""
    version = _version(
        ZJ_TIERS,
        {"kind": "funds", "items": [{"name": "基金", "price_per_kwh": "0.01"}]},
        {"kind": "net_metering", "option": "net"},
    )
    bill = rate(version, _det("400", "150"), YTD_2600)
    assert [ln.amount for ln in bill.lines] == [D("86.08"), D("52.92"), D("4.00")]
    assert bill.total == D("143.00")
    assert (bill.kwh_total, bill.carried_export_kwh) == (D(250), D(0))


def test_net_excess_is_carried_over_when_the_tariff_says_so() -> None:
    """Import 100, export 160, 20 kWh credit carried in: nothing billed, 80 kWh carried out;
    next month import 300, export 0 with those 80 kWh → 220 kWh billed."""
    carrying = _version(ZJ_TIERS, {"kind": "net_metering", "option": "net", "carry_over": True})
    first = rate(carrying, _det("100", "160"), TierContext(), carried_export_kwh=D(20))
    assert (first.lines, first.total, first.carried_export_kwh) == ((), D(0), D(80))
    second = rate(carrying, _det("300", "0"), TierContext(), carried_export_kwh=D(80))
    assert (second.kwh_total, second.total, second.carried_export_kwh) == (
        D(220),
        D("118.36"),
        D(0),
    )
    lapsing = _version(ZJ_TIERS, {"kind": "net_metering", "option": "net"})
    assert rate(lapsing, _det("100", "160"), TierContext()).carried_export_kwh == D(0)
    with pytest.raises(TariffError, match="carried_export_kwh"):
        rate(lapsing, _det("100", "160"), TierContext(), carried_export_kwh=D(20))


def test_buy_sell_credits_export_as_a_negative_line() -> None:
    """余电上网: import 400 kWh billed as usual (227.20); 250 kWh exported at the coal
    benchmark 0.4153 yuan/kWh = −103.825 → −103.83; total 123.37."""
    version = _version(
        ZJ_TIERS,
        {"kind": "net_metering", "option": "buy_sell", "sell_price": "0.4153", "name": "上网电量"},
    )
    bill = rate(version, _det("400", "250"), YTD_2600)
    credit = bill.lines[-1]
    assert (credit.kind, credit.quantity, credit.unit_price, credit.amount) == (
        "export_credit",
        D(250),
        D("-0.4153"),
        D("-103.83"),
    )
    assert bill.total == D("123.37")
    assert bill.kwh_total == D(400)


def test_the_minimum_charge_does_not_count_the_export_credit() -> None:
    """Energy 10 × 0.10 = 1.00 against a 5.00 minimum → 4.00 top-up; the 2.00 credit for
    20 kWh at 0.10 is paid on top: total 3.00."""
    version = _version(
        {
            "kind": "energy_tiered",
            "period": "monthly",
            "tiers": [{"up_to_kwh": None, "price": "0.10"}],
        },
        {"kind": "net_metering", "option": "buy_sell", "sell_price": "0.10"},
        {"kind": "minimum", "per": "month", "amount": "5"},
    )
    bill = rate(version, _det("10", "20"), TierContext())
    assert [ln.amount for ln in bill.lines] == [D("1.00"), D("-2.00"), D("4.00")]


def test_net_metering_needs_the_export_register() -> None:
    version = _version(ZJ_TIERS, {"kind": "net_metering", "option": "net"})
    with pytest.raises(TariffError, match="kwh_export_total"):
        rate(version, _det("400"), YTD_2600)
    with pytest.raises(TariffError, match="kwh_export_total is negative"):
        _det("400", "-1")


def test_net_energy_and_export_credit() -> None:
    assert net_energy(D(300), D(120), D(50)) == (D(130), D(0))
    assert net_energy(D(100), D(160)) == (D(0), D(60))
    assert export_credit(D(250), D("0.4153")) == D("-103.8250")


@pytest.mark.parametrize(
    ("component", "field", "fix"),
    [
        ({"kind": "net_metering", "option": "buy_sell"}, "sell_price", "add sell_price"),
        ({"kind": "net_metering", "option": "net", "sell_price": "0.4"}, "sell_price", "drop"),
        (
            {"kind": "net_metering", "option": "buy_sell", "sell_price": "0.4", "carry_over": True},
            "carry_over",
            "drop carry_over",
        ),
        ({"kind": "tax", "items": [], "taxable": ["funds"]}, "items", ""),
        (
            {"kind": "tax", "items": [{"name": "VAT", "percent": "13"}], "taxable": ["tax"]},
            "taxable",
            "",
        ),
        (
            {"kind": "tax", "items": [{"name": "VAT", "percent": "113"}], "taxable": ["funds"]},
            "items[0].percent",
            "0 to 100",
        ),
    ],
)
def test_bad_net_metering_and_tax_components_are_refused(
    component: dict[str, Any], field: str, fix: str
) -> None:
    message = _refusal(ZJ_TIERS, component)
    assert f"versions[0].components[1].{field}" in message
    assert fix in message


def test_net_option_is_refused_with_tou_energy() -> None:
    message = _refusal(
        {"kind": "energy_tou", "prices": {"peak": "0.6", "valley": "0.3"}},
        {"kind": "net_metering", "option": "net"},
        tou_schedule={"periods": {"valley": [[0, 8]], "peak": [[8, 24]]}},
    )
    assert "versions[0].components: net metering nets the total" in message
    assert "use option buy_sell" in message


@pytest.mark.parametrize(
    "component",
    [
        {"kind": "net_metering", "option": "buy_sell", "sell_price": "0.4153"},
        {"kind": "net_metering", "option": "net"},
        {
            "kind": "tax",
            "items": [{"name": "增值税", "percent": "13"}],
            "taxable": ["energy_tiered"],
        },
    ],
)
def test_the_column_wise_pricer_leaves_these_components_to_rate(component: dict[str, Any]) -> None:
    frame = pd.DataFrame({c: np.full(2, 10_000, np.int64) for c in DETERMINANT_COLUMNS})
    assert price_cycle(_version(ZJ_TIERS), frame) is not None
    assert price_cycle(_version(ZJ_TIERS, component), frame) is None


# ---------------------------------------------------------------------------------------------
# Property

KWH = st.decimals(min_value=0, max_value=20_000, places=4)


@given(import_kwh=KWH, export=KWH, more=KWH, before=KWH)
def test_more_export_never_raises_a_buy_sell_bill(
    import_kwh: Decimal, export: Decimal, more: Decimal, before: Decimal
) -> None:
    version = _version(
        {"kind": "fixed", "per": "month", "amount": "6"},
        ZJ_TIERS,
        {"kind": "funds", "items": [{"name": "基金", "price_per_kwh": "0.00196875"}]},
        {"kind": "net_metering", "option": "buy_sell", "sell_price": "0.4153"},
        {"kind": "minimum", "per": "month", "amount": "20"},
        {
            "kind": "tax",
            "items": [{"name": "sales tax", "percent": "7.25"}],
            "taxable": ["fixed", "energy_tiered", "minimum", "export_credit"],
        },
    )
    ctx = TierContext(kwh_before_in_tier_year=before)
    less = rate(version, _det(str(import_kwh), str(export)), ctx)
    extra = rate(version, _det(str(import_kwh), str(export + more)), ctx)
    assert extra.total <= less.total
