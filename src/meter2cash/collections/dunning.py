"""Dunning (催费) as configuration: a policy of escalating steps and the pure rule that moves
every overdue account one step at a time. Pure, vectorised.

A policy lists steps in order — e.g. reminder → formal notice → disconnection warning →
disconnection — each with its conditions (days past due, overdue amount, customer classes,
days since the previous step) and actions (messages to send, a PDF notice, a relay trip).
An account climbs at most one step per run, so a customer always receives every notice
before the next, with the waits between them. An exemption (a hospital, a life-support
customer) caps the steps an account may reach. Once the account owes nothing overdue, its
dunning ends; if it was disconnected, it is reconnected.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from meter2cash.core.errors import InputError
from meter2cash.core.money import quantize_money, to_minor

Action = Literal["sms", "email", "letter", "notice_pdf", "relay_trip"]
CustomerClass = Literal["residential", "commercial", "industrial"]
RECONNECT: Final = "relay_close"
"""The action of an account disconnected by dunning once it owes nothing overdue."""
NO_STEP: Final = -1


class Step(BaseModel):
    """One dunning step: reached once every condition holds, then its actions are taken."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    """What the customer and the collector read, e.g. "催费通知单 Formal notice"."""
    after_days: int = Field(ge=1)
    """Days past the due date of the oldest overdue bill [days]."""
    min_overdue: Decimal = Field(default=Decimal("0.01"), gt=0)
    """Overdue amount at least [yuan]."""
    wait_days: int = Field(default=0, ge=0)
    """Days since the previous step at least [days]."""
    classes: tuple[CustomerClass, ...] = ("residential", "commercial", "industrial")
    actions: tuple[Action, ...] = Field(min_length=1)


class Exemption(BaseModel):
    """Accounts flagged ``flag`` reach at most the step ``up_to`` (e.g. never disconnection)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flag: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    up_to: str


class DunningPolicy(BaseModel):
    """The utility's dunning steps in order, and its exemptions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: tuple[Step, ...] = Field(min_length=1)
    exemptions: tuple[Exemption, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> DunningPolicy:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"step names repeat: {names}")
        for earlier, later in zip(self.steps, self.steps[1:], strict=False):
            if later.after_days < earlier.after_days:
                raise ValueError(
                    f"step {later.name} comes after {earlier.name} but needs fewer days past "
                    f"due ({later.after_days} < {earlier.after_days})"
                )
        for exemption in self.exemptions:
            if exemption.up_to not in names:
                raise ValueError(f"exemption {exemption.flag} names no step {exemption.up_to!r}")
        return self

    def index(self, name: str) -> int:
        """Position of the step ``name``."""
        return [s.name for s in self.steps].index(name)


DEFAULT_POLICY: Final = Path(__file__).with_name("dunning.yaml")


def load_policy(path: Path = DEFAULT_POLICY) -> DunningPolicy:
    """Read a dunning policy from YAML (the packaged default unless ``path``); a bad file is
    one :class:`InputError` naming the field and the problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read the dunning policy: {exc}") from None
    try:
        return DunningPolicy.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the policy"
        raise InputError(
            f"{path}: {where}: {first['msg']}", "see docs/collections.md for the policy fields"
        ) from None


def advance(policy: DunningPolicy, accounts: pd.DataFrame) -> pd.DataFrame:
    """Where each account's dunning goes today.

    ``accounts``: account_id, customer_class, exemption ("" = none), days_past_due [days]
    of its oldest overdue bill (``-1`` = nothing overdue), overdue_minor [fen], step (index
    of the last step taken, :data:`NO_STEP` = none), days_since_step [days] and
    disconnected (bool).

    Returns one row per account that moves: account_id, from_step, to_step (``NO_STEP`` =
    dunning ended) and actions (the step's :data:`Action` names, or :data:`RECONNECT`,
    comma-separated; "" = none).
    """
    n = len(policy.steps)
    step = accounts["step"].to_numpy(np.int64)
    overdue = accounts["overdue_minor"].to_numpy(np.int64)
    settled = (overdue <= 0) | (accounts["days_past_due"].to_numpy(np.int64) < 0)
    nxt = np.minimum(step + 1, n - 1)
    table = _step_table(policy)
    cap = (
        accounts["exemption"]
        .map({e.flag: policy.index(e.up_to) for e in policy.exemptions})
        .fillna(n - 1)
        .to_numpy(np.int64)
    )
    klass = accounts["customer_class"].to_numpy()
    class_ok = np.zeros(len(accounts), bool)
    for name in ("residential", "commercial", "industrial"):
        class_ok |= (klass == name) & table[name][nxt]
    climbs = (
        ~settled
        & (step + 1 < n)
        & (step + 1 <= cap)
        & (accounts["days_past_due"].to_numpy(np.int64) >= table["after_days"][nxt])
        & (overdue >= table["min_overdue_minor"][nxt])
        & (
            (step == NO_STEP)
            | (accounts["days_since_step"].to_numpy(np.int64) >= table["wait"][nxt])
        )
        & class_ok
    )
    ends = settled & (step != NO_STEP)
    reconnect = ends & accounts["disconnected"].to_numpy(bool)
    moving = climbs | ends
    step_actions = np.array([",".join(s.actions) for s in policy.steps], dtype=object)
    actions = np.where(climbs, step_actions[nxt], np.where(reconnect, RECONNECT, ""))
    return pd.DataFrame(
        {
            "account_id": accounts["account_id"].to_numpy()[moving],
            "from_step": step[moving],
            "to_step": np.where(climbs, nxt, NO_STEP)[moving],
            "actions": actions[moving],
        }
    )


def _step_table(policy: DunningPolicy) -> dict[str, npt.NDArray[np.generic]]:
    steps = policy.steps
    return {
        "after_days": np.array([s.after_days for s in steps], np.int64),
        "min_overdue_minor": np.array([to_minor(quantize_money(s.min_overdue)) for s in steps]),
        "wait": np.array([s.wait_days for s in steps], np.int64),
        **{
            c: np.array([c in s.classes for s in steps])
            for c in ("residential", "commercial", "industrial")
        },
    }
