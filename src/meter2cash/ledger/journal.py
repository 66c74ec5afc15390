"""Journal entries as immutable values, checked for balance before they reach the database.

Amounts are signed integer fen: debit positive, credit negative. An entry balances when
its legs sum to zero; :func:`check_balanced` refuses any that does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Final

from meter2cash.core.errors import LedgerError

RECEIVABLE: Final = "1122"
CASH: Final = "1002"
REVENUE: Final = "6001"
FUNDS_PAYABLE: Final = "2241"
CUSTOMER_CREDIT: Final = "2203"
LATE_FEE_INCOME: Final = "6051"

CHART: Final = {
    RECEIVABLE: ("应收电费 Electricity receivables", "asset"),
    CASH: ("银行存款 Cash at bank", "asset"),
    REVENUE: ("电费收入 Electricity revenue", "revenue"),
    FUNDS_PAYABLE: ("代征政府性基金 Government funds payable", "liability"),
    CUSTOMER_CREDIT: ("预收电费 Customer credit (prepaid / overpaid)", "liability"),
    LATE_FEE_INCOME: ("违约金收入 Late-fee income", "revenue"),
}


@dataclass(frozen=True, slots=True)
class Leg:
    """One posting: a ledger account, a signed amount [fen], and optionally the sub-ledger keys."""

    ledger_account: str
    amount_minor: int
    account_id: int | None = None
    bill_id: int | None = None


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """A journal entry before it is stored; ``(source_type, source_key)`` makes it idempotent."""

    source_type: str
    source_key: str
    booked_on: date
    description: str
    legs: tuple[Leg, ...]
    reverses_entry_id: int | None = None


def check_balanced(entries: Iterable[EntryDraft]) -> None:
    """Raise :class:`LedgerError` naming the first entry whose legs do not sum to zero."""
    for entry in entries:
        if not entry.legs:
            raise LedgerError(f"journal entry {entry.source_type}:{entry.source_key} has no legs")
        total = sum(leg.amount_minor for leg in entry.legs)
        if total != 0:
            raise LedgerError(
                f"journal entry {entry.source_type}:{entry.source_key} does not balance: "
                f"legs sum to {total} fen"
            )
        unknown = [leg.ledger_account for leg in entry.legs if leg.ledger_account not in CHART]
        if unknown:
            raise LedgerError(
                f"journal entry {entry.source_type}:{entry.source_key} posts to unknown "
                f"ledger account {unknown[0]}"
            )


def reversal_of(entry: EntryDraft, *, entry_id: int, booked_on: date, reason: str) -> EntryDraft:
    """The entry that undoes ``entry`` (stored as ``entry_id``): every leg negated."""
    return EntryDraft(
        source_type="reversal",
        source_key=str(entry_id),
        booked_on=booked_on,
        description=f"reversal: {reason}",
        legs=tuple(
            Leg(leg.ledger_account, -leg.amount_minor, leg.account_id, leg.bill_id)
            for leg in entry.legs
        ),
        reverses_entry_id=entry_id,
    )
