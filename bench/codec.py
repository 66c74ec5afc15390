"""Benchmark: the DL/T 645-2007 codec on one core.

``run()`` → figures [frames/s], ~1 s each:

- ``decodes_per_s``: ``decode_frame`` + ``interpret`` of two typical read replies taken in
  turn — a single value (forward active energy, total, ``00010000``) and a daily-frozen block
  (forward active energy, last day, ``05060101``: total + 4 rates);
- ``single_decodes_per_s`` and ``block_decodes_per_s``: each of the two alone;
- ``encodes_per_s``: ``read_reply`` building the single-value reply.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from meter2cash.headend.protocols.dlt645 import decode_frame, interpret, read_reply

ADDRESS = "000102030425"
SINGLE_DI = "00010000"
BLOCK_DI = "05060101"
SINGLE = [Decimal("1206.42")]
BLOCK = [Decimal(v) for v in ("1206.42", "301.17", "402.85", "388.96", "113.44")]


def _rate(work: Callable[[], object], per_call: int = 1, seconds: float = 1.0) -> float:
    done = 0
    began = time.perf_counter()
    while (elapsed := time.perf_counter() - began) < seconds:
        for _ in range(1000):
            work()
        done += 1000 * per_call
    return done / elapsed


def run() -> dict[str, float]:
    single = read_reply(ADDRESS, SINGLE_DI, SINGLE)
    block = read_reply(ADDRESS, BLOCK_DI, BLOCK)

    def both() -> None:
        interpret(decode_frame(single))
        interpret(decode_frame(block))

    return {
        "decodes_per_s": _rate(both, per_call=2),
        "single_decodes_per_s": _rate(lambda: interpret(decode_frame(single))),
        "block_decodes_per_s": _rate(lambda: interpret(decode_frame(block))),
        "encodes_per_s": _rate(lambda: read_reply(ADDRESS, SINGLE_DI, SINGLE)),
    }
