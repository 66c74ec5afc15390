"""Errors a user can act on.

Every error meant for a person carries what is wrong and how to fix it; the CLI prints
``str(error)`` on one line and exits non-zero, never a traceback.
"""

from __future__ import annotations


class M2CError(Exception):
    """Base of every error meant for a user: a problem and, where known, the fix."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} — {fix}" if fix else problem)


class SettingsError(M2CError):
    """An unknown or malformed setting."""


class DataHomeError(M2CError):
    """``M2C_HOME`` is missing, corrupt, or holds a different utility."""


class DatabaseError(M2CError):
    """The records database cannot be opened, is corrupt, or is not migrated."""


class InputError(M2CError):
    """Input rejected at a boundary (file, row, message); names where."""


class LedgerError(M2CError):
    """A journal entry that would break double entry."""


class TariffError(M2CError):
    """A malformed tariff file or a tariff that cannot rate a bill."""
