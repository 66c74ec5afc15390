"""The reactive (``R+``) and maximum-demand (``MD+``) daily freezes of the C&I meters, read by
the collector from the simulator's concentrators on localhost TCP."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest

from meter2cash.core.timezones import local_midnight
from meter2cash.headend.collector import CollectionResult, ItemRead, collect
from meter2cash.headend.protocols.dlt645 import (
    FrameError,
    FrameReader,
    Reading,
    decode_frame,
    error_reply,
    interpret,
    read_reply,
)
from meter2cash.headend.protocols.dlt645.registry import ValueType
from meter2cash.simulator import SimulatedUtility, UtilitySpec, build_utility
from meter2cash.simulator.wire import MeterBank, start_concentrators

TZ = ZoneInfo("Asia/Shanghai")
FAST = {"timeout_s": 0.25, "backoff_s": (0.01, 0.02)}
Rows = dict[tuple[str, str, datetime], float]


@pytest.fixture(scope="module")
def month_end() -> SimulatedUtility:
    """120 accounts, 25 Jul – 3 Aug 2026: the freezes of 31 Jul and 1 Aug are last 4 and 3."""
    return build_utility(UtilitySpec(accounts=120, start=date(2026, 7, 25), days=10))


def _collect(
    utility: SimulatedUtility, registers_for: Sequence[str], **options: object
) -> CollectionResult:
    async def go() -> CollectionResult:
        fleet = await start_concentrators(utility, utility.spec.end, 0.0, seed=7)
        try:
            return await collect(
                fleet.endpoints,
                fleet.meters_by_concentrator,
                utility.spec.end - timedelta(days=1),
                tz=TZ,
                registers_for=registers_for,
                **{**FAST, **options},  # type: ignore[arg-type]
            )
        finally:
            await fleet.close()

    return asyncio.run(go())


def _rows(reads: pa.Table, channels: set[str]) -> Rows:
    rows = reads.to_pylist()
    return {
        (r["meter_no"], r["channel"], r["ts"]): r["value"] for r in rows if r["channel"] in channels
    }


def _curve_meters(utility: SimulatedUtility) -> list[str]:
    meters = utility.meters
    return meters.loc[meters["records_intervals"], "meter_no"].tolist()


def _silent(utility: SimulatedUtility) -> set[str]:
    """Meters that do not answer when the last simulated day is collected."""
    silent = utility.faults.silent(utility.spec.days - 1)
    return set(utility.meters["meter_no"][silent])


def _register_reads(result: CollectionResult) -> dict[tuple[str, date], ItemRead]:
    return {(r.meter_no, r.day): r for r in result.item_reads if r.item == "register"}


def test_curve_meters_deliver_reactive_and_demand_freezes_as_the_simulator_holds_them(
    month_end: SimulatedUtility,
) -> None:
    utility = month_end
    day = utility.spec.end - timedelta(days=1)
    d = (day - utility.spec.start).days
    everyone = utility.meters["meter_no"].tolist()
    result = _collect(utility, everyone)
    ts = local_midnight(day + timedelta(days=1), TZ)
    wire = _rows(result.reads, {"R+", "MD+"})
    silent = _silent(utility)
    curve = set(_curve_meters(utility)) - silent
    assert len(curve) >= 10
    assert {meter for meter, _, _ in wire} == curve  # residential meters keep none
    index = {no: i for i, no in enumerate(everyone)}
    for meter in curve:
        i = index[meter]
        assert wire[meter, "R+", ts] == round(float(utility.reactive_register[d, i]), 2)
        assert wire[meter, "MD+", ts] == round(float(utility.demand_register[d, i]), 4)
    delivered = _rows(utility.collect_day(day).register_reads, {"R+", "MD+"})
    assert delivered.items() <= wire.items()  # the in-process path gives the same values
    assert len(_rows(result.reads, {"A+"})) == len(everyone) - len(silent)

    outcomes = _register_reads(result)
    for meter in set(everyone) - silent:
        read = outcomes[meter, day]
        if meter in curve:
            assert (read.outcome, read.attempts, read.detail) == ("complete", 2, "")
        else:
            assert read.outcome == "failed"
            assert read.detail.count("no such data") == 2
    assert not any(meter in silent for meter, _ in outcomes)


def test_demand_of_the_last_day_of_a_month_is_the_months_and_the_1st_starts_again(
    month_end: SimulatedUtility,
) -> None:
    utility = month_end
    july_31, august_1 = date(2026, 7, 31), date(2026, 8, 1)
    curve = sorted(set(_curve_meters(utility)) - _silent(utility))
    result = _collect(utility, curve, missing={m: [july_31, august_1] for m in curve})
    assert result.outcome_counts(backfill=True) == {"backfilled": 2 * len(curve)}
    outcomes = _register_reads(result)
    assert {outcomes[m, d].outcome for m in curve for d in (july_31, august_1)} == {"complete"}
    demand = _rows(result.reads, {"MD+"})

    peaks = {}  # each consumption day's highest quarter-hour demand [kW], per meter
    for offset in range(8):
        day = utility.spec.start + timedelta(days=offset)
        recorded = utility.meter_day(day)
        quarter_hours = np.diff(recorded.forward_kwh, axis=1)
        rows = dict(
            zip(utility.meters["meter_no"].iloc[recorded.curve_meters], quarter_hours, strict=True)
        )
        peaks[day] = {m: float(rows[m].max()) * 4 for m in curve}
    closing_july = local_midnight(august_1, TZ)
    closing_1st = local_midnight(date(2026, 8, 2), TZ)
    fell = 0
    for meter in curve:
        month = max(peaks[utility.spec.start + timedelta(days=k)][meter] for k in range(7))
        assert demand[meter, "MD+", closing_july] == pytest.approx(month, abs=2e-4)
        assert demand[meter, "MD+", closing_1st] == pytest.approx(peaks[august_1][meter], abs=2e-4)
        fell += demand[meter, "MD+", closing_1st] < demand[meter, "MD+", closing_july]
    assert fell >= len(curve) // 2  # the settlement cleared the register


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _serve_one_meter(demand_at: datetime | None, demand: Decimal) -> tuple[list[str], Handler]:
    """A concentrator whose one meter answers the forward active freeze, refuses the reactive
    one (ERR 02) and answers the demand freeze with ``demand`` at ``demand_at``."""
    asked: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader()
        while chunk := await reader.read(4096):
            for frame in frames.feed(chunk):
                if isinstance(frame, FrameError):
                    continue
                di = f"{int.from_bytes(frame.data[:4], 'little'):08X}"
                asked.append(di)
                address = frame.address
                if di.startswith("050601"):
                    energy = [Decimal(x) for x in ("10.00", "1.00", "4.00", "2.00", "3.00")]
                    writer.write(read_reply(address, di, energy))
                elif di.startswith("050603"):
                    writer.write(error_reply(address, 0x11, 0x02))
                else:
                    values: list[ValueType] = [demand, demand_at, *([None] * 8)]
                    writer.write(read_reply(address, di, values, tz=TZ))
        writer.close()

    return asked, answer


@pytest.mark.parametrize(
    ("demand_at", "demand", "outcome", "stored"),
    [
        (datetime(2026, 7, 10, 9, 15, tzinfo=TZ), Decimal("12.3456"), "partial", 12.3456),
        (None, Decimal("0.0000"), "partial", 0.0),
        (datetime(2026, 6, 30, 9, 15, tzinfo=TZ), Decimal("12.3456"), "failed", None),
        (datetime(2026, 7, 11, 0, 15, tzinfo=TZ), Decimal("12.3456"), "failed", None),
        (None, Decimal("12.3456"), "failed", None),
    ],
)
def test_a_failed_register_freeze_keeps_the_forward_freeze(
    demand_at: datetime | None, demand: Decimal, outcome: str, stored: float | None
) -> None:
    asked, answer = _serve_one_meter(demand_at, demand)

    async def go() -> CollectionResult:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await collect(
                {"C1": ("127.0.0.1", port)},
                {"C1": [("M1", "201000000012")]},
                date(2026, 7, 10),
                tz=TZ,
                registers_for={"M1"},
                **FAST,  # type: ignore[arg-type]
            )
        finally:
            server.close()
            await server.wait_closed()

    result = asyncio.run(go())
    assert asked == ["05060101", "05060301", "05060901"]
    assert [e.outcome for e in result.exchanges] == ["first_try"]
    channels = result.reads.column("channel").to_pylist()
    assert channels[:5] == ["A+", "A+1", "A+2", "A+3", "A+4"]
    assert _rows(result.reads, {"MD+"}) == (
        {} if stored is None else {("M1", "MD+", local_midnight(date(2026, 7, 11), TZ)): stored}
    )
    (read,) = result.item_reads
    assert (read.item, read.day, read.outcome, read.attempts) == (
        "register",
        date(2026, 7, 10),
        outcome,
        2,
    )
    assert "05060301: no such data" in read.detail
    assert ("outside the settlement period" in read.detail) == (outcome == "failed")


def test_current_reactive_and_demand_read_as_the_meter_shows_them(
    month_end: SimulatedUtility,
) -> None:
    utility = month_end
    meters = utility.meters
    curve = meters.index[meters["records_intervals"]][0]
    residential = meters.index[~meters["records_intervals"]][0]
    address = str(meters["address"].iat[curve])
    start = utility.spec.start

    def read(today: date, di: str, meter_address: str = address) -> Reading:
        bank = MeterBank(utility, today)
        reply = bank.answer(meter_address, di, local_midnight(today, TZ) + timedelta(minutes=5))
        assert reply is not None
        return interpret(decode_frame(reply), TZ)

    july_31 = (date(2026, 7, 31) - start).days
    reactive = read(date(2026, 8, 1), "00030000").values
    assert [v.value for v in reactive] == [
        Decimal(f"{utility.reactive_register[july_31, curve]:.2f}")
    ]
    settled = read(date(2026, 8, 1), "01010000").values  # the settlement just cleared it
    assert [v.value for v in settled] == [Decimal("0.0000"), None]
    august_1 = july_31 + 1
    demand, at = (v.value for v in read(date(2026, 8, 2), "01010000").values)
    assert demand == Decimal(f"{utility.demand_register[august_1, curve]:.4f}")
    stamp = utility.demand_time[august_1, curve].astype("datetime64[s]").astype(np.int64)
    assert isinstance(at, datetime) and at.timestamp() == stamp
    for di in ("00030000", "01010000", "05060301", "05060901"):
        refused = read(date(2026, 8, 2), di, str(meters["address"].iat[residential]))
        assert refused.error is not None and refused.error[0] == 0x02
