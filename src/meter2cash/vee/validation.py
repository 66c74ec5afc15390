"""The validation rule chain over intervals and daily freezes, run through the engine seam.

A rule is a small registered function from :class:`Inputs` (Ibis tables over the window being
validated) to an Ibis table of findings — ``meter_no``, ``channel``, ``ts`` (UTC), ``rule``,
``severity`` (``information`` | ``issue`` | ``terminate``), ``detail`` — errors as values,
never exceptions. Which rules run, and their thresholds, depend on the meter's class
(:data:`CLASS_RULES`): a rule sees only the meters of classes that enable it, through the
per-meter ``facts`` table that carries each meter's thresholds as columns. Every rule is one
Ibis expression, so DuckDB and Spark run the same chain; history statistics come precomputed
per meter (:mod:`meter2cash.vee.history`), so no rule rescans history.

Findings stamped on a day (a missing or implausible day) carry the day's local midnight.

Register channels: the energy registers (A+, the rate registers A+1…A+4, A−, and the
reactive-energy register R+ [kvarh]) are cumulative and wrap at 10^digits; the
maximum-demand register MD+ [kW] is a running maximum that the meter settles (resets to the
new day's own maximum) at local 00:00 on the 1st of each month, so it has rules of its own
(``demand_register_fall``, ``negative_demand``) and none of the energy registers'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date
from typing import Final, Literal

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from meter2cash.engines.base import BatchEngine
from meter2cash.measurements.schema import DEMAND_REGISTER, REACTIVE_REGISTER

Severity = Literal["information", "issue", "terminate"]
SLOTS: Final = 96
FINDING_COLUMNS: Final = ("meter_no", "channel", "ts", "rule", "severity", "detail")
FINDINGS: Final = pa.schema(
    [
        ("meter_no", pa.string()),
        ("channel", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("rule", pa.string()),
        ("severity", pa.string()),
        ("detail", pa.string()),
    ]
)


@dataclass(frozen=True)
class Thresholds:
    """One meter class's rule settings (see each rule for the meaning)."""

    rules: frozenset[str]
    spike_factor: float = 6.0
    """An interval above this × the meter's typical largest interval is a spike [-]."""
    spike_floor_kwh: float = 0.5
    """…and above this [kWh, meter side], so tiny meters do not flag noise."""
    daily_high: float = 4.0
    """A day above this × the meter's mean day is high [-]."""
    daily_low: float = 0.15
    """A day below this × the meter's mean day is low [-] (zero days have their own rule)."""
    daily_floor_kwh: float = 2.0
    """Own-history checks need a mean day of at least this [kWh]."""
    peer_high: float = 8.0
    """A day above this × the median of its class in its transformer area is high [-]."""
    register_tolerance_kwh: float = 0.05
    register_tolerance_share: float = 0.005
    """Interval sum and register delta may differ by the larger of these [kWh, -]."""
    tou_tolerance_kwh: float = 0.05
    """Rate registers may differ from the total by this, for rounding [kWh]."""
    zero_days: int = 5
    """Consecutive zero days on an active meter before it is flagged [days]."""
    max_estimates: int = 3
    """Estimated days in the window before a meter is flagged [days]."""
    demand_share: float = 1.0
    """Demand above this × the contracted (or transformer) capacity is flagged [-]."""


EVERY_RULE: Final = frozenset(
    {
        "missing_intervals",
        "missing_day",
        "negative_interval",
        "register_decrease",
        "register_rollover",
        "interval_vs_register",
        "tou_vs_total",
        "spike",
        "daily_high",
        "daily_low",
        "peer_high",
        "zero_consumption",
        "clock_drift",
        "demand_over_capacity",
        "voltage_without_current",
        "consecutive_estimates",
        "multiplier_change",
        "demand_register_fall",
        "negative_demand",
    }
)
CLASS_RULES: Final[dict[str, Thresholds]] = {
    "residential": Thresholds(EVERY_RULE - {"demand_over_capacity"}, daily_high=5.0),
    "commercial": Thresholds(EVERY_RULE),
    "industrial": Thresholds(EVERY_RULE, spike_factor=4.0, zero_days=3),
    "supply": Thresholds(EVERY_RULE - {"peer_high", "zero_consumption"}, daily_high=2.5),
}
"""The rule chain per meter class: which rules run and with what thresholds."""
MULTIPLIER_CHANGES: Final = pa.schema(
    [
        ("meter_no", pa.string()),
        ("changed_at", pa.timestamp("us", tz="UTC")),
        ("multiplier_before", pa.int64()),
        ("multiplier_after", pa.int64()),
    ]
)
THRESHOLD_COLUMNS: Final = tuple(f.name for f in fields(Thresholds) if f.name != "rules")


@dataclass(frozen=True)
class Inputs:
    """What the rules read, all Ibis tables from one engine.

    ``intervals``: current interval versions in the window (``meter_no``, ``channel``, ``ts``,
    ``value`` [kWh, meter side], ``local_date``, ``slot``, ``quality``); ``registers``: daily
    freezes stamped on the window's days and the day after (``channel`` A+, A+1…A+4, A-,
    R+ [kvarh], MD+ [kW]);
    ``facts``: one row per installed meter (:func:`facts_table`); ``history``: per-meter
    statistics (:mod:`meter2cash.vee.history`); ``days``: the window's ``local_date`` and
    ``day_start`` (local midnight, UTC); ``events``: meter events in the window (``code``);
    ``alarms``: head-end alarms in the window (``meter_no``, ``kind``, ``ts``);
    ``multiplier_changes``: installations in the window whose multiplier differs from the one
    before at the same service point (``meter_no``, ``changed_at``, ``multiplier_before``,
    ``multiplier_after``).
    """

    intervals: ir.Table
    registers: ir.Table
    facts: ir.Table
    history: ir.Table
    days: ir.Table
    events: ir.Table
    alarms: ir.Table
    multiplier_changes: ir.Table
    first: date
    last: date


Rule = Callable[[Inputs], ir.Table]
RULES: dict[str, tuple[Severity, Rule]] = {}
"""The registry: rule name → (severity, function)."""


def rule(name: str, severity: Severity) -> Callable[[Rule], Rule]:
    """Register ``function`` as the rule ``name`` (its findings carry ``severity``)."""

    def register(function: Rule) -> Rule:
        if name not in EVERY_RULE:
            raise ValueError(f"rule {name!r} is not in EVERY_RULE")
        RULES[name] = (severity, function)
        return function

    return register


def facts_table(engine: BatchEngine, meters: pd.DataFrame) -> ir.Table:
    """Per-meter facts with the class's thresholds as columns and ``on_<rule>`` flags.

    ``meters``: ``meter_no``, ``meter_class`` (residential | commercial | industrial |
    supply), ``transformer_area``, ``register_digits``, ``records_intervals``, ``multiplier``,
    ``capacity_kva`` (contracted, or the transformer's for a supply meter; NaN unknown).
    """
    frame = meters.copy()
    unknown = sorted(set(frame["meter_class"]) - set(CLASS_RULES))
    if unknown:
        raise ValueError(f"no rule chain for meter classes {unknown}")
    for column in THRESHOLD_COLUMNS:
        frame[column] = frame["meter_class"].map(
            {c: getattr(t, column) for c, t in CLASS_RULES.items()}
        )
    for name in sorted(EVERY_RULE):
        frame[f"on_{name}"] = frame["meter_class"].map(
            {c: name in t.rules for c, t in CLASS_RULES.items()}
        )
    return engine.table("vee_facts", pa.Table.from_pandas(frame, preserve_index=False))


def validate(engine: BatchEngine, inputs: Inputs) -> pa.Table:
    """Run every registered rule; the findings of all of them as one Arrow table."""
    parts = [
        function(inputs).select(
            "meter_no",
            "channel",
            "ts",
            rule=ibis.literal(name),
            severity=ibis.literal(severity),
            detail="detail",
        )
        for name, (severity, function) in sorted(RULES.items())
    ]
    union = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    result = engine.to_arrow(union)
    return result.select(list(FINDING_COLUMNS)).cast(FINDINGS)


# --- helpers -------------------------------------------------------------------------------


def _text(value: ir.Value, digits: int = 2) -> ir.StringValue:
    """A number as text with ``digits`` decimals, for details."""
    return value.cast("float64").round(digits).cast("string")


def _enabled(table: ir.Table, facts: ir.Table, name: str) -> ir.Table:
    """``table`` joined to the facts of meters whose class runs rule ``name``."""
    on = facts.filter(facts[f"on_{name}"])
    return table.inner_join(on, "meter_no")


def daily_kwh(inputs: Inputs) -> ir.Table:
    """Energy per meter and day from the A+ freezes: ``meter_no``, ``local_date``, ``kwh``
    (the freeze closing the day minus the one opening it), ``closing``."""
    reg = inputs.registers.filter(inputs.registers.channel == "A+")
    ordered = reg.mutate(
        previous=reg.value.lag().over(group_by="meter_no", order_by="ts"),
        previous_day=reg.local_date.lag().over(group_by="meter_no", order_by="ts"),
    )
    # the freeze stamped on local day D+1 00:00 closes day D
    closed = ordered.mutate(day=ordered.local_date - ibis.interval(days=1))
    return closed.filter(
        (closed.day >= inputs.first)
        & (closed.day <= inputs.last)
        & (closed.previous_day == closed.local_date - ibis.interval(days=1))
    ).select(
        "meter_no",
        local_date="day",
        kwh=(closed.value - closed.previous).cast("float64"),
        closing=closed.value.cast("float64"),
    )


def _streak(table: ir.Table, flag: ir.BooleanValue, order: str) -> ir.Table:
    """``table`` with ``streak``: how many rows in a row, up to this one, have ``flag``, per
    meter in ``order`` (0 where ``flag`` is false)."""
    hit = flag.cast("int64")
    marked = table.mutate(_hit=hit)
    running = ibis.cumulative_window(group_by="meter_no", order_by=order)
    breaks = marked.mutate(_run=(1 - marked._hit).sum().over(running))
    within = ibis.cumulative_window(group_by=["meter_no", "_run"], order_by=order)
    counted = breaks.mutate(streak=breaks._hit.sum().over(within))
    return counted.drop("_hit", "_run")


def _on_day(table: ir.Table, channel: str, detail: ir.StringValue) -> ir.Table:
    """Findings stamped with the day's local midnight (``table`` carries ``day_start``)."""
    return table.select(
        "meter_no", channel=ibis.literal(channel), ts=table.day_start, detail=detail
    )


def _day_stamp(table: ir.Table, days: ir.Table) -> ir.Table:
    """``table`` (with ``local_date``) with ``ts`` = the day's local midnight."""
    return table.inner_join(days, "local_date")


# --- the rules -----------------------------------------------------------------------------


@rule("missing_intervals", "issue")
def missing_intervals(inputs: Inputs) -> ir.Table:
    """A meter that records a curve delivered fewer than 96 kWh intervals for a day."""
    i = inputs.intervals.filter(inputs.intervals.channel == "kWh")
    counts = i.group_by("meter_no", "local_date").aggregate(n=i.count())
    facts = inputs.facts.filter(inputs.facts.records_intervals)
    grid = _enabled(
        facts.select("meter_no").cross_join(inputs.days), inputs.facts, "missing_intervals"
    )
    joined = grid.left_join(counts, ["meter_no", "local_date"])
    n = joined.n.fill_null(0)
    short = joined.mutate(n=n).filter(n < SLOTS)
    return _on_day(
        short,
        "kWh",
        (SLOTS - short.n).cast("string") + ibis.literal(" of 96 intervals missing"),
    )


@rule("missing_day", "issue")
def missing_day(inputs: Inputs) -> ir.Table:
    """No daily freeze closing a day."""
    reg = inputs.registers.filter(inputs.registers.channel == "A+")
    have = reg.select("meter_no", local_date=reg.local_date - ibis.interval(days=1)).distinct()
    grid = _enabled(
        inputs.facts.select("meter_no").cross_join(inputs.days), inputs.facts, "missing_day"
    )
    gaps = grid.anti_join(have, ["meter_no", "local_date"])
    return _on_day(
        gaps,
        "A+",
        ibis.literal("no daily freeze closing the day"),
    )


@rule("negative_interval", "terminate")
def negative_interval(inputs: Inputs) -> ir.Table:
    """Negative interval energy on an import channel."""
    i = _enabled(inputs.intervals, inputs.facts, "negative_interval")
    bad = i.filter(i.value < 0)
    return bad.select("meter_no", "channel", "ts", detail=_text(bad.value, 4) + " kWh")


def _unit(channel: ir.StringValue) -> ir.StringValue:
    """`` kvarh`` for the reactive-energy register, else `` kWh``, for details."""
    return ibis.ifelse(channel == REACTIVE_REGISTER, " kvarh", " kWh")


def _register_steps(inputs: Inputs, name: str) -> ir.Table:
    """Falls of the cumulative registers (all but MD+) from one freeze to the next, with the
    register's range (``wrap`` = 10^digits) and the ``fall`` [kWh, kvarh]."""
    energy = inputs.registers.filter(inputs.registers.channel != DEMAND_REGISTER)
    reg = _enabled(energy, inputs.facts, name)
    stepped = reg.mutate(
        previous=reg.value.lag().over(group_by=["meter_no", "channel"], order_by="ts")
    )
    return stepped.filter(
        (stepped.local_date > inputs.first)
        & stepped.previous.notnull()
        & (stepped.value < stepped.previous)
    ).mutate(
        wrap=ibis.literal(10).pow(stepped.register_digits).cast("float64"),
        fall=(stepped.previous - stepped.value).cast("float64"),
    )


@rule("register_decrease", "terminate")
def register_decrease(inputs: Inputs) -> ir.Table:
    """A register below its previous read, and not a rollover."""
    s = _register_steps(inputs, "register_decrease")
    bad = s.filter(s.fall < s.wrap / 2)
    return bad.select(
        "meter_no",
        "channel",
        "ts",
        detail=ibis.literal("fell by ") + _text(bad.fall) + _unit(bad.channel),
    )


@rule("register_rollover", "information")
def register_rollover(inputs: Inputs) -> ir.Table:
    """A register that passed its last digit and started again (digits-aware): the energy is
    the wrap plus the new value less the old."""
    s = _register_steps(inputs, "register_rollover")
    rolled = s.filter(s.fall >= s.wrap / 2)
    return rolled.select(
        "meter_no",
        "channel",
        "ts",
        detail=ibis.literal("rolled over at ")
        + rolled.register_digits.cast("string")
        + ibis.literal(" digits: ")
        + _text(rolled.wrap - rolled.fall)
        + _unit(rolled.channel),
    )


@rule("interval_vs_register", "issue")
def interval_vs_register(inputs: Inputs) -> ir.Table:
    """A complete day's intervals do not add up to its register delta."""
    i = inputs.intervals.filter(inputs.intervals.channel == "kWh")
    sums = i.group_by("meter_no", "local_date").aggregate(
        total=i.value.sum().cast("float64"), n=i.count()
    )
    both = _enabled(
        sums.filter(sums.n == SLOTS).inner_join(daily_kwh(inputs), ["meter_no", "local_date"]),
        inputs.facts,
        "interval_vs_register",
    )
    gap = (both.total - both.kwh).abs()
    allowed = ibis.greatest(
        both.register_tolerance_kwh, both.kwh.abs() * both.register_tolerance_share
    )
    bad = _day_stamp(both.mutate(gap=gap, allowed=allowed), inputs.days)
    bad = bad.filter(bad.gap > bad.allowed)
    return _on_day(
        bad,
        "kWh",
        ibis.literal("intervals ")
        + _text(bad.total)
        + ibis.literal(" kWh, register ")
        + _text(bad.kwh)
        + " kWh",
    )


@rule("tou_vs_total", "issue")
def tou_vs_total(inputs: Inputs) -> ir.Table:
    """The rate registers (A+1…A+4) do not add up to the total register."""
    reg = inputs.registers.filter(inputs.registers.local_date > inputs.first)
    rates = reg.filter(reg.channel.isin(["A+1", "A+2", "A+3", "A+4"]))
    summed = rates.group_by("meter_no", "ts").aggregate(rates=rates.value.sum().cast("float64"))
    total = reg.filter(reg.channel == "A+").select(
        "meter_no", "ts", total=reg.value.cast("float64")
    )
    both = _enabled(summed.inner_join(total, ["meter_no", "ts"]), inputs.facts, "tou_vs_total")
    bad = both.filter((both.rates - both.total).abs() > both.tou_tolerance_kwh)
    return bad.select(
        "meter_no",
        channel=ibis.literal("A+"),
        ts="ts",
        detail=ibis.literal("rates ")
        + _text(bad.rates)
        + ibis.literal(" kWh, total ")
        + _text(bad.total)
        + " kWh",
    )


@rule("spike", "issue")
def spike(inputs: Inputs) -> ir.Table:
    """An interval far above the meter's own typical largest interval."""
    i = inputs.intervals.filter(inputs.intervals.channel == "kWh")
    withh = _enabled(i.inner_join(inputs.history, "meter_no"), inputs.facts, "spike")
    limit = ibis.greatest(withh.peak_kwh * withh.spike_factor, withh.spike_floor_kwh)
    bad = withh.filter((withh.history_days >= 7) & (withh.value.cast("float64") > limit))
    return bad.select(
        "meter_no",
        "channel",
        "ts",
        detail=_text(bad.value, 4)
        + ibis.literal(" kWh against a typical peak of ")
        + _text(bad.peak_kwh, 4)
        + " kWh",
    )


def _own_history_days(inputs: Inputs, name: str) -> ir.Table:
    days = daily_kwh(inputs).inner_join(inputs.history, "meter_no")
    days = _enabled(days, inputs.facts, name)
    days = days.filter((days.history_days >= 7) & (days.mean_kwh >= days.daily_floor_kwh))
    return _day_stamp(days, inputs.days)


@rule("daily_high", "issue")
def daily_high(inputs: Inputs) -> ir.Table:
    """A day far above the meter's own mean day."""
    d = _own_history_days(inputs, "daily_high")
    bad = d.filter(d.kwh > d.mean_kwh * d.daily_high)
    return _on_day(
        bad,
        "A+",
        _text(bad.kwh) + ibis.literal(" kWh against a mean of ") + _text(bad.mean_kwh) + " kWh",
    )


@rule("daily_low", "information")
def daily_low(inputs: Inputs) -> ir.Table:
    """A day far below the meter's own mean day (but not zero: see zero_consumption)."""
    d = _own_history_days(inputs, "daily_low")
    bad = d.filter((d.kwh > 0) & (d.kwh < d.mean_kwh * d.daily_low))
    return _on_day(
        bad,
        "A+",
        _text(bad.kwh) + ibis.literal(" kWh against a mean of ") + _text(bad.mean_kwh) + " kWh",
    )


@rule("peer_high", "information")
def peer_high(inputs: Inputs) -> ir.Table:
    """A day far above the median day of the meter's class in its transformer area."""
    days = _enabled(daily_kwh(inputs), inputs.facts, "peer_high")
    group = ibis.window(group_by=["meter_class", "transformer_area", "local_date"])
    ranked = days.mutate(median=days.kwh.median().over(group), peers=days.kwh.count().over(group))
    ranked = ranked.filter((ranked.peers >= 5) & (ranked.median > 0))
    bad = _day_stamp(ranked.filter(ranked.kwh > ranked.median * ranked.peer_high), inputs.days)
    return _on_day(
        bad,
        "A+",
        _text(bad.kwh)
        + ibis.literal(" kWh against a peer median of ")
        + _text(bad.median)
        + " kWh",
    )


@rule("zero_consumption", "issue")
def zero_consumption(inputs: Inputs) -> ir.Table:
    """Zero energy for ``zero_days`` days in a row on an installed meter, flagged on the day
    the run reaches the limit."""
    d = daily_kwh(inputs)
    runs = _day_stamp(
        _enabled(_streak(d, d.kwh == 0, "local_date"), inputs.facts, "zero_consumption"),
        inputs.days,
    )
    bad = runs.filter(runs.streak == runs.zero_days)
    return _on_day(
        bad,
        "A+",
        bad.streak.cast("string") + ibis.literal(" days in a row without consumption"),
    )


@rule("clock_drift", "issue")
def clock_drift(inputs: Inputs) -> ir.Table:
    """The head-end found the meter's clock off (TOU energy may sit in the wrong period)."""
    e = _enabled(
        inputs.events.filter(inputs.events.code == "clock_drift"), inputs.facts, "clock_drift"
    )
    return e.select("meter_no", channel=ibis.literal("A+"), ts="ts", detail=e.detail.fill_null(""))


@rule("demand_over_capacity", "issue")
def demand_over_capacity(inputs: Inputs) -> ir.Table:
    """A 15-minute demand above what the service can carry (contracted kVA, or the
    transformer's for a supply meter) [kW ≈ kVA at unity power factor]."""
    i = inputs.intervals.filter(inputs.intervals.channel == "kWh")
    peaks = i.group_by("meter_no", "local_date").aggregate(peak=i.value.max().cast("float64"))
    both = _enabled(peaks, inputs.facts, "demand_over_capacity")
    kw = both.peak * 4 * both.multiplier
    over = _day_stamp(both.mutate(kw=kw), inputs.days)
    bad = over.filter(
        over.capacity_kva.notnull() & (over.kw > over.capacity_kva * over.demand_share)
    )
    return _on_day(
        bad,
        "kWh",
        _text(bad.kw)
        + ibis.literal(" kW against a capacity of ")
        + _text(bad.capacity_kva)
        + " kVA",
    )


@rule("voltage_without_current", "issue")
def voltage_without_current(inputs: Inputs) -> ir.Table:
    """The head-end saw voltage with no current on a phase (possible bypass)."""
    a = inputs.alarms.filter(inputs.alarms.kind == "voltage_without_current")
    a = _enabled(a, inputs.facts, "voltage_without_current")
    return a.select("meter_no", channel=ibis.literal("kWh"), ts="ts", detail="detail")


@rule("consecutive_estimates", "issue")
def consecutive_estimates(inputs: Inputs) -> ir.Table:
    """More estimated daily freezes in a row than the class allows (flagged on the first one
    beyond): the meter needs a visit, not another estimate."""
    reg = inputs.registers.filter(inputs.registers.channel == "A+")
    runs = _enabled(
        _streak(reg, reg.quality == "estimated", "ts"), inputs.facts, "consecutive_estimates"
    )
    bad = runs.filter(runs.streak == runs.max_estimates + 1)
    return bad.select(
        "meter_no",
        channel=ibis.literal("A+"),
        ts="ts",
        detail=bad.streak.cast("string") + ibis.literal(" estimated freezes in a row"),
    )


FIELD_WORK_EVENTS: Final = ("cover_open", "terminal_box_open", "power_down", "meter_exchange")
"""Meter events that show someone worked on the meter or its wiring."""


@rule("multiplier_change", "issue")
def multiplier_change(inputs: Inputs) -> ir.Table:
    """The multiplier (CT × PT) changed with no meter event within a day of it to show the
    field work: a records error, or wiring changed unseen."""
    changes = _enabled(inputs.multiplier_changes, inputs.facts, "multiplier_change")
    work = inputs.events.filter(inputs.events.code.isin(list(FIELD_WORK_EVENTS)))
    near = changes.inner_join(
        work,
        [
            changes.meter_no == work.meter_no,
            work.ts >= changes.changed_at - ibis.interval(days=1),
            work.ts <= changes.changed_at + ibis.interval(days=1),
        ],
    ).select(changes.meter_no, changes.changed_at)
    unseen = changes.anti_join(near, ["meter_no", "changed_at"])
    return unseen.select(
        "meter_no",
        channel=ibis.literal("A+"),
        ts=unseen.changed_at,
        detail=ibis.literal("multiplier ")
        + unseen.multiplier_before.cast("string")
        + ibis.literal(" → ")
        + unseen.multiplier_after.cast("string")
        + ibis.literal(" with no meter event"),
    )


def _settlement_month(local_date: ir.DateValue) -> ir.IntegerValue:
    """The month whose maximum a demand freeze stamped ``local_date`` holds: that of the day
    it closes (``local_date`` − 1), as year × 12 + month."""
    closed = local_date - ibis.interval(days=1)
    return closed.year() * 12 + closed.month()


@rule("demand_register_fall", "issue")
def demand_register_fall(inputs: Inputs) -> ir.Table:
    """A maximum-demand register (MD+) below its previous freeze with no settlement between.

    The meter settles at local 00:00 on the 1st, after the freeze closing the month, so the
    freeze stamped the 2nd holds the 1st's own maximum: a fall onto it (or onto any freeze
    of a later month) is the reset. Any other fall means the register was cleared or the
    read is wrong, and the month's demand cannot be trusted. Negative reads are left to
    ``negative_demand``."""
    reg = inputs.registers.filter(inputs.registers.channel == DEMAND_REGISTER)
    ordered = _enabled(reg, inputs.facts, "demand_register_fall")
    stepped = ordered.mutate(
        previous=ordered.value.lag().over(group_by="meter_no", order_by="ts"),
        previous_day=ordered.local_date.lag().over(group_by="meter_no", order_by="ts"),
    )
    bad = stepped.filter(
        (stepped.local_date > inputs.first)
        & stepped.previous.notnull()
        & (stepped.value >= 0)
        & (stepped.value < stepped.previous)
        & (_settlement_month(stepped.local_date) == _settlement_month(stepped.previous_day))
    )
    return bad.select(
        "meter_no",
        "channel",
        "ts",
        detail=ibis.literal("maximum demand fell from ")
        + _text(bad.previous, 4)
        + ibis.literal(" to ")
        + _text(bad.value, 4)
        + ibis.literal(" kW with no monthly settlement between"),
    )


@rule("negative_demand", "terminate")
def negative_demand(inputs: Inputs) -> ir.Table:
    """A negative maximum-demand register (MD+) freeze."""
    reg = inputs.registers.filter(
        (inputs.registers.channel == DEMAND_REGISTER) & (inputs.registers.local_date > inputs.first)
    )
    bad = _enabled(reg, inputs.facts, "negative_demand")
    bad = bad.filter(bad.value < 0)
    return bad.select("meter_no", "channel", "ts", detail=_text(bad.value, 4) + ibis.literal(" kW"))
