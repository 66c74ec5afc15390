"""Identifiers: stable natural keys and random batch ids."""

from __future__ import annotations

import uuid


def new_id() -> str:
    """A random 32-hex-digit identifier for batches, runs and entries."""
    return uuid.uuid4().hex
