"""Load profiles (96-point curves) and event sweeps over DL/T 645: the codec, the simulated
meters that answer them, and the collector that reads them."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter2cash.headend.collector import CollectionResult, collect
from meter2cash.headend.event_sweep import REVERSE_REGISTER
from meter2cash.headend.protocols.dlt645 import FrameError, decode_frame, encode_frame, interpret
from meter2cash.headend.protocols.dlt645.profile import (
    PROFILE_DI,
    PROFILE_WIRE,
    ProfileRecord,
    decode_block,
    decode_records,
    encode_record,
    parse_request,
    profile_request,
)
from meter2cash.simulator import SimulatedUtility, UtilitySpec, build_utility
from meter2cash.simulator.wire import start_concentrators

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 7, 1, 0, 15, tzinfo=TZ)
FAST = {"timeout_s": 0.25, "backoff_s": (0.01, 0.02)}


def _record(at: datetime = AT, forward: str | None = "1234.56") -> ProfileRecord:
    return ProfileRecord(
        at, None if forward is None else Decimal(forward), Decimal("0.00"), Decimal("7.89"), None
    )


def test_a_record_round_trips_with_filler_as_not_available() -> None:
    raw = encode_record(_record(), TZ)
    assert raw[:3] == bytes.fromhex("A0A01B") and raw[-1] == 0xE5
    assert decode_records(raw, 0, TZ) == (_record(),)


def test_a_record_failing_its_checksum_is_refused() -> None:
    raw = bytearray(encode_record(_record(), TZ))
    raw[-2] ^= 0x01
    with pytest.raises(FrameError, match="checksum"):
        decode_records(bytes(raw), 0, TZ)


def test_a_record_with_invalid_bcd_is_an_error_not_a_number() -> None:
    raw = bytearray(encode_record(_record(), TZ))
    raw[11] = 0x5A  # an energy byte with nibble A
    raw[-2] = sum(raw[:-2]) & 0xFF
    with pytest.raises(FrameError, match="invalid BCD"):
        decode_records(bytes(raw), 0, TZ)


def test_a_reply_frame_decodes_to_its_records() -> None:
    records = [_record(AT + timedelta(minutes=15 * k)) for k in range(3)]
    data = PROFILE_WIRE + b"".join(encode_record(r, TZ) for r in records)
    reading = interpret(decode_frame(encode_frame("000000001234", 0x91, data)), TZ)
    assert reading.di == PROFILE_DI and reading.profile is not None
    assert reading.profile.records() == tuple(records)


def test_the_request_carries_the_count_and_start_time() -> None:
    frame = decode_frame(profile_request("000000001234", AT, 97, TZ))
    assert frame.data[:4] == PROFILE_WIRE
    assert parse_request(frame.data[4:], TZ) == (AT, 97)
    with pytest.raises(FrameError):
        profile_request("000000001234", AT, 100, TZ)


@pytest.fixture(scope="module")
def utility() -> SimulatedUtility:
    return build_utility(UtilitySpec(accounts=150, days=12))


def _collect(utility: SimulatedUtility, loss: float, **options: object) -> CollectionResult:
    meters = utility.meters

    async def go() -> CollectionResult:
        fleet = await start_concentrators(utility, utility.spec.end, loss, seed=3)
        try:
            return await collect(
                fleet.endpoints,
                fleet.meters_by_concentrator,
                utility.spec.end - timedelta(days=1),
                tz=TZ,
                curves_for=set(meters.loc[meters["records_intervals"], "meter_no"]),
                **{**FAST, **options},  # type: ignore[arg-type]
            )
        finally:
            await fleet.close()

    return asyncio.run(go())


def test_curves_read_over_the_wire_match_what_the_meters_recorded(
    utility: SimulatedUtility,
) -> None:
    """Every answering curve meter yields 96 kWh and 96 kvarh intervals whose values are the
    simulator's to the register's 0.01 resolution, and the day's sum is exact."""
    day = utility.spec.end - timedelta(days=1)
    # Enough tries that a curve is lost only by a meter that is silent, not by the channel
    # dropping one request three times or a loaded CI machine answering late.
    result = _collect(utility, loss=0.05, retries=5, timeout_s=0.6)
    assert result.curves_complete == result.curves_expected - _silent_curve_meters(utility)
    curves = [r for r in result.item_reads if r.item == "curve"]
    assert len(curves) == result.curves_complete and all(r.attempts >= 17 for r in curves)
    wire = result.intervals.to_pandas()
    truth = utility.collect_day(day).intervals.to_pandas()
    both = wire.merge(truth, on=["meter_no", "channel", "ts"], suffixes=("_wire", "_sim"))
    assert len(both) == len(truth)  # everything the simulator's feed delivered, and more
    assert (both["value_wire"] - both["value_sim"]).abs().max() <= 0.0100001
    daily = both.groupby(["meter_no", "channel"])[["value_wire", "value_sim"]].sum()
    assert (daily["value_wire"] - daily["value_sim"]).abs().max() < 0.0100001


def _silent_curve_meters(utility: SimulatedUtility) -> int:
    d = (utility.spec.end - utility.spec.start).days - 1
    silent = utility.faults.silent(d)
    return int((silent & utility.meters["records_intervals"].to_numpy()).sum())


def test_an_event_sweep_fetches_new_records_once(utility: SimulatedUtility) -> None:
    """A first sweep takes what the meters logged — every record of each kind (up to the 10 a
    meter keeps), one observation of magnetic tampering — and a second sweep, knowing the
    counters the first read, finds nothing new."""
    everyone = set(utility.meters["meter_no"])
    first = _collect(utility, loss=0.0, sweep_for=everyone)
    wire = first.events.to_pandas().groupby(["meter_no", "code"]).size()
    logged = pd.concat(
        utility.meter_events(utility.spec.start + timedelta(days=d)).to_pandas()
        for d in range(utility.spec.days - 1)
    )
    logged = logged[~logged["meter_no"].isin(_silent_meters(utility))]
    expected = logged.groupby(["meter_no", "code"]).size().clip(upper=10)
    expected[expected.index.get_level_values("code") == "magnetic_tamper"] = 1
    expected = expected.drop(
        [k for k in expected.index if k[1] == "reverse_energy"], errors="ignore"
    )
    assert len(expected) > 0
    assert wire.drop([k for k in wire.index if k[1] == "reverse_energy"]).to_dict() == (
        expected.to_dict()
    )
    assert first.sweeps_done == first.sweeps_expected - len(_silent_meters(utility))
    again = _collect(utility, loss=0.0, sweep_for=everyone, known_counters=first.counters)
    assert again.events.num_rows == 0
    assert dict(again.counters) == dict(first.counters)


def _silent_meters(utility: SimulatedUtility) -> set[str]:
    d = (utility.spec.end - utility.spec.start).days - 1
    silent = utility.faults.silent(d)
    return set(utility.meters.loc[silent, "meter_no"])


def test_reverse_energy_is_raised_when_the_reverse_register_moves(
    utility: SimulatedUtility,
) -> None:
    everyone = set(utility.meters["meter_no"])
    first = _collect(utility, loss=0.0, sweep_for=everyone)
    moved = {no for (no, di), value in first.counters.items() if di == REVERSE_REGISTER and value}
    reverse = first.events.filter(first.events["code"].to_pandas().eq("reverse_energy").to_numpy())
    assert set(reverse["meter_no"].to_pylist()) == moved
    known = {key: value for key, value in first.counters.items() if key[1] != REVERSE_REGISTER}
    known.update({(no, REVERSE_REGISTER): Decimal("0") for no in moved})
    assert moved == {
        e["meter_no"]
        for e in _collect(utility, 0.0, sweep_for=everyone, known_counters=known).events.to_pylist()
        if e["code"] == "reverse_energy"
    }


def test_a_meter_without_a_profile_answers_no_such_data(utility: SimulatedUtility) -> None:
    residential = utility.meters.loc[~utility.meters["records_intervals"], "address"].iat[0]

    async def go() -> bytes | None:
        fleet = await start_concentrators(utility, utility.spec.end, 0.0)
        try:
            start = datetime.combine(date(2026, 7, 1), datetime.min.time(), TZ)
            request = decode_frame(profile_request(residential, start, 97, TZ))
            return fleet.bank.answer(residential, PROFILE_DI, fleet.now(), request.data[4:])
        finally:
            await fleet.close()

    reply = asyncio.run(go())
    assert reply is not None
    assert interpret(decode_frame(reply), TZ).error == (2, "no such data (unknown data identifier)")


@given(
    st.lists(
        st.tuples(
            st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
            st.lists(st.one_of(st.none(), st.integers(0, 99_999_999)), min_size=4, max_size=4),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_the_whole_reply_decoder_agrees_with_the_record_parser(
    rows: list[tuple[datetime, list[int | None]]],
) -> None:
    records = [
        ProfileRecord(
            at.replace(second=0, microsecond=0, tzinfo=TZ),
            *(None if v is None else Decimal(v).scaleb(-2) for v in values),
        )
        for at, values in rows
    ]
    payload = b"".join(encode_record(r, TZ) for r in records)
    assert decode_block(payload, 0, TZ).records() == decode_records(payload, 0, TZ)


def test_an_impossible_date_in_a_reply_is_refused() -> None:
    raw = bytearray(encode_record(_record(datetime(2026, 2, 28, 0, 15, tzinfo=TZ)), TZ))
    raw[5] = 0x30  # 30 February
    raw[-2] = sum(raw[:-2]) & 0xFF
    with pytest.raises(FrameError):
        decode_block(bytes(raw), 0, TZ)
