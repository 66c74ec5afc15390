"""The evidence pack (催费证据): what a collector shows a customer who is being dunned.

- the unpaid bills, each with the register reads it was computed from — estimated bills and
  estimated reads flagged, with the VEE method;
- the meter's events over the unpaid periods (power down, cover or terminal box opened,
  magnetic tampering, reverse energy, clock drift);
- the statement of account: bills, payments, reversals and credit with the running balance;
- the dunning steps already taken (with the relay command and where it stands) and every
  message sent, with its delivery.

:func:`evidence_pack` gathers it (records database and measurement store, read only);
:func:`render_evidence` prints it as an A4 PDF in Chinese with English labels.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, HRFlowable, Spacer, Table, TableStyle
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
from meter2cash.billing.documents import format_amount, format_quantity
from meter2cash.billing.models import Bill
from meter2cash.billing.statement import BillDocument, MeterRead, bill_document
from meter2cash.collections.models import DunningState, DunningStep, OutboxMessage
from meter2cash.collections.notices import PURPOSE
from meter2cash.core.errors import InputError
from meter2cash.core.money import from_minor
from meter2cash.core.pdf import (
    ACCENT,
    BODY_WIDTH,
    WARN_SHADE,
    a4_document,
    footer,
    grid_style,
    para,
    right,
    section,
    tight,
)
from meter2cash.core.timezones import local_midnight
from meter2cash.headend.models import MeterCommand
from meter2cash.ledger.receivables import Statement, account_statement
from meter2cash.ledger.repository import open_items
from meter2cash.measurements.store import MeasurementStore

STATEMENT_DAYS: Final = 365
"""The statement of account reaches back a year [days], or to the oldest unpaid bill."""
EVENT_DAYS: Final = 90
"""Events are shown from the oldest unpaid period, or this many days back [days]."""
EVENT_NAMES: Final = {
    "power_down": "掉电 power down",
    "power_up": "上电 power up",
    "cover_open": "开表盖 cover opened",
    "terminal_box_open": "开端钮盒 terminal box opened",
    "magnetic_tamper": "磁场干扰 magnetic tampering",
    "reverse_energy": "反向电量 reverse energy",
    "clock_drift": "时钟偏差 clock drift",
}
QUALITY_NAMES: Final = {
    "raw": "实抄 actual",
    "valid": "已校验 validated",
    "estimated": "估算 estimated",
    "edited": "人工修正 edited",
    "recorded": "换表记录 exchange record",
}
STATEMENT_KINDS: Final = {
    "bill": "账单 bill",
    "payment": "缴费 payment",
    "reversal": "冲正 reversal",
    "refund": "退款 refund",
    "credit": "预存抵扣 credit",
}
CHANNEL_NAMES: Final = {"sms": "短信 SMS", "email": "邮件 email", "letter": "信函 letter"}
STATUS_NAMES: Final = {
    "queued": "待发 queued",
    "sent": "已发 sent",
    "delivered": "已送达 delivered",
    "failed": "失败 failed",
}


@dataclass(frozen=True, slots=True)
class UnpaidBill:
    """An open bill [yuan] and the bill document it was issued as (reads, estimates)."""

    document: BillDocument
    open: Decimal
    days_past_due: int
    """Days since the due date [days]; negative: not yet due."""

    @property
    def estimated(self) -> bool:
        """The bill or any read it used was estimated."""
        return self.document.estimated or self.document.estimated_reads


@dataclass(frozen=True, slots=True)
class MeterEvent:
    """A meter event, local time."""

    at: datetime
    meter_no: str
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class StepTaken:
    """A dunning step already taken, and the relay command it raised."""

    taken_on: date
    step_name: str
    label: str
    actions: str
    overdue: Decimal
    command: str | None
    """``relay_trip confirmed`` and the like, or ``None``."""


@dataclass(frozen=True, slots=True)
class MessageSent:
    """A dunning message and its delivery."""

    created_at: datetime
    channel: str
    subject: str
    status: str
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class EvidencePack:
    """Everything the pack shows for one account as of ``as_of``; amounts in yuan."""

    utility_name: str
    account_no: str
    customer_name: str
    customer_class: str
    exemption: str
    address: str
    meters: tuple[str, ...]
    as_of: date
    step: str
    """The dunning step the account stands at ("" = none)."""
    bills: tuple[UnpaidBill, ...]
    events: tuple[MeterEvent, ...]
    statement: Statement
    statement_from: date
    steps: tuple[StepTaken, ...]
    messages: tuple[MessageSent, ...]

    @property
    def overdue(self) -> Decimal:
        return sum((b.open for b in self.bills if b.days_past_due > 0), Decimal(0))

    @property
    def owed(self) -> Decimal:
        return sum((b.open for b in self.bills), Decimal(0))


def evidence_pack(
    session: Session,
    store: MeasurementStore,
    account_no: str,
    on: date,
    labels: Mapping[str, str] | None = None,
) -> EvidencePack:
    """Gather the pack of ``account_no`` as of ``on``; ``labels`` name the dunning steps
    (step name → label, e.g. from the policy). An unknown account is an
    :class:`InputError`."""
    row = session.execute(
        select(Account.id, Customer.name, Customer.customer_class, Account.dunning_exemption)
        .join(Customer, Customer.id == Account.customer_id)
        .where(Account.account_no == account_no)
    ).one_or_none()
    if row is None:
        raise InputError(f"unknown account {account_no}", "give an account number (户号)")
    account_id, name, klass, exemption = row
    tz = store.tz
    items = open_items(session, booked_through=on, account_ids=[account_id])
    open_by_bill = {
        int(b): int(m) for b, m in zip(items["bill_id"], items["open_minor"], strict=True)
    }
    numbers = session.execute(
        select(Bill.id, Bill.bill_no)
        .where(Bill.id.in_(list(open_by_bill)))
        .order_by(Bill.due_date, Bill.id)
    ).tuples()
    bills = []
    for bill_id, bill_no in numbers:
        document = bill_document(session, store, bill_no)
        bills.append(
            UnpaidBill(document, from_minor(open_by_bill[bill_id]), (on - document.due_date).days)
        )
    first_period = min((b.document.period_start for b in bills), default=None)
    events_from = first_period or on - timedelta(days=EVENT_DAYS)
    meters = _meters(session, account_id, local_midnight(events_from, tz))
    events = store.scan(
        "events",
        start=local_midnight(events_from, tz),
        end=local_midnight(on + timedelta(days=1), tz),
        meters=list(meters),
    ).to_pylist()
    statement_from = min(on - timedelta(days=STATEMENT_DAYS), first_period or on)
    state = session.get(DunningState, account_id)
    return EvidencePack(
        utility_name=session.scalar(select(Utility.name)) or "",
        account_no=account_no,
        customer_name=name,
        customer_class=klass,
        exemption=exemption,
        address=_address(session, account_id),
        meters=meters,
        as_of=on,
        step=state.step_name if state is not None else "",
        bills=tuple(bills),
        events=tuple(
            MeterEvent(e["ts"].astimezone(tz), e["meter_no"], e["code"], e["detail"] or "")
            for e in events
        ),
        statement=account_statement(session, account_no, statement_from, on),
        statement_from=statement_from,
        steps=steps_taken(session, account_id, labels or {}),
        messages=messages_sent(session, account_id),
    )


@dataclass(frozen=True, slots=True)
class DunningHistory:
    """Where an account stands in dunning and how it got there."""

    account_no: str
    step: str
    """The step it stands at ("" = none)."""
    since: date | None
    disconnected: bool
    steps: tuple[StepTaken, ...]
    messages: tuple[MessageSent, ...]


def dunning_history(
    session: Session, account_no: str, labels: Mapping[str, str] | None = None
) -> DunningHistory:
    """The account's dunning state, steps and messages; an unknown account is an
    :class:`InputError`."""
    account_id = session.scalar(select(Account.id).where(Account.account_no == account_no))
    if account_id is None:
        raise InputError(f"unknown account {account_no}", "give an account number (户号)")
    state = session.get(DunningState, account_id)
    return DunningHistory(
        account_no,
        state.step_name if state is not None else "",
        state.since if state is not None else None,
        state.disconnected if state is not None else False,
        steps_taken(session, account_id, labels or {}),
        messages_sent(session, account_id),
    )


def _meters(session: Session, account_id: int, since: datetime) -> tuple[str, ...]:
    """Meters installed at the account's service points at any time since ``since``, in
    the order they were installed."""
    installed = session.scalars(
        select(Meter.meter_no)
        .join(MeterInstallation, MeterInstallation.meter_id == Meter.id)
        .join(ServicePoint, ServicePoint.id == MeterInstallation.service_point_id)
        .where(
            ServicePoint.account_id == account_id,
            or_(MeterInstallation.removed_at.is_(None), MeterInstallation.removed_at > since),
        )
        .order_by(MeterInstallation.installed_at)
    )
    return tuple(dict.fromkeys(installed))


def _address(session: Session, account_id: int) -> str:
    """Service point, transformer area and zone of the account (its first service point)."""
    row = session.execute(
        select(ServicePoint.code, TransformerArea.name, Zone.name)
        .join(TransformerArea, TransformerArea.id == ServicePoint.transformer_area_id)
        .join(Zone, Zone.id == TransformerArea.zone_id)
        .where(ServicePoint.account_id == account_id)
        .order_by(ServicePoint.id)
        .limit(1)
    ).one_or_none()
    return " / ".join(row) if row is not None else ""


def steps_taken(
    session: Session, account_id: int, labels: Mapping[str, str]
) -> tuple[StepTaken, ...]:
    """The account's dunning steps, oldest first, labelled by ``labels`` (name → label)."""
    rows = session.execute(
        select(DunningStep, MeterCommand.kind, MeterCommand.status)
        .outerjoin(MeterCommand, MeterCommand.id == DunningStep.command_id)
        .where(DunningStep.account_id == account_id)
        .order_by(DunningStep.taken_on, DunningStep.id)
    ).tuples()
    return tuple(
        StepTaken(
            step.taken_on,
            step.step_name,
            labels.get(step.step_name, step.step_name),
            step.actions,
            from_minor(step.overdue_minor),
            None if kind is None else f"{kind} {status}",
        )
        for step, kind, status in rows
    )


def messages_sent(session: Session, account_id: int) -> tuple[MessageSent, ...]:
    """The account's dunning messages, oldest first, with their delivery."""
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.account_id == account_id, OutboxMessage.purpose == PURPOSE)
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    )
    return tuple(
        MessageSent(m.created_at, m.channel, m.subject, m.status, m.delivered_at) for m in rows
    )


# ---------------------------------------------------------------------- the PDF


def render_evidence(pack: EvidencePack) -> bytes:
    """The pack as an A4 PDF: Chinese text with English labels."""
    out = io.BytesIO()
    template = a4_document(
        out,
        title=f"催费证据 Dunning evidence {pack.account_no}",
        author=pack.utility_name,
        subject=f"{pack.account_no} {pack.as_of.isoformat()}",
    )
    story: list[Flowable] = [
        para(pack.utility_name, "utility"),
        para("催费证据 Dunning evidence pack", "title"),
        HRFlowable(width="100%", thickness=1.5, color=ACCENT),
        Spacer(1, 3 * mm),
        _summary(pack),
        Spacer(1, 4 * mm),
        *_bills(pack),
        Spacer(1, 4 * mm),
        *_reads(pack),
        Spacer(1, 4 * mm),
        *_events(pack),
        Spacer(1, 4 * mm),
        *_statement(pack),
        Spacer(1, 4 * mm),
        *_notices(pack),
    ]
    foot = footer(
        lambda n: (
            f"{pack.utility_name} · {pack.account_no} · {pack.as_of.isoformat()} · "
            f"第 {n} 页 page {n}"
        )
    )
    template.build(story, onFirstPage=foot, onLaterPages=foot)
    return out.getvalue()


def _summary(pack: EvidencePack) -> Table:
    rows = [
        ("客户 Customer", f"{pack.customer_name}（{pack.customer_class}）"),
        ("户号 Account no.", pack.account_no),
        ("用电地址 Service point", pack.address or "—"),
        ("电能表 Meters", ", ".join(pack.meters) or "—"),
        ("截至 As of", pack.as_of.isoformat()),
        ("欠费合计 Owed (yuan)", format_amount(pack.owed)),
        ("其中逾期 Overdue (yuan)", format_amount(pack.overdue)),
        ("催费阶段 Dunning step", pack.step or "—"),
    ]
    if pack.exemption:
        rows.append(("豁免 Exemption", pack.exemption))
    return Table(
        [[para(k, "label"), para(v)] for k, v in rows],
        colWidths=[45 * mm, BODY_WIDTH - 45 * mm],
        style=tight(),
    )


def _grid(rows: list[list[Any]], widths: list[float], warn_rows: list[int]) -> Table:
    style = grid_style(len(rows))
    style += [("BACKGROUND", (0, r), (-1, r), WARN_SHADE) for r in warn_rows]
    return Table(rows, colWidths=widths, repeatRows=1, style=TableStyle(style))


def _bills(pack: EvidencePack) -> list[Flowable]:
    head = [
        para("账单号 Bill no.", "head"),
        para("计费周期 Period", "head"),
        para("到期日 Due", "head"),
        right("逾期 Late (d)", "head"),
        right("电量 kWh", "head"),
        right("金额 Billed", "head"),
        right("欠费 Open", "head"),
        para("示数 Reads", "head"),
    ]
    rows: list[list[Any]] = [head]
    warn = []
    for bill in pack.bills:
        doc = bill.document
        if bill.estimated:
            warn.append(len(rows))
        rows.append(
            [
                para(doc.bill_no),
                para(f"{doc.period_start.isoformat()}\n{doc.period_end.isoformat()}"),
                para(doc.due_date.isoformat()),
                right(str(max(bill.days_past_due, 0))),
                right(format_quantity(doc.kwh)),
                right(format_amount(doc.total)),
                right(format_amount(bill.open)),
                para(
                    "估算 estimated" if bill.estimated else "实抄 actual",
                    "warn" if bill.estimated else "body",
                ),
            ]
        )
    if not pack.bills:
        return [section("欠费账单 Unpaid bills"), para("无欠费账单 No unpaid bills.")]
    widths = [34 * mm, 24 * mm, 19 * mm, 15 * mm, 16 * mm, 19 * mm, 19 * mm, 34 * mm]
    return [section("欠费账单 Unpaid bills"), _grid(rows, widths, warn)]


def _read_text(read: MeterRead | None) -> tuple[str, str]:
    if read is None:
        return "—", "—"
    quality = QUALITY_NAMES.get(read.quality, read.quality)
    if read.method:
        quality += f" ({read.method})"
    return f"{read.read_at:%Y-%m-%d %H:%M}", f"{format_quantity(read.value)}\n{quality}"


def _reads(pack: EvidencePack) -> list[Flowable]:
    """Per unpaid bill, the opening and closing reads of each register it was rated on."""
    parts: list[Flowable] = [section("计费示数 Reads the bills were computed from")]
    head = [
        para("账单 / 电能表 Bill / meter", "head"),
        para("计度器 Register", "head"),
        para("起度时间 Opening", "head"),
        right("起度 Read", "head"),
        para("止度时间 Closing", "head"),
        right("止度 Read", "head"),
        right("电量 kWh", "head"),
    ]
    rows: list[list[Any]] = [head]
    warn = []
    for bill in pack.bills:
        for stretch in bill.document.installations:
            meter = stretch.meter
            for channel in stretch.reads:
                opened, opening = _read_text(channel.opening)
                closed, closing = _read_text(channel.closing)
                estimated = any(
                    r is not None and r.estimated for r in (channel.opening, channel.closing)
                )
                if estimated:
                    warn.append(len(rows))
                rows.append(
                    [
                        para(f"{bill.document.bill_no}\n{meter.meter_no} ×{meter.multiplier}"),
                        para(channel.channel),
                        para(opened),
                        right(opening, "warn" if estimated else "body"),
                        para(closed),
                        right(closing, "warn" if estimated else "body"),
                        right("—" if channel.kwh is None else format_quantity(channel.kwh)),
                    ]
                )
    if len(rows) == 1:
        return [*parts, para("无示数 No reads found for the unpaid bills.")]
    widths = [34 * mm, 20 * mm, 24 * mm, 29 * mm, 24 * mm, 29 * mm, 20 * mm]
    return [
        *parts,
        _grid(rows, widths, warn),
        Spacer(1, 1.5 * mm),
        para(
            "示数为当地零点日冻结值；估算示数由数据校核（VEE）在表计示数缺失或未通过校验时算出，"
            "已标明 Reads are the daily freezes at local midnight; estimated reads (VEE) are "
            "marked.",
            "note",
        ),
    ]


def _events(pack: EvidencePack) -> list[Flowable]:
    title = section("表计事件 Meter events")
    if not pack.events:
        return [title, para("期间无表计事件 No meter events in the period.")]
    rows: list[list[Any]] = [
        [
            para("时间 Time", "head"),
            para("电能表 Meter", "head"),
            para("事件 Event", "head"),
            para("说明 Detail", "head"),
        ]
    ]
    for event in pack.events:
        rows.append(
            [
                para(f"{event.at:%Y-%m-%d %H:%M}"),
                para(event.meter_no),
                para(EVENT_NAMES.get(event.code, event.code)),
                para(event.detail),
            ]
        )
    return [title, _grid(rows, [32 * mm, 32 * mm, 50 * mm, BODY_WIDTH - 114 * mm], [])]


def _statement(pack: EvidencePack) -> list[Flowable]:
    s = pack.statement
    title = section(
        f"缴费记录 Statement of account {pack.statement_from.isoformat()} – "
        f"{pack.as_of.isoformat()}"
    )
    rows: list[list[Any]] = [
        [
            para("日期 Booked", "head"),
            para("类别 Kind", "head"),
            para("凭证 Reference", "head"),
            right("应收 Debit", "head"),
            right("实收 Credit", "head"),
            right("余额 Balance", "head"),
        ],
        [
            para(pack.statement_from.isoformat()),
            para("期初 opening"),
            "",
            "",
            "",
            right(format_amount(from_minor(s.opening_minor))),
        ],
    ]
    for line in s.lines.itertuples(index=False):
        rows.append(
            [
                para(line.booked_on.isoformat()),
                para(STATEMENT_KINDS.get(line.kind, line.kind)),
                para(line.reference),
                right(format_amount(from_minor(int(line.debit_minor)))),
                right(format_amount(from_minor(int(line.credit_minor)))),
                right(format_amount(from_minor(int(line.balance_minor)))),
            ]
        )
    widths = [24 * mm, 28 * mm, 52 * mm, 25 * mm, 25 * mm, 26 * mm]
    return [
        title,
        _grid(rows, widths, []),
        Spacer(1, 1.5 * mm),
        para("余额为负表示预存 A negative balance is credit held.", "note"),
    ]


def _notices(pack: EvidencePack) -> list[Flowable]:
    parts: list[Flowable] = [section("催费记录 Dunning steps taken")]
    if pack.steps:
        rows: list[list[Any]] = [
            [
                para("日期 Date", "head"),
                para("阶段 Step", "head"),
                para("动作 Actions", "head"),
                right("欠费 Overdue", "head"),
                para("远程指令 Relay command", "head"),
            ]
        ]
        for step in pack.steps:
            rows.append(
                [
                    para(step.taken_on.isoformat()),
                    para(step.label or "结束 ended"),
                    para(step.actions.replace(",", ", ") or "—"),
                    right(format_amount(step.overdue)),
                    para(step.command or "—"),
                ]
            )
        parts.append(_grid(rows, [22 * mm, 52 * mm, 40 * mm, 24 * mm, 42 * mm], []))
    else:
        parts.append(para("尚未催费 No dunning steps yet."))
    parts += [Spacer(1, 3 * mm), section("通知送达 Notices sent and their delivery")]
    if not pack.messages:
        return [*parts, para("无通知 No messages.")]
    rows = [
        [
            para("生成 Queued", "head"),
            para("渠道 Channel", "head"),
            para("主题 Subject", "head"),
            para("状态 Status", "head"),
            para("送达 Delivered", "head"),
        ]
    ]
    failed = []
    for message in pack.messages:
        if message.status == "failed":
            failed.append(len(rows))
        rows.append(
            [
                para(f"{message.created_at:%Y-%m-%d %H:%M}"),
                para(CHANNEL_NAMES.get(message.channel, message.channel)),
                para(message.subject),
                para(STATUS_NAMES.get(message.status, message.status)),
                para(
                    "—"
                    if message.delivered_at is None
                    else f"{message.delivered_at:%Y-%m-%d %H:%M}"
                ),
            ]
        )
    parts.append(_grid(rows, [28 * mm, 22 * mm, 70 * mm, 25 * mm, 35 * mm], failed))
    return parts
