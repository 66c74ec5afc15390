"""Daily prepay charges (费控日结): what each prepay account used yesterday, taken from its
balance.

On day D the account's month-to-date bill is the bill of [1st of the month, D] from the daily
frozen reads (to the freeze that closes D), priced by the bill run's own path
(:func:`~meter2cash.billing.run.price_accounts`) as a cycle of its own: monthly tier bounds
are whole, so a day's energy is priced at the tier the month has reached, and the month's
fixed charges fall on its first day. The day's charge is that bill less what this month's
earlier days charged, so a month's daily charges add up to its bill exactly — also when a
read is corrected afterwards (an estimate replaced by the meter's read): the next day charged
settles the difference. An account without the reads to price day D is not charged for it
until they arrive (nor for later days meanwhile).

Each charge is one journal entry, source ``prepay_charge``, key ``{account_no}:{day}``:
Dr 2203 customer credit (the account) / Cr 2241 funds payable (the funds lines) / Cr 6001
revenue (the rest), every leg naming the account — posted once however often a day is run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meter2cash.billing import repository as billing_records
from meter2cash.billing.cycles import MonthPeriod
from meter2cash.billing.issue import FUND_LINE_KIND
from meter2cash.billing.run import FEW_ACCOUNTS, price_accounts
from meter2cash.core.clock import Clock
from meter2cash.db.bulk import insert_columns, instant_text
from meter2cash.db.ids import reserve_ids
from meter2cash.engines import BatchEngine
from meter2cash.ledger import repository as ledger_records
from meter2cash.ledger.journal import CUSTOMER_CREDIT, FUNDS_PAYABLE, REVENUE
from meter2cash.ledger.models import JournalEntry, LedgerAccount, Posting
from meter2cash.tariffs.schema import TariffDocument

SOURCE_TYPE: Final = "prepay_charge"
"""Source type of daily charge entries; the source key is ``{account_no}:{day}``."""
CHARGE_COLUMNS: Final = ("account_id", "account_no", "charge_minor", "funds_minor")


def month_to_date(day: date) -> MonthPeriod:
    """The days of ``day``'s month up to and including ``day``."""
    return MonthPeriod(day.replace(day=1), day)


def day_charges(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    tariffs: Mapping[str, TariffDocument],
    accounts: pd.DataFrame,
    day: date,
) -> pd.DataFrame:
    """The charge of ``day`` for each of ``accounts`` (account_id, account_no) that has the
    reads to price it: :data:`CHARGE_COLUMNS`, charge_minor [fen] the whole charge,
    funds_minor [fen] its funds part (either negative when a corrected read lowered the
    month). Accounts left out wait for their reads (or a tariff that rates them)."""
    period = month_to_date(day)
    ids = accounts["account_id"].tolist()
    named = ids if len(ids) <= FEW_ACCOUNTS else None
    meters = billing_records.billable_meters(session, period.period_start, day, named)
    if not meters.empty:
        meters = meters[meters["account_id"].isin(ids)].reset_index(drop=True)
    if meters.empty:
        return pd.DataFrame(columns=list(CHARGE_COLUMNS))
    priced = price_accounts(session, clock, engine, tariffs, period, meters, true_up=False)
    bills, lines = priced.bills, priced.lines
    funds = lines[lines["kind"] == FUND_LINE_KIND].groupby("bill")["amount_minor"].sum()
    to_date = pd.DataFrame(
        {
            "account_id": bills["account_id"].to_numpy(np.int64),
            "account_no": bills["account_no"].to_numpy(),
            "total": bills["total_minor"].to_numpy(np.int64),
            "funds": funds.reindex(range(len(bills)), fill_value=0).to_numpy(np.int64),
        }
    )[bills["rating_error"].to_numpy() == ""]
    before = charged_between(
        session, period.period_start, day - timedelta(days=1), to_date["account_id"].tolist()
    )
    charged = before.reindex(to_date["account_id"], fill_value=0)
    return pd.DataFrame(
        {
            "account_id": to_date["account_id"].to_numpy(),
            "account_no": to_date["account_no"].to_numpy(),
            "charge_minor": to_date["total"].to_numpy() - charged["charge_minor"].to_numpy(),
            "funds_minor": to_date["funds"].to_numpy() - charged["funds_minor"].to_numpy(),
        }
    )


def charged_between(
    session: Session, first: date, last: date, account_ids: list[int] | None = None
) -> pd.DataFrame:
    """Daily charges booked from ``first`` to ``last`` (inclusive) per account:
    charge_minor and funds_minor [fen], indexed by account_id (accounts charged only)."""
    columns = ["account_id", "charge_minor", "funds_minor"]
    if last < first:
        return pd.DataFrame(columns=columns).set_index("account_id")
    stmt = (
        select(
            Posting.account_id,
            func.sum(Posting.amount_minor).filter(LedgerAccount.code == CUSTOMER_CREDIT),
            func.coalesce(
                func.sum(Posting.amount_minor).filter(LedgerAccount.code == FUNDS_PAYABLE), 0
            ),
        )
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(JournalEntry.source_type == SOURCE_TYPE, JournalEntry.booked_on.between(first, last))
        .group_by(Posting.account_id)
    )
    if account_ids is not None and len(account_ids) <= FEW_ACCOUNTS:
        stmt = stmt.where(Posting.account_id.in_(account_ids))
    frame = pd.DataFrame(session.execute(stmt).tuples().all(), columns=columns)
    frame = frame.astype({"account_id": np.int64, "charge_minor": np.int64})
    frame["funds_minor"] = -frame["funds_minor"].astype(np.int64)  # credits are negative
    if account_ids is not None:
        frame = frame[frame["account_id"].isin(account_ids)]
    return frame.set_index("account_id")


def post_charges(session: Session, clock: Clock, charges: pd.DataFrame, day: date) -> int:
    """Post ``charges`` (:data:`CHARGE_COLUMNS`) of ``day``, set-based; zero charges and
    days already posted are skipped. Returns the entries posted."""
    fresh = charges[charges["charge_minor"].to_numpy(np.int64) != 0]
    keys = fresh["account_no"].astype(str) + f":{day.isoformat()}"
    present = ledger_records.existing_source_keys(session, SOURCE_TYPE, keys.tolist())
    unposted = ~keys.isin(present).to_numpy(bool)
    fresh, keys = fresh[unposted], keys[unposted]
    if fresh.empty:
        return 0
    n = len(fresh)
    entry_ids = reserve_ids(session, JournalEntry.__tablename__, n)
    insert_columns(
        session,
        JournalEntry.__tablename__,
        {
            "id": entry_ids,
            "source_type": [SOURCE_TYPE] * n,
            "source_key": keys,
            "booked_on": [day.isoformat()] * n,
            "recorded_at": [instant_text(session, clock.now())] * n,
            "description": "prepay charge " + keys,
        },
    )
    chart = ledger_records.ensure_chart(session)
    charge = fresh["charge_minor"].to_numpy(np.int64)
    funds = fresh["funds_minor"].to_numpy(np.int64)
    legs = pd.DataFrame(
        {
            "entry_id": np.tile(entry_ids, 3),
            "ledger_account_id": np.repeat(
                [chart[CUSTOMER_CREDIT], chart[FUNDS_PAYABLE], chart[REVENUE]], n
            ),
            "account_id": np.tile(fresh["account_id"].to_numpy(np.int64), 3),
            "amount_minor": np.r_[charge, -funds, funds - charge],
        }
    )
    legs = legs[legs["amount_minor"].to_numpy() != 0].sort_values("entry_id", kind="stable")
    insert_columns(
        session,
        Posting.__tablename__,
        {
            "entry_id": legs["entry_id"],
            "ledger_account_id": legs["ledger_account_id"],
            "account_id": legs["account_id"],
            "amount_minor": legs["amount_minor"],
            "currency": ["CNY"] * len(legs),
        },
    )
    return n
