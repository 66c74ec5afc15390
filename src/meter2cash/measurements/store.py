"""The columnar measurement store: register reads, 15-minute intervals and meter events.

Layout under ``root``::

    <kind>/local_date=YYYY-MM-DD/<batch_id>.parquet        accepted rows (kind = register_reads,
                                                           intervals or events)
    conflicts/<kind>/local_date=YYYY-MM-DD/<batch_id>.parquet   raw rows that disagreed with a
                                                           stored raw value (+ existing_value)
    quarantine/<kind>/<batch_id>.parquet                   rejected rows as text, with a reason
    store.json                                             the zone the partitions were cut in
    .writer.lock                                           the single-writer lock

``local_date`` is the local calendar day of ``ts`` in the utility's zone. Each ingest call
writes at most one file per local day it touches, durably (see
:func:`~meter2cash.measurements.files.write_durable`); a call is acknowledged when it returns
its :class:`IngestReport`. A crash part-way through a call may leave some of its day files
written: replaying the same batch is safe, the rows already stored count as duplicates.

Raw values are never overwritten. A VEE result is a new row with ``version`` one above the
key's highest, a quality flag and a provenance ``source``; readers take the highest version.

One writer process at a time is supported; writes take ``root/.writer.lock`` (``flock``).
Readers need no lock: they only ever see whole files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from meter2cash.core.clock import Clock, SystemClock
from meter2cash.core.errors import InputError, M2CError
from meter2cash.core.ids import new_id
from meter2cash.core.timezones import require_aware
from meter2cash.measurements.files import write_durable, write_durable_text, writer_lock
from meter2cash.measurements.schema import (
    KINDS,
    QUARANTINE,
    RAW,
    READ_TYPES,
    SPECS,
    UTC_TS,
    VERSION_QUALITIES,
    Kind,
    KindSpec,
)

_PARTITION = "local_date="
_META = ("source", "batch_id", "ingested_at")
_FLOAT_TO_DECIMAL = (
    "COALESCE(TRY_CAST(ROUND(TRY_CAST({v} AS DECIMAL(18, 8)), 4) AS DECIMAL(18, 4)), "
    "TRY_CAST(ROUND({v}, 4) AS DECIMAL(18, 4)))"
)


@dataclass(frozen=True)
class IngestReport:
    """What one ingest call did with its rows: ``received`` = the other four summed."""

    kind: str
    received: int
    accepted: int
    duplicates: int
    conflicts: int
    quarantined: int


def connect() -> duckdb.DuckDBPyConnection:
    """An in-process DuckDB connection that speaks UTC and prints no progress bars."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def check_kind(kind: str) -> Kind:
    """``kind`` as a :data:`Kind`, or an :class:`InputError` listing the kinds."""
    for known in KINDS:
        if known == kind:
            return known
    raise InputError(f"unknown measurement kind {kind!r}", "use one of " + ", ".join(KINDS))


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _value_sql(value_type: pa.DataType) -> tuple[str, str]:
    """DuckDB expressions (stored DECIMAL(18,4) value, CASE arms of rejection reasons).

    Floats are first rounded to 8 decimal places, which removes binary noise for values
    below 10^10, then half-up (away from zero) to 4 decimal places; so 0.00015 → 0.0002,
    the same as :func:`meter2cash.core.money.energy`. Decimals and integers round half-up
    to 4 decimal places directly; text is parsed as a float.
    """
    if pa.types.is_floating(value_type) or pa.types.is_string(value_type):
        number = "value_in" if pa.types.is_floating(value_type) else "TRY_CAST(value_in AS DOUBLE)"
        stored = _FLOAT_TO_DECIMAL.format(v=number)
        reasons = (
            f"WHEN {number} IS NULL THEN 'value is not a number' "
            f"WHEN isnan({number}) THEN 'value is NaN' "
            f"WHEN isinf({number}) THEN 'value is infinite' "
        )
    elif pa.types.is_integer(value_type) or pa.types.is_decimal(value_type):
        stored = "TRY_CAST(ROUND(value_in, 4) AS DECIMAL(18, 4))"
        reasons = ""
    else:
        raise InputError(
            f"column 'value' has type {value_type}", "give numbers (float, decimal or integer)"
        )
    reasons = (
        "WHEN value_in IS NULL THEN 'value is null' "
        + reasons
        + f"WHEN {stored} IS NULL THEN 'value out of range for DECIMAL(18,4)' "
    )
    return stored, reasons


class MeasurementStore:
    """Parquet files partitioned by local day; DuckDB in-process for dedup and scans.

    Parameters
    ----------
    root
        Directory of the store (``Settings.measurements_dir``); created on first write.
    tz
        The utility's zone: cuts ``local_date`` partitions and interval ``slot`` numbers.
        Fixed for the life of a store (recorded in ``store.json``).
    clock
        Source of ``ingested_at``; the system clock unless a test injects one.
    """

    def __init__(self, root: Path, tz: ZoneInfo, *, clock: Clock | None = None) -> None:
        self.root = root
        self.tz = tz
        self._clock: Clock = clock or SystemClock()
        marker = root / "store.json"
        if marker.exists():
            recorded = json.loads(marker.read_text())["tz"]
            if recorded != tz.key:
                raise M2CError(
                    f"measurement store {root} was partitioned in {recorded}, not {tz.key}",
                    f"set M2C_TIMEZONE={recorded} or use another M2C_HOME",
                )

    # ------------------------------------------------------------------ ingest

    def ingest_register_reads(self, table: pa.Table, *, source: str) -> IngestReport:
        """Store raw register reads [kWh; kvarh for ``R+``, kW for ``MD+``; as the meter shows
        them, before the multiplier].

        Columns: ``meter_no``, ``channel`` (``A+``, ``A+1``…``A+4``, ``A-``, ``R+``,
        ``MD+``), ``ts`` (timezone-aware timestamp), ``value`` (float, decimal or integer; stored as
        DECIMAL(18,4), see :func:`_value_sql`) and optionally ``read_type``
        (``daily_frozen`` when absent or null, or ``on_demand``).
        """
        return self._ingest("register_reads", table, source=source, quality=RAW)

    def ingest_intervals(self, table: pa.Table, *, source: str) -> IngestReport:
        """Store raw 15-minute interval values [kWh or kvarh per interval].

        Columns: ``meter_no``, ``channel`` (``kWh``, ``kvarh``), ``ts`` (interval start,
        timezone-aware), ``value``. The store adds ``slot``: the local quarter-hour of the
        interval start read off the local wall clock (``hour * 4 + minute // 15``), so on a
        spring-forward day the skipped hour's slots are absent and on a fall-back day the
        repeated hour's slots occur twice — the slot a wall-clock TOU schedule applies to.
        """
        return self._ingest("intervals", table, source=source, quality=RAW)

    def ingest_events(self, table: pa.Table, *, source: str) -> IngestReport:
        """Store meter events. Columns: ``meter_no``, ``ts`` (aware), ``code``, ``detail``.

        The natural key is (meter_no, ts, code); a repeat with another ``detail`` is a conflict.
        """
        return self._ingest("events", table, source=source, quality=RAW)

    def write_versions(
        self, kind: str, table: pa.Table, *, quality: str, source: str
    ) -> IngestReport:
        """Store VEE results as new versions of (meter_no, channel, ts).

        Each row is stored with ``version`` = the key's highest stored version + 1 (0 when the
        key has none), so earlier versions, raw included, stay untouched. A row equal in value
        and quality to the key's current version is a no-op counted as a duplicate, so
        re-running a VEE job changes nothing. ``quality`` is ``valid``, ``estimated`` or
        ``edited``; ``source`` names the method (e.g. ``vee:linear``). A key may appear only
        once per call.
        """
        checked = check_kind(kind)
        if not SPECS[checked].versioned:
            raise InputError(f"{kind} are not versioned", "write versions of reads or intervals")
        if quality not in VERSION_QUALITIES:
            raise InputError(
                f"quality {quality!r} is not a VEE quality",
                "use one of " + ", ".join(VERSION_QUALITIES),
            )
        return self._ingest(checked, table, source=source, quality=quality)

    # ------------------------------------------------------------------ read

    def glob(self, kind: str) -> str:
        """The Parquet glob of ``kind`` for engines (hive partition ``local_date``)."""
        return str(self.root / check_kind(kind) / "*" / "*.parquet")

    def kind_dir(self, kind: str) -> Path:
        """The directory holding ``kind``'s ``local_date=…`` partitions."""
        return self.root / check_kind(kind)

    def has_data(self, kind: str) -> bool:
        """True once at least one file of ``kind`` is stored."""
        return bool(self._files(self.root / check_kind(kind)))

    def scan(
        self,
        kind: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        meters: Sequence[str] | None = None,
        current: bool = True,
    ) -> pa.Table:
        """Stored rows of ``kind`` with ``start <= ts < end`` (aware instants), of ``meters``.

        ``current=True`` keeps only the highest version per (meter_no, channel, ts); False
        returns every version, raw included. Only partitions whose local day can hold the
        range are read. Rows come sorted by (local_date, meter_no, ts) in the kind's schema.
        """
        spec = SPECS[check_kind(kind)]
        first = self._local_day(start, "scan start") if start else None
        last = self._local_day(end - timedelta(microseconds=1), "scan end") if end else None
        files = self._files(self.root / kind, first=first, last=last)
        if not files:
            return spec.schema.empty_table()
        con = connect()
        where = ["TRUE"]
        if start:
            where.append(f"ts >= '{start.astimezone(UTC).isoformat()}'::TIMESTAMPTZ")
        if end:
            where.append(f"ts < '{end.astimezone(UTC).isoformat()}'::TIMESTAMPTZ")
        if meters is not None:
            con.register("wanted_meters", pa.table({"meter_no": pa.array(meters, pa.string())}))
            where.append("meter_no IN (SELECT meter_no FROM wanted_meters)")
        latest = ""
        if current and spec.versioned:
            latest = (
                f"QUALIFY row_number() OVER (PARTITION BY {', '.join(spec.key)} "
                "ORDER BY version DESC) = 1"
            )
        columns = ", ".join(
            "CAST(local_date AS DATE) AS local_date" if f.name == "local_date" else f.name
            for f in spec.schema
        )
        result = con.execute(
            f"SELECT {columns} FROM read_parquet({_sql_list(files)}, hive_partitioning = true) "
            f"WHERE {' AND '.join(where)} {latest} "
            f"ORDER BY local_date, meter_no, ts"
        ).to_arrow_table()
        return result.cast(spec.schema)

    def count(self, kind: str, *, current: bool = True) -> int:
        """Number of stored rows of ``kind`` (current versions only unless ``current=False``)."""
        return int(self.scan(kind, current=current).num_rows)

    def quarantined(self) -> pa.Table:
        """Every rejected row: original values as text, ``reason``, ``source``, ``batch_id``."""
        files = sorted(str(p) for p in (self.root / "quarantine").glob("*/*.parquet"))
        if not files:
            return QUARANTINE.empty_table()
        con = connect()
        names = ", ".join(QUARANTINE.names)
        result = con.execute(
            f"SELECT {names} FROM read_parquet({_sql_list(files)}) ORDER BY ingested_at, kind"
        ).to_arrow_table()
        return result.cast(QUARANTINE)

    def conflicts(self, kind: str) -> pa.Table:
        """Raw rows of ``kind`` that disagreed with a stored value, with ``existing_value``."""
        spec = SPECS[check_kind(kind)]
        schema = spec.schema.append(spec.conflict_schema.field("existing_value"))
        files = self._files(self.root / "conflicts" / kind)
        if not files:
            return schema.empty_table()
        con = connect()
        columns = ", ".join(
            "CAST(local_date AS DATE) AS local_date" if n == "local_date" else n
            for n in schema.names
        )
        result = con.execute(
            f"SELECT {columns} FROM read_parquet({_sql_list(files)}, hive_partitioning = true) "
            "ORDER BY local_date, meter_no, ts"
        ).to_arrow_table()
        return result.cast(schema)

    # ------------------------------------------------------------------ internals

    def _local_day(self, instant: datetime, where: str) -> date:
        return require_aware(instant, where).astimezone(self.tz).date()

    @staticmethod
    def _files(kind_dir: Path, *, first: date | None = None, last: date | None = None) -> list[str]:
        """Parquet files under ``kind_dir`` whose partition day lies in [first, last]."""
        if not kind_dir.is_dir():
            return []
        files: list[str] = []
        for part in sorted(kind_dir.iterdir()):
            if not part.name.startswith(_PARTITION):
                continue
            day = date.fromisoformat(part.name.removeprefix(_PARTITION))
            if (first and day < first) or (last and day > last):
                continue
            files.extend(sorted(str(p) for p in part.glob("*.parquet")))
        return files

    def _ensure_marker(self) -> None:
        marker = self.root / "store.json"
        if not marker.exists():
            write_durable_text(marker, json.dumps({"tz": self.tz.key}))

    def _stage(self, kind: Kind, table: pa.Table) -> pa.Table:
        """Input columns checked and normalised for DuckDB; whole-batch problems raise.

        Adds ``_row`` (input order), ``local_date`` and, for intervals, ``slot``; ``ts``
        becomes timestamp[us, UTC]; the raw value stays as ``value_in``.
        """
        needed = {
            "register_reads": ("meter_no", "channel", "ts", "value"),
            "intervals": ("meter_no", "channel", "ts", "value"),
            "events": ("meter_no", "ts", "code", "detail"),
        }[kind]
        missing = [c for c in needed if c not in table.column_names]
        if missing:
            raise InputError(
                f"{kind} batch lacks column(s) {', '.join(missing)}",
                "give " + ", ".join(needed),
            )
        ts_type = table.schema.field("ts").type
        if not pa.types.is_timestamp(ts_type):
            raise InputError(f"column 'ts' has type {ts_type}", "give timezone-aware timestamps")
        if ts_type.tz is None:
            raise InputError(
                "column 'ts' holds naive timestamps (no time zone)",
                "give timezone-aware timestamps, e.g. timestamp[us, tz=UTC]",
            )
        try:
            ts = table["ts"].cast(UTC_TS)
            strings = {c: table[c].cast(pa.string()) for c in needed if c not in ("ts", "value")}
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputError(f"{kind} batch has unconvertible columns: {exc}") from exc
        local = ts.cast(pa.timestamp("us", tz=self.tz.key))
        columns: dict[str, pa.ChunkedArray | pa.Array] = {
            "_row": pa.array(np.arange(table.num_rows, dtype=np.int64)),
            **strings,
            "ts": ts,
            "local_date": pc.local_timestamp(local).cast(pa.date32()),
        }
        if kind == "intervals":
            slot = pc.add(pc.multiply(pc.hour(local), 4), pc.divide(pc.minute(local), 15))
            columns["slot"] = slot.cast(pa.int16())
        if kind == "register_reads":
            columns["read_type"] = (
                table["read_type"].cast(pa.string())
                if "read_type" in table.column_names
                else pa.nulls(table.num_rows, pa.string())
            )
        if "value" in needed:
            value = table["value"]
            columns["value_in"] = (
                value.cast(pa.float64()) if pa.types.is_null(value.type) else value
            )
        return pa.table(columns)

    def _ingest(self, kind: Kind, table: pa.Table, *, source: str, quality: str) -> IngestReport:
        spec = SPECS[kind]
        staged = self._stage(kind, table)
        if staged.num_rows == 0:
            return IngestReport(kind, 0, 0, 0, 0, 0)
        batch_id = new_id()
        ingested_at = self._clock.now().astimezone(UTC)
        con = connect()
        con.register("input_rows", staged)
        con.execute(
            "CREATE TEMP TABLE meta AS SELECT ? AS source, ? AS batch_id, ?::TIMESTAMPTZ AS "
            "ingested_at, ? AS quality",
            [source, batch_id, ingested_at, quality],
        )
        stored_value, value_reasons = (
            _value_sql(staged.schema.field("value_in").type)
            if "value_in" in staged.column_names
            else ("detail", "")
        )
        not_blank = [c for c in ("meter_no", "channel", "code") if c in staged.column_names]
        reasons = "".join(f"WHEN {c} IS NULL OR {c} = '' THEN 'missing {c}' " for c in not_blank)
        reasons += "WHEN ts IS NULL THEN 'missing ts' " + value_reasons
        extra = ""
        if kind == "register_reads":
            reasons += (
                f"WHEN COALESCE(read_type, 'daily_frozen') NOT IN {tuple(READ_TYPES)!r} "
                "THEN 'unknown read_type ' || read_type "
            )
            extra = ", COALESCE(read_type, 'daily_frozen') AS read_type"
        elif kind == "intervals":
            extra = ", slot"
        con.execute(
            f"CREATE TEMP TABLE staged AS SELECT _row, {', '.join(spec.key)}, local_date, "
            f"{stored_value} AS {spec.payload}{extra}, CASE {reasons} END AS reason "
            "FROM input_rows"
        )

        with writer_lock(self.root):
            self._ensure_marker()
            days = [
                d
                for (d,) in con.execute(
                    "SELECT DISTINCT local_date FROM staged WHERE reason IS NULL"
                ).fetchall()
            ]
            self._register_stored(con, spec, kind, days)
            self._classify(con, spec, quality)
            counts = dict(
                con.execute("SELECT outcome, count(*) FROM classified GROUP BY outcome").fetchall()
            )
            self._write_rows(con, spec, kind, batch_id)
            quarantined = self._write_quarantine(con, kind, batch_id)
        return IngestReport(
            kind=kind,
            received=table.num_rows,
            accepted=counts.get("accept", 0),
            duplicates=counts.get("duplicate", 0),
            conflicts=counts.get("conflict", 0),
            quarantined=quarantined,
        )

    def _register_stored(
        self, con: duckdb.DuckDBPyConnection, spec: KindSpec, kind: Kind, days: list[date]
    ) -> None:
        """View ``stored_keys``: per key already stored on the batch's days, what is there.

        Only the partitions of the days the batch touches are read, so the cost of an ingest
        does not grow with the length of history.
        """
        files = [
            str(p) for d in days for p in (self.root / kind / f"{_PARTITION}{d}").glob("*.parquet")
        ]
        key = ", ".join(spec.key)
        if not files:
            con.register("stored", spec.file_schema.empty_table())
        else:
            con.execute(f"CREATE VIEW stored AS SELECT * FROM read_parquet({_sql_list(files)})")
        if spec.versioned:
            con.execute(
                f"CREATE TEMP TABLE stored_keys AS SELECT {key}, max(version) AS max_version, "
                f"any_value({spec.payload}) FILTER (WHERE quality = '{RAW}') AS raw_value, "
                f"count(*) FILTER (WHERE quality = '{RAW}') > 0 AS has_raw, "
                f"arg_max({spec.payload}, version) AS current_value, "
                "arg_max(quality, version) AS current_quality "
                f"FROM stored SEMI JOIN staged USING ({key}) GROUP BY {key}"
            )
        else:
            con.execute(
                f"CREATE TEMP TABLE stored_keys AS SELECT {key}, NULL::INTEGER AS max_version, "
                f"any_value({spec.payload}) AS raw_value, TRUE AS has_raw, "
                "NULL AS current_value, NULL::VARCHAR AS current_quality "
                f"FROM stored SEMI JOIN staged USING ({key}) GROUP BY {key}"
            )

    @staticmethod
    def _classify(con: duckdb.DuckDBPyConnection, spec: KindSpec, quality: str) -> None:
        """Table ``classified``: each valid row's outcome (accept, duplicate, conflict).

        Raw ingest: a repeat of a key within the batch, or of a key with a stored raw row, is
        a duplicate when its value is the same and a conflict otherwise (``existing_value`` =
        the earlier value). VEE versions: a row equal to the key's current version is a
        duplicate; a key repeated within one call is refused.
        """
        key = ", ".join(spec.key)
        joined = " AND ".join(f"s.{k} = e.{k}" for k in spec.key)
        p = spec.payload
        con.execute(
            f"CREATE TEMP TABLE batch_keys AS SELECT {key}, min(_row) AS first_row, "
            f"arg_min({p}, _row) AS first_payload, count(*) AS repeats "
            f"FROM staged WHERE reason IS NULL GROUP BY {key}"
        )
        con.execute(
            "CREATE TEMP VIEW ranked AS SELECT s.*, b.first_payload, "
            "CASE WHEN s._row = b.first_row THEN 1 ELSE 2 END AS rank_in_batch "
            f"FROM staged s JOIN batch_keys b USING ({key})"
        )
        if quality == RAW:
            outcome = (
                f"CASE WHEN s.rank_in_batch > 1 AND s.{p} IS NOT DISTINCT FROM s.first_payload "
                "THEN 'duplicate' WHEN s.rank_in_batch > 1 THEN 'conflict' "
                f"WHEN e.has_raw AND s.{p} IS NOT DISTINCT FROM e.raw_value THEN 'duplicate' "
                "WHEN e.has_raw THEN 'conflict' ELSE 'accept' END"
            )
        else:
            repeated = con.execute(
                f"SELECT {key} FROM batch_keys WHERE repeats > 1 LIMIT 1"
            ).fetchone()
            if repeated:
                raise InputError(
                    f"VEE batch holds key {repeated} more than once",
                    "give one value per (meter_no, channel, ts)",
                )
            outcome = (
                f"CASE WHEN s.{p} IS NOT DISTINCT FROM e.current_value "
                f"AND e.current_quality = '{quality}' THEN 'duplicate' ELSE 'accept' END"
            )
        con.execute(
            f"CREATE TEMP TABLE classified AS SELECT s.*, {outcome} AS outcome, "
            "CASE WHEN s.rank_in_batch > 1 THEN s.first_payload ELSE e.raw_value END "
            "AS existing_value, (COALESCE(e.max_version, -1) + 1)::INTEGER AS version "
            f"FROM ranked s LEFT JOIN stored_keys e ON {joined}"
        )

    def _write_rows(
        self, con: duckdb.DuckDBPyConnection, spec: KindSpec, kind: Kind, batch_id: str
    ) -> None:
        """Write accepted rows and conflicts, one file per local day."""
        columns = ", ".join(spec.file_schema.names)
        # Batches usually arrive grouped by meter and time; sorting by day alone is enough
        # to cut one file per day and far cheaper than a sort on the whole key.
        order = "ORDER BY local_date"
        for outcome, base, schema in (
            ("accept", self.root / kind, spec.file_schema),
            ("conflict", self.root / "conflicts" / kind, spec.conflict_schema),
        ):
            names = columns + (", existing_value" if outcome == "conflict" else "")
            rows = con.execute(
                f"SELECT local_date, {names} FROM classified, meta "
                f"WHERE outcome = '{outcome}' {order}"
            ).to_arrow_table()
            if rows.num_rows == 0:
                continue
            days = rows["local_date"].combine_chunks()
            body = rows.drop_columns(["local_date"]).cast(schema)
            boundaries = _run_starts(days)
            for start, stop in zip(boundaries, [*boundaries[1:], rows.num_rows], strict=True):
                day = days[start].as_py()
                write_durable(
                    base / f"{_PARTITION}{day.isoformat()}" / f"{batch_id}.parquet",
                    body.slice(start, stop - start),
                )

    def _write_quarantine(self, con: duckdb.DuckDBPyConnection, kind: Kind, batch_id: str) -> int:
        """Write rejected rows of the batch as text with their reason; return how many."""
        given = set(con.execute("SELECT * FROM input_rows LIMIT 0").to_arrow_table().column_names)

        def original(name: str) -> str:
            column = "value_in" if name == "value" else name
            if column in given:
                return f"CAST(i.{column} AS VARCHAR) AS {name}"
            return f"NULL::VARCHAR AS {name}"

        text = ", ".join(
            original(n) for n in QUARANTINE.names if n not in ("kind", "reason", *_META)
        )
        rows = con.execute(
            f"SELECT '{kind}' AS kind, {text}, s.reason, {', '.join(_META)} "
            "FROM staged s JOIN input_rows i USING (_row), meta "
            "WHERE s.reason IS NOT NULL ORDER BY _row"
        ).to_arrow_table()
        if rows.num_rows:
            write_durable(
                self.root / "quarantine" / kind / f"{batch_id}.parquet",
                rows.select(QUARANTINE.names).cast(QUARANTINE),
            )
        return int(rows.num_rows)


def _run_starts(days: pa.Array) -> list[int]:
    """Indices where a sorted array of days changes value (always starting with 0)."""
    values = days.cast(pa.int32()).to_numpy(zero_copy_only=False)
    return [0, *(np.flatnonzero(np.diff(values)) + 1).tolist()]
