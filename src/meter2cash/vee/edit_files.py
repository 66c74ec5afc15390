"""A file of edits: a batch of manual corrections and manual reads, applied as one.

CSV with a header: ``meter_no``, ``channel``, ``timestamp`` (ISO 8601 with an offset: a
register read's instant or an interval's start), ``value`` [kWh as the meter shows it, or
kvarh] and optionally ``reason`` (a blank reason takes the command's ``--reason``).

The whole file is checked before anything is written, each row as a single edit is
(:func:`meter2cash.vee.editing.locate`, :func:`~meter2cash.vee.editing.prepare_edit`), and
the rows of one meter and channel must come in time order without repeats; register values
are checked against the file's own rows as well as the stored reads. The first bad row stops
the file with its line number. Then every edit is audited and written (one write per kind),
and each meter is re-run once per run of affected days (:mod:`meter2cash.vee.rerun`). A row
whose point already holds its value as an edit is skipped, so applying a file twice changes
nothing the second time.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError, M2CError
from meter2cash.engines.base import BatchEngine
from meter2cash.vee.editing import (
    PreparedEdit,
    locate,
    parse_value,
    prepare_edit,
    record_edit,
    write_edits,
)
from meter2cash.vee.points import Neighbour, Point
from meter2cash.vee.queue import require_actor
from meter2cash.vee.rerun import Change, RerunReport, plan, rerun_windows

COLUMNS: Final = ("meter_no", "channel", "timestamp", "value")
OPTIONAL: Final = ("reason",)

Progress = Callable[[str, int], AbstractContextManager[Callable[[], None]]]
"""Makes a progress display: (description, total) → a context yielding "one more done"."""


@contextmanager
def no_progress(description: str, total: int) -> Iterator[Callable[[], None]]:
    """A :data:`Progress` that shows nothing."""
    yield lambda: None


@dataclass(frozen=True, slots=True)
class EditRow:
    """One parsed row of a file of edits, with its line number (the header is line 1)."""

    line: int
    point: Point
    value: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class EditFileReport:
    """What a file of edits did: rows read, edited and already done; the findings the edits
    resolved; one re-run per meter and run of days."""

    path: str
    rows: int
    edited: int
    unchanged: int
    resolved: list[int] = field(default_factory=list)
    reruns: list[RerunReport] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "rows": self.rows,
            "edited": self.edited,
            "unchanged": self.unchanged,
            "resolved_findings": self.resolved,
            "reruns": [r.as_json() for r in self.reruns],
        }


def _at(path: Path, line: int, error: M2CError) -> InputError:
    """``error`` as an input error naming the file and line."""
    return InputError(f"{path}:{line}: {error.problem}", error.fix)


def read_rows(session: Session, clock: Clock, path: Path, *, reason: str | None) -> list[EditRow]:
    """The rows of the file at ``path``, each point located and value parsed; rows of one
    meter and channel in time order without repeats. ``reason`` fills blank reasons."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in reader.fieldnames or []]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise InputError(
                    f"{path}:1: no column {', '.join(missing)}",
                    "give a header meter_no,channel,timestamp,value[,reason]",
                )
            reader.fieldnames = header
            rows = [
                _row(session, clock, path, reader.line_num, r, reason, len(header)) for r in reader
            ]
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text", "save the file as UTF-8 CSV") from exc
    except csv.Error as exc:
        raise InputError(f"{path}: not a CSV file ({exc})") from exc
    if not rows:
        raise InputError(f"{path} holds no edits", "give one row per value under the header")
    _check_order(path, rows)
    return rows


def _row(
    session: Session,
    clock: Clock,
    path: Path,
    line: int,
    row: dict[str | Any, str | Any],
    reason: str | None,
    fields: int,
) -> EditRow:
    if None in row or any(row.get(c) is None for c in COLUMNS):
        raise InputError(f"{path}:{line}: not {fields} fields like the header")
    given = (row.get("reason") or "").strip() or (reason or "").strip()
    if not given:
        raise InputError(f"{path}:{line}: no reason", "fill the reason column or pass --reason")
    try:
        point = locate(
            session,
            clock,
            row["meter_no"].strip(),
            row["channel"].strip(),
            row["timestamp"].strip(),
            where="timestamp",
        )
        value = parse_value(row["value"])
    except M2CError as exc:
        raise _at(path, line, exc) from exc
    return EditRow(line, point, value, given)


def _check_order(path: Path, rows: Sequence[EditRow]) -> None:
    """Rows of one meter and channel come in time order, each point once."""
    last: dict[tuple[str, str], EditRow] = {}
    for row in rows:
        series = (row.point.meter_no, row.point.channel)
        before = last.get(series)
        if before is not None and row.point.ts == before.point.ts:
            raise InputError(
                f"{path}:{row.line}: {row.point.key} repeats line {before.line}",
                "give each point once",
            )
        if before is not None and row.point.ts < before.point.ts:
            raise InputError(
                f"{path}:{row.line}: {row.point.key} is earlier than line {before.line} "
                f"({before.point.key})",
                "sort the rows of each meter and channel by timestamp",
            )
        last[series] = row


def check_rows(
    clock: Clock,
    engine: BatchEngine,
    path: Path,
    rows: Sequence[EditRow],
    *,
    actor: str,
    force: bool,
    tick: Callable[[], None],
) -> list[tuple[EditRow, PreparedEdit | None]]:
    """Each row checked as a single edit (None: the point already holds the value as an
    edit); register rows against their file neighbours too. Writes nothing."""
    checked: list[tuple[EditRow, PreparedEdit | None]] = []
    for row, beside in zip(rows, _beside(rows), strict=True):
        try:
            prepared = prepare_edit(
                clock, engine.store, row.point, row.value, actor=actor, force=force, beside=beside
            )
        except M2CError as exc:
            raise _at(path, row.line, exc) from exc
        checked.append((row, prepared))
        tick()
    return checked


def _beside(rows: Sequence[EditRow]) -> list[tuple[Neighbour | None, Neighbour | None]]:
    """For each row, the rows of its meter and channel just before and after it (the rows
    of a series are in time order, :func:`_check_order`)."""
    series: dict[tuple[str, str], list[int]] = {}
    for i, row in enumerate(rows):
        series.setdefault((row.point.meter_no, row.point.channel), []).append(i)
    beside: list[tuple[Neighbour | None, Neighbour | None]] = [(None, None)] * len(rows)
    for members in series.values():
        given = [Neighbour(rows[i].point.ts, rows[i].value, "edited") for i in members]
        for k, i in enumerate(members):
            beside[i] = (
                given[k - 1] if k > 0 else None,
                given[k + 1] if k + 1 < len(given) else None,
            )
    return beside


def edit_file(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    path: Path,
    *,
    reason: str | None,
    actor: str,
    force: bool = False,
    progress: Progress = no_progress,
) -> EditFileReport:
    """Check the file of edits at ``path`` whole, then apply it as one batch (see the module
    docstring). ``force`` lets register values break monotonicity, as for one edit."""
    require_actor(actor)
    rows = read_rows(session, clock, path, reason=reason)
    with progress("check edits", len(rows)) as tick:
        checked = check_rows(clock, engine, path, rows, actor=actor, force=force, tick=tick)
    edits = [(row, prepared) for row, prepared in checked if prepared is not None]
    resolved: list[int] = []
    for row, prepared in edits:
        resolved += record_edit(session, clock, prepared, actor=actor, reason=row.reason)
    write_edits(engine.store, [prepared for _, prepared in edits], actor)
    windows = plan(engine.store, [Change(p.point, p.value_changed) for _, p in edits])
    reports: list[RerunReport] = []
    if windows:
        with progress("re-run VEE", len(windows)) as tick:
            reports = rerun_windows(
                session,
                clock,
                engine,
                windows,
                actor=actor,
                why=f"edits from {path.name} by {actor}",
                tick=tick,
            )
    return EditFileReport(
        str(path), len(rows), len(edits), len(rows) - len(edits), sorted(resolved), reports
    )
