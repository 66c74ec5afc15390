"""What a dunning step tells the customer: the SMS, email and letter texts (Chinese, with
amounts and due dates) and the A4 notice (催费通知单 / 停电通知书) as a PDF.

The wording follows what the step does: a reminder, a notice that names the day supply
may be cut (the step before a relay trip; 供电营业规则 asks for the notice 3 to 7 days
before), or the disconnection itself.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, HRFlowable, Spacer, Table, TableStyle

from meter2cash.billing.documents import format_amount
from meter2cash.core.pdf import (
    ACCENT,
    BODY_WIDTH,
    WARN,
    WARN_SHADE,
    a4_document,
    footer,
    grid_style,
    para,
    right,
    section,
    tight,
)

PURPOSE: Final = "dunning"
"""The outbox ``purpose`` of every dunning message."""


@dataclass(frozen=True, slots=True)
class OverdueBill:
    """A bill past its due date with what is still open on it [yuan]."""

    bill_no: str
    period_start: date
    period_end: date
    due_date: date
    open: Decimal


@dataclass(frozen=True, slots=True)
class Notice:
    """One step's notice to one account: who, what is owed, and what comes next.

    ``cut_on`` is the first day supply may be cut (the next step trips the relay), else
    ``None``; ``disconnection`` marks the step that trips it.
    """

    utility_name: str
    customer_name: str
    account_no: str
    address: str
    label: str
    issued_on: date
    overdue: Decimal
    oldest_due: date
    days_past_due: int
    bills: tuple[OverdueBill, ...]
    cut_on: date | None
    disconnection: bool


def subject(notice: Notice) -> str:
    """The message subject: the step's label and the account."""
    return f"{notice.label}（户号 {notice.account_no}）"


def message_body(notice: Notice, *, enclosed: str | None = None) -> str:
    """The SMS / email / letter text in Chinese; ``enclosed`` names the notice PDF a letter
    carries."""
    owed = (
        f"尊敬的{notice.customer_name}：您的户号 {notice.account_no} 截至 "
        f"{notice.issued_on.isoformat()} 尚欠电费 {format_amount(notice.overdue)} 元，"
        f"最早一笔应于 {notice.oldest_due.isoformat()} 前缴清，已逾期 {notice.days_past_due} 天。"
    )
    if notice.disconnection:
        then = "因欠费未缴，已依规安排停电。缴清欠费后将尽快恢复供电。"
    elif notice.cut_on is not None:
        then = f"如 {notice.cut_on.isoformat()} 前仍未缴清，将依规停止供电。"
    else:
        then = "请尽快通过营业厅、银行或网上渠道缴纳。"
    attached = f"随函附《{notice.label}》。" if enclosed else ""
    return f"【{notice.utility_name}】{owed}{then}{attached}"


def render_notice(notice: Notice) -> bytes:
    """The notice as a one-page A4 PDF: Chinese text, English labels beside."""
    out = io.BytesIO()
    template = a4_document(
        out,
        title=f"{notice.label} {notice.account_no}",
        author=notice.utility_name,
        subject=f"{notice.account_no} {notice.issued_on.isoformat()}",
    )
    story: list[Flowable] = [
        para(notice.utility_name, "utility"),
        para(notice.label, "title"),
        HRFlowable(width="100%", thickness=1.5, color=ACCENT),
        Spacer(1, 3 * mm),
        _facts(notice),
        Spacer(1, 4 * mm),
        para(message_body(notice)),
        Spacer(1, 4 * mm),
        *_bills(notice),
    ]
    if notice.cut_on is not None or notice.disconnection:
        story += [Spacer(1, 4 * mm), _warning(notice)]
    story += [
        Spacer(1, 6 * mm),
        para(
            "缴费渠道 Ways to pay：营业厅柜台 counter · 银行代收 bank · 网上 / 扫码 online. "
            "如对账单有疑问，请持本通知到营业厅查询 Questions: bring this notice to the "
            "service hall.",
            "note",
        ),
    ]
    foot = footer(lambda n: f"{notice.utility_name} · {notice.account_no} · 第 {n} 页 page {n}")
    template.build(story, onFirstPage=foot, onLaterPages=foot)
    return out.getvalue()


def _facts(notice: Notice) -> Table:
    rows = [
        ("客户 Customer", notice.customer_name),
        ("户号 Account no.", notice.account_no),
        ("用电地址 Service point", notice.address or "—"),
        ("通知日期 Date", notice.issued_on.isoformat()),
        ("欠费金额 Overdue (yuan)", format_amount(notice.overdue)),
        ("最早到期 Oldest due date", notice.oldest_due.isoformat()),
        ("逾期天数 Days past due", str(notice.days_past_due)),
    ]
    return Table(
        [[para(k, "label"), para(v)] for k, v in rows],
        colWidths=[45 * mm, BODY_WIDTH - 45 * mm],
        style=tight(),
    )


def _bills(notice: Notice) -> list[Flowable]:
    head: list[Any] = [
        para("账单号 Bill no.", "head"),
        para("计费周期 Period", "head"),
        para("到期日 Due", "head"),
        right("欠费 Open (yuan)", "head"),
    ]
    rows: list[list[Any]] = [head]
    for bill in notice.bills:
        rows.append(
            [
                para(bill.bill_no),
                para(f"{bill.period_start.isoformat()} – {bill.period_end.isoformat()}"),
                para(bill.due_date.isoformat()),
                right(format_amount(bill.open)),
            ]
        )
    rows.append(["", "", para("合计 Total", "section"), right(format_amount(notice.overdue))])
    table = Table(rows, colWidths=[55 * mm, 55 * mm, 35 * mm, 35 * mm], repeatRows=1)
    table.setStyle(
        TableStyle([*grid_style(len(rows) - 1), ("LINEABOVE", (0, -1), (-1, -1), 1, ACCENT)])
    )
    return [section("欠费账单 Overdue bills"), table]


def _warning(notice: Notice) -> Table:
    if notice.disconnection:
        text = "已安排欠费停电 Supply is being disconnected for arrears."
    else:
        assert notice.cut_on is not None
        text = (
            f"停电日期 Disconnection from {notice.cut_on.isoformat()}：如届时仍未缴清，"
            "将依规停止供电 unless the arrears are paid."
        )
    banner = Table([[para(text, "warn")]], colWidths=[BODY_WIDTH])
    banner.setStyle(
        TableStyle(
            [("BACKGROUND", (0, 0), (-1, -1), WARN_SHADE), ("BOX", (0, 0), (-1, -1), 0.75, WARN)]
        )
    )
    return banner
