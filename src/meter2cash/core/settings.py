"""Settings from the environment (``M2C_*``), validated once at start.

An ``M2C_`` variable that is not a known setting is an error, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from zoneinfo import ZoneInfo

from meter2cash.core.errors import SettingsError
from meter2cash.core.timezones import DEFAULT_TIMEZONE, zone

EngineName = Literal["duckdb", "spark"]

KNOWN: Final = {
    "M2C_HOME": "directory holding the embedded database and measurement store (./m2c-data)",
    "M2C_DATABASE_URL": "SQLAlchemy URL of the records database (SQLite file in M2C_HOME)",
    "M2C_ENGINE": "batch engine: duckdb (embedded, default) or spark",
    "M2C_SPARK_MASTER": "Spark master URL when M2C_ENGINE=spark (local[*])",
    "M2C_TIMEZONE": "the utility's IANA time zone (Asia/Shanghai)",
    "M2C_CALLBACK_SECRET": "shared secret signing online/QR payment callbacks (HMAC-SHA256)",
}
_IGNORED_PREFIXES: Final = ("M2C_TEST_",)


@dataclass(frozen=True, slots=True)
class Settings:
    """Where data lives and how batch work runs."""

    home: Path
    database_url: str
    engine: EngineName
    spark_master: str
    timezone_name: str
    callback_secret: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone_name)

    @property
    def measurements_dir(self) -> Path:
        return self.home / "measurements"

    @property
    def ground_truth_dir(self) -> Path:
        """Simulator labels: kept apart from everything the rest of the system reads."""
        return self.home / "simulator-ground-truth"

    @property
    def embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        unknown = sorted(
            k
            for k in env
            if k.startswith("M2C_") and k not in KNOWN and not k.startswith(_IGNORED_PREFIXES)
        )
        if unknown:
            raise SettingsError(
                f"unknown setting {unknown[0]}",
                "known settings are " + ", ".join(sorted(KNOWN)),
            )
        home = Path(env.get("M2C_HOME", "m2c-data")).expanduser().resolve()
        database_url = env.get("M2C_DATABASE_URL") or f"sqlite:///{home / 'records.sqlite'}"
        engine = env.get("M2C_ENGINE", "duckdb")
        if engine not in ("duckdb", "spark"):
            raise SettingsError(f"M2C_ENGINE={engine!r} is not an engine", "use duckdb or spark")
        tz_name = env.get("M2C_TIMEZONE", DEFAULT_TIMEZONE)
        zone(tz_name)
        return cls(
            home=home,
            database_url=database_url,
            engine="spark" if engine == "spark" else "duckdb",
            spark_master=env.get("M2C_SPARK_MASTER", "local[*]"),
            timezone_name=tz_name,
            callback_secret=env.get("M2C_CALLBACK_SECRET") or None,
        )
