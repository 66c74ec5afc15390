"""DL/T 645-2007 codec: the worked examples of PROTOCOLS.md, round trips, streaming, fuzz."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from meter2cash.cli import dlt645 as cli
from meter2cash.headend.protocols.dlt645 import (
    RULES,
    Field,
    FrameError,
    FrameReader,
    bcd,
    decode_frame,
    demand_reset_request,
    encode_frame,
    error_reply,
    freeze_request,
    interpret,
    lookup,
    read_address_request,
    read_follow_up,
    read_reply,
    read_request,
    relay_request,
    time_sync_broadcast,
    write_request,
)
from meter2cash.headend.protocols.dlt645.registry import ValueType, decode_values

SHANGHAI = ZoneInfo("Asia/Shanghai")
READ = bytes.fromhex("68 25 04 03 02 01 00 68 11 04 33 33 34 33 E1 16")
TOTAL = bytes.fromhex("68 25 04 03 02 01 00 68 91 08 33 33 34 33 75 39 45 33 8B 16")
BLOCK_HEX = (
    "68 12 00 00 00 10 20 68 91 18 33 32 34 33 5C 34 33 33 95 33 33 33 93 33 33 33 "
    "36 33 33 33 35 33 33 33 74 16"
)
BLOCK = bytes.fromhex(BLOCK_HEX)
ERROR = bytes.fromhex("68 12 00 00 00 10 20 68 D1 01 35 19 16")
BAD_CHECKSUM = BLOCK[:-2] + bytes.fromhex("5D 16")


# --- worked examples --------------------------------------------------------------------


def test_read_request_example() -> None:
    assert read_request("000102030425", "00010000", wakeup=0) == READ
    assert read_request("000102030425", "00010000") == b"\xfe" * 4 + READ
    frame = decode_frame(b"\xfe\xfe" + READ)
    assert (frame.address, frame.direction, frame.function) == ("000102030425", "request", 0x11)
    reading = interpret(frame)
    assert (reading.di, reading.item, reading.values) == (
        "00010000",
        "forward active energy, total",
        (),
    )


def test_forward_active_total_reply_example() -> None:
    reading = interpret(decode_frame(TOTAL))
    assert reading.direction == "reply" and reading.di == "00010000"
    assert [(v.value, v.unit) for v in reading.values] == [(Decimal("1206.42"), "kWh")]
    assert read_reply("000102030425", "00010000", [Decimal("1206.42")]) == TOTAL


def test_block_reply_example() -> None:
    reading = interpret(decode_frame(BLOCK))
    assert reading.address == "201000000012" and reading.di == "0001FF00"
    assert [(v.name, v.value) for v in reading.values] == [
        ("total", Decimal("1.29")),
        ("rate 1", Decimal("0.62")),
        ("rate 2", Decimal("0.60")),
        ("rate 3", Decimal("0.03")),
        ("rate 4", Decimal("0.02")),
    ]
    values = [v.value for v in reading.values]
    assert read_reply("201000000012", "0001FF00", values) == BLOCK


def test_error_reply_example_is_bit_1_no_such_data() -> None:
    frame = decode_frame(ERROR)
    assert frame.abnormal and frame.function == 0x11
    reading = interpret(frame)
    assert reading.error is not None
    assert reading.error[0] == 0x02 and "no such data" in reading.error[1]
    assert error_reply("201000000012", 0x11, 0x02) == ERROR


def test_bad_checksum_example_is_rejected() -> None:
    with pytest.raises(FrameError, match=r"bad checksum at byte 34: 5D, computed 74"):
        decode_frame(BAD_CHECKSUM)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x69" + READ[1:], "expected start 68"),
        (READ[:7] + b"\x00" + READ[8:], "expected second start 68"),
        (READ[:9] + b"\x05" + READ[10:], "length byte 5"),
        (READ[:-1] + b"\x17", "expected end 16"),
        (READ + b"\x00", "trailing byte"),
        (READ[:8], "too short"),
    ],
)
def test_malformed_frames_say_what_and_where(raw: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        decode_frame(raw)


# --- values -----------------------------------------------------------------------------


def test_large_unsigned_energy_stays_positive_and_combined_can_be_negative() -> None:
    big = read_reply("000102030425", "00010000", [Decimal("876543.21")])
    assert interpret(decode_frame(big)).values[0].value == Decimal("876543.21")
    negative = read_reply("000102030425", "00000000", [Decimal("-12.34")])
    assert decode_frame(negative).data[-1] == 0x80  # sign bit on the most significant byte
    assert interpret(decode_frame(negative)).values[0].value == Decimal("-12.34")
    with pytest.raises(FrameError, match="unsigned"):
        read_reply("000102030425", "00010000", [Decimal("-1")])


def test_filler_is_not_available_and_invalid_bcd_is_an_error() -> None:
    frame = encode_frame("000102030425", 0x91, bytes.fromhex("00000100") + b"\xff" * 4)
    assert interpret(decode_frame(frame)).values[0].value is None
    bad = encode_frame("000102030425", 0x91, bytes.fromhex("00000100 2A000000"))
    with pytest.raises(FrameError, match="invalid BCD 0000002A at data byte 4"):
        interpret(decode_frame(bad))


def test_impossible_dates_are_errors() -> None:
    short = encode_frame("000102030425", 0x91, bytes.fromhex("00000101 000000 0000"))
    with pytest.raises(FrameError, match="carries 8 data bytes, got 5"):
        interpret(decode_frame(short))
    good = read_reply("000102030425", "01010000", [Decimal("1.2345"), datetime(2024, 2, 29, 13, 5)])
    reading = interpret(decode_frame(good), SHANGHAI)
    assert reading.values[1].value == datetime(2024, 2, 29, 13, 5, tzinfo=SHANGHAI)
    for stamp in ("2402301305", "2413011305", "2401012460"):
        wire = bytes.fromhex("00000101 452301") + bytes.fromhex(stamp)[::-1]
        with pytest.raises(FrameError, match="impossible date"):
            interpret(decode_frame(encode_frame("000102030425", 0x91, wire)))


def test_parameters_and_time_sync_byte_order() -> None:
    reading = interpret(decode_frame(read_reply("000102030425", "04000101", [date(2024, 3, 17)])))
    assert reading.values[0].value == date(2024, 3, 17)
    assert decode_frame(read_reply("000102030425", "04000101", [date(2024, 3, 17)])).data[
        4:
    ] == bytes.fromhex("00 17 03 24")  # WW first: 2024-03-17 is a Sunday
    at = datetime(2024, 5, 6, 7, 8, 9)
    frame = decode_frame(time_sync_broadcast(at))
    assert frame.address == "999999999999" and frame.control == 0x08
    assert frame.data == bytes.fromhex("09 08 07 06 05 24")  # ss mm hh DD MM YY
    aware = datetime(2024, 5, 5, 23, 8, 9, tzinfo=ZoneInfo("UTC"))
    assert decode_frame(time_sync_broadcast(aware)).data == frame.data


def test_other_commands() -> None:
    assert decode_frame(read_address_request()).address == "AAAAAAAAAAAA"
    follow = decode_frame(read_follow_up("000102030425", "0001FF00", 2))
    assert (follow.control, follow.data) == (0x12, bytes.fromhex("00 FF 01 00 02"))
    write = decode_frame(write_request("000102030425", "04000102", bytes.fromhex("563412")))
    assert write.data == bytes.fromhex("02 01 00 04 02 00 00 00 00 00 00 00 56 34 12")
    freeze = decode_frame(freeze_request("999999999999", minute=0, hour=0, day=None, month=None))
    assert (freeze.control, freeze.data) == (0x16, bytes.fromhex("00 00 99 99"))
    now = datetime(2024, 5, 6, 7, 8, 9)
    trip = decode_frame(
        relay_request("000102030425", close=False, at=now, valid_until=now.replace(hour=8))
    )
    assert trip.control == 0x1C
    assert trip.data == bytes.fromhex("02 00 00 00 00 00 00 00 1A 00 09 08 08 06 05 24")
    close = decode_frame(
        relay_request("000102030425", close=True, at=now, valid_until=now.replace(hour=8))
    )
    assert close.data[8] == 0x1C
    with pytest.raises(FrameError, match="expires"):
        relay_request("000102030425", close=True, at=now, valid_until=now)
    reset = decode_frame(demand_reset_request("000102030425"))
    assert (reset.control, len(reset.data)) == (0x19, 8)
    with pytest.raises(FrameError, match="unknown data identifier"):
        read_request("000102030425", "12345678")


def test_read_address_reply() -> None:
    raw = encode_frame("000102030425", 0x93, bytes.fromhex("250403020100"))
    reading = interpret(decode_frame(raw))
    assert reading.values[0].value == "000102030425"


def test_follow_up_reply_strips_seq() -> None:
    payload = bytes.fromhex("00000100") + bytes.fromhex("42120600") + b"\x01"
    reading = interpret(decode_frame(encode_frame("000102030425", 0x92, payload)))
    assert reading.values[0].value == Decimal("612.42")


def test_daily_frozen_reactive_block_round_trips_signed() -> None:
    values: list[ValueType] = [
        Decimal("34658.29"),
        Decimal("-1.25"),
        Decimal("799999.99"),
        None,
        Decimal("0.00"),
    ]
    frame = decode_frame(read_reply("000102030425", "05060301", values))
    assert frame.data[:4] == bytes.fromhex("01 03 06 05")  # DI0 first
    reading = interpret(frame, SHANGHAI)
    assert reading.item == "daily-frozen combined reactive energy 1, last 1"
    assert [(v.name, v.value, v.unit) for v in reading.values] == [
        (name, value, "kvarh")
        for name, value in zip(
            ["total", "rate 1", "rate 2", "rate 3", "rate 4"], values, strict=True
        )
    ]
    quadrant = lookup("0506083E")
    assert quadrant.name == "daily-frozen quadrant IV reactive energy, last 62"
    assert quadrant.block is not None and not quadrant.block.fields[0].signed


def test_daily_frozen_demand_block_round_trips_with_its_time() -> None:
    at = datetime(2026, 7, 31, 14, 15, tzinfo=SHANGHAI)
    values: list[ValueType] = [Decimal("82.4117"), at, *([None] * 8)]
    frame = decode_frame(read_reply("000102030425", "0506093E", values))
    assert len(frame.data) == 4 + 5 * (3 + 5)
    reading = interpret(frame, SHANGHAI)
    assert reading.item == "daily-frozen forward active maximum demand, last 62"
    assert [v.name for v in reading.values[:4]] == [
        "total demand",
        "total time",
        "rate 1 demand",
        "rate 1 time",
    ]
    assert [v.value for v in reading.values] == values
    assert (reading.values[0].unit, reading.values[1].unit) == ("kW", "")
    assert lookup("05060A01").name == "daily-frozen reverse active maximum demand, last 1"
    with pytest.raises(FrameError, match="unknown data identifier"):
        lookup("05060B01")


def test_filler_demand_freeze_is_not_available() -> None:
    raw = encode_frame("000102030425", 0x91, bytes.fromhex("01 09 06 05") + b"\xff" * 8)
    reading = interpret(decode_frame(raw), SHANGHAI)
    assert [(v.name, v.value) for v in reading.values] == [
        ("total demand", None),
        ("total time", None),
    ]


# --- round trips over the whole registry -------------------------------------------------


def _field_values(field: Field) -> st.SearchStrategy[ValueType]:
    if field.kind == "number":
        limit = (8 if field.signed else 10) * 10 ** (2 * field.size - 1) - 1
        low = -limit if field.signed else 0
        number = st.integers(low, limit).map(lambda n: Decimal(n).scaleb(-field.decimals))
        return st.one_of(st.none(), number)
    if field.kind == "datetime":
        stamps = st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31, 23, 59, 59))
        seconds = field.size == 6
        return stamps.map(
            lambda d: d.replace(microsecond=0, second=d.second if seconds else 0, tzinfo=SHANGHAI)
        )
    if field.kind == "date+weekday":
        return st.dates(date(2000, 1, 1), date(2099, 12, 31))
    if field.kind == "time":
        return st.times().map(lambda t: t.replace(microsecond=0))
    return st.integers(0, 10 ** (2 * field.size) - 1).map(lambda n: f"{n:0{2 * field.size}d}")


def _corners(pattern: str) -> list[str]:
    spans = [part.split("-") for part in pattern.split()]
    return sorted({"".join(s[0] for s in spans), "".join(s[-1] for s in spans)})


ALL_DIS = sorted({di for rule in RULES for di in _corners(rule.pattern)})


def test_every_pattern_corner_matches_its_own_rule_only() -> None:
    for rule in RULES:
        for di in _corners(rule.pattern):
            hits = [
                r
                for r in RULES
                if all(
                    int(lo, 16) <= b <= int(hi or lo, 16)
                    for b, (lo, _, hi) in zip(
                        bytes.fromhex(di),
                        (p.partition("-") for p in r.pattern.split()),
                        strict=True,
                    )
                )
            ]
            assert hits == [rule], (di, [r.pattern for r in hits])


@pytest.mark.parametrize("di", ALL_DIS)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_every_registry_item_round_trips(di: str, data: st.DataObject) -> None:
    item = lookup(di)
    if item.block is None:
        fields = item.fields
    else:
        groups = data.draw(st.integers(1, min(item.block.max_groups, 5)))
        fields = item.block.fields * groups
    values = [data.draw(_field_values(f)) for f in fields]
    reading = interpret(decode_frame(read_reply("000102030425", di, values)), SHANGHAI)
    assert reading.di == di and reading.item == item.name
    assert [v.value for v in reading.values] == values


# Number-only items decode the whole payload from one hex string; the field-by-field BCD
# decoder is the reference, down to each Decimal's exponent and each error's message.
NUMBER_ITEMS = ["0001FF00", "0000FF00", "05060101", "0203FF00", "02010100"]
BCD_BYTES = st.integers(0, 99).map(lambda n: int(f"{n:02d}", 16))
ODD_BYTES = st.sampled_from([0x80, 0x99, 0xA0, 0x0F, 0xFF])


def _number_chunk(size: int) -> st.SearchStrategy[bytes]:
    """Valid BCD, a sign bit on the top byte, filler, or an odd byte anywhere."""
    digits = st.lists(BCD_BYTES, min_size=size - 1, max_size=size - 1).map(bytes)
    top = st.one_of(BCD_BYTES, BCD_BYTES.map(lambda b: b | 0x80)).map(lambda b: bytes((b,)))
    odd = st.lists(st.one_of(BCD_BYTES, ODD_BYTES), min_size=size, max_size=size).map(bytes)
    return st.one_of(st.builds(bytes.__add__, digits, top), st.just(b"\xff" * size), odd)


@pytest.mark.parametrize("di", NUMBER_ITEMS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_whole_payload_number_decode_matches_field_by_field(di: str, data: st.DataObject) -> None:
    item = lookup(di)
    block = item.block
    fields = item.fields if block is None else block.fields * data.draw(st.integers(1, 5))
    chunks = [data.draw(_number_chunk(f.size)) for f in fields]
    expected: list[tuple[object, ...] | None] | str = []
    offset = 4
    for field, chunk in zip(fields, chunks, strict=True):
        try:
            number = bcd.decode_number(chunk, field.decimals, field.signed, offset)
        except FrameError as error:
            expected = str(error)
            break
        assert isinstance(expected, list)
        expected.append(None if number is None else number.as_tuple())
        offset += field.size
    try:
        values = decode_values(item, b"\0" * 4 + b"".join(chunks), 4, SHANGHAI)
    except FrameError as error:
        assert str(error) == expected
        return
    got = [v.value.as_tuple() if isinstance(v.value, Decimal) else v.value for v in values]
    assert got == expected


# --- streaming --------------------------------------------------------------------------


def test_frame_split_at_every_boundary() -> None:
    stream = b"\xfe\xfe" + BLOCK
    for cut in range(len(stream) + 1):
        reader = FrameReader()
        out = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert out == [decode_frame(BLOCK)], cut


def test_byte_at_a_time_with_noise_and_two_frames_per_chunk() -> None:
    reader = FrameReader()
    out = []
    for byte in b"\x00\x68\x12garbage\xfe\xfe\xfe\xfe" + TOTAL + b"\x16\x68" + READ:
        out += reader.feed(bytes((byte,)))
    assert out == [decode_frame(TOTAL), decode_frame(READ)]
    assert FrameReader().feed(TOTAL + BLOCK) == [decode_frame(TOTAL), decode_frame(BLOCK)]


def test_corrupted_frame_between_good_ones() -> None:
    out = FrameReader().feed(TOTAL + b"\xfe" + BAD_CHECKSUM + READ)
    assert len(out) == 3
    assert out[0] == decode_frame(TOTAL) and out[2] == decode_frame(READ)
    error = out[1]
    assert isinstance(error, FrameError) and error.raw == BAD_CHECKSUM
    assert "checksum" in str(error)


# --- fuzz -------------------------------------------------------------------------------

PREFIXES = st.sampled_from([b"", b"\x68", READ[:8], BLOCK[:10], b"\xfe\xfe" + TOTAL[:10]])


@settings(max_examples=500, deadline=None)
@given(prefix=PREFIXES, raw=st.binary(max_size=300))
def test_fuzz_decode_and_interpret_raise_only_frame_error(prefix: bytes, raw: bytes) -> None:
    try:
        interpret(decode_frame(prefix + raw))
    except FrameError:
        return


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=80), control=st.integers(0, 255))
def test_fuzz_interpret_of_valid_frames_raises_only_frame_error(
    payload: bytes, control: int
) -> None:
    frame = decode_frame(encode_frame("000102030425", control, payload))
    try:
        interpret(frame)
    except FrameError:
        return


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.one_of(st.binary(max_size=40), st.sampled_from([TOTAL, BLOCK]))))
def test_fuzz_reader_never_raises(chunks: list[bytes]) -> None:
    reader = FrameReader()
    for chunk in chunks:
        for item in reader.feed(chunk):
            assert isinstance(item, FrameError) or item.control in range(256)


def test_interpret_of_valid_time_param() -> None:
    reading = interpret(decode_frame(read_reply("000102030425", "04000102", [time(23, 59, 1)])))
    assert reading.values[0].value == time(23, 59, 1)


# --- CLI --------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_decode_json_block() -> None:
    result = runner.invoke(
        cli.app, ["decode", *BLOCK_HEX.split()[:5], " ".join(BLOCK_HEX.split()[5:]), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "address": "201000000012",
        "control": "91",
        "direction": "reply",
        "di": "0001FF00",
        "item": "forward active energy, total and rates",
        "values": [
            {"name": "total", "value": "1.29", "unit": "kWh"},
            {"name": "rate 1", "value": "0.62", "unit": "kWh"},
            {"name": "rate 2", "value": "0.60", "unit": "kWh"},
            {"name": "rate 3", "value": "0.03", "unit": "kWh"},
            {"name": "rate 4", "value": "0.02", "unit": "kWh"},
        ],
        "error": None,
    }


def test_cli_decode_table_and_error_reply() -> None:
    assert "1206.42" in runner.invoke(cli.app, ["decode", TOTAL.hex()]).stdout
    result = runner.invoke(cli.app, ["decode", ERROR.hex(" "), "--json"])
    assert json.loads(result.stdout)["error"] == {
        "code": 2,
        "reason": "no such data (unknown data identifier)",
    }


@pytest.mark.parametrize("text", [BAD_CHECKSUM.hex(" "), "68 zz", "00"])
def test_cli_malformed_frame_fails(text: str) -> None:
    result = runner.invoke(cli.app, ["decode", text])
    assert result.exit_code != 0
    assert isinstance(result.exception, FrameError)


def test_cli_encode_read() -> None:
    result = runner.invoke(
        cli.app, ["encode", "read", "--address", "000102030425", "--di", "00010000"]
    )
    assert result.stdout.strip() == "68 25 04 03 02 01 00 68 11 04 33 33 34 33 E1 16"
