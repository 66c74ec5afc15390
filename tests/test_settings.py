"""Settings, time zones and money: the non-negotiables at the boundary."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from meter2cash.core.errors import InputError, SettingsError
from meter2cash.core.money import from_minor, quantize_money, to_minor
from meter2cash.core.settings import Settings
from meter2cash.core.timezones import parse_instant, require_aware


def test_an_unknown_setting_is_named_with_the_known_ones() -> None:
    with pytest.raises(SettingsError, match=r"unknown setting M2C_HOMME.*M2C_HOME"):
        Settings.from_env({"M2C_HOMME": "/tmp/x"})


def test_a_bad_engine_or_zone_is_refused() -> None:
    with pytest.raises(SettingsError, match="not an engine"):
        Settings.from_env({"M2C_ENGINE": "hadoop"})
    with pytest.raises(SettingsError, match="unknown time zone 'Mars/Olympus'"):
        Settings.from_env({"M2C_TIMEZONE": "Mars/Olympus"})


def test_defaults_put_everything_under_m2c_home(tmp_path: object) -> None:
    s = Settings.from_env({"M2C_HOME": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path}/records.sqlite"
    assert s.measurements_dir == s.home / "measurements"
    assert s.engine == "duckdb" and s.timezone_name == "Asia/Shanghai"


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(InputError, match="naive timestamp 2026-07-01T00:00:00 in meter A"):
        require_aware(datetime(2026, 7, 1), "meter A")
    with pytest.raises(InputError, match="naive"):
        parse_instant("2026-07-01T00:00:00", "row 3")
    assert parse_instant("2026-07-01T08:00:00+08:00", "row 3").hour == 0


def test_money_rounds_half_up_once_and_stores_fen() -> None:
    assert quantize_money(Decimal("0.005")) == Decimal("0.01")
    assert quantize_money(Decimal("2.345")) == Decimal("2.35")
    assert quantize_money(Decimal("2.345"), mode="half_even") == Decimal("2.34")
    assert to_minor(Decimal("12.34")) == 1234
    assert from_minor(1234) == Decimal("12.34")
    with pytest.raises(ValueError, match="not quantised"):
        to_minor(Decimal("0.001"))
