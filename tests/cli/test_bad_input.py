"""Bad input: one line naming the problem and the fix, non-zero exit, no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_spine import m2c


def _one_line_error(result: object) -> str:
    stderr = result.stderr
    assert result.returncode != 0
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_missing_database(tmp_path: Path) -> None:
    line = _one_line_error(m2c(tmp_path / "empty", "status"))
    assert "no records database" in line and "m2c db upgrade" in line


def test_corrupt_database_is_reported_and_left_alone(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    db = tmp_path / "records.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    line = _one_line_error(m2c(tmp_path, "status"))
    assert "cannot read the records database" in line
    assert db.read_bytes() == b"this is not a database" * 100


def test_unknown_setting(tmp_path: Path) -> None:
    line = _one_line_error(m2c(tmp_path, "status", env={"M2C_ENGIN": "spark"}))
    assert "unknown setting M2C_ENGIN" in line and "M2C_ENGINE" in line


def test_malformed_tariff_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "code: RES-X\nname: x\ncustomer_class: residential\nversions:\n"
        "  - version: 1\n    effective_from: 2026-01-01\n    components:\n"
        "      - kind: energy_tiered\n        period: annual\n        tiers:\n"
        "          - {up_to_kwh: '2760', price: '0.538'}\n"
        "          - {up_to_kwh: '2000', price: '0.588'}\n"
        "          - {up_to_kwh: null, price: '0.838'}\n"
    )
    line = _one_line_error(m2c(tmp_path, "tariff", "check", str(bad)))
    assert "bad.yaml" in line and "tiers[1].up_to_kwh" in line


def test_m2c_home_that_is_a_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("oops")
    line = _one_line_error(m2c(home, "status"))
    assert "M2C_HOME" in line or "records database" in line
