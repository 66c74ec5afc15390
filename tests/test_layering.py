"""The import rules of docs/architecture.md, checked on every run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "meter2cash"

PURE_MODULES = [
    "core/money.py",
    "core/clock.py",
    "core/timezones.py",
    "core/errors.py",
    "core/ids.py",
    "tariffs/rating.py",
    "tariffs/urdb.py",
    "tariffs/demand.py",
    "tariffs/power_factor.py",
    "tariffs/net_metering.py",
    "tariffs/tax.py",
    "tariffs/proration.py",
    "tariffs/profile_bill.py",
    "tariffs/load_profile.py",
    "tariffs/schema.py",
    "vee/rules.py",
    "vee/estimation.py",
    "vee/gaps.py",
    "vee/grid.py",
    "vee/interpolation.py",
    "vee/like_day.py",
    "vee/previous_day.py",
    "vee/register_spread.py",
    "billing/pricing.py",
    "billing/rate_frame.py",
    "ledger/aging.py",
    "ledger/allocation.py",
    "ledger/late_fees.py",
    "ledger/bank_files.py",
    "collections/dunning.py",
    "collections/fee_control.py",
    "ledger/journal.py",
    "billing/review.py",
]
FORBIDDEN_IN_PURE = ("sqlalchemy", "duckdb", "ibis", "pyspark", "fastapi", "meter2cash.db")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("core"), ids=lambda p: p.name)
def test_core_imports_nothing_else_of_ours(path: Path) -> None:
    ours = {m for m in _imports(path) if m.startswith("meter2cash")}
    assert all(m.startswith("meter2cash.core") for m in ours), ours


@pytest.mark.parametrize(
    "path",
    [p for p in SRC.rglob("*.py") if "cli" not in p.parts],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_nothing_below_the_interfaces_imports_them(path: Path) -> None:
    bad = {
        m
        for m in _imports(path)
        if m.startswith(("meter2cash.cli", "meter2cash.api", "meter2cash.web"))
    }
    assert not bad, f"{path.relative_to(SRC)} imports interface modules {bad}"


@pytest.mark.parametrize("name", PURE_MODULES)
def test_pure_calculations_import_no_database_or_engine(name: str) -> None:
    bad = {m for m in _imports(SRC / name) if m.startswith(FORBIDDEN_IN_PURE)}
    assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("path", _modules("simulator"), ids=lambda p: p.name)
def test_the_simulator_is_a_data_source_not_a_client_of_the_records(path: Path) -> None:
    bad = {
        m
        for m in _imports(path)
        if m.startswith(("meter2cash.db", "meter2cash.ledger", "meter2cash.billing", "sqlalchemy"))
    }
    assert not bad, f"simulator/{path.name} imports {bad}"
