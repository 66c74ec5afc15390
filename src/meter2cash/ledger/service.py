"""Ledger services: post entries and report the trial balance.

Services never commit; the caller's unit of work does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.ledger import repository
from meter2cash.ledger.journal import (
    EntryDraft,
    check_balanced,
)


def post_entries(session: Session, clock: Clock, drafts: Sequence[EntryDraft]) -> list[int]:
    """Post balanced entries; those already posted (same source) are skipped. Returns new ids."""
    check_balanced(drafts)
    chart = repository.ensure_chart(session)
    by_type: dict[str, list[str]] = defaultdict(list)
    for d in drafts:
        by_type[d.source_type].append(d.source_key)
    present = {
        (source_type, key)
        for source_type, keys in by_type.items()
        for key in repository.existing_source_keys(session, source_type, keys)
    }
    fresh = [d for d in drafts if (d.source_type, d.source_key) not in present]
    return repository.insert_entries(session, fresh, chart, clock.now())


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    code: str
    name: str
    debit_minor: int
    credit_minor: int

    @property
    def balance_minor(self) -> int:
        """Debit-positive balance [fen]."""
        return self.debit_minor - self.credit_minor


@dataclass(frozen=True, slots=True)
class TrialBalance:
    rows: tuple[TrialBalanceRow, ...]
    balanced: bool

    def balance_of(self, code: str) -> int:
        return next((r.balance_minor for r in self.rows if r.code == code), 0)


def trial_balance(session: Session) -> TrialBalance:
    """Debits and credits per ledger account, and whether every entry balances."""
    repository.ensure_chart(session)
    rows = tuple(
        TrialBalanceRow(code, name, debit, credit)
        for code, name, debit, credit in repository.balances_by_ledger_account(session)
    )
    balanced = (
        sum(r.balance_minor for r in rows) == 0
        and repository.unbalanced_entry_count(session) == 0
        and repository.entries_without_postings(session) == 0
    )
    return TrialBalance(rows, balanced)
