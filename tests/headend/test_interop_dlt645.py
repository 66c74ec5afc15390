"""Wire interoperability with an independent DL/T 645-2007 implementation: PyPI ``dlt645`` 3.2.0.

Both directions run over real localhost TCP:

* our master (the head-end's ``ConcentratorLink`` and our codec) reads the package's TCP
  meter server;
* the package's TCP master reads a meter of our simulated ``ConcentratorServer``.

Exercised subset, where the package is correct (PROTOCOLS.md lists its defects): reads (control
11/91) of forward active energy, total ``00010000`` and rates ``00010100``…``00010400``, values
with 2 decimals below 800,000 kWh (its decoder applies a sign bit to unsigned energies at and
above), no ``FF`` filler, compared as floats rounded to 2 dp on its side. It has no block reads:
for ``0001FF00`` we only use its frame layer (``DLT645Protocol``, preamble, 0x33 offset,
checksum) and its BCD conversion on each 4-byte field of our block reply. Not exercised: follow-up
frames, broadcast time sync (its date bytes are reversed), ``FF`` filler, energies ≥ 800,000.

Found on the way: the package's string addresses are in *wire* order (A0 first), not the
nameplate order the standard prints and we use (``000102030425`` ↔ wire ``25 04 03 02 01 00``);
we hand it :func:`_wire_order` strings/bytes. Its meter server also answers a read addressed to
another meter with an error frame instead of staying silent.

The package is blocking (a thread per server, blocking sockets): its server runs in its own
threads and its master is called through :func:`asyncio.to_thread`, so our asyncio server keeps
serving. Everything has a timeout.
"""

from __future__ import annotations

import asyncio
import struct
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from meter2cash.core.timezones import local_midnight
from meter2cash.headend.link import ConcentratorLink
from meter2cash.headend.protocols.dlt645 import decode_frame, interpret
from meter2cash.simulator import UtilitySpec, build_utility
from meter2cash.simulator.wire import COLLECTION_OFFSET, MeterBank, start_concentrators

dlt645 = pytest.importorskip(
    "dlt645", reason="dlt645 (PyPI, a dev extra installed by `make test`) is not installed"
)
from dlt645.common.transform import bcd_to_float  # noqa: E402
from dlt645.model.types.dlt645_type import CtrlCode  # noqa: E402
from dlt645.protocol.protocol import DLT645Protocol  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
TIMEOUT_S = 2.0
"""Per request, both sides [s]."""
BUDGET_S = 15.0
"""Whole test [s]."""
ENERGY_FORMAT = "XXXXXX.XX"
"""The package's own format descriptor for a 4-byte energy (six integer, two decimal digits)."""
RATE_DIS = ("00010100", "00010200", "00010300", "00010400")


def _wire_order(address: str) -> str:
    """A nameplate address (A5…A0) as the package's address strings spell it (A0…A5)."""
    return bytes.fromhex(address)[::-1].hex()


def test_our_master_reads_the_packages_meter_server() -> None:
    address = "000102030425"
    rates = [Decimal("400000.01"), Decimal("300000.02"), Decimal("56789.70"), Decimal("43210.05")]
    total = sum(rates, Decimal(0))  # 799999.78 kWh: under its 800,000 sign threshold
    meter = dlt645.MeterServerService.new_tcp_server("127.0.0.1", 0, TIMEOUT_S)
    meter.set_address(bytes.fromhex(_wire_order(address)))
    expected = {"00010000": total, **dict(zip(RATE_DIS, rates, strict=True))}
    for di, value in expected.items():
        assert meter.set_00(int(di, 16), float(value)), di
    assert meter.server.start(), "the package's TCP meter server did not start"

    async def read() -> dict[str, Decimal]:
        link = ConcentratorLink(
            code="dlt645-peer",
            endpoint=("127.0.0.1", meter.server.port),
            tz=TZ,
            timeout_s=TIMEOUT_S,
            reconnect_after_timeouts=3,
            quarantined=[],
        )
        try:
            got = {}
            for di in expected:
                reading = await link.exchange(address, di)
                assert reading.error is None, (di, reading.error)
                assert reading.address == address
                assert reading.di == di
                (value,) = reading.values
                assert isinstance(value.value, Decimal)
                got[di] = value.value
            assert link.quarantined == []
            return got
        finally:
            await link.close()

    try:
        got = asyncio.run(asyncio.wait_for(read(), BUDGET_S))
    finally:
        meter.server.stop()
    assert got == expected
    assert all(v.as_tuple().exponent == -2 for v in got.values())


def test_the_packages_master_reads_our_simulated_meter() -> None:
    utility = build_utility(UtilitySpec(accounts=60, days=5))
    today = utility.spec.end

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], list[Decimal], list[float]]:
        fleet = await start_concentrators(utility, today, loss=0.0)
        try:
            silent = fleet.bank.silent_meters()
            code, address = next(
                (code, address)
                for code, meters in fleet.meters_by_concentrator.items()
                for _, address in meters
                if address not in silent
            )
            host, port = fleet.endpoints[code]
            return await _read_with_package(fleet.bank, address, host, port)
        finally:
            await fleet.close()

    served, read, served_block, read_block = asyncio.run(asyncio.wait_for(scenario(), BUDGET_S))
    assert served["00010000"] > 0  # a meter that has consumed something
    assert read == {di: round(float(v), 2) for di, v in served.items()}
    assert len(served_block) == len(read_block) == 5
    assert read_block == [round(float(v), 2) for v in served_block]
    assert served_block[0] == served["00010000"]
    assert served_block[1:] == [served[di] for di in RATE_DIS]


async def _read_with_package(
    bank: MeterBank, address: str, host: str, port: int
) -> tuple[dict[str, Any], dict[str, Any], list[Decimal], list[float]]:
    """What our bank serves and what the package's TCP master reads, single DIs and block."""
    now = local_midnight(bank.today, bank.tz) + COLLECTION_OFFSET

    def served_values(di: str) -> list[Decimal]:
        frame = bank.answer(address, di, now)
        assert frame is not None
        reading = interpret(decode_frame(frame), TZ)
        assert reading.error is None, (di, reading.error)
        return [v.value for v in reading.values]

    served = {di: served_values(di)[0] for di in ("00010000", *RATE_DIS)}
    served_block = served_values("0001FF00")

    client = dlt645.MeterClientService.new_tcp_client(host, port, TIMEOUT_S)
    assert client.set_address(_wire_order(address))

    def blocking_reads() -> tuple[dict[str, Any], list[float]]:
        read = {}
        for di in served:
            item = client.read_00(int(di, 16))
            assert item is not None, f"the package read nothing for {di}"
            read[di] = round(item.value, 2)
        # No block support in its service layer: its frame layer and BCD conversion only.
        di_bytes = struct.pack("<I", 0x0001FF00)
        request = DLT645Protocol.build_frame(client.address, CtrlCode.ReadData, di_bytes)
        raw = client.client.send_request(bytes(request), total_timeout=TIMEOUT_S, retries=0)
        assert raw is not None, "no reply to the block read"
        frame = DLT645Protocol.deserialize(raw)
        assert frame is not None
        assert frame.ctrl_code == CtrlCode.ReadData | 0x80
        assert bytes(frame.addr) == bytes(client.address)
        assert bytes(frame.data[:4]) == di_bytes
        fields = frame.data[4:]
        assert len(fields) == 5 * 4
        block = [
            round(bcd_to_float(bytes(fields[k : k + 4]), ENERGY_FORMAT, "little"), 2)
            for k in range(0, len(fields), 4)
        ]
        return read, block

    try:
        read, read_block = await asyncio.to_thread(blocking_reads)
    finally:
        client.client.disconnect()
    return served, read, served_block, read_block
