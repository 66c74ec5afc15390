"""Loading a bank file (银行代收文件): checked whole, posted in chunks, resumable.

The file is read and checked first (:mod:`meter2cash.ledger.bank_files`); a refused file
posts nothing. Its payments then post :data:`CHUNK` at a time, each chunk in its own
transaction, under the batch's record (``payment_batches``, one per channel and batch id).
A run killed half-way is simply run again: what posted is recognised by transaction id and
the rest posts, so every payment posts exactly once. The batch record's counts are those of
the payments on file for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Account
from meter2cash.core.clock import Clock
from meter2cash.db.bulk import insert_columns
from meter2cash.db.session import unit_of_work
from meter2cash.ledger.bank_files import BadLines, BankFile, read_bank_file
from meter2cash.ledger.models import Payment, PaymentBatch, QuarantinedLine
from meter2cash.ledger.payments import post_payments

Sender = Literal["bank", "agent"]
CHUNK: Final = 100_000
"""Payments per transaction."""


@dataclass(frozen=True, slots=True)
class BatchReport:
    """A bank file as loaded: its control figures and what became of its lines."""

    batch_key: str
    channel: str
    declared_count: int
    declared_total_minor: int
    control_total_verified: bool
    posted: int
    posted_minor: int
    duplicates: int
    quarantined: pd.DataFrame
    """line_no, reason, text of the lines set aside."""


def check_bank_file(records: Engine, path: Path, bad_lines: BadLines = "reject") -> BankFile:
    """The bank file at ``path`` read and checked against the accounts on file.

    Raises :class:`~meter2cash.core.errors.InputError` when the file is refused.
    """
    with unit_of_work(records) as session:
        known = session.scalars(select(Account.account_no)).all()
    return read_bank_file(path, known, bad_lines)


def post_bank_file(
    records: Engine,
    clock: Clock,
    bank_file: BankFile,
    progress: Callable[[int], None] | None = None,
    sender: Sender = "bank",
) -> BatchReport:
    """Post a checked file from a bank or a third-party collection agent (代收点: the same
    format, the header naming the agent); ``progress`` gets the count of each chunk done."""
    channel = f"{sender}:{bank_file.bank}"
    with unit_of_work(records) as session:
        batch_id = _batch(session, clock, bank_file, channel)
    payments = bank_file.payments.assign(channel=channel).rename(columns={"paid_on": "received_on"})
    duplicates = 0
    for start in range(0, len(payments), CHUNK):
        with unit_of_work(records) as session:
            report = post_payments(session, clock, payments.iloc[start : start + CHUNK], batch_id)
        duplicates += report.duplicates
        if progress is not None:
            progress(min(CHUNK, len(payments) - start))
    with unit_of_work(records) as session:
        batch = session.get_one(PaymentBatch, batch_id)
        batch.posted_count, batch.posted_minor = session.execute(
            select(func.count(), func.coalesce(func.sum(Payment.amount_minor), 0)).where(
                Payment.batch_id == batch_id
            )
        ).one()
        batch.duplicate_count = duplicates
        return BatchReport(
            batch_key=bank_file.batch_id,
            channel=channel,
            declared_count=bank_file.declared_count,
            declared_total_minor=bank_file.declared_total_minor,
            control_total_verified=bank_file.control_total_verified,
            posted=batch.posted_count,
            posted_minor=batch.posted_minor,
            duplicates=duplicates,
            quarantined=bank_file.quarantined,
        )


def _batch(session: Session, clock: Clock, bank_file: BankFile, channel: str) -> int:
    """Id of the file's batch record, created with its quarantined lines on first load."""
    found = session.scalar(
        select(PaymentBatch.id).where(
            PaymentBatch.channel == channel, PaymentBatch.batch_key == bank_file.batch_id
        )
    )
    if found is not None:
        return found
    batch = PaymentBatch(
        channel=channel,
        batch_key=bank_file.batch_id,
        file_name=bank_file.path.name,
        value_date=bank_file.value_date,
        declared_count=bank_file.declared_count,
        declared_total_minor=bank_file.declared_total_minor,
        control_total_verified=bank_file.control_total_verified,
        posted_count=0,
        posted_minor=0,
        duplicate_count=0,
        quarantined_count=len(bank_file.quarantined),
        loaded_at=clock.now(),
    )
    session.add(batch)
    session.flush()
    quarantined = bank_file.quarantined
    insert_columns(
        session,
        QuarantinedLine.__tablename__,
        {
            "batch_id": [batch.id] * len(quarantined),
            "line_no": quarantined["line_no"],
            "reason": quarantined["reason"],
            "text": quarantined["text"].str.slice(0, 500),
        },
    )
    return batch.id
