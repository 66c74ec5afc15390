"""`m2c dlt645` — decode and build DL/T 645-2007 frames by hand (field work, debugging)."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Any

import typer

from meter2cash.cli.output import console, print_json, table
from meter2cash.headend.protocols.dlt645 import (
    FrameError,
    Reading,
    Value,
    decode_frame,
    interpret,
    read_request,
)
from meter2cash.headend.protocols.dlt645.profile import record_values

app = typer.Typer(
    help="DL/T 645-2007 frames: decode replies, build requests.", no_args_is_help=True
)
encode_app = typer.Typer(help="Build request frames.", no_args_is_help=True)
app.add_typer(encode_app, name="encode")


def parse_hex(parts: list[str]) -> bytes:
    """Hex bytes from one or more arguments; spaces anywhere are ignored."""
    text = "".join("".join(parts).split())
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise FrameError(
            f"not a hex frame: {text[:40]!r}", "give hex bytes such as '68 25 04 …'"
        ) from exc


def _plain(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _profile_values(reading: Reading) -> tuple[Value, ...]:
    """A load-profile reply's records as named values (none for anything else)."""
    return record_values(reading.profile.records()) if reading.profile is not None else ()


def reading_json(reading: Reading) -> dict[str, Any]:
    """The JSON shape of a decoded frame (values as decimal or ISO 8601 strings)."""
    return {
        "address": reading.address,
        "control": f"{reading.control:02X}",
        "direction": reading.direction,
        "di": reading.di,
        "item": reading.item,
        "values": [
            {"name": v.name, "value": _plain(v.value), "unit": v.unit}
            for v in reading.values or _profile_values(reading)
        ],
        "error": (
            {"code": reading.error[0], "reason": reading.error[1]} if reading.error else None
        ),
    }


@app.command("decode")
def decode(
    frame_hex: Annotated[list[str], typer.Argument(metavar="HEX", help="Frame bytes in hex.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Decode one frame and its values by the DI registry."""
    reading = interpret(decode_frame(parse_hex(frame_hex)))
    if as_json:
        print_json(reading_json(reading))
        return
    title = (
        f"meter {reading.address}  C={reading.control:02X} ({reading.direction})"
        f"  DI {reading.di or '-'}  {reading.item or ''}"
    )
    if reading.error:
        console.print(
            f"{title}\n[red]error reply[/] ERR={reading.error[0]:02X}: {reading.error[1]}"
        )
        return
    values = reading.values or _profile_values(reading)
    rows = [(v.name, _plain(v.value) or "not available", v.unit) for v in values]
    console.print(table(title, ["name", "value", "unit"], rows))


@encode_app.command("read")
def encode_read(
    address: Annotated[str, typer.Option("--address", help="12-digit meter address.")],
    di: Annotated[str, typer.Option("--di", help="Data identifier, 8 hex digits DI3 first.")],
    wakeup: Annotated[int, typer.Option("--wakeup", help="Leading FE bytes (0-4).")] = 0,
) -> None:
    """Print a read request (C = 11) as spaced hex."""
    print(read_request(address, di, wakeup=wakeup).hex(" ").upper())
