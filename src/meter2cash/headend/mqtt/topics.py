"""The MQTT topic layout: ``ami/v1/{tenant}/{concentrator}/{meter}/{reading|event|status}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from meter2cash.core.errors import InputError

ROOT: Final = "ami/v1"
KINDS: Final = ("reading", "event", "status")
BATCH_METER: Final = "_"
"""Meter segment of a gateway batch: each element of the JSON array names its own meter."""
SHARE_GROUP: Final = "ingest"

Kind = Literal["reading", "event", "status"]


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic name."""

    tenant: str
    concentrator: str
    meter: str
    kind: Kind


def topic(tenant: str, concentrator: str, meter: str, kind: Kind) -> str:
    """The topic a meter (or, with ``meter=BATCH_METER``, its gateway) publishes on."""
    return f"{ROOT}/{tenant}/{concentrator}/{meter}/{kind}"


def subscriptions(tenant: str, *, shared: bool = False) -> list[str]:
    """Topic filters a worker for ``tenant`` subscribes to, one per kind.

    ``shared=True`` uses the MQTT 5 shared subscription ``$share/ingest/…`` so the broker
    spreads messages over every worker of the group instead of copying them to each.
    """
    prefix = f"$share/{SHARE_GROUP}/" if shared else ""
    return [f"{prefix}{ROOT}/{tenant}/+/+/{kind}" for kind in KINDS]


def parse_topic(name: str) -> Topic:
    """Split a topic name; :class:`InputError` if it is not of the layout."""
    parts = name.split("/")
    if len(parts) != 6 or f"{parts[0]}/{parts[1]}" != ROOT or parts[5] not in KINDS:
        raise InputError(f"topic {name!r} is not {ROOT}/{{tenant}}/{{concentrator}}/{{meter}}/kind")
    kind: Kind = (
        "reading" if parts[5] == "reading" else "event" if parts[5] == "event" else "status"
    )
    return Topic(tenant=parts[2], concentrator=parts[3], meter=parts[4], kind=kind)
