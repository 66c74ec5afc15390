"""Benchmark: the DL/T 645-2007 codec on one core.

``run()`` → ``{"decodes_per_s", "encodes_per_s"}`` [frames/s]: ``decode_frame`` + ``interpret``
of a 4-byte forward-active-total read reply, and ``read_reply`` building one, ~1 s each.
"""

from __future__ import annotations

import time
from decimal import Decimal

from meter2cash.headend.protocols.dlt645 import decode_frame, interpret, read_reply

ADDRESS = "000102030425"
DI = "00010000"


def _rate(work: object, seconds: float = 1.0) -> float:
    assert callable(work)
    done = 0
    began = time.perf_counter()
    while (elapsed := time.perf_counter() - began) < seconds:
        for _ in range(1000):
            work()
        done += 1000
    return done / elapsed


def run() -> dict[str, float]:
    raw = read_reply(ADDRESS, DI, [Decimal("1206.42")])
    value = [Decimal("1206.42")]
    return {
        "decodes_per_s": _rate(lambda: interpret(decode_frame(raw))),
        "encodes_per_s": _rate(lambda: read_reply(ADDRESS, DI, value)),
    }
