"""Remote commands: an audited lifecycle from request to confirmation or failure."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from meter2cash.assets.models import Meter
from meter2cash.core.clock import FixedClock
from meter2cash.core.errors import InputError
from meter2cash.db.audit import AuditEvent
from meter2cash.db.session import unit_of_work
from meter2cash.headend import commands


def _meter(records: Engine) -> None:
    with unit_of_work(records) as session:
        session.add(
            Meter(
                meter_no="M1",
                address="000102030425",
                protocol="dlt645-2007",
                register_digits=6,
                records_intervals=False,
            )
        )


def test_a_relay_trip_goes_requested_sent_confirmed_and_every_step_is_audited(
    records: Engine, clock: FixedClock
) -> None:
    _meter(records)
    with unit_of_work(records) as session:
        trip = commands.request(
            session,
            clock,
            meter_no="M1",
            kind="relay_trip",
            actor="collector-7",
            reason="arrears 91 days, notice served",
            request_key="dun-42",
        )
        again = commands.request(
            session,
            clock,
            meter_no="M1",
            kind="relay_trip",
            actor="collector-7",
            reason="arrears 91 days, notice served",
            request_key="dun-42",
        )
        assert again.id == trip.id
        commands.advance(
            session, clock, trip.id, "sent", actor="headend", frame_hex="68 25 04 03 02 01 00 68 1C"
        )
        done = commands.advance(
            session, clock, trip.id, "confirmed", actor="headend", detail="meter acknowledged"
        )
        trail = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert done.status == "confirmed" and done.sent_at is not None
    assert trail == [
        "command.relay_trip.requested",
        "command.relay_trip.sent",
        "command.relay_trip.confirmed",
    ]


def test_impossible_steps_and_unexplained_trips_are_refused(
    records: Engine, clock: FixedClock
) -> None:
    _meter(records)
    with unit_of_work(records) as session:
        with pytest.raises(InputError, match="needs a reason"):
            commands.request(
                session,
                clock,
                meter_no="M1",
                kind="relay_trip",
                actor="x",
                reason=" ",
                request_key="k1",
            )
        with pytest.raises(InputError, match="no meter M404"):
            commands.request(
                session,
                clock,
                meter_no="M404",
                kind="time_sync",
                actor="x",
                reason="",
                request_key="k2",
            )
        sync = commands.request(
            session,
            clock,
            meter_no="M1",
            kind="time_sync",
            actor="headend",
            reason="drift 95 s",
            request_key="k3",
        )
        with pytest.raises(InputError, match="is requested; it cannot become confirmed"):
            commands.advance(session, clock, sync.id, "confirmed", actor="headend")
        commands.advance(session, clock, sync.id, "failed", actor="headend", detail="no reply")
        assert commands.pending(session) == []
