"""Per-account rating inputs in the bill run: contract demand, demand ratchets, household
tiers, net-metering carry-over, and one account the tariff cannot rate held for review."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from meter2cash.assets.loader import AssetFrames, load_assets
from meter2cash.assets.models import Account, ServicePoint, TransformerArea, Zone
from meter2cash.billing import repository, run
from meter2cash.billing.account_terms import demand_histories, terms_used
from meter2cash.billing.cycles import MonthPeriod, month_period
from meter2cash.billing.models import Bill, BillLine
from meter2cash.billing.pricing import (
    DETERMINANT_COLUMNS,
    KWH_SCALE,
    carried_export,
    price_cycle,
)
from meter2cash.billing.rate_frame import RATING_ERROR, rate_frame
from meter2cash.billing.review import count_by_rule
from meter2cash.core.money import to_minor
from meter2cash.db.migrate import upgrade
from meter2cash.db.session import make_engine, unit_of_work
from meter2cash.simulator import UtilitySpec, build_utility
from meter2cash.tariffs.demand import DemandHistory
from meter2cash.tariffs.loader import load_catalogue, parse_tariff
from meter2cash.tariffs.rating import Determinants, TierContext, rate
from meter2cash.tariffs.schema import TariffDocument, TariffVersion
from meter2cash.workspace import Workspace
from tests.factories import create_account, create_bill, simulated_workspace

JULY = month_period(2026, 7)
PLAIN_DEMAND = """      - kind: demand
        basis: max_demand_kw
        price: "38"
"""


def _catalogue_text(code: str) -> str:
    return files("meter2cash.tariffs").joinpath("catalogue", f"{code}.yaml").read_text("utf-8")


def _industrial(demand: str) -> TariffDocument:
    """IND-TWO-PART with its demand component replaced by ``demand``."""
    text = _catalogue_text("IND-TWO-PART")
    assert PLAIN_DEMAND in text
    return parse_tariff(text.replace(PLAIN_DEMAND, demand), "test")


CONTRACT = _industrial(
    """      - kind: demand
        basis: contract_demand_kw
        price: "38"
        excess: {above_percent: "105", multiplier: "2"}
        floor_percent_of_capacity: "40"
        high_use_discount: {kwh_per_kva: "260", price_percent: "90"}
"""
)
CONTRACT_ONLY = _industrial(
    """      - kind: demand
        basis: contract_demand_kw
        price: "38"
        excess: {above_percent: "105", multiplier: "2"}
"""
)
RATCHET_COM = parse_tariff(
    _catalogue_text("COM-TOU").replace(
        "    components:\n",
        "    components:\n"
        '      - {kind: demand, basis: max_demand_kw, price: "20",'
        ' ratchet: {percent: "80", months: 11}}\n',
    ),
    "test",
)
HOUSEHOLD_NET = parse_tariff(
    """
code: RES-TIER-ZJ
name: monthly tiers, household raise, net metering with carry-over
customer_class: residential
currency: CNY
source: test
versions:
  - version: 1
    effective_from: 2024-01-01
    rounding: {step: "0.01", mode: half_up}
    components:
      - kind: energy_tiered
        period: monthly
        tiers:
          - {up_to_kwh: "200", price: "0.5883"}
          - {up_to_kwh: "400", price: "0.6383"}
          - {up_to_kwh: null, price: "0.8883"}
        household: {base_persons: 4, kwh_per_extra_person: "100", max_extra_persons: 1}
      - {kind: net_metering, option: net, carry_over: true}
""",
    "test",
)


def _v(doc: TariffDocument) -> TariffVersion:
    return doc.version_on(JULY.period_start)


def _row(**values: int) -> dict[str, int]:
    return {c: 0 for c in DETERMINANT_COLUMNS} | {"days": 31} | values


def _kw(q4: int) -> Decimal:
    return Decimal(int(q4)) / KWH_SCALE


def _rated_lines(version: TariffVersion, row: pd.Series) -> list[tuple[object, ...]]:
    det = Determinants(
        period_start=JULY.period_start,
        period_end=JULY.period_end,
        kwh_total=_kw(row["kwh_total"]),
        kwh_by_period={"flat": _kw(row["kwh_flat"])} if row["kwh_flat"] else {},
        kvarh_total=_kw(row["kvarh_total"]),
        max_demand_kw=_kw(row["max_demand_kw"]),
        contracted_kva=_kw(row["contracted_kva"]),
        contract_demand_kw=_kw(row["contract_demand_kw"]),
    )
    bill = rate(version, det, TierContext())
    return [(ln.description, ln.quantity, ln.unit_price, to_minor(ln.amount)) for ln in bill.lines]


def _priced_lines(version: TariffVersion, frame: pd.DataFrame) -> dict[int, list[object]]:
    priced = price_cycle(version, frame)
    assert priced is not None
    by_row: dict[int, list[object]] = {}
    for i, t, q, amount in zip(
        priced.row, priced.template, priced.quantity, priced.amount, strict=True
    ):
        template = priced.templates[t]
        by_row.setdefault(int(i), []).append(
            (
                template.description,
                Decimal(int(q)) / template.quantity_scale,
                template.unit_price,
                int(amount),
            )
        )
    return by_row


# --------------------------------------------------------------------------- contract demand


def test_contract_demand_bills_the_excess_above_105_percent_at_double_price() -> None:
    """发改办价格〔2016〕1583号: contract 500 kW, actual 600 → 525 × 38 + 75 × 76."""
    frame = pd.DataFrame(
        [
            _row(max_demand_kw=600 * KWH_SCALE, contract_demand_kw=500 * KWH_SCALE),
            _row(max_demand_kw=520 * KWH_SCALE, contract_demand_kw=500 * KWH_SCALE),
        ]
    ).astype(np.int64)
    lines = _priced_lines(_v(CONTRACT_ONLY), frame)
    demand = [ln for ln in lines[0] if str(ln[0]).startswith("基本电费")]
    assert demand == [
        ("基本电费 (合同最大需量; 105% 以内)", Decimal(525), Decimal(38), 1_995_000),
        ("基本电费 (实际 600 kW 超过合同 105% 部分)", Decimal(75), Decimal(76), 570_000),
    ]
    assert sum(ln[-1] for ln in demand) == 2_565_000  # 25,650.00 yuan
    assert [ln for ln in lines[1] if str(ln[0]).startswith("基本电费")] == [
        ("基本电费 (合同最大需量)", Decimal(500), Decimal(38), 1_900_000)
    ]


def test_a_contract_below_40_percent_of_capacity_is_raised_to_it() -> None:
    """Contract 350 kW on 1000 kVA → 400 kW; actual 430 → 420 × 38 + 10 × 76 = 16,720.00."""
    frame = pd.DataFrame(
        [
            _row(
                max_demand_kw=430 * KWH_SCALE,
                contract_demand_kw=350 * KWH_SCALE,
                contracted_kva=1000 * KWH_SCALE,
            )
        ]
    ).astype(np.int64)
    demand = [ln for ln in _priced_lines(_v(CONTRACT), frame)[0] if ln[-1] and "基本" in str(ln[0])]
    assert [ln[0] for ln in demand] == [
        "基本电费 (合同最大需量 350 kW, 按容量 1000 kVA × 40%; 105% 以内)",
        "基本电费 (实际 430 kW 超过合同 105% 部分)",
    ]
    assert sum(ln[-1] for ln in demand) == 1_672_000


def test_contract_demand_prices_a_cycle_exactly_as_rating_each_bill() -> None:
    """Column-wise = the scalar rating, line for line, over floors, excess and the 526 price."""
    rng = np.random.default_rng(zlib.crc32(b"contract"))
    n = 400
    kva = rng.choice([315, 630, 1000, 2500], n) * KWH_SCALE
    contract = np.rint(kva * rng.uniform(0.2, 1.0, n) / 100) * 100
    kwh = np.rint(kva * rng.uniform(50, 400, n)).astype(np.int64)
    frame = pd.DataFrame(
        {c: np.zeros(n, np.int64) for c in DETERMINANT_COLUMNS}
        | {
            "kwh_total": kwh,
            "kwh_flat": kwh,
            "kvarh_total": kwh // 2,
            "max_demand_kw": np.rint(contract * rng.uniform(0.3, 1.6, n)).astype(np.int64),
            "contracted_kva": kva,
            "contract_demand_kw": contract.astype(np.int64),
            "days": np.full(n, 31),
        }
    )
    version = _v(CONTRACT)
    by_row = _priced_lines(version, frame)
    assert len(by_row) == n  # every row priced column-wise
    for i in range(n):
        expected = _rated_lines(version, frame.iloc[i])
        assert by_row[i] == expected, f"row {i}"
    described = {str(ln[0]) for lines in by_row.values() for ln in lines}
    assert any("× 40%" in d for d in described)  # floors, excess and the 526 price all met
    assert any("超过合同" in d for d in described)
    assert any("电价 × 90%" in d for d in described)


def test_an_account_without_contract_demand_is_held_with_the_reason() -> None:
    frame = pd.DataFrame(
        [
            _row(max_demand_kw=600 * KWH_SCALE, contract_demand_kw=500 * KWH_SCALE),
            _row(max_demand_kw=600 * KWH_SCALE, contract_demand_kw=-1),
        ]
    ).assign(tariff_code="IND-TWO-PART", estimated=False, kwh_export_total=-1)
    totals, lines = rate_frame(frame, {"IND-TWO-PART": CONTRACT_ONLY}, JULY)
    assert totals[0] == 2_565_000 and totals[1] == 0
    refused = lines[lines["kind"] == RATING_ERROR]
    assert refused["bill"].tolist() == [1] and refused["seq"].tolist() == [0]
    assert "contract_demand_kw" in refused["description"].iloc[0]
    assert set(lines.loc[lines["kind"] != RATING_ERROR, "bill"]) == {0}


# --------------------------------------------------------------------------- the other inputs


def test_a_ratchet_bills_80_percent_of_the_highest_earlier_demand() -> None:
    """January 900 kW, the July before 1000 kW (out of 11 months), actual 600 → 720 kW."""
    peaks = pd.DataFrame(
        {
            "account_id": [1, 1, 1],
            "period_end": [date(2025, 7, 31), date(2026, 1, 31), date(2026, 1, 31)],
            "max_demand_kw": [Decimal(1000), Decimal(900), Decimal(850)],
        }
    )
    histories = demand_histories(peaks, pd.Series([1, 2]))
    assert histories[0] == DemandHistory(
        {date(2025, 7, 1): Decimal(1000), date(2026, 1, 1): Decimal(900)}
    )
    assert histories[1] == DemandHistory({})
    ratchet = _industrial(
        """      - kind: demand
        basis: max_demand_kw
        price: "38"
        ratchet: {percent: "80", months: 11}
"""
    )
    july_2026 = month_period(2026, 7)
    frame = pd.DataFrame(
        [_row(max_demand_kw=600 * KWH_SCALE), _row(max_demand_kw=600 * KWH_SCALE)]
    ).assign(
        tariff_code="IND-TWO-PART",
        estimated=False,
        kwh_export_total=-1,
        demand_history=histories.to_numpy(),
    )
    _, lines = rate_frame(frame, {"IND-TWO-PART": ratchet}, july_2026)
    demand = lines[lines["description"].str.startswith("基本电费")]
    assert demand["quantity"].tolist() == [720.0, 600.0]
    assert demand["amount_minor"].tolist() == [2_736_000, 2_280_000]  # 27,360.00 / 22,800.00


def test_a_five_person_household_gets_the_widened_tier() -> None:
    """450 kWh: base 200 × 0.5883 + 200 × 0.6383 + 50 × 0.8883 = 289.74; 5 persons (one
    raise of 100 kWh) 300 × 0.5883 + 150 × 0.6383 = 272.24; size 0 (none on file) = base."""
    frame = pd.DataFrame([_row(kwh_total=450 * KWH_SCALE, kwh_export_total=0)] * 3).assign(
        tariff_code="RES-TIER-ZJ", estimated=False, household_persons=[3, 5, 0]
    )
    totals, lines = rate_frame(frame, {"RES-TIER-ZJ": HOUSEHOLD_NET}, JULY)
    assert totals.tolist() == [28_974, 27_224, 28_974]
    assert lines.loc[lines["bill"] == 1, "description"].iloc[0] == "电度电费 第1档 (≤300 kWh/月)"


def test_carried_export_lowers_the_next_bill_and_the_excess_carries_on() -> None:
    """July: 100 kWh in, 160 out → nothing billed, 60 kWh carried. August: 300 in, 120 out,
    60 carried in → 120 kWh billed (70.60); the same month without the credit bills 180."""
    version = _v(HOUSEHOLD_NET)
    july = pd.DataFrame([_row(kwh_total=100 * KWH_SCALE, kwh_export_total=160 * KWH_SCALE)])
    assert carried_export(version, july).tolist() == [60 * KWH_SCALE]
    august = pd.DataFrame(
        [_row(kwh_total=300 * KWH_SCALE, kwh_export_total=120 * KWH_SCALE)] * 2
    ).assign(
        tariff_code="RES-TIER-ZJ",
        estimated=False,
        carried_export_in=[60 * KWH_SCALE, 0],
    )
    totals, _ = rate_frame(august, {"RES-TIER-ZJ": HOUSEHOLD_NET}, month_period(2026, 8))
    assert totals.tolist() == [7_060, 10_589]  # 120 × 0.5883; 180 × 0.5883 = 105.894
    assert carried_export(version, august).tolist() == [0, 0]
    det = Determinants(
        JULY.period_start, JULY.period_end, kwh_total=Decimal(100), kwh_export_total=Decimal(160)
    )
    assert rate(version, det, TierContext()).carried_export_kwh == Decimal(60)


def test_only_tariffs_with_the_rules_read_account_terms() -> None:
    catalogue = load_catalogue()
    used = {code: terms_used(doc.version_on(JULY.period_start)) for code, doc in catalogue.items()}
    assert {code: terms for code, terms in used.items() if terms} == {
        "IND-TWO-PART-CD": {"contract_demand"}
    }
    assert terms_used(_v(CONTRACT)) == {"contract_demand"}
    assert terms_used(_v(RATCHET_COM)) == {"demand_history"}
    assert terms_used(_v(HOUSEHOLD_NET)) == {"household", "export_credit"}


# --------------------------------------------------------------------------- the bill run


TARIFFS = load_catalogue() | {
    "IND-TWO-PART": CONTRACT_ONLY,
    "COM-TOU": RATCHET_COM,
    "RES-TIER-ZJ": HOUSEHOLD_NET,
}


def _fen(yuan: Decimal) -> int:
    return to_minor(yuan.quantize(Decimal("0.01"), ROUND_HALF_UP))


def _accounts(session: Session, tariff: str) -> list[int]:
    stmt = select(Account.id).where(Account.tariff_code == tariff).order_by(Account.id)
    return list(session.scalars(stmt))


def _bill(session: Session, account_id: int, period: MonthPeriod) -> Bill:
    return session.scalars(
        select(Bill).where(
            Bill.account_id == account_id,
            Bill.period_start == period.period_start,
            Bill.status != "cancelled",
        )
    ).one()


def _lines(session: Session, bill: Bill) -> list[BillLine]:
    stmt = select(BillLine).where(BillLine.bill_id == bill.id).order_by(BillLine.seq)
    return list(session.scalars(stmt))


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """120 accounts with July and August 2026 collected and validated, nothing billed."""
    home: Path = tmp_path_factory.mktemp("terms")
    with simulated_workspace(
        home, UtilitySpec(seed=11, accounts=120, start=date(2026, 6, 30), days=64)
    ) as ws:
        yield ws


def test_the_bill_run_feeds_each_rule_its_account_inputs(collected: Workspace) -> None:
    ws = collected
    july, august = JULY, month_period(2026, 8)
    with unit_of_work(ws.records) as session:
        industrial = _accounts(session, "IND-TWO-PART")
        residential = _accounts(session, "RES-TIER-ZJ")
        assert len(industrial) >= 3 and len(residential) >= 20
        no_contract, low, high = industrial[:3]
        for account_id, kw in ((low, Decimal(1)), (high, Decimal(90000))):
            session.execute(
                update(ServicePoint)
                .where(ServicePoint.account_id == account_id)
                .values(contract_demand_kw=kw)
            )
        for account_id in industrial[3:]:
            session.execute(
                update(ServicePoint)
                .where(ServicePoint.account_id == account_id)
                .values(contract_demand_kw=Decimal(50))
            )
        large, unknown = residential[::2], residential[1]
        session.execute(update(Account).where(Account.id.in_(large)).values(household_size=5))
        session.execute(update(Account).where(Account.id == unknown).values(household_size=0))

    report = run.bill_month(ws.records, ws.clock, ws.batch, TARIFFS, july)
    assert report.billed == report.accounts - report.unbillable
    with unit_of_work(ws.records) as session:
        # A broken account is held for review with the reason; the others bill.
        held = _bill(session, no_contract, july)
        assert held.status == "in_review" and held.total_minor == 0
        assert held.review_reasons.startswith("rating_error: the tariff bills demand by")
        assert not _lines(session, held)
        assert count_by_rule([held.review_reasons])["rating_error"] == 1
        billed = session.scalars(select(Bill).where(Bill.total_minor > 0)).all()
        assert len(billed) > 100

        # Contract 1 kW: 1.05 kW at 38, the rest of the actual maximum demand at 76.
        bill = _bill(session, low, july)
        demand = [ln for ln in _lines(session, bill) if ln.kind == "demand"]
        assert [ln.description for ln in demand] == [
            "基本电费 (合同最大需量; 105% 以内)",
            f"基本电费 (实际 {Decimal(bill.max_demand_kw).normalize():f} kW 超过合同 105% 部分)",
        ]
        assert demand[0].amount_minor == 3990  # 1.05 × 38 = 39.90
        excess = Decimal(bill.max_demand_kw) - Decimal("1.05")
        assert demand[1].quantity == excess
        assert demand[1].amount_minor == _fen(excess * 76)
        # Contract 90,000 kW, never reached: the contract demand is billed.
        (line,) = [ln for ln in _lines(session, _bill(session, high, july)) if ln.kind == "demand"]
        assert (line.description, line.quantity, line.amount_minor) == (
            "基本电费 (合同最大需量)",
            Decimal(90000),
            342_000_000,
        )

        # Households of 5 get the first tier widened to 300 kWh; size 0 means none on file.
        july_bills = session.scalars(
            select(Bill).where(
                Bill.account_id.in_(residential), Bill.period_start == july.period_start
            )
        )
        first_tiers = {
            bill.account_id: next((ln.description for ln in _lines(session, bill)), None)
            for bill in july_bills
        }
        sizes = dict(session.execute(select(Account.id, Account.household_size)).tuples().all())
        tiered = {a: text for a, text in first_tiers.items() if text}
        assert all(("≤300" in text) == (sizes[a] >= 5) for a, text in tiered.items())
        assert any(sizes[a] >= 5 for a in tiered) and any(sizes[a] < 5 for a in tiered)
        assert "≤200" in tiered.get(unknown, "≤200")

        # Net-metering bills store their carry (0 here: these meters export nothing); the
        # other tariffs carry none.
        carry = dict(
            session.execute(
                select(Account.tariff_code, Bill.carried_export_kwh).join(
                    Account, Account.id == Bill.account_id
                )
            ).all()
        )
        assert carry["RES-TIER-ZJ"] == 0 and carry["COM-TOU"] is None

        # Before August: July's credit for one household as if it had exported 40 kWh, and
        # one shop's July bill rejected (its peak must not ratchet August).
        credited = residential[2]
        _bill(session, credited, july).carried_export_kwh = Decimal(40)
        shops = _accounts(session, "COM-TOU")
        rejected = shops[0]
        _bill(session, rejected, july).status = "cancelled"
        july_peak = {a: Decimal(_bill(session, a, july).max_demand_kw) for a in shops[1:]}

    run.bill_month(ws.records, ws.clock, ws.batch, TARIFFS, august)
    with unit_of_work(ws.records) as session:
        # The ratchet bills at least 80 % of July's peak from July's live bill.
        for account_id, peak in july_peak.items():
            bill = _bill(session, account_id, august)
            (line,) = [ln for ln in _lines(session, bill) if ln.kind == "demand"]
            billed = max(Decimal(bill.max_demand_kw), peak * Decimal("0.8"))
            assert line.quantity == billed.quantize(Decimal("0.0001"))  # stored to 4 dp
            assert line.amount_minor == _fen(billed * 20)
        (line,) = [
            ln for ln in _lines(session, _bill(session, rejected, august)) if ln.kind == "demand"
        ]
        assert line.description == "基本电费 (最大需量)"
        # The 40 kWh credit comes off August's energy, and is used up.
        bill = _bill(session, credited, august)
        energy = sum(ln.quantity for ln in _lines(session, bill) if ln.kind == "energy_tiered")
        assert energy == max(Decimal(bill.kwh) - 40, Decimal(0))
        assert bill.carried_export_kwh == max(Decimal(40) - Decimal(bill.kwh), Decimal(0))


def test_the_asset_loader_keeps_a_declared_contract_demand(tmp_path: Path) -> None:
    """A utility's service-point export may declare 合同最大需量; empty means none on file."""
    sim = build_utility(UtilitySpec(seed=3, accounts=40, start=date(2026, 7, 1), days=2))
    points = sim.service_points.copy()
    declared = points["contracted_kva"].notna()
    points["contract_demand_kw"] = np.where(declared, points["contracted_kva"] * 0.6, np.nan)
    frames = AssetFrames(
        zones=sim.zones,
        transformer_areas=sim.transformer_areas,
        concentrators=sim.concentrators,
        routes=sim.routes,
        customers=sim.customers,
        accounts=sim.accounts,
        service_points=points,
        meters=sim.meters,
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'records.sqlite'}")
    upgrade(engine)
    with unit_of_work(engine) as session:
        load_assets(session, frames)
        stored = dict(
            session.execute(select(ServicePoint.code, ServicePoint.contract_demand_kw)).all()
        )
    engine.dispose()
    expected = points.set_index("code")["contract_demand_kw"]
    assert {c for c, kw in stored.items() if kw is not None} == set(
        expected[declared.to_numpy()].index
    )
    assert all(
        stored[c] == Decimal(str(kw)).quantize(Decimal("0.01"))
        for c, kw in expected[declared.to_numpy()].items()
    )


def test_the_input_queries_read_live_bills_only(records: Engine) -> None:
    """One query per input (SQLite and PostgreSQL): the latest live bill's credit, the live
    bills' peaks, the service point's contract demand, the household size."""
    with unit_of_work(records) as session:
        account = create_account(session, "A001")
        other = create_account(session, "A002")
        june = create_bill(session, account, 1000, date(2026, 6, 30))
        june.max_demand_kw, june.carried_export_kwh = Decimal("80.5"), Decimal("12.5")
        may = create_bill(session, account, 1000, date(2026, 5, 31))
        may.max_demand_kw, may.carried_export_kwh = Decimal("95"), Decimal(3)
        rejected = create_bill(session, other, 1000, date(2026, 6, 30), status="cancelled")
        rejected.max_demand_kw, rejected.carried_export_kwh = Decimal(500), Decimal(9)
        session.add(
            ServicePoint(
                code="SP1",
                account_id=account.id,
                transformer_area_id=_area(session),
                role="customer",
                contract_demand_kw=Decimal(400),
            )
        )
        session.flush()
        codes = ["RES-TIER-ZJ"]
        assert repository.carried_exports(session, codes, JULY.period_start) == {
            account.id: Decimal("12.5")
        }
        peaks = repository.demand_peaks(session, codes, date(2025, 8, 1), JULY.period_start)
        assert sorted(zip(peaks["account_id"], peaks["max_demand_kw"], strict=True)) == [
            (account.id, Decimal("80.5")),
            (account.id, Decimal(95)),
        ]
        assert repository.contract_demands(session, codes) == {account.id: Decimal(400)}
        assert repository.household_sizes(session, codes, [other.id]) == {other.id: 3}
        assert repository.carried_exports(session, ["COM-TOU"], JULY.period_start) == {}


def _area(session: Session) -> int:
    zone = session.scalars(select(Zone)).first()
    assert zone is not None
    area = TransformerArea(code="TA1", zone_id=zone.id, name="一号台区", capacity_kva=Decimal(400))
    session.add(area)
    session.flush()
    return area.id
