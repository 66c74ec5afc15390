"""The DL/T 645 collector against the simulator's concentrators on localhost TCP."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest

from meter2cash.headend.collector import CollectionResult, collect
from meter2cash.simulator import SimulatedUtility, UtilitySpec, build_utility
from meter2cash.simulator.wire import ConcentratorServer, Fault, MeterBank, start_concentrators

TZ = ZoneInfo("Asia/Shanghai")
FAST = {"timeout_s": 0.25, "backoff_s": (0.01, 0.02)}


@pytest.fixture(scope="module")
def utility() -> SimulatedUtility:
    return build_utility(UtilitySpec(accounts=120, days=10))


def _day(utility: SimulatedUtility) -> date:
    return utility.spec.end - timedelta(days=1)


def _silent(utility: SimulatedUtility, day: date) -> set[str]:
    """Meters the simulator says cannot answer on ``day`` (dead or in communication loss)."""
    failures = utility.ground_truth().failures
    out = set()
    for row in failures.itertuples():
        end = date.max if pd.isna(row.end) else row.end
        if row.start <= day <= end:
            out.add(str(row.meter_no))
    return out


def _values(table: pa.Table) -> dict[tuple[str, str, object], float]:
    """The forward active freezes (A+, A+1…A+4); R+ and MD+: test_register_freezes.py."""
    rows = table.to_pylist()
    return {
        (r["meter_no"], r["channel"], r["ts"]): r["value"]
        for r in rows
        if r["channel"].startswith("A+")
    }


def _run(
    utility: SimulatedUtility,
    loss: float,
    missing: Mapping[str, Sequence[date]] | None = None,
    **options: object,
) -> CollectionResult:
    async def go() -> CollectionResult:
        fleet = await start_concentrators(utility, utility.spec.end, loss, seed=7)
        try:
            return await collect(
                fleet.endpoints,
                fleet.meters_by_concentrator,
                _day(utility),
                tz=TZ,
                missing=missing,
                **{**FAST, **options},  # type: ignore[arg-type]
            )
        finally:
            await fleet.close()

    return asyncio.run(go())


def test_lossless_collection_reads_every_live_meter_as_the_simulator_says(
    utility: SimulatedUtility,
) -> None:
    day = _day(utility)
    result = _run(utility, 0.0)
    silent = _silent(utility, day)
    meters = len(utility.meters)
    counts = result.outcome_counts()
    assert counts == {"first_try": meters - len(silent), "unreachable": len(silent)}
    assert {e.meter_no for e in result.exchanges if e.outcome == "unreachable"} == silent
    wire = _values(result.reads)
    truth = _values(utility.collect_day(day).register_reads)
    assert truth.items() <= wire.items()  # everything the simulator delivered, same values
    assert len(wire) == 5 * (meters - len(silent))
    assert result.quarantined == ()
    assert result.reads.column("read_type").unique().to_pylist() == ["daily_frozen"]


def test_retries_recover_lossy_reads(utility: SimulatedUtility) -> None:
    result = _run(utility, 0.3, retries=3)
    counts = result.outcome_counts()
    silent = len(_silent(utility, _day(utility)))
    assert sum(counts.values()) == len(utility.meters)
    assert counts["after_retry"] > 10
    assert counts["unreachable"] <= silent + 6
    read = counts["first_try"] + counts["after_retry"]
    assert result.read_success == read / len(utility.meters)
    for e in result.exchanges:
        assert (e.attempts == 1) == (e.outcome == "first_try") or e.outcome == "unreachable"
        assert 1 <= e.attempts <= 4


def test_a_dead_meter_is_unreachable_after_every_retry(utility: SimulatedUtility) -> None:
    day = _day(utility)
    dead = _silent(utility, day)
    assert dead
    result = _run(utility, 0.0, retries=2)
    for e in result.exchanges:
        if e.meter_no in dead:
            assert (e.outcome, e.attempts) == ("unreachable", 3)
            assert "no reply" in e.detail


def test_backfill_reads_the_meters_history(utility: SimulatedUtility) -> None:
    day = _day(utility)
    earlier = [day - timedelta(days=k) for k in (1, 2, 3)]
    delivered = [_values(utility.collect_day(d).register_reads) for d in earlier]
    every_day = set.intersection(*({k[0] for k in t} for t in delivered))
    chosen = sorted(every_day - _silent(utility, day))[:5]
    result = _run(utility, 0.0, missing={m: earlier for m in chosen})
    assert result.outcome_counts(backfill=True) == {"backfilled": 15}
    wire = _values(result.reads)
    for truth in delivered:
        mine = {k: v for k, v in truth.items() if k[0] in chosen}
        assert len(mine) == 25
        assert mine.items() <= wire.items()


def _with_fault(utility: SimulatedUtility, fault: Fault, **options: object) -> CollectionResult:
    async def go() -> CollectionResult:
        bank = MeterBank(utility, utility.spec.end)
        code, meters = max(bank.meters_by_concentrator.items(), key=lambda kv: len(kv[1]))
        server = ConcentratorServer(bank, code, loss=0.0, fault=fault, fault_after=10)
        await server.start()
        try:
            return await collect(
                {code: (server.host, server.port)},
                {code: meters},
                _day(utility),
                tz=TZ,
                **{**FAST, **options},  # type: ignore[arg-type]
            )
        finally:
            await server.close()

    return asyncio.run(go())


@pytest.mark.parametrize("fault", ["reset", "hang"])
def test_a_broken_connection_is_reopened_and_collection_continues(
    utility: SimulatedUtility, fault: Fault
) -> None:
    result = _with_fault(utility, fault, reconnect_after_timeouts=2)
    silent = _silent(utility, _day(utility))
    assert result.reconnects >= 1
    unreachable = {e.meter_no for e in result.exchanges if e.outcome == "unreachable"}
    assert unreachable <= silent
    assert result.outcome_counts()["after_retry"] >= 1


def test_undecodable_replies_are_quarantined_not_raised() -> None:
    bad = bytes.fromhex(
        "68120000001020689118333234335C34333395333333933333333633333335333333" + "5D16"
    )

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            writer.write(bad)
        writer.close()

    async def go() -> CollectionResult:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await collect(
                {"C1": ("127.0.0.1", port)},
                {"C1": [("M1", "201000000012")]},
                date(2026, 7, 1),
                tz=TZ,
                timeout_s=0.05,
                retries=1,
                backoff_s=(0.01, 0.01),
            )
        finally:
            server.close()
            await server.wait_closed()

    result = asyncio.run(go())
    assert [e.outcome for e in result.exchanges] == ["unreachable"]
    assert len(result.quarantined) == 2
    assert result.quarantined[0].raw_hex == bad.hex().upper()
    assert "checksum" in result.quarantined[0].reason
    assert result.reads.num_rows == 0
