"""Durable Parquet files and the single-writer lock of the measurement store."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

TEMP_PREFIX = "."
"""Files being written start with a dot: ``*.parquet`` globs and Spark both skip them."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path) -> None:
    """Create ``path`` and any missing parents, making each new directory entry durable."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
        _fsync_dir(directory.parent)


def _replace_durably(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` so that it is either wholly visible or absent after a crash.

    The content is written under a hidden temporary name in the same directory, flushed and
    fsynced, renamed over ``path`` with :func:`os.replace`, and the directory is fsynced.
    """
    ensure_dir(path.parent)
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.tmp")
    try:
        with open(tmp, "wb") as sink:
            write(sink)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def write_durable(path: Path, table: pa.Table) -> None:
    """Write ``table`` as Parquet (zstd) to ``path``, all or nothing."""
    _replace_durably(path, lambda sink: pq.write_table(table, sink, compression="zstd"))


def write_durable_text(path: Path, text: str) -> None:
    """Durably write a small UTF-8 text file, all or nothing."""
    _replace_durably(path, lambda sink: sink.write(text.encode("utf-8")))


@contextlib.contextmanager
def writer_lock(root: Path) -> Iterator[None]:
    """Hold the store's exclusive writer lock (``root/.writer.lock``, ``fcntl.flock``).

    One writer at a time is supported: a second writer, in this or another process, waits.
    """
    ensure_dir(root)
    with open(root / ".writer.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
