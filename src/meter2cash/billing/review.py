"""Bill review (复核): rules that stop a suspect bill before it is issued.

Every rule is a small function registered by name in :data:`RULES`. It sees the whole
cycle's bills at once as a frame of facts (:func:`bill_facts`: the bill, the account's
earlier bills, its peers) and returns the reason for each bill it stops — column
arithmetic over the cycle, with Python only formatting the few reasons. Thresholds are
:class:`ClassLimits` per customer class. A stopped bill keeps its reasons as
``rule: reason; rule: reason`` text (:func:`review`), which :func:`count_by_rule` reads back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Final

import numpy as np
import pandas as pd

from meter2cash.core.errors import InputError


@dataclass(frozen=True, slots=True)
class ClassLimits:
    """Review thresholds for one customer class.

    ``peer_area`` is ``transformer_area`` or ``zone``: where peers (same class and tariff)
    are sought. A peer range is median ± ``peer_k`` × MAD (median absolute deviation,
    unscaled) of kWh per day, at least ± ``peer_floor_kwh_per_day``, and only over groups of
    ``peer_min_bills`` or more.
    """

    absurd_total: float  # [yuan]
    high_factor: float = 2.0  # [1] × the account's median kWh of recent bills
    low_factor: float = 0.5  # [1]
    min_kwh_for_ratio: float = 50.0  # [kWh] swings below this on both sides are noise
    peer_area: str = "transformer_area"
    peer_k: float = 6.0  # [MAD]
    peer_min_bills: int = 10
    peer_floor_kwh_per_day: float = 1.0  # [kWh/day]
    max_estimated_run: int = 3  # [bills] estimated this many times in a row stops
    demand_jump_factor: float = 1.5  # [1] × the largest maximum demand of recent bills
    min_demand_kw: float = 5.0  # [kW] earlier peaks below this are not compared


ReviewLimits = Mapping[str, ClassLimits]

DEFAULT_LIMITS: Final[ReviewLimits] = {
    "residential": ClassLimits(absurd_total=5_000),
    "commercial": ClassLimits(absurd_total=500_000, peer_area="zone", peer_min_bills=8),
    "industrial": ClassLimits(
        absurd_total=20_000_000, peer_area="zone", peer_min_bills=8, min_demand_kw=50
    ),
}

BILL_COLUMNS: Final = (
    "account_id",
    "customer_class",
    "tariff_code",
    "zone",
    "transformer_area",
    "active",
    "days",
    "kwh",
    "total",
    "estimated",
    "multiplier",
    "max_demand_kw",
)
"""What :func:`bill_facts` needs of each bill under review [days, kWh, yuan, kW]; an optional
``rating_error`` column says why the tariff could not rate a bill ("" = rated)."""
HISTORY_COLUMNS: Final = (
    "account_id",
    "period_start",
    "kwh",
    "estimated",
    "multiplier",
    "tariff_code",
    "max_demand_kw",
)
"""What it needs of the accounts' earlier live bills."""
PEER_COLUMNS: Final = ("customer_class", "tariff_code", "zone", "transformer_area", "kwh", "days")
"""What it needs of the cycle's other live bills (peers already billed)."""

Rule = Callable[[pd.DataFrame, pd.DataFrame], pd.Series]
"""(facts, limits aligned with facts) → reason per stopped bill, indexed like ``facts``."""

RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    """Register a review rule under ``name`` (the name prefixes its reasons)."""

    def register(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn

    return register


def _reasons(hit: pd.Series, text: Callable[..., str], *columns: pd.Series) -> pd.Series:
    """``text(*row)`` for the rows where ``hit`` holds, indexed like them."""
    hit = hit.fillna(False).astype(bool)
    index = hit.index[hit.to_numpy()]
    rows = zip(*(c[hit] for c in columns), strict=True) if columns else [()] * len(index)
    return pd.Series([text(*values) for values in rows], index=index, dtype=object)


@rule("rating_error")
def rating_error(f: pd.DataFrame, lim: pd.DataFrame) -> pd.Series:
    """The tariff refused to rate the account (``rating_error``: why; optional column): the
    bill has no lines and totals 0 until the record is fixed and the bill is run again."""
    if "rating_error" not in f:
        return pd.Series(dtype=object)
    refused = f["rating_error"].fillna("")
    return _reasons(refused != "", lambda why: why.replace("; ", ", "), refused)


@rule("zero_consumption")
def zero_consumption(f: pd.DataFrame, lim: pd.DataFrame) -> pd.Series:
    return _reasons((f["kwh"] == 0) & f["active"], lambda: "no kWh on an active account")


@rule("negative_amount")
def negative_amount(f: pd.DataFrame, lim: pd.DataFrame) -> pd.Series:
    return _reasons(
        (f["total"] < 0) | (f["kwh"] < 0),
        lambda total, kwh: f"amount {total:.2f} yuan for {kwh:.2f} kWh",
        f["total"],
        f["kwh"],
    )


@rule("absurd_amount")
def absurd_amount(f: pd.DataFrame, lim: pd.DataFrame) -> pd.Series:
    return _reasons(
        f["total"] > lim["absurd_total"],
        lambda total, cap, cls: f"amount {total:,.2f} yuan is above {cap:,.0f} for a {cls} bill",
        f["total"],
        lim["absurd_total"],
        f["customer_class"],
    )


@rule("history_kwh")
def history_kwh(f: pd.DataFrame, lim: pd.DataFrame) -> pd.Series:
    usual, kwh = f["history_kwh"], f["kwh"]
    news = usual.notna() & ~((usual < lim["min_kwh_for_ratio"]) & (kwh < lim["min_kwh_for_ratio"]))
    high = news & (usual > 0) & (kwh > usual * lim["high_factor"])
    low = news & ~high & (kwh < usual * lim["low_factor"])
    return pd.concat(
        [
            _reasons(
                high,
                lambda k, x, u: f"{k:.2f} kWh is over {x:g}× the usual {u:.2f} kWh",
                kwh,
                lim["high_factor"],
                usual,
            ),
            _reasons(
                low,
                lambda k, x, u: f"{k:.2f} kWh is under {x:g}× the usual {u:.2f} kWh",
                kwh,
                lim["low_factor"],
                usual,
            ),
        ]
    )


@rule("peer_kwh")
def peer_kwh(f: pd.DataFrame, lim: pd.DataFrame) -> pd.Series:
    spread = np.maximum(lim["peer_k"] * f["peer_mad"], lim["peer_floor_kwh_per_day"])
    low, high = f["peer_median"] - spread, f["peer_median"] + spread
    per_day = f["kwh_per_day"]
    outside = (f["peer_count"] >= lim["peer_min_bills"]) & ((per_day > high) | (per_day < low))
    return _reasons(
        outside,
        lambda d, lo, hi, n, cls, tariff, where: (
            f"{d:.2f} kWh/day is outside {max(lo, 0):.2f}–{hi:.2f}, the range of {n:.0f} "
            f"{cls} bills on {tariff} in {where}"
        ),
        per_day,
        low,
        high,
        f["peer_count"],
        f["customer_class"],
        f["tariff_code"],
        f["peer_area"],
    )


@rule("estimated_run")
def estimated_run(f: pd.DataFrame, lim: pd.DataFrame) -> pd.Series:
    return _reasons(
        f["estimated"] & (f["estimated_run"] >= lim["max_estimated_run"]),
        lambda n: f"estimated {n:.0f} bills in a row",
        f["estimated_run"],
    )


@rule("multiplier_changed")
def multiplier_changed(f: pd.DataFrame, lim: pd.DataFrame) -> pd.Series:
    return _reasons(
        f["previous_multiplier"].notna()
        & (f["multiplier"] != f["previous_multiplier"])
        & ~f.get("installed_in_period", pd.Series(False, index=f.index)).astype(bool),
        lambda now, was: f"multiplier {now:.0f}, the last bill's was {was:.0f}",
        f["multiplier"],
        f["previous_multiplier"],
    )


@rule("tariff_changed")
def tariff_changed(f: pd.DataFrame, lim: pd.DataFrame) -> pd.Series:
    return _reasons(
        f["previous_tariff_code"].notna() & (f["tariff_code"] != f["previous_tariff_code"]),
        lambda now, was: f"tariff {now}, the last bill's was {was}",
        f["tariff_code"],
        f["previous_tariff_code"],
    )


@rule("demand_jump")
def demand_jump(f: pd.DataFrame, lim: pd.DataFrame) -> pd.Series:
    peak, demand = f["previous_peak_kw"], f["max_demand_kw"]
    return _reasons(
        (peak >= lim["min_demand_kw"]) & (demand > peak * lim["demand_jump_factor"]),
        lambda kw, x, was: (
            f"maximum demand {kw:.1f} kW is over {x:g}× the earlier peak {was:.1f} kW"
        ),
        demand,
        lim["demand_jump_factor"],
        peak,
    )


def limits_for(classes: pd.Series, limits: ReviewLimits) -> pd.DataFrame:
    """One row of thresholds per entry of ``classes``, indexed like it."""
    table = pd.DataFrame([asdict(v) for v in limits.values()], index=list(limits))
    unknown = set(classes.unique()) - set(table.index)
    if unknown:
        raise InputError(f"no review limits for customer class {sorted(unknown)[0]!r}")
    return table.loc[classes.to_numpy()].set_index(classes.index)


def _peer_area(frame: pd.DataFrame, lim: pd.DataFrame) -> pd.Series:
    return frame["transformer_area"].where(lim["peer_area"] == "transformer_area", frame["zone"])


def bill_facts(
    bills: pd.DataFrame,
    history: pd.DataFrame,
    peers: pd.DataFrame,
    limits: ReviewLimits = DEFAULT_LIMITS,
    months: int = 6,
) -> pd.DataFrame:
    """``bills`` (:data:`BILL_COLUMNS`) with what the rules compare them against.

    ``history`` holds the accounts' earlier live bills (:data:`HISTORY_COLUMNS`), ``peers``
    the cycle's live bills of other accounts (:data:`PEER_COLUMNS`). Adds ``history_kwh``
    (median of the last ``months`` bills), ``previous_multiplier``, ``previous_tariff_code``,
    ``previous_peak_kw``, ``estimated_run`` (this bill and the estimated ones straight
    before it), ``kwh_per_day`` and the peer group's ``peer_area``, ``peer_median``,
    ``peer_mad`` [kWh/day] and ``peer_count``.
    """
    f = bills.astype({"kwh": float, "total": float, "multiplier": float, "max_demand_kw": float})
    f["kwh_per_day"] = f["kwh"] / f["days"]
    history = history.astype(
        {"kwh": float, "estimated": bool, "multiplier": float, "max_demand_kw": float}
    )
    peers = peers.astype({"kwh": float, "days": float})
    recent = (
        history.sort_values(["account_id", "period_start"])
        .groupby("account_id")
        .tail(months)
        .reset_index(drop=True)
    )
    by_account = recent.groupby("account_id")
    last = by_account.last()
    earlier = pd.DataFrame(
        {
            "history_kwh": by_account["kwh"].median(),
            "previous_multiplier": last["multiplier"],
            "previous_tariff_code": last["tariff_code"],
            "previous_peak_kw": by_account["max_demand_kw"].max(),
            "estimated_before": recent["estimated"]
            .astype("int64")
            .iloc[::-1]
            .groupby(recent["account_id"])
            .cumprod()
            .groupby(recent["account_id"])
            .sum(),
        }
    )
    f = f.join(earlier, on="account_id")
    run = f["estimated_before"].fillna(0).astype("int64")
    f["estimated_run"] = np.where(f["estimated"].astype(bool), run + 1, 0)
    f = f.drop(columns="estimated_before")

    lim = limits_for(f["customer_class"], limits)
    f["peer_area"] = _peer_area(f, lim)
    others = peers.assign(
        kwh_per_day=peers["kwh"] / peers["days"],
        peer_area=_peer_area(peers, limits_for(peers["customer_class"], limits)),
    )
    keys = ["customer_class", "tariff_code", "peer_area"]
    group = pd.concat([f[[*keys, "kwh_per_day"]], others[[*keys, "kwh_per_day"]]])
    median = group.groupby(keys)["kwh_per_day"].transform("median")
    stats = (
        group.assign(deviation=(group["kwh_per_day"] - median).abs(), median=median)
        .groupby(keys)
        .agg(
            peer_median=("median", "first"),
            peer_mad=("deviation", "median"),
            peer_count=("kwh_per_day", "size"),
        )
    )
    return f.join(stats, on=keys)


def findings(facts: pd.DataFrame, limits: ReviewLimits = DEFAULT_LIMITS) -> pd.DataFrame:
    """Every stop: one row per (bill, rule) with columns ``rule`` and ``reason``, indexed
    like ``facts``, in rule order."""
    lim = limits_for(facts["customer_class"], limits)
    found = [
        pd.DataFrame({"rule": name, "reason": reasons})
        for name, fn in RULES.items()
        if len(reasons := fn(facts, lim))
    ]
    if not found:
        return pd.DataFrame({"rule": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})
    return pd.concat(found)


def review(
    bills: pd.DataFrame,
    history: pd.DataFrame,
    peers: pd.DataFrame,
    limits: ReviewLimits = DEFAULT_LIMITS,
) -> pd.Series:
    """Reasons to hold each bill for a person, ``rule: reason; …`` ("" = it may be issued)."""
    if bills.empty:
        return pd.Series("", index=bills.index, dtype=object)
    stops = findings(bill_facts(bills, history, peers, limits), limits)
    text = (stops["rule"] + ": " + stops["reason"]).groupby(level=0, sort=False).agg("; ".join)
    return text.reindex(bills.index, fill_value="")


OTHER_HOLD: Final = "other"
"""Counted for a reason no rule gave (a bill put back to review when its reads changed)."""


def rules_of(reasons: str) -> list[str]:
    """The rule names in a bill's ``review_reasons`` text, in order."""
    names = [part.split(": ", 1)[0] for part in reasons.split("; ") if part]
    return [name if name in RULES else OTHER_HOLD for name in names]


def count_by_rule(reasons: Iterable[str]) -> dict[str, int]:
    """How many bills each rule stopped (a bill stopped by two rules counts for both)."""
    counts = Counter(name for text in reasons for name in dict.fromkeys(rules_of(text)))
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
