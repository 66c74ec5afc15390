"""Tariff records: keep the database's tariff versions in step with tariff documents."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.core.errors import TariffError
from meter2cash.tariffs.models import Tariff, TariffVersion
from meter2cash.tariffs.schema import TariffDocument

VersionKey = tuple[str, int]


def store_tariffs(
    session: Session, clock: Clock, documents: Mapping[str, TariffDocument]
) -> dict[VersionKey, int]:
    """Insert tariffs and versions not yet stored; returns (code, version) → version id.

    A stored version is never changed: a document whose version differs from what is
    stored under the same number is refused (publish a new version instead).
    """
    ids: dict[VersionKey, int] = {}
    for code, doc in documents.items():
        tariff = session.scalar(select(Tariff).where(Tariff.code == code))
        if tariff is None:
            tariff = Tariff(code=code, name=doc.name, customer_class=doc.customer_class)
            session.add(tariff)
            session.flush()
        stored = {
            v.version: v
            for v in session.scalars(
                select(TariffVersion).where(TariffVersion.tariff_id == tariff.id)
            )
        }
        for version in doc.versions:
            body = version.model_dump(mode="json")
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            row = stored.get(version.version)
            if row is None:
                row = TariffVersion(
                    tariff_id=tariff.id,
                    version=version.version,
                    effective_from=version.effective_from,
                    document=body,
                    content_sha256=digest,
                    loaded_at=clock.now(),
                )
                session.add(row)
                session.flush()
            elif row.content_sha256 != digest:
                raise TariffError(
                    f"tariff {code} version {version.version} differs from the stored version",
                    "published versions are immutable: add a new version with a later "
                    "effective_from",
                )
            ids[(code, version.version)] = row.id
    return ids
