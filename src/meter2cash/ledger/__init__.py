"""Receivables ledger: double-entry, append-only journal, payments, aging."""
