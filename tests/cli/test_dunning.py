"""`m2c dunning run | show | evidence` as a collector runs them, and a bad policy file."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from meter2cash.assets.models import Utility
from meter2cash.billing.issue import issue_approved
from meter2cash.core.clock import FixedClock
from meter2cash.core.settings import Settings
from meter2cash.db.session import make_engine, unit_of_work
from tests.cli.test_bad_input import _one_line_error
from tests.cli.test_spine import m2c
from tests.factories import create_account, create_bill


@pytest.fixture
def home(tmp_path: Path, clock: FixedClock) -> Path:
    """A data home where A001 owes 120.00, due 2 August 2026."""
    assert m2c(tmp_path, "db", "upgrade").returncode == 0
    engine = make_engine(Settings.from_env({"M2C_HOME": str(tmp_path)}).database_url)
    with unit_of_work(engine) as session:
        session.add(
            Utility(
                name="示范供电公司",
                fingerprint="test",
                timezone="Asia/Shanghai",
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
        create_bill(session, create_account(session, "A001"), 12_000, date(2026, 8, 2))
        issue_approved(session, clock)
    engine.dispose()
    return tmp_path


def test_run_show_and_evidence(home: Path) -> None:
    result = m2c(home, "dunning", "run", "--on", "2026-08-03", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["moved"], report["messages_queued"]) == ({"reminder": 1}, 1)
    table = m2c(home, "dunning", "run", "--on", "2026-08-17").stdout
    assert "催费通知单 Formal notice" in table and "notices written (PDF)" in table
    shown = json.loads(m2c(home, "dunning", "show", "A001", "--json").stdout)
    assert shown["step"] == "formal_notice"
    assert [s["step"] for s in shown["steps"]] == ["reminder", "formal_notice"]
    assert [m["channel"] for m in shown["messages"]] == ["sms", "sms", "letter"]
    out = home / "pack.pdf"
    result = m2c(home, "dunning", "evidence", "A001", "--output", str(out), "--on", "2026-08-20")
    assert result.returncode == 0, result.stderr
    text = "\n".join(p.extract_text() for p in PdfReader(out).pages)
    assert "20260802-A001" in text and "催费通知单 Formal notice" in text


def test_a_bad_policy_is_one_clear_line(home: Path) -> None:
    policy = home / "policy.yaml"
    policy.write_text(
        "steps:\n  - name: reminder\n    label: 提醒\n    after_days: 0\n    actions: [sms]\n"
    )
    refused = m2c(home, "dunning", "run", "--policy", str(policy))
    assert refused.returncode == 2
    line = _one_line_error(refused)
    assert "policy.yaml: steps.0.after_days:" in line and "greater than or equal to 1" in line
    assert _one_line_error(m2c(home, "dunning", "show", "A999")).endswith(
        "unknown account A999 — give an account number (户号)"
    )
