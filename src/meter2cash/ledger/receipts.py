"""The printed receipt of a payment taken at the counter (收费凭证): what was paid, on which
bills, in figures and capital numerals, and what is still owed."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, HRFlowable, Spacer, Table, TableStyle
from sqlalchemy import select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Account, Customer, Utility
from meter2cash.billing.models import Bill
from meter2cash.core.errors import InputError
from meter2cash.core.money import capital_yuan, from_minor
from meter2cash.core.pdf import ACCENT, a4_document, footer, grid_style, para, right, tight
from meter2cash.ledger import repository
from meter2cash.ledger.journal import CUSTOMER_CREDIT, RECEIVABLE
from meter2cash.ledger.payments import SOURCE_TYPE


@dataclass(frozen=True, slots=True)
class Receipt:
    """One payment as its receipt shows it; amounts [fen]."""

    utility_name: str
    receipt_no: str
    channel: str
    account_no: str
    customer_name: str
    received_on: date
    amount_minor: int
    bills_paid: tuple[tuple[str, int], ...]
    """(bill number, amount of this payment on it)."""
    to_credit_minor: int
    still_owed_minor: int


def payment_receipt(session: Session, channel: str, transaction_id: str) -> Receipt:
    """The receipt of the payment ``channel:transaction_id`` as posted."""
    key = f"{channel}:{transaction_id}"
    stored = repository.entry_by_source(session, SOURCE_TYPE, key)
    if stored is None:
        raise InputError(f"no payment {key} on file")
    _, entry = stored
    paid = [leg for leg in entry.legs if leg.ledger_account == RECEIVABLE]
    credit = sum(-leg.amount_minor for leg in entry.legs if leg.ledger_account == CUSTOMER_CREDIT)
    account_id = next(leg.account_id for leg in entry.legs if leg.account_id is not None)
    account_no, customer = session.execute(
        select(Account.account_no, Customer.name)
        .join(Customer, Customer.id == Account.customer_id)
        .where(Account.id == account_id)
    ).one()
    numbers = dict(
        session.execute(
            select(Bill.id, Bill.bill_no).where(Bill.id.in_([leg.bill_id for leg in paid]))
        )
        .tuples()
        .all()
    )
    owed = repository.open_items(session, account_ids=[account_id])["open_minor"].sum()
    return Receipt(
        utility_name=session.scalar(select(Utility.name)) or "",
        receipt_no=key,
        channel=channel,
        account_no=account_no,
        customer_name=customer,
        received_on=entry.booked_on,
        amount_minor=sum(-leg.amount_minor for leg in paid) + credit,
        bills_paid=tuple(
            (
                repository.RETURNED_LABEL if leg.bill_id is None else numbers.get(leg.bill_id, "—"),
                -leg.amount_minor,
            )
            for leg in paid
        ),
        to_credit_minor=credit,
        still_owed_minor=int(owed),
    )


def _yuan(minor: int) -> str:
    return f"{from_minor(minor):,.2f}"


def render_receipt(receipt: Receipt) -> bytes:
    """The receipt as an A4 PDF: Chinese text with English labels."""
    out = io.BytesIO()
    template = a4_document(
        out,
        title=f"收费凭证 Receipt {receipt.receipt_no}",
        author=receipt.utility_name,
        subject=f"{receipt.account_no} {receipt.received_on.isoformat()}",
    )
    facts = Table(
        [
            [para(label, "label"), para(value)]
            for label, value in (
                ("凭证号 Receipt no.", receipt.receipt_no),
                ("收费日期 Date", receipt.received_on.isoformat()),
                ("户号 Account no.", receipt.account_no),
                ("客户 Customer", receipt.customer_name),
                ("金额 Amount (yuan)", _yuan(receipt.amount_minor)),
                ("大写 In words", f"人民币{capital_yuan(receipt.amount_minor)}"),
            )
        ],
        colWidths=[45 * mm, None],
        style=tight(),
    )
    rows = [[para("电费账单 Bill", "head"), right("本次缴纳 Paid (yuan)", "head")]]
    rows += [[para(bill_no), right(_yuan(minor))] for bill_no, minor in receipt.bills_paid]
    if receipt.to_credit_minor:
        rows.append([para("预收电费 Held as credit"), right(_yuan(receipt.to_credit_minor))])
    bills = Table(rows, colWidths=[None, 45 * mm], style=TableStyle(grid_style(len(rows))))
    story: list[Flowable] = [
        para(receipt.utility_name, "utility"),
        para("收费凭证 Payment receipt", "title"),
        HRFlowable(width="100%", thickness=1.5, color=ACCENT),
        Spacer(1, 3 * mm),
        facts,
        Spacer(1, 4 * mm),
        bills,
        Spacer(1, 4 * mm),
        para(f"缴费后尚欠 Still owed after this payment: {_yuan(receipt.still_owed_minor)} 元"),
    ]
    foot = footer(lambda n: f"{receipt.utility_name} · {receipt.receipt_no} · {n}")
    template.build(story, onFirstPage=foot, onLaterPages=foot)
    return out.getvalue()
