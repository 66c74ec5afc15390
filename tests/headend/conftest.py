"""Fixtures of the head-end's wire tests (see :mod:`tests.headend.wire_scenarios`)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from meter2cash.simulator import SimulatedUtility, build_utility
from tests.headend.wire_scenarios import SPEC, load_utility


@pytest.fixture(scope="session")
def wire_utility() -> SimulatedUtility:
    """400 accounts, 1 Jul – 9 Aug 2026 (seed 7: three partial bypasses, one reversed wiring)."""
    return build_utility(SPEC)


@pytest.fixture
def wire_records(records: Engine, wire_utility: SimulatedUtility) -> Engine:
    """The records database with the simulated utility's assets."""
    return load_utility(records, wire_utility)
