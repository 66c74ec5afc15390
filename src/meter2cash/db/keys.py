"""A set of keys as a temporary table, for queries over many accounts, bills or transaction
ids at once: joined instead of an ``IN (…)`` list of thousands of parameters, which both
databases plan poorly and SQLAlchemy compiles slowly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import BigInteger, Column, MetaData, String, Table, text
from sqlalchemy.orm import Session

from meter2cash.db.bulk import insert_columns

KeyKind = Literal["int", "text"]
_METADATA = MetaData()
_TABLES = {
    "int": Table("m2c_int_keys", _METADATA, Column("k", BigInteger, primary_key=True)),
    "text": Table("m2c_text_keys", _METADATA, Column("k", String(120), primary_key=True)),
}
_DDL = {"int": "BIGINT", "text": "VARCHAR(120)"}


def key_table(session: Session, keys: Sequence[Any], kind: KeyKind = "int") -> Table:
    """A temporary table (column ``k``) holding the distinct ``keys``, private to this
    connection and emptied on every call; join it in the next query."""
    table = _TABLES[kind]
    session.execute(
        text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table.name} (k {_DDL[kind]} PRIMARY KEY)")
    )
    session.execute(table.delete())
    insert_columns(session, table.name, {"k": sorted(set(keys))})
    return table
