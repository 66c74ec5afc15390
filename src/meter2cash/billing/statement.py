"""What a bill document shows, gathered once from the records database and the measurement
store: the bill and its lines, who and where it is for, the register reads it used and the
account's usage history. Rendering (PDF, CSV, JSON) lives in :mod:`.documents`.

The queries here serve documents only; they read bills, assets and tariffs but never write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import (
    Account,
    Customer,
    Meter,
    MeterInstallation,
    ServicePoint,
    TransformerArea,
    Utility,
    Zone,
)
from meter2cash.billing import repository
from meter2cash.billing.cycles import month_period
from meter2cash.billing.determinants import REGISTER_CHANNELS
from meter2cash.billing.models import Bill, BillCycle, BillLine
from meter2cash.core.errors import InputError
from meter2cash.core.money import from_minor
from meter2cash.core.timezones import local_day_bounds, local_midnight
from meter2cash.measurements.store import MeasurementStore
from meter2cash.tariffs.models import Tariff, TariffVersion

HISTORY_PERIODS: Final = 13
"""Billed periods in the usage history: this one and the twelve before it."""
VEE_SOURCE_PREFIX: Final = "vee:"


@dataclass(frozen=True, slots=True)
class ChargeLine:
    """One itemised charge: ``quantity`` [``unit``] × ``unit_price`` → ``amount`` [yuan]."""

    seq: int
    kind: str
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class MeterRead:
    """A daily-frozen register read as the store holds it now (its current version).

    ``read_at`` is local to the utility; ``value`` [kWh] is the register before the
    multiplier; ``quality`` is ``raw``, ``valid``, ``estimated`` or ``edited``; ``method``
    names the VEE method of an estimate (from the version's ``vee:<method>`` source).
    """

    read_at: datetime
    value: Decimal
    quality: str
    method: str | None

    @property
    def estimated(self) -> bool:
        return self.quality == "estimated"


@dataclass(frozen=True, slots=True)
class ChannelReads:
    """Opening and closing reads of one register channel; ``kwh`` = advance × multiplier."""

    channel: str
    opening: MeterRead | None
    closing: MeterRead | None
    kwh: Decimal | None


@dataclass(frozen=True, slots=True)
class UsagePeriod:
    """kWh of one billed period of the account; ``current`` marks the documented bill."""

    period_start: date
    period_end: date
    kwh: Decimal
    current: bool


@dataclass(frozen=True, slots=True)
class MeterInfo:
    """The meter installed at the service point at the period's end."""

    meter_no: str
    ct_ratio: int
    pt_ratio: int
    multiplier: int
    records_intervals: bool


@dataclass(frozen=True, slots=True)
class BillDocument:
    """Everything a bill document shows; amounts in yuan, energy in kWh, demand in kW."""

    utility_name: str
    bill_no: str
    revision: int
    replaces_bill_no: str | None
    status: str
    estimated: bool
    customer_name: str
    customer_no: str
    account_no: str
    service_point: str | None
    transformer_area: str | None
    zone: str | None
    tariff: str
    meter: MeterInfo | None
    period_start: date
    period_end: date
    bill_date: date
    due_date: date
    currency: str
    kwh: Decimal
    max_demand_kw: Decimal | None
    lines: tuple[ChargeLine, ...]
    total: Decimal
    reads: tuple[ChannelReads, ...]
    history: tuple[UsagePeriod, ...]

    @property
    def days(self) -> int:
        return (self.period_end - self.period_start).days + 1

    @property
    def energy_from_curve(self) -> bool:
        """The meter records a load curve and the billed kWh is not its register advance."""
        if self.meter is None or not self.meter.records_intervals:
            return False
        advance = next((c.kwh for c in self.reads if c.channel == "A+"), None)
        return advance != self.kwh

    @property
    def estimated_reads(self) -> bool:
        return any(
            r is not None and r.estimated for c in self.reads for r in (c.opening, c.closing)
        )


@dataclass(frozen=True, slots=True)
class BillRecord:
    """A bill with its lines, as exported (CSV/JSON)."""

    bill_no: str
    account_no: str
    customer_name: str
    revision: int
    status: str
    period_start: date
    period_end: date
    bill_date: date
    due_date: date
    currency: str
    kwh: Decimal
    max_demand_kw: Decimal | None
    estimated: bool
    total: Decimal
    lines: tuple[ChargeLine, ...]


def bill_document(session: Session, store: MeasurementStore, bill_no: str) -> BillDocument:
    """Assemble the document of ``bill_no``; an unknown number is an :class:`InputError`."""
    bill = repository.bill_by_no(session, bill_no)
    if bill is None:
        raise InputError(
            f"no bill {bill_no!r}", "list bills with `m2c bill export --cycle YYYY-MM`"
        )
    account, customer = session.execute(
        select(Account, Customer)
        .join(Customer, Customer.id == Account.customer_id)
        .where(Account.id == bill.account_id)
    ).one()
    tz = store.tz
    installed = _installation(session, bill, tz)
    place = _place(session, installed[1]) if installed else (None, None, None)
    meter = installed[0] if installed else None
    return BillDocument(
        utility_name=_utility_name(session),
        bill_no=bill.bill_no,
        revision=bill.revision,
        replaces_bill_no=_bill_no_of(session, bill.replaces_bill_id),
        status=bill.status,
        estimated=bill.estimated,
        customer_name=customer.name,
        customer_no=customer.customer_no,
        account_no=account.account_no,
        service_point=place[0],
        transformer_area=place[1],
        zone=place[2],
        tariff=_tariff_text(session, bill.tariff_version_id),
        meter=meter,
        period_start=bill.period_start,
        period_end=bill.period_end,
        bill_date=bill.bill_date,
        due_date=bill.due_date,
        currency=bill.currency,
        kwh=Decimal(bill.kwh),
        max_demand_kw=None if bill.max_demand_kw is None else Decimal(bill.max_demand_kw),
        lines=_lines(session, [bill.id])[bill.id],
        total=from_minor(bill.total_minor),
        reads=_reads(store, meter, bill.period_start, bill.period_end) if meter else (),
        history=_history(session, bill),
    )


def cycle_bills(session: Session, month: str) -> list[BillRecord]:
    """Every bill (all revisions and statuses) of the cycles of ``month`` (``YYYY-MM``)."""
    period_start = _month_start(month)
    rows = session.execute(
        select(Bill, Account.account_no, Customer.name)
        .join(BillCycle, BillCycle.id == Bill.cycle_id)
        .join(Account, Account.id == Bill.account_id)
        .join(Customer, Customer.id == Account.customer_id)
        .where(BillCycle.period_start == period_start)
        .order_by(Bill.bill_no)
    ).tuples()
    bills = list(rows)
    lines = _lines(session, [b.id for b, _, _ in bills])
    return [
        BillRecord(
            bill_no=b.bill_no,
            account_no=account_no,
            customer_name=name,
            revision=b.revision,
            status=b.status,
            period_start=b.period_start,
            period_end=b.period_end,
            bill_date=b.bill_date,
            due_date=b.due_date,
            currency=b.currency,
            kwh=Decimal(b.kwh),
            max_demand_kw=None if b.max_demand_kw is None else Decimal(b.max_demand_kw),
            estimated=b.estimated,
            total=from_minor(b.total_minor),
            lines=lines[b.id],
        )
        for b, account_no, name in bills
    ]


def _month_start(month: str) -> date:
    try:
        year, number = (int(part) for part in month.split("-"))
        return month_period(year, number).period_start
    except ValueError as exc:
        raise InputError(f"cycle {month!r} is not a month (YYYY-MM)") from exc


def _utility_name(session: Session) -> str:
    name = session.scalar(select(Utility.name))
    if name is None:
        raise InputError("this data home holds no utility", "run `m2c simulate` or load assets")
    return name


def _bill_no_of(session: Session, bill_id: int | None) -> str | None:
    if bill_id is None:
        return None
    return session.scalar(select(Bill.bill_no).where(Bill.id == bill_id))


def _tariff_text(session: Session, version_id: int) -> str:
    name, code, version = session.execute(
        select(Tariff.name, Tariff.code, TariffVersion.version)
        .join(TariffVersion, TariffVersion.tariff_id == Tariff.id)
        .where(TariffVersion.id == version_id)
    ).one()
    return f"{name} ({code} v{version})"


def _lines(session: Session, bill_ids: Sequence[int]) -> dict[int, tuple[ChargeLine, ...]]:
    found: dict[int, list[ChargeLine]] = {b: [] for b in bill_ids}
    for start in range(0, len(bill_ids), 5000):
        chunk = bill_ids[start : start + 5000]
        stmt = select(BillLine).where(BillLine.bill_id.in_(chunk)).order_by(BillLine.seq)
        for line in session.scalars(stmt):
            found[line.bill_id].append(
                ChargeLine(
                    seq=line.seq,
                    kind=line.kind,
                    description=line.description,
                    quantity=Decimal(line.quantity),
                    unit=line.unit,
                    unit_price=Decimal(line.unit_price),
                    amount=from_minor(line.amount_minor),
                )
            )
    return {b: tuple(lines) for b, lines in found.items()}


def _installation(session: Session, bill: Bill, tz: ZoneInfo) -> tuple[MeterInfo, int] | None:
    """The account's meter in force at the period's end, and its service point id."""
    start, end = local_day_bounds(bill.period_start, bill.period_end, tz)
    row = session.execute(
        select(
            Meter.meter_no,
            MeterInstallation.ct_ratio,
            MeterInstallation.pt_ratio,
            MeterInstallation.multiplier,
            Meter.records_intervals,
            ServicePoint.id,
        )
        .join(MeterInstallation, MeterInstallation.meter_id == Meter.id)
        .join(ServicePoint, ServicePoint.id == MeterInstallation.service_point_id)
        .where(
            ServicePoint.account_id == bill.account_id,
            MeterInstallation.installed_at < end,
            or_(MeterInstallation.removed_at.is_(None), MeterInstallation.removed_at > start),
        )
        .order_by(MeterInstallation.installed_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    meter_no, ct, pt, multiplier, intervals, service_point_id = row
    return MeterInfo(meter_no, ct, pt, multiplier, intervals), service_point_id


def _place(session: Session, service_point_id: int) -> tuple[str, str, str]:
    """Service point code, transformer area name and zone name."""
    code, area, zone = session.execute(
        select(ServicePoint.code, TransformerArea.name, Zone.name)
        .join(TransformerArea, TransformerArea.id == ServicePoint.transformer_area_id)
        .join(Zone, Zone.id == TransformerArea.zone_id)
        .where(ServicePoint.id == service_point_id)
    ).one()
    return code, area, zone


def _reads(
    store: MeasurementStore, meter: MeterInfo, first: date, last: date
) -> tuple[ChannelReads, ...]:
    """The freezes a register bill uses: the one opening ``first`` and the one opening the
    day after ``last`` (see :func:`~.determinants.register_determinants`)."""
    opening = _freezes(store, meter.meter_no, first)
    closing = _freezes(store, meter.meter_no, last + timedelta(days=1))
    reads = []
    for channel in REGISTER_CHANNELS:
        start, end = opening.get(channel), closing.get(channel)
        if start is None and end is None:
            continue
        kwh = None if start is None or end is None else (end.value - start.value) * meter.multiplier
        reads.append(ChannelReads(channel, start, end, kwh))
    return tuple(reads)


def _freezes(store: MeasurementStore, meter_no: str, day: date) -> dict[str, MeterRead]:
    """The earliest daily-frozen read of each channel on local ``day``."""
    tz = store.tz
    rows = store.scan(
        "register_reads",
        start=local_midnight(day, tz),
        end=local_midnight(day + timedelta(days=1), tz),
        meters=[meter_no],
    ).to_pylist()
    found: dict[str, MeterRead] = {}
    for row in sorted(rows, key=lambda r: r["ts"]):
        if row["read_type"] != "daily_frozen" or row["channel"] in found:
            continue
        source = str(row["source"])
        found[row["channel"]] = MeterRead(
            read_at=row["ts"].astimezone(tz),
            value=Decimal(row["value"]),
            quality=row["quality"],
            method=source.removeprefix(VEE_SOURCE_PREFIX)
            if source.startswith(VEE_SOURCE_PREFIX)
            else None,
        )
    return found


def _history(session: Session, bill: Bill) -> tuple[UsagePeriod, ...]:
    """This bill and the account's live bills of the twelve periods before it."""
    earlier = session.execute(
        select(Bill.period_start, Bill.period_end, Bill.kwh)
        .where(
            Bill.account_id == bill.account_id,
            Bill.period_start < bill.period_start,
            Bill.status != "cancelled",
        )
        .order_by(Bill.period_start.desc())
        .limit(HISTORY_PERIODS - 1)
    ).tuples()
    periods = [UsagePeriod(s, e, Decimal(k), False) for s, e, k in earlier]
    periods.reverse()
    periods.append(UsagePeriod(bill.period_start, bill.period_end, Decimal(bill.kwh), True))
    return tuple(periods)
