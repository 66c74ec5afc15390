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
from meter2cash.billing.issue import FUND_LINE_KIND
from meter2cash.billing.models import Bill, BillCycle, BillLine
from meter2cash.billing.true_up import FUNDS_TRUE_UP_TEXT, TRUE_UP_KIND, trued_bill_no
from meter2cash.core.errors import InputError
from meter2cash.core.money import from_minor
from meter2cash.core.timezones import local_day_bounds, local_midnight
from meter2cash.measurements.schema import DEMAND_REGISTER, ENERGY_REGISTERS, REACTIVE_REGISTER
from meter2cash.measurements.store import MeasurementStore
from meter2cash.tariffs.models import Tariff, TariffVersion

HISTORY_PERIODS: Final = 13
"""Billed periods in the usage history: this one and the twelve before it."""
VEE_SOURCE_PREFIX: Final = "vee:"
RECORDED: Final = "recorded"
"""Quality of a read taken from the installation record (旧表止码 / 新表起码), not the store."""
PF_LINE_KIND: Final = "pf_adjustment"
CHANNEL_UNITS: Final = {REACTIVE_REGISTER: "kvarh", DEMAND_REGISTER: "kW"}
"""Units of the register channels not in kWh."""


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

    ``read_at`` is local to the utility; ``value`` [kWh; kvarh for R+, kW for MD+] is the
    register before the multiplier; ``quality`` is ``raw``, ``valid``, ``estimated`` or
    ``edited``; ``method`` names the VEE method of an estimate (from the version's
    ``vee:<method>`` source).
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
    """Opening and closing reads of one register channel; ``kwh`` = advance × multiplier
    [kWh; kvarh for R+]. For the maximum-demand register (MD+) there is no opening: the
    closing read is the largest freeze of the stretch and ``kwh`` that × multiplier [kW]."""

    channel: str
    opening: MeterRead | None
    closing: MeterRead | None
    kwh: Decimal | None

    @property
    def unit(self) -> str:
        return CHANNEL_UNITS.get(self.channel, "kWh")


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
class InstallationReads:
    """One installation's stretch of the period (a meter exchange or CT/PT change makes
    two): the meter with its CT × PT, the local days it covers, and per channel the read it
    opened at (the period's first freeze, or the read recorded at installation) and closed
    at (the freeze after its last day, or the final read recorded at removal) — with the R+
    and MD+ reads when the bill's reactive energy and demand came from them."""

    meter: MeterInfo
    first_day: date
    last_day: date
    reads: tuple[ChannelReads, ...]


@dataclass(frozen=True, slots=True)
class TrueUp:
    """An earlier estimated bill trued up on this one: its number, the kWh the actual reads
    add to it (negative: take off) and the amount [yuan], charges and funds."""

    bill_no: str
    kwh_difference: Decimal
    amount: Decimal


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
    installations: tuple[InstallationReads, ...]
    history: tuple[UsagePeriod, ...]

    @property
    def days(self) -> int:
        return (self.period_end - self.period_start).days + 1

    @property
    def reads(self) -> tuple[ChannelReads, ...]:
        """The reads of the meter in force at the period's end."""
        return self.installations[-1].reads if self.installations else ()

    @property
    def energy_from_curve(self) -> bool:
        """The meter records a load curve and the billed kWh is not its register advance
        (summed over the installations)."""
        if self.meter is None or not self.meter.records_intervals:
            return False
        advances = [c.kwh for i in self.installations for c in i.reads if c.channel == "A+"]
        if not advances or any(kwh is None for kwh in advances):
            return True
        return sum(kwh for kwh in advances if kwh is not None) != self.kwh

    @property
    def estimated_reads(self) -> bool:
        return any(
            r is not None and r.estimated
            for i in self.installations
            for c in i.reads
            for r in (c.opening, c.closing)
        )

    @property
    def true_ups(self) -> tuple[TrueUp, ...]:
        """The estimated bills this bill trues up (its ``true_up`` lines, with their funds)."""
        funds = {
            trued_bill_no(line.description): line.amount
            for line in self.lines
            if line.kind == FUND_LINE_KIND and line.description.startswith(FUNDS_TRUE_UP_TEXT)
        }
        return tuple(
            TrueUp(
                no := trued_bill_no(line.description),
                line.quantity,
                line.amount + funds.get(no, Decimal(0)),
            )
            for line in self.lines
            if line.kind == TRUE_UP_KIND
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
    installed = _installations(session, bill, tz)
    place = _place(session, installed[-1][1]) if installed else (None, None, None)
    meter = installed[-1][0].meter if installed else None
    lines = _lines(session, [bill.id])[bill.id]
    stand_ins = _register_stand_ins(bill, lines, [stretch for stretch, _ in installed])
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
        lines=lines,
        total=from_minor(bill.total_minor),
        installations=tuple(_installation_reads(store, i, stand_ins) for i, _ in installed),
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


@dataclass(frozen=True, slots=True)
class _Stretch:
    """An installation clipped to the bill's days: ``opens_at`` / ``closes_at`` are the
    change instants when it began or ended inside them (``None``: the period's freeze)."""

    meter: MeterInfo
    first_day: date
    last_day: date
    opens_at: datetime | None
    closes_at: datetime | None
    initial_read: Decimal
    final_read: Decimal | None


def _installations(session: Session, bill: Bill, tz: ZoneInfo) -> list[tuple[_Stretch, int]]:
    """The account's installations overlapping the bill's period, oldest first, each with
    its service point id."""
    start, end = local_day_bounds(bill.period_start, bill.period_end, tz)
    rows = session.execute(
        select(
            Meter.meter_no,
            MeterInstallation.ct_ratio,
            MeterInstallation.pt_ratio,
            MeterInstallation.multiplier,
            Meter.records_intervals,
            MeterInstallation.installed_at,
            MeterInstallation.removed_at,
            MeterInstallation.initial_read_kwh,
            MeterInstallation.final_read_kwh,
            ServicePoint.id,
        )
        .join(MeterInstallation, MeterInstallation.meter_id == Meter.id)
        .join(ServicePoint, ServicePoint.id == MeterInstallation.service_point_id)
        .where(
            ServicePoint.account_id == bill.account_id,
            MeterInstallation.installed_at < end,
            or_(MeterInstallation.removed_at.is_(None), MeterInstallation.removed_at > start),
        )
        .order_by(MeterInstallation.installed_at)
    ).tuples()
    found = []
    for no, ct, pt, multiplier, curve, installed, removed, initial, final, point in rows:
        opens_at = installed if installed > start else None
        closes_at = removed if removed is not None and removed < end else None
        found.append(
            (
                _Stretch(
                    MeterInfo(no, ct, pt, multiplier, curve),
                    installed.astimezone(tz).date() if opens_at else bill.period_start,
                    closes_at.astimezone(tz).date() if closes_at else bill.period_end,
                    opens_at,
                    closes_at,
                    Decimal(initial),
                    None if final is None else Decimal(final),
                ),
                point,
            )
        )
    return found


def _place(session: Session, service_point_id: int) -> tuple[str, str, str]:
    """Service point code, transformer area name and zone name."""
    code, area, zone = session.execute(
        select(ServicePoint.code, TransformerArea.name, Zone.name)
        .join(TransformerArea, TransformerArea.id == ServicePoint.transformer_area_id)
        .join(Zone, Zone.id == TransformerArea.zone_id)
        .where(ServicePoint.id == service_point_id)
    ).one()
    return code, area, zone


def _register_stand_ins(
    bill: Bill, lines: Sequence[ChargeLine], stretches: Sequence[_Stretch]
) -> tuple[str, ...]:
    """The R+ / MD+ channels the bill was rated on: none when the energy came from a
    complete curve (a curve meter's bill that is not estimated — the curve gave reactive
    energy and demand too); else R+ when the bill adjusts for power factor and MD+ when it
    carries a maximum demand (as :func:`~.determinant_frame.determinant_frame` reads them)."""
    if not bill.estimated and any(s.meter.records_intervals for s in stretches):
        return ()
    return (
        *((REACTIVE_REGISTER,) if any(ln.kind == PF_LINE_KIND for ln in lines) else ()),
        *((DEMAND_REGISTER,) if bill.max_demand_kw is not None else ()),
    )


def _installation_reads(
    store: MeasurementStore, stretch: _Stretch, stand_ins: Sequence[str] = ()
) -> InstallationReads:
    """The reads a register bill uses for one installation (see
    :func:`~.determinant_frame.installation_segments`): the freeze opening its first day or,
    installed inside the period, the A+ read recorded at installation and the meter's first
    read of the other channels after it; the freeze after its last day or, removed inside
    the period, the final A+ read recorded at removal (else the meter's last read before)
    and the last read of the other channels before it — reads at a change are looked for
    between the stretch's own instants. ``stand_ins``: R+ is shown like an energy register,
    MD+ as its largest freeze of the stretch (:func:`_largest_demand`)."""
    meter = stretch.meter
    if stretch.opens_at is None:
        opening = _freezes(store, meter.meter_no, stretch.first_day)
    else:
        opening = _reads_near(
            store, meter.meter_no, stretch.opens_at, after=True, bound=stretch.closes_at
        )
        opening["A+"] = MeterRead(
            stretch.opens_at.astimezone(store.tz), stretch.initial_read, RECORDED, None
        )
    if stretch.closes_at is None:
        closing = _freezes(store, meter.meter_no, stretch.last_day + timedelta(days=1))
    else:
        closing = _reads_near(
            store, meter.meter_no, stretch.closes_at, after=False, bound=stretch.opens_at
        )
        if stretch.final_read is not None:
            closing["A+"] = MeterRead(
                stretch.closes_at.astimezone(store.tz), stretch.final_read, RECORDED, None
            )
    energy = (*ENERGY_REGISTERS, *(c for c in stand_ins if c == REACTIVE_REGISTER))
    reads = []
    for channel in energy:
        start, end = opening.get(channel), closing.get(channel)
        if start is None and end is None:
            continue
        kwh = None if start is None or end is None else (end.value - start.value) * meter.multiplier
        reads.append(ChannelReads(channel, start, end, kwh))
    if DEMAND_REGISTER in stand_ins and (peak := _largest_demand(store, stretch)) is not None:
        reads.append(ChannelReads(DEMAND_REGISTER, None, peak, peak.value * meter.multiplier))
    return InstallationReads(meter, stretch.first_day, stretch.last_day, tuple(reads))


def _largest_demand(store: MeasurementStore, stretch: _Stretch) -> MeterRead | None:
    """The largest MD+ freeze [kW, meter value] of the stretch — stamped the day after its
    first … the day after its last, after its opening change and at or before its closing
    one (:func:`~.determinants.demand_register_determinants`); the latest of equals."""
    tz = store.tz
    rows = store.scan(
        "register_reads",
        start=local_midnight(stretch.first_day + timedelta(days=1), tz),
        end=local_midnight(stretch.last_day + timedelta(days=2), tz),
        meters=[stretch.meter.meter_no],
    ).to_pylist()
    days: dict[date, dict[str, object]] = {}
    for row in sorted(rows, key=lambda r: r["ts"]):
        at = row["ts"]
        assert isinstance(at, datetime)
        if (
            row["channel"] != DEMAND_REGISTER
            or row["read_type"] != "daily_frozen"
            or (stretch.opens_at is not None and at <= stretch.opens_at)
            or (stretch.closes_at is not None and at > stretch.closes_at)
        ):
            continue
        days.setdefault(at.astimezone(tz).date(), row)
    if not days:
        return None
    peak = max(reversed(days.values()), key=lambda r: Decimal(str(r["value"])))
    return _read_of(peak, tz)


def _read_of(row: dict[str, object], tz: ZoneInfo) -> MeterRead:
    source = str(row["source"])
    read_at = row["ts"]
    assert isinstance(read_at, datetime)
    return MeterRead(
        read_at=read_at.astimezone(tz),
        value=Decimal(str(row["value"])),
        quality=str(row["quality"]),
        method=source.removeprefix(VEE_SOURCE_PREFIX)
        if source.startswith(VEE_SOURCE_PREFIX)
        else None,
    )


def _reads_near(
    store: MeasurementStore,
    meter_no: str,
    at: datetime,
    *,
    after: bool,
    bound: datetime | None = None,
) -> dict[str, MeterRead]:
    """Per channel, the meter's first read at or after ``at`` (``after``) or its last read
    at or before it, within a day and not past ``bound`` (the stretch's other change)."""
    span = timedelta(days=1)
    start, end = (at, at + span) if after else (at - span, at + timedelta(microseconds=1))
    if bound is not None:
        if after:
            end = min(end, bound + timedelta(microseconds=1))
        else:
            start = max(start, bound)
    rows = store.scan("register_reads", start=start, end=end, meters=[meter_no]).to_pylist()
    found: dict[str, MeterRead] = {}
    for row in sorted(rows, key=lambda r: r["ts"], reverse=not after):
        found.setdefault(str(row["channel"]), _read_of(row, store.tz))
    return found


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
        found[row["channel"]] = _read_of(row, tz)
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
