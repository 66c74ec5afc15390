"""`make bench`: run every benchmark and print its figures (machine and data are stated)."""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time

BENCHMARKS = [
    "simulation",
    "ingest",
    "determinants",
    "bill_run",
    "payments",
    "codec",
    "collection",
    "mqtt_ingest",
    "vee_accuracy",
    "vee_validation",
    "vee_daily_reads",
]


def main() -> None:
    only = sys.argv[1:] or BENCHMARKS
    print(
        f"# meter2cash benchmarks — {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    results: dict[str, dict[str, float]] = {}
    for name in only:
        module = importlib.import_module(f"bench.{name}")
        began = time.perf_counter()
        figures = module.run()
        results[name] = figures
        shown = ", ".join(
            f"{k} = {v:,.3f}" if isinstance(v, float) else f"{k} = {v}" for k, v in figures.items()
        )
        print(f"{name:<14} {shown}  ({time.perf_counter() - began:.1f} s)", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
