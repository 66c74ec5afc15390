"""Billing determinants: one Ibis definition that DuckDB and Spark both run.

A determinant is a quantity a tariff prices: energy by TOU period [kWh], reactive energy
[kvarh], maximum demand [kW], or a register delta [kWh]. Inputs are Ibis tables from a
:class:`~meter2cash.engines.BatchEngine` (``measurements(...)`` and ``table(...)``); the
result is an Ibis expression to run with ``engine.to_arrow``.

Quantities are DECIMAL(18,4) throughout — the store's precision — and multiplying by the
integer installation multiplier (倍率 = CT × PT) is exact, so both engines agree to the digit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import ibis
import ibis.expr.types as ir

from meter2cash.measurements.schema import DEMAND_REGISTER, ENERGY_REGISTERS

QUANTITY: Final = "decimal(18, 4)"
TOU_PERIODS: Final = ("sharp", "peak", "flat", "valley", "deep_valley")
INTERVALS_PER_HOUR: Final = 4
PERIOD_KEY: Final = ("account_no", "meter_no", "period_start", "period_end")
SEGMENT: Final = "segment"
"""Optional column numbering installation segments: two changes of one meter on one local
day give two segments of that meter with the same dates, told apart by it."""


def _zero() -> ir.DecimalScalar:
    return ibis.literal(0, type=QUANTITY)


def _quantity(value: ir.NumericValue) -> ir.DecimalValue:
    return value.cast(QUANTITY)


def _key(periods: ir.Table) -> tuple[str, ...]:
    """The columns naming one row of ``periods``: :data:`PERIOD_KEY`, and :data:`SEGMENT`
    when it has one."""
    return (*PERIOD_KEY, SEGMENT) if SEGMENT in periods.columns else PERIOD_KEY


def interval_determinants(
    intervals: ir.Table, periods: ir.Table, tou_slots: ir.Table, calendar: ir.Table
) -> ir.Table:
    """Energy by TOU period, reactive energy and maximum demand per billing period.

    Parameters
    ----------
    intervals
        The store's current interval values: ``meter_no``, ``channel`` (``kWh`` [kWh per
        15 min], ``kvarh`` [kvarh per 15 min]), ``local_date``, ``slot`` (local quarter-hour
        0–95), ``value``. Other channels are ignored.
    periods
        ``meter_no``, ``account_no``, ``period_start``, ``period_end`` (local dates, both
        inclusive), ``multiplier`` (integer CT × PT), ``tou_schedule``; optionally
        ``open_at`` / ``close_at`` (UTC instants, null = the whole first / last day): an
        installation segment counts the intervals starting in [open_at, close_at), so a
        meter exchanged or re-ratioed mid-day bills each interval at the multiplier then in
        force; and :data:`SEGMENT`, which then names a row with the period key.
    tou_slots
        ``tou_schedule``, ``month`` (1–12), ``day_type``, ``slot``, ``tou_period`` (one of
        :data:`TOU_PERIODS`). A slot with no row counts in ``kwh_total`` only.
    calendar
        ``local_date``, ``day_type`` (``workday`` | ``weekend`` | ``holiday``). A date the
        calendar lacks is a ``weekend`` on Saturday and Sunday, else a ``workday``.

    Returns
    -------
    One row per period (all of ``periods``, also those without intervals): the period key,
    ``kwh_total`` and ``kwh_<tou_period>`` [kWh], ``kvarh_total`` [kvarh], ``max_demand_kw``
    [kW] = largest 15-minute kWh × 4, all × multiplier, DECIMAL(18,4); and ``interval_count``,
    the number of kWh intervals found (96 a day when none is missing, so billing sees gaps).

    Example
    -------
    >>> expr = interval_determinants(engine.measurements("intervals"), periods, slots, cal)
    >>> engine.to_arrow(expr)  # doctest: +SKIP
    """
    key = _key(periods)
    wanted = intervals.filter(intervals.channel.isin(("kWh", "kvarh")))
    bounds = [
        wanted.meter_no == periods.meter_no,
        wanted.local_date >= periods.period_start,
        wanted.local_date <= periods.period_end,
    ]
    if "open_at" in periods.columns:
        bounds.append(periods.open_at.isnull() | (wanted.ts >= periods.open_at))
    if "close_at" in periods.columns:
        bounds.append(periods.close_at.isnull() | (wanted.ts < periods.close_at))
    in_period = wanted.join(periods, bounds).select(
        *key,
        "tou_schedule",
        "channel",
        "local_date",
        "slot",
        "value",
    )
    dated = in_period.left_join(calendar, "local_date")
    day_type = ibis.coalesce(
        dated.day_type,
        ibis.ifelse(dated.local_date.day_of_week.index() >= 5, "weekend", "workday"),
    )
    typed = dated.select(
        *key,
        "tou_schedule",
        "channel",
        "slot",
        "value",
        month=dated.local_date.month().cast("int32"),
        day_type=day_type,
    ).view()  # close Ibis's join chain so the next join can use the computed columns
    slots = tou_slots.select(
        "tou_schedule",
        "day_type",
        "tou_period",
        month=tou_slots.month.cast("int32"),
        slot=tou_slots.slot.cast("int16"),
    )
    rated = typed.left_join(slots, ["tou_schedule", "month", "day_type", "slot"])
    is_kwh = rated.channel == "kWh"
    sums = {
        "kwh_total": rated.value.sum(where=is_kwh),
        **{
            f"kwh_{period}": rated.value.sum(where=is_kwh & (rated.tou_period == period))
            for period in TOU_PERIODS
        },
        "kvarh_total": rated.value.sum(where=rated.channel == "kvarh"),
        "max_kwh": rated.value.max(where=is_kwh),
    }
    totals = rated.group_by(*key).aggregate(**sums, interval_count=rated.value.count(where=is_kwh))
    joined = periods.left_join(totals, list(key))
    multiplier = joined.multiplier
    quantities = {
        name: _quantity(ibis.coalesce(joined[name], _zero()) * multiplier)
        for name in sums
        if name != "max_kwh"
    }
    return joined.select(
        *(periods[k] for k in key),
        **quantities,
        max_demand_kw=_quantity(
            ibis.coalesce(joined.max_kwh, _zero()) * INTERVALS_PER_HOUR * multiplier
        ),
        interval_count=ibis.coalesce(joined.interval_count, 0).cast("int64"),
    )


def register_determinants(
    reads: ir.Table,
    periods: ir.Table,
    channels: Sequence[str] = ENERGY_REGISTERS,
) -> ir.Table:
    """Register deltas per billing period from daily-frozen reads.

    Convention: a daily-frozen read is the register at local midnight. The store files it
    under the local day its timestamp falls in, so the read with ``local_date = D`` is the
    value at the START of day D — the close of day D-1. A period [period_start, period_end]
    (inclusive local days) therefore runs from the frozen read of ``period_start`` to the
    frozen read of ``period_end + 1 day``. Should a day hold more than one daily-frozen read,
    the earliest counts.

    Parameters
    ----------
    reads
        The store's current register reads: ``meter_no``, ``channel``, ``ts``, ``value``
        [kWh, as the meter shows it], ``read_type``, ``local_date``.
    periods
        ``meter_no``, ``account_no``, ``period_start``, ``period_end``, ``multiplier`` and,
        optionally, ``register_digits`` (the register wraps at 10^digits kWh); without it a
        register that wrapped gives a negative delta.
    channels
        Register channels to report for every period (default :data:`ENERGY_REGISTERS`);
        pass ``("A+",)`` for meters without TOU or export registers.

    Returns
    -------
    One row per period and channel: the period key, ``channel``, ``start_read`` and
    ``end_read`` [kWh, meter value, DECIMAL(18,4)], ``delta`` = (end − start) × multiplier
    [kWh] or null when a read is missing, ``missing_start`` / ``missing_end`` flags, and
    ``estimated`` when either read is a VEE estimate rather than what the meter reported.
    With ``register_digits``, a register that rolled over counts end − start + 10^digits
    when that is under half the register's range (999,950 → 30 on 6 digits: 80 kWh); a
    larger drop stays negative, for review to stop.
    """
    frozen = reads.filter((reads.read_type == "daily_frozen") & reads.channel.isin(tuple(channels)))
    daily = frozen.group_by("meter_no", "channel", "local_date").aggregate(
        reading=frozen.value.argmin(frozen.ts),
        estimate=(frozen.quality == "estimated").argmin(frozen.ts),
    )
    wanted = ibis.literal(list(channels), type="array<string>")
    digits = periods.register_digits if "register_digits" in periods.columns else None
    per_channel = periods.select(
        *PERIOD_KEY,
        "multiplier",
        register_range=_quantity(ibis.null()) if digits is None else _quantity(10**digits),
        channel=wanted.unnest(),
        end_day=periods.period_end + ibis.interval(days=1),
    )
    start = daily.select(
        "meter_no",
        "channel",
        period_start="local_date",
        start_read="reading",
        start_estimated="estimate",
    )
    end = daily.select(
        "meter_no", "channel", end_day="local_date", end_read="reading", end_estimated="estimate"
    )
    with_start = (
        per_channel.left_join(start, ["meter_no", "channel", "period_start"])
        .select(
            *PERIOD_KEY,
            "multiplier",
            "register_range",
            "channel",
            "end_day",
            "start_read",
            "start_estimated",
        )
        .view()
    )
    both = with_start.left_join(end, ["meter_no", "channel", "end_day"])
    return both.select(
        *(with_start[k] for k in PERIOD_KEY),
        with_start.channel,
        start_read=_quantity(both.start_read),
        end_read=_quantity(both.end_read),
        delta=_quantity(
            _register_advance(both.start_read, both.end_read, both.register_range) * both.multiplier
        ),
        missing_start=both.start_read.isnull(),
        missing_end=both.end_read.isnull(),
        estimated=ibis.coalesce(both.start_estimated, False)
        | ibis.coalesce(both.end_estimated, False),
    )


def segment_register_determinants(
    reads: ir.Table,
    segments: ir.Table,
    channels: Sequence[str] = ENERGY_REGISTERS,
) -> ir.Table:
    """Register deltas per installation segment: a meter exchange or a CT/PT change inside
    a billing period splits it into segments, each billed at its own multiplier.

    A segment opens at the frozen read of ``period_start`` (as in
    :func:`register_determinants`) unless it was installed later, at ``open_at``: then the
    total register (A+) opens at the installation's ``initial_read`` and every other
    channel at the meter's earliest read at or after ``open_at`` (the read taken at the
    change, or failing it the next freeze). It closes at the frozen read of
    ``period_end + 1 day`` unless removed earlier, at ``close_at``: then A+ closes at the
    installation's ``final_read`` and the other channels — and A+ when no final read was
    recorded, flagged ``estimated`` — at the meter's latest read at or before ``close_at``.
    A read at a change is looked for between the segment's own instants only, so a segment
    opened and closed on one local day with no read in between has none (missing) rather
    than a read of the segment before or after it.

    Parameters
    ----------
    reads
        As for :func:`register_determinants` (any ``read_type`` counts at a change).
    segments
        The period key (``period_start`` / ``period_end`` are the segment's local dates),
        optionally :data:`SEGMENT` (needed when two segments of one meter share their
        dates), ``multiplier``, ``register_digits``, ``open_at`` / ``close_at`` (UTC
        instants or null), ``initial_read`` / ``final_read`` [kWh, meter value, or null].
    channels
        Register channels to report (default :data:`ENERGY_REGISTERS`).

    Returns
    -------
    One row per segment and channel, with the columns of :func:`register_determinants`.
    """
    wanted = reads.filter(reads.channel.isin(tuple(channels)))
    frozen = wanted.filter(wanted.read_type == "daily_frozen")
    daily = frozen.group_by("meter_no", "channel", "local_date").aggregate(
        reading=frozen.value.argmin(frozen.ts),
        estimate=(frozen.quality == "estimated").argmin(frozen.ts),
    )
    segment_key = _key(segments)
    per_channel = segments.select(
        *segment_key,
        "multiplier",
        "open_at",
        "close_at",
        register_range=_quantity(10**segments.register_digits),
        initial_read=_quantity(segments.initial_read),
        final_read=_quantity(segments.final_read),
        channel=ibis.literal(list(channels), type="array<string>").unnest(),
        end_day=segments.period_end + ibis.interval(days=1),
    ).view()
    key = [*segment_key, "channel"]
    opening = _change_read(per_channel, wanted, key, first=True)
    closing = _change_read(per_channel, wanted, key, first=False)
    freeze_start = daily.select(
        "meter_no", "channel", period_start="local_date", fs="reading", fs_est="estimate"
    )
    freeze_end = daily.select(
        "meter_no", "channel", end_day="local_date", fe="reading", fe_est="estimate"
    )
    joined = (
        per_channel.left_join(freeze_start, ["meter_no", "channel", "period_start"])
        .select(per_channel, "fs", "fs_est")
        .left_join(freeze_end, ["meter_no", "channel", "end_day"])
        .select(per_channel, "fs", "fs_est", "fe", "fe_est")
        .left_join(opening, key)
        .select(per_channel, "fs", "fs_est", "fe", "fe_est", "open_read", "open_est")
        .left_join(closing, key)
        .select(
            per_channel,
            "fs",
            "fs_est",
            "fe",
            "fe_est",
            "open_read",
            "open_est",
            "close_read",
            "close_est",
        )
        .view()
    )
    total = joined.channel == "A+"
    opens_late = joined.open_at.notnull()
    closes_early = joined.close_at.notnull()
    recorded_final = total & joined.final_read.notnull()
    start = ibis.cases(
        (~opens_late, _quantity(joined.fs)),
        (total, joined.initial_read),
        else_=_quantity(joined.open_read),
    )
    end = ibis.cases(
        (~closes_early, _quantity(joined.fe)),
        (recorded_final, joined.final_read),
        else_=_quantity(joined.close_read),
    )
    start_estimated = ibis.ifelse(
        opens_late,
        ~total & ibis.coalesce(joined.open_est, False),
        ibis.coalesce(joined.fs_est, False),
    )
    end_estimated = ibis.ifelse(
        closes_early,
        ~recorded_final & (total | ibis.coalesce(joined.close_est, False)),
        ibis.coalesce(joined.fe_est, False),
    )
    return joined.select(
        *key,
        start_read=start,
        end_read=end,
        delta=_quantity(_register_advance(start, end, joined.register_range) * joined.multiplier),
        missing_start=start.isnull(),
        missing_end=end.isnull(),
        estimated=start_estimated | end_estimated,
    )


def demand_register_determinants(reads: ir.Table, periods: ir.Table) -> ir.Table:
    """Maximum demand per billing period or installation segment from the daily freezes of
    the maximum-demand register (:data:`DEMAND_REGISTER`, DL/T 645 ``0101xxxx``).

    The register holds the largest 15-minute demand since the meter last settled, at local
    00:00 on the 1st of each month after the freeze closing the month's last day. So the
    freeze stamped D (``local_date = D``, closing day D − 1) holds the maximum from the 1st
    of D − 1's month through D − 1, and a period [period_start, period_end] takes the
    largest of the freezes stamped ``period_start + 1`` … ``period_end + 1`` — for a
    calendar month that is the closing freeze, unless it is missing. A segment takes only
    its own freezes: after ``open_at`` and at or before ``close_at``. Should a day hold more
    than one daily-frozen read, the earliest counts.

    Parameters
    ----------
    reads
        The store's current register reads (as for :func:`register_determinants`).
    periods
        The period key (optionally :data:`SEGMENT`), ``multiplier`` and, optionally,
        ``open_at`` / ``close_at`` (UTC instants, null = the period's own first / last
        freeze).

    Returns
    -------
    One row per row of ``periods``: its key, ``max_read`` [kW, meter value] and
    ``max_demand_kw`` = ``max_read`` × multiplier [kW], DECIMAL(18,4), null without a
    freeze; ``freezes`` (how many counted); ``closing_read`` [kW, meter value], the freeze
    stamped ``period_end + 1``; ``missing_closing`` when that freeze is due (the row runs to
    the period's end: no ``close_at``) and absent; ``estimated`` when it is due and missing
    or a VEE estimate.

    Example
    -------
    A 10 kV customer, CT 200/5 × PT 10000/100 = 4000, July's closing freeze 0.1625 kW:
    ``max_demand_kw`` = 650.0000 kW.
    """
    frozen = reads.filter((reads.read_type == "daily_frozen") & (reads.channel == DEMAND_REGISTER))
    daily = frozen.group_by("meter_no", "local_date").aggregate(
        at=frozen.ts.min(),
        reading=frozen.value.argmin(frozen.ts),
        estimate=(frozen.quality == "estimated").argmin(frozen.ts),
    )
    key = _key(periods)
    changes = [c for c in ("open_at", "close_at") if c in periods.columns]
    spans = periods.select(
        *key,
        *changes,
        "multiplier",
        first_day=periods.period_start + ibis.interval(days=1),
        end_day=periods.period_end + ibis.interval(days=1),
    ).view()
    bounds = [
        daily.meter_no == spans.meter_no,
        daily.local_date >= spans.first_day,
        daily.local_date <= spans.end_day,
    ]
    if "open_at" in changes:
        bounds.append(spans.open_at.isnull() | (daily.at > spans.open_at))
    if "close_at" in changes:
        bounds.append(spans.close_at.isnull() | (daily.at <= spans.close_at))
    inside = spans.join(daily, bounds).select(
        *(spans[k] for k in key),
        reading=daily.reading,
        estimate=daily.estimate,
        closing=daily.local_date == spans.end_day,
    )
    found = inside.group_by(*key).aggregate(
        max_read=inside.reading.max(),
        freezes=inside.reading.count(),
        closing_read=inside.reading.max(where=inside.closing),
        closing_estimate=inside.estimate.any(where=inside.closing),
    )
    joined = spans.left_join(found, list(key))
    due = joined.close_at.isnull() if "close_at" in changes else ibis.literal(True)
    missing = due & joined.closing_read.isnull()
    return joined.select(
        *(spans[k] for k in key),
        max_read=_quantity(joined.max_read),
        max_demand_kw=_quantity(joined.max_read * joined.multiplier),
        freezes=ibis.coalesce(joined.freezes, 0).cast("int64"),
        closing_read=_quantity(joined.closing_read),
        missing_closing=missing,
        estimated=missing | (due & ibis.coalesce(joined.closing_estimate, False)),
    )


def _change_read(
    per_channel: ir.Table, reads: ir.Table, key: Sequence[str], *, first: bool
) -> ir.Table:
    """The read of each segment channel at its opening change (``first``: the earliest at or
    after ``open_at``) or its closing one (the latest at or before ``close_at``), within the
    segment's days and between its two instants. Columns: ``key``, ``<open|close>_read``,
    ``<…>_est``."""
    at, other = ("open_at", "close_at") if first else ("close_at", "open_at")
    name = at.removesuffix("_at")
    changed = per_channel.filter(per_channel[at].notnull())
    bounds = [
        reads.meter_no == changed.meter_no,
        reads.channel == changed.channel,
        reads.local_date >= changed.period_start,
        reads.local_date <= changed.end_day,
        reads.ts >= changed[at] if first else reads.ts <= changed[at],
        changed[other].isnull()
        | (reads.ts <= changed[other] if first else reads.ts >= changed[other]),
    ]
    near = changed.join(reads, bounds).select(
        *(changed[k] for k in key), "ts", "value", estimated=reads.quality == "estimated"
    )
    pick = "argmin" if first else "argmax"
    return near.group_by(*key).aggregate(
        **{
            f"{name}_read": getattr(near.value, pick)(near.ts),
            f"{name}_est": getattr(near.estimated, pick)(near.ts),
        }
    )


def _register_advance(
    start: ir.DecimalValue, end: ir.DecimalValue, register_range: ir.DecimalValue
) -> ir.DecimalValue:
    """What a register advanced [kWh, meter value]: end − start, plus the range (10^digits,
    null when unknown) when the register plausibly wrapped past it — the wrapped advance is
    under half the range; a larger drop stays negative so review stops the bill."""
    advance = end - start
    wrapped = advance + register_range
    plausible = (advance < 0) & (wrapped * 2 < register_range)
    return ibis.ifelse(plausible.fill_null(False), wrapped, advance)
