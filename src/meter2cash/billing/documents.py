"""Bill documents: an A4 PDF per bill in Chinese or English, and CSV/JSON export of a cycle.

Every label comes from :data:`LABELS` (one catalogue per language). Fonts, colours and
styles are the house ones of :mod:`meter2cash.core.pdf`: Latin text in Helvetica, any run of
Chinese (names, tariff and line descriptions, the labels of ``zh``) in the built-in CID font
``STSong-Light`` (see docs/decisions/0004-bill-documents-reportlab.md).
Amounts show two decimals with thousands separators; dates are ISO 8601 (YYYY-MM-DD).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final, Literal

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    HRFlowable,
    KeepTogether,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from meter2cash.billing.statement import (
    HISTORY_PERIODS,
    BillDocument,
    BillRecord,
    ChannelReads,
    MeterRead,
)
from meter2cash.core.errors import InputError
from meter2cash.core.pdf import (
    ACCENT,
    BODY_WIDTH,
    CJK,
    INK,
    LATIN,
    RULE,
    SHADE,
    WARN,
    WARN_SHADE,
    a4_document,
    footer,
)
from meter2cash.core.pdf import grid_style as _grid_style
from meter2cash.core.pdf import needs_cjk as _needs_cjk
from meter2cash.core.pdf import para as _para
from meter2cash.core.pdf import right as _right
from meter2cash.core.pdf import section as _section
from meter2cash.core.pdf import tight as _tight

Lang = Literal["zh", "en"]
LANGS: Final[tuple[Lang, ...]] = ("zh", "en")

HISTORY_BAR: Final = colors.HexColor("#9fb7cc")

CUSTOMER_WIDTH: Final = 100 * mm
SUMMARY_LABEL_WIDTH: Final = 28 * mm
LEGEND_WIDTH: Final = 24 * mm

LABELS: Final[dict[Lang, dict[str, str]]] = {
    "zh": {
        "title": "电费账单",
        "bill_no": "账单号",
        "revision": "版本",
        "replaces": "替代 {bill_no}",
        "bill_date": "出账日期",
        "status": "状态",
        "estimated_bill": "估算账单：本期电量含估算示数，以下已标明。",
        "customer": "客户名称",
        "customer_no": "客户编号",
        "account_no": "户号",
        "service_point": "计量点",
        "location": "台区 / 供电所",
        "tariff": "电价",
        "meter_no": "电能表号",
        "multiplier": "倍率",
        "multiplier_value": "{multiplier}（CT {ct} × PT {pt}）",
        "amount_due": "应缴金额",
        "due_date": "缴费截止日期",
        "period": "计费周期",
        "period_value": "{start} 至 {end}",
        "days": "计费天数",
        "consumption": "本期电量",
        "max_demand": "最大需量",
        "charges": "电费明细",
        "item": "项目",
        "description": "说明",
        "quantity": "数量",
        "unit": "单位",
        "unit_price": "单价（元）",
        "amount": "金额（元）",
        "total": "合计",
        "no_charges": "本期无费用项目。",
        "reads": "抄表示数",
        "reads_caption": "电能表 {meter_no}，倍率 {multiplier}；示数为当地零点日冻结值。",
        "register": "计度器",
        "read_time": "时间",
        "reading": "示数值",
        "kwh_used": "电量（千瓦时）",
        "opening": "起度（期初）",
        "closing": "止度（期末）",
        "no_reads": "本期没有找到日冻结示数。",
        "quality_note": "未标注的示数为表计实抄值。",
        "curve_note": "本表记录 15 分钟负荷曲线，本期电量按完整负荷曲线计算，示数仅供核对。",
        "estimated_note": "估算示数由数据校核（VEE）在表计示数缺失或未通过校验时计算得出。",
        "history": "近 {n} 期用电量（千瓦时）",
        "this_period": "本期",
        "page": "第 {n} 页",
        "ch:A+": "正向有功总",
        "ch:A+1": "正向有功 尖",
        "ch:A+2": "正向有功 峰",
        "ch:A+3": "正向有功 平",
        "ch:A+4": "正向有功 谷",
        "ch:A-": "反向有功总",
        "ch:R+": "组合无功1总",
        "ch:MD+": "正向有功最大需量（本期最大冻结值）",
        "q:valid": "已校验",
        "q:estimated": "估算",
        "q:edited": "人工修正",
        "q:recorded": "换表记录",
        "q:method": "{quality}（{method}）",
        "kind:fixed": "固定费用",
        "kind:energy_tiered": "电度电费",
        "kind:energy_tou": "分时电度电费",
        "kind:tier_increment": "阶梯加价",
        "kind:demand": "基本电费",
        "kind:funds": "政府性基金及附加",
        "kind:pf_adjustment": "力调电费",
        "kind:true_up": "估抄调整",
        "true_up_note": "估抄调整：{bill_no} 按实抄示数重算，电量差 {kwh} 千瓦时，"
        "本期补收（负数为退还）{amount} 元（含基金及附加）。",
        "installation_caption": "电能表 {meter_no}，倍率 {multiplier}（CT {ct} × PT {pt}），"
        "{start} 至 {end}：",
        "unit:kWh": "千瓦时",
        "unit:kW": "千瓦",
        "unit:kVA": "千伏安",
        "unit:month": "月",
        "unit:day": "天",
        "unit:yuan": "元",
        "status:draft": "草稿",
        "status:in_review": "复核中",
        "status:approved": "已审核",
        "status:issued": "已发行",
        "status:cancelled": "已作废",
    },
    "en": {
        "title": "Electricity bill",
        "bill_no": "Bill no.",
        "revision": "Revision",
        "replaces": "replaces {bill_no}",
        "bill_date": "Bill date",
        "status": "Status",
        "estimated_bill": "Estimated bill: this period's energy rests on estimated reads, "
        "marked below.",
        "customer": "Customer",
        "customer_no": "Customer no.",
        "account_no": "Account no.",
        "service_point": "Service point",
        "location": "Transformer area / zone",
        "tariff": "Tariff",
        "meter_no": "Meter no.",
        "multiplier": "Multiplier",
        "multiplier_value": "{multiplier} (CT {ct} × PT {pt})",
        "amount_due": "Amount due",
        "due_date": "Due date",
        "period": "Billing period",
        "period_value": "{start} to {end}",
        "days": "Days",
        "consumption": "Energy used",
        "max_demand": "Max. demand",
        "charges": "Charges",
        "item": "Item",
        "description": "Description",
        "quantity": "Quantity",
        "unit": "Unit",
        "unit_price": "Unit price",
        "amount": "Amount",
        "total": "Total",
        "no_charges": "No charges this period.",
        "reads": "Meter reads",
        "reads_caption": "Meter {meter_no}, multiplier {multiplier}; reads are the daily "
        "freezes at local midnight.",
        "register": "Register",
        "read_time": "Time",
        "reading": "Reading",
        "kwh_used": "Energy (kWh)",
        "opening": "Opening read",
        "closing": "Closing read",
        "no_reads": "No daily-frozen reads were found for this period.",
        "quality_note": "Readings are the meter's own unless marked.",
        "curve_note": "This meter records a 15-minute load curve; this period's energy was "
        "billed from the complete curve, the register reads are shown for reference.",
        "estimated_note": "Estimated reads were calculated by validation, estimation and "
        "editing (VEE) where the meter's read was missing or failed validation.",
        "history": "Usage over the last {n} periods (kWh)",
        "this_period": "this period",
        "page": "page {n}",
        "ch:A+": "Import total",
        "ch:A+1": "Import sharp-peak",
        "ch:A+2": "Import peak",
        "ch:A+3": "Import flat",
        "ch:A+4": "Import valley",
        "ch:A-": "Export total",
        "ch:R+": "Reactive total",
        "ch:MD+": "Max. demand (largest freeze)",
        "q:valid": "validated",
        "q:estimated": "estimated",
        "q:edited": "edited",
        "q:recorded": "exchange record",
        "q:method": "{quality} ({method})",
        "kind:fixed": "Fixed charge",
        "kind:energy_tiered": "Energy (tiered)",
        "kind:energy_tou": "Energy (TOU)",
        "kind:tier_increment": "Tier increment",
        "kind:demand": "Demand charge",
        "kind:funds": "Government funds",
        "kind:pf_adjustment": "Power-factor adj.",
        "kind:true_up": "Estimate true-up",
        "true_up_note": "True-up: estimated bill {bill_no} re-rated on actual reads, {kwh} kWh; "
        "{amount} yuan added to this bill (negative: refunded), funds included.",
        "installation_caption": "Meter {meter_no}, multiplier {multiplier} (CT {ct} × PT {pt}), "
        "{start} to {end}:",
        "unit:kWh": "kWh",
        "unit:kW": "kW",
        "unit:kVA": "kVA",
        "unit:month": "month",
        "unit:day": "day",
        "unit:yuan": "yuan",
        "status:draft": "draft",
        "status:in_review": "in review",
        "status:approved": "approved",
        "status:issued": "issued",
        "status:cancelled": "cancelled",
    },
}

CURRENCY_SYMBOLS: Final = {"CNY": "¥", "USD": "$"}

EXPORT_BILL_COLUMNS: Final = (
    "bill_no",
    "account_no",
    "customer_name",
    "revision",
    "status",
    "period_start",
    "period_end",
    "bill_date",
    "due_date",
    "currency",
    "kwh",
    "max_demand_kw",
    "estimated",
    "total",
)
EXPORT_LINE_COLUMNS: Final = (
    "line_seq",
    "line_kind",
    "line_description",
    "line_quantity",
    "line_unit",
    "line_unit_price",
    "line_amount",
)


def check_lang(lang: str) -> Lang:
    """``lang`` as a :data:`Lang`, or an :class:`InputError` naming the choices."""
    for known in LANGS:
        if known == lang:
            return known
    raise InputError(f"unknown language {lang!r}", "use " + " or ".join(LANGS))


def format_amount(amount: Decimal) -> str:
    """``1234567.8`` → ``1,234,567.80`` [yuan]."""
    return f"{amount:,.2f}"


def format_money(amount: Decimal, currency: str) -> str:
    """``¥1,234.50``; a currency without a symbol is prefixed by its code."""
    symbol = CURRENCY_SYMBOLS.get(currency, f"{currency} ")
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{format_amount(abs(amount))}"


def format_quantity(value: Decimal, places: int = 2, most: int = 4) -> str:
    """At least ``places`` and at most ``most`` decimals, thousands separated: ``1,200.5`` →
    ``1,200.50``, ``0.538000`` → ``0.538``."""
    shown = places
    while shown < most and value != round(value, shown):
        shown += 1
    return f"{value:,.{shown}f}"


def render_pdf(doc: BillDocument, lang: str) -> bytes:
    """The bill as an A4 PDF in ``lang`` (``zh`` or ``en``)."""
    labels = LABELS[check_lang(lang)]
    out = io.BytesIO()
    template = a4_document(
        out,
        title=f"{labels['title']} {doc.bill_no}",
        author=doc.utility_name,
        subject=f"{doc.account_no} {doc.period_start.isoformat()}",
    )
    story: list[Flowable] = [
        *_header(doc, labels),
        Spacer(1, 4 * mm),
        _customer_and_summary(doc, labels),
        Spacer(1, 4 * mm),
        *_charges(doc, labels),
        Spacer(1, 4 * mm),
        *_reads(doc, labels),
        Spacer(1, 4 * mm),
        KeepTogether(
            [_section(labels["history"].format(n=len(doc.history))), _usage_chart(doc, labels)]
        ),
    ]
    foot = footer(lambda n: f"{doc.utility_name} · {doc.bill_no} · {labels['page'].format(n=n)}")
    template.build(story, onFirstPage=foot, onLaterPages=foot)
    return out.getvalue()


def bills_csv(bills: Sequence[BillRecord]) -> str:
    """One row per bill line, the bill's columns repeated; a bill without lines gets one
    row with empty line columns. Amounts and quantities are decimal strings."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((*EXPORT_BILL_COLUMNS, *EXPORT_LINE_COLUMNS))
    for bill in bills:
        head = [_text(v) for v in _bill_fields(bill).values()]
        if not bill.lines:
            writer.writerow((*head, *([""] * len(EXPORT_LINE_COLUMNS))))
        for line in bill.lines:
            writer.writerow(
                (
                    *head,
                    line.seq,
                    line.kind,
                    line.description,
                    line.quantity,
                    line.unit,
                    line.unit_price,
                    line.amount,
                )
            )
    return out.getvalue()


def bills_json(bills: Sequence[BillRecord]) -> str:
    """``{"bills": [{…bill columns, "lines": [{seq, kind, description, quantity, unit,
    unit_price, amount}]}]}`` with decimals as strings and ISO dates."""
    data = {
        "bills": [
            {
                **{k: _json_value(v) for k, v in _bill_fields(bill).items()},
                "lines": [
                    {
                        "seq": line.seq,
                        "kind": line.kind,
                        "description": line.description,
                        "quantity": str(line.quantity),
                        "unit": line.unit,
                        "unit_price": str(line.unit_price),
                        "amount": str(line.amount),
                    }
                    for line in bill.lines
                ],
            }
            for bill in bills
        ]
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


# ---------------------------------------------------------------------- export helpers


def _bill_fields(bill: BillRecord) -> dict[str, object]:
    return {name: getattr(bill, name) for name in EXPORT_BILL_COLUMNS}


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _json_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    return _text(value)


# ---------------------------------------------------------------------- page parts


def _header(doc: BillDocument, labels: dict[str, str]) -> list[Flowable]:
    revision = str(doc.revision)
    if doc.replaces_bill_no:
        revision += ", " + labels["replaces"].format(bill_no=doc.replaces_bill_no)
    facts = [
        (labels["bill_no"], doc.bill_no),
        (labels["revision"], revision),
        (labels["bill_date"], doc.bill_date.isoformat()),
        (labels["status"], labels.get(f"status:{doc.status}", doc.status)),
    ]
    right = Table(
        [[_right(k, "label"), _right(v)] for k, v in facts],
        colWidths=[30 * mm, 45 * mm],
        style=_tight(),
    )
    left = [_para(doc.utility_name, "utility"), _para(labels["title"], "title")]
    head = Table([[left, right]], colWidths=[BODY_WIDTH - 75 * mm, 75 * mm], style=_tight())
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "BOTTOM")]))
    parts: list[Flowable] = [head, HRFlowable(width="100%", thickness=1.5, color=ACCENT)]
    if doc.estimated:
        banner = Table([[_para(labels["estimated_bill"], "warn")]], colWidths=[BODY_WIDTH])
        banner.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, -1), WARN_SHADE),
                    ("BOX", (0, 0), (-1, -1), 0.75, WARN),
                ]
            )
        )
        parts += [Spacer(1, 3 * mm), banner]
    return parts


def _customer_and_summary(doc: BillDocument, labels: dict[str, str]) -> Table:
    place = " / ".join(p for p in (doc.transformer_area, doc.zone) if p)
    rows = [
        (labels["customer"], doc.customer_name),
        (labels["customer_no"], doc.customer_no),
        (labels["account_no"], doc.account_no),
        (labels["service_point"], doc.service_point or "—"),
        (labels["location"], place or "—"),
        (labels["tariff"], doc.tariff),
    ]
    if doc.meter is not None:
        rows += [
            (labels["meter_no"], doc.meter.meter_no),
            (
                labels["multiplier"],
                labels["multiplier_value"].format(
                    multiplier=doc.meter.multiplier, ct=doc.meter.ct_ratio, pt=doc.meter.pt_ratio
                ),
            ),
        ]
    customer = Table(
        [[_para(k, "label"), _para(v)] for k, v in rows],
        colWidths=[32 * mm, CUSTOMER_WIDTH - 36 * mm],
        style=_tight(),
    )
    facts = [
        (labels["due_date"], doc.due_date.isoformat()),
        (
            labels["period"],
            labels["period_value"].format(
                start=doc.period_start.isoformat(), end=doc.period_end.isoformat()
            ),
        ),
        (labels["days"], str(doc.days)),
        (labels["consumption"], f"{format_quantity(doc.kwh)} kWh"),
    ]
    if doc.max_demand_kw is not None:
        facts.append((labels["max_demand"], f"{format_quantity(doc.max_demand_kw)} kW"))
    inner = BODY_WIDTH - CUSTOMER_WIDTH - 8 * mm
    summary_rows: list[list[Any]] = [
        [_para(labels["amount_due"], "label"), ""],
        [_para(format_money(doc.total, doc.currency), "due"), ""],
        *([_para(k, "label"), _para(v)] for k, v in facts),
    ]
    summary = Table(summary_rows, colWidths=[SUMMARY_LABEL_WIDTH, inner - SUMMARY_LABEL_WIDTH])
    summary.setStyle(
        TableStyle(
            [
                ("SPAN", (0, 0), (-1, 0)),
                ("SPAN", (0, 1), (-1, 1)),
                ("BACKGROUND", (0, 0), (-1, -1), SHADE),
                ("BOX", (0, 0), (-1, -1), 1, ACCENT),
                ("LEFTPADDING", (0, 0), (0, -1), 4 * mm),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                ("TOPPADDING", (0, 0), (-1, 0), 3 * mm),
                ("BOTTOMPADDING", (0, 1), (-1, 1), 2 * mm),
                ("BOTTOMPADDING", (0, -1), (-1, -1), 3 * mm),
            ]
        )
    )
    outer = Table([[customer, summary]], colWidths=[CUSTOMER_WIDTH, BODY_WIDTH - CUSTOMER_WIDTH])
    outer.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("LEFTPADDING", (1, 0), (1, 0), 4 * mm),
            ]
        )
    )
    return outer


def _charges(doc: BillDocument, labels: dict[str, str]) -> list[Flowable]:
    if not doc.lines:
        return [_section(labels["charges"]), _para(labels["no_charges"])]
    head = [
        _para(labels["item"], "head"),
        _para(labels["description"], "head"),
        _right(labels["quantity"], "head"),
        _para(labels["unit"], "head"),
        _right(labels["unit_price"], "head"),
        _right(labels["amount"], "head"),
    ]
    rows: list[list[Any]] = [head]
    for line in doc.lines:
        rows.append(
            [
                _para(labels.get(f"kind:{line.kind}", line.kind)),
                _para(line.description),
                _right(format_quantity(line.quantity)),
                _para(labels.get(f"unit:{line.unit}", line.unit)),
                _right(format_quantity(line.unit_price, most=6)),
                _right(format_amount(line.amount)),
            ]
        )
    rows.append(
        [
            _para(labels["total"], "section"),
            "",
            "",
            "",
            "",
            _right(format_money(doc.total, doc.currency), "section"),
        ]
    )
    table = Table(
        rows,
        colWidths=[30 * mm, 62 * mm, 24 * mm, 14 * mm, 22 * mm, 28 * mm],
        repeatRows=1,
    )
    table.setStyle(
        TableStyle(
            [
                *_grid_style(len(rows) - 1),
                ("SPAN", (0, -1), (4, -1)),
                ("LINEABOVE", (0, -1), (-1, -1), 1, ACCENT),
            ]
        )
    )
    notes = [
        _para(
            labels["true_up_note"].format(
                bill_no=t.bill_no,
                kwh=f"{t.kwh_difference.normalize():+f}",
                amount=format_amount(t.amount),
            ),
            "note",
        )
        for t in doc.true_ups
    ]
    return [_section(labels["charges"]), table, *notes]


def _reads(doc: BillDocument, labels: dict[str, str]) -> list[Flowable]:
    """The reads table; after a meter exchange or CT/PT change, one per installation, each
    under its meter, multiplier and days."""
    parts: list[Flowable] = [_section(labels["reads"])]
    if doc.meter is not None:
        caption = labels["reads_caption"].format(
            meter_no=doc.meter.meter_no, multiplier=doc.meter.multiplier
        )
        if doc.energy_from_curve:
            caption += " " + labels["curve_note"]
        parts += [_para(caption, "note"), Spacer(1, 1.5 * mm)]
    if not any(i.reads for i in doc.installations):
        return [*parts, _para(labels["no_reads"])]
    several = len(doc.installations) > 1
    for stretch in doc.installations:
        if several:
            meter = stretch.meter
            text = labels["installation_caption"].format(
                meter_no=meter.meter_no,
                multiplier=meter.multiplier,
                ct=meter.ct_ratio,
                pt=meter.pt_ratio,
                start=stretch.first_day.isoformat(),
                end=stretch.last_day.isoformat(),
            )
            parts += [_para(text), Spacer(1, 1 * mm)]
        parts += [_reads_table(stretch.reads, labels), Spacer(1, 1.5 * mm)]
    parts.append(_para(labels["quality_note"], "note"))
    if doc.estimated_reads:
        parts.append(_para(labels["estimated_note"], "note"))
    return parts


def _reads_table(reads: Sequence[ChannelReads], labels: dict[str, str]) -> Table:
    rows: list[list[Any]] = [
        [
            _para(labels["register"], "head"),
            _para(labels["opening"], "head"),
            "",
            _para(labels["closing"], "head"),
            "",
            _right(labels["kwh_used"], "head"),
        ],
        [
            "",
            _para(labels["read_time"], "head"),
            _right(labels["reading"], "head"),
            _para(labels["read_time"], "head"),
            _right(labels["reading"], "head"),
            "",
        ],
    ]
    style: list[Any] = [
        ("BACKGROUND", (0, 0), (-1, 1), ACCENT),
        ("SPAN", (1, 0), (2, 0)),
        ("SPAN", (3, 0), (4, 0)),
        ("SPAN", (0, 0), (0, 1)),
        ("SPAN", (5, 0), (5, 1)),
        ("LINEBELOW", (1, 0), (4, 0), 0.3, colors.white),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, 2), (-1, -1), 0.3, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for channel in reads:
        row = len(rows)
        rows.append(
            [
                _para(labels.get(f"ch:{channel.channel}", channel.channel)),
                *_read_cells(channel.opening, labels),
                *_read_cells(channel.closing, labels),
                _right(_quantity_text(channel)),
            ]
        )
        for column, read in ((2, channel.opening), (4, channel.closing)):
            if read is not None and read.estimated:
                style.append(("BACKGROUND", (column, row), (column, row), WARN_SHADE))
    return Table(
        rows,
        colWidths=[34 * mm, 29 * mm, 31 * mm, 29 * mm, 31 * mm, 26 * mm],
        repeatRows=2,
        style=TableStyle(style),
    )


def _quantity_text(channel: ChannelReads) -> str:
    """What a register's reads give × multiplier; kvarh (R+) and kW (MD+) say their unit."""
    if channel.kwh is None:
        return ""
    text = format_quantity(channel.kwh)
    return text if channel.unit == "kWh" else f"{text} {channel.unit}"


def _read_cells(read: MeterRead | None, labels: dict[str, str]) -> list[Paragraph]:
    """Time and reading; a read that is not the meter's own value says what it is."""
    if read is None:
        return [_para("—"), _right("—")]
    value = format_quantity(read.value)
    if read.quality != "raw":
        quality = labels.get(f"q:{read.quality}", read.quality)
        if read.method:
            quality = labels["q:method"].format(quality=quality, method=read.method)
        style = "warn" if read.estimated else "body"
        return [
            _para(read.read_at.strftime("%Y-%m-%d %H:%M")),
            _right(f"{value}\n{quality}", style),
        ]
    return [_para(read.read_at.strftime("%Y-%m-%d %H:%M")), _right(value)]


def _usage_chart(doc: BillDocument, labels: dict[str, str]) -> Drawing:
    """Bars of kWh per billed period, the current one in the accent colour; every period
    gets the width of one of :data:`HISTORY_PERIODS`, so a short history stays to the left."""
    width, height = BODY_WIDTH, 40 * mm
    drawing = Drawing(width, height)
    chart = VerticalBarChart()
    chart.x, chart.y = round(14 * mm), round(8 * mm)
    slot = (width - 16 * mm - LEGEND_WIDTH) / HISTORY_PERIODS
    chart.width, chart.height = round(slot * len(doc.history)), round(height - 16 * mm)
    chart.data = [[float(p.kwh) for p in doc.history]]
    chart.categoryAxis.categoryNames = [f"{p.period_start:%Y-%m}" for p in doc.history]
    chart.categoryAxis.labels.fontName = LATIN
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.strokeColor = RULE
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontName = LATIN
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = _kwh_label
    chart.valueAxis.strokeColor = RULE
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = RULE
    chart.valueAxis.gridStrokeWidth = 0.3
    chart.barWidth = 8
    chart.groupSpacing = 6
    chart.bars.strokeColor = None
    chart.bars[0].fillColor = HISTORY_BAR
    chart.barLabelFormat = _kwh_label
    chart.barLabels.fontName = LATIN
    chart.barLabels.fontSize = 6.5
    chart.barLabels.fillColor = INK
    chart.barLabels.nudge = 5
    for index, period in enumerate(doc.history):
        if period.current:
            chart.bars[(0, index)].fillColor = ACCENT
    drawing.add(chart)
    legend_x = chart.x + chart.width + 4 * mm
    legend_y = chart.y + chart.height - 3 * mm
    swatch = Rect(legend_x, legend_y, 3 * mm, 3 * mm)
    swatch.fillColor, swatch.strokeColor = ACCENT, None
    drawing.add(swatch)
    legend = labels["this_period"]
    drawing.add(
        String(
            legend_x + 4 * mm,
            legend_y + 0.4 * mm,
            legend,
            fontName=CJK if _needs_cjk(legend) else LATIN,
            fontSize=7.5,
            fillColor=INK,
        )
    )
    return drawing


def _kwh_label(value: float) -> str:
    return f"{value:,.0f}"
