"""Payment allocation: pure rules that split a payment over a customer's open bills."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OpenItem:
    """An open bill of one account: ``open_minor`` [fen] still owed, ordered by ``bill_date``."""

    bill_id: int
    open_minor: int


def allocate_oldest_first(
    items: Sequence[OpenItem], amount_minor: int
) -> tuple[list[tuple[int, int]], int]:
    """Allocate ``amount_minor`` [fen] to ``items`` in the order given (oldest first).

    Returns ``([(bill_id, allocated fen), ...], unallocated remainder [fen])``; the remainder
    is the customer's credit.
    """
    if amount_minor <= 0:
        raise ValueError(f"payment amount must be positive, got {amount_minor} fen")
    remaining = amount_minor
    allocations: list[tuple[int, int]] = []
    for item in items:
        if remaining == 0:
            break
        if item.open_minor <= 0:
            continue
        take = min(item.open_minor, remaining)
        allocations.append((item.bill_id, take))
        remaining -= take
    return allocations, remaining
