"""Prepay remote fee control (费控), the daily run: charge each prepay account, then act on
its balance.

:func:`run_fee_control` charges every day not yet charged through the day asked for
(:mod:`~meter2cash.collections.prepay_charges`; each day's charges commit with the state that
says they were charged, so a run killed mid-way resumes where it stopped), reads each
account's balance — its customer credit on 2203, negative once the charges pass what was
paid in — and lets :func:`~meter2cash.collections.fee_control.control` decide. Then, in one
transaction: the accounts' state, one ``fee_control_events`` row per action, an SMS in the
outbox for a warning and for the zero notice (Chinese, with the balance), a relay trip or
close through the head-end's command lifecycle (audited there, with the reason), and the
run itself in the audit log. A top-up is an ordinary payment: it lands on the account's
credit and the next run reconnects. A relay command that failed is asked for again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session

from meter2cash.assets.models import Account, Meter, MeterInstallation, ServicePoint
from meter2cash.collections.fee_control import (
    RECONNECT,
    TRIP,
    WARN,
    ZERO_NOTICE,
    FeeControlRules,
    control,
)
from meter2cash.collections.models import FeeControlEvent, FeeControlState
from meter2cash.collections.outbox import MESSAGE_COLUMNS, queue_messages
from meter2cash.collections.prepay_charges import day_charges, post_charges
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError
from meter2cash.core.money import from_minor
from meter2cash.db import audit
from meter2cash.db.session import unit_of_work
from meter2cash.engines import BatchEngine
from meter2cash.headend import commands
from meter2cash.headend.models import MeterCommand
from meter2cash.ledger.journal import CUSTOMER_CREDIT
from meter2cash.ledger.models import LedgerAccount, Posting
from meter2cash.tariffs.schema import TariffDocument

ACTOR: Final = "fee-control"
"""Who the run acts as in the audit log and on the head-end's commands."""
PURPOSE: Final = "fee_control"
"""Purpose of the outbox messages fee control queues."""
ENROLLED: Final = "enrolled"
"""Action of the event that records an account's enrolment."""
CHUNK: Final = 5000
"""Account ids per ``IN (…)``; beyond, a query reads every account."""


@dataclass(frozen=True, slots=True)
class FeeControlRun:
    """What one run did. ``actions``: the accounts acted on — account_no, balance_minor
    [fen], action (comma-separated), command_id (0 = none) — ordered by account."""

    day: date
    accounts: int
    charges_posted: int
    charged_minor: int
    awaiting_reads: int
    warnings: int
    notices: int
    trips: int
    reconnects: int
    actions: pd.DataFrame


def enrol(
    session: Session,
    clock: Clock,
    account_no: str,
    *,
    starts_on: date,
    actor: str,
    reason: str,
) -> bool:
    """Put ``account_no`` on prepay from ``starts_on`` (the first day of a month: the days
    before stay on its postpaid bills); audited. Returns False when it already is."""
    if not reason.strip():
        raise InputError("enrolling an account in prepay needs a reason", "pass --reason")
    if starts_on.day != 1:
        raise InputError(
            f"prepay starts on the first day of a month, not {starts_on}",
            f"pass {(starts_on.replace(day=28) + timedelta(days=4)).replace(day=1)}",
        )
    account = session.scalar(select(Account).where(Account.account_no == account_no))
    if account is None:
        raise InputError(f"unknown account {account_no}")
    if account.prepay:
        return False
    account.prepay = True
    now = clock.now()
    charged_through = starts_on - timedelta(days=1)
    session.merge(
        FeeControlState(
            account_id=account.id,
            charged_through=charged_through,
            warned=False,
            zero_since=None,
            tripped=False,
            updated_at=now,
        )
    )
    session.add(
        FeeControlEvent(
            account_id=account.id,
            at=now,
            action=ENROLLED,
            balance_minor=_balances(session, [account.id]).get(account.id, 0),
            command_id=None,
            detail=f"prepay from {starts_on}",
        )
    )
    audit.record(
        session,
        clock,
        actor=actor,
        action="fee_control.enrol",
        object_type="account",
        object_key=account_no,
        reason=reason,
        before={"prepay": False},
        after={"prepay": True, "starts_on": starts_on.isoformat()},
    )
    return True


def run_fee_control(
    records: Engine,
    clock: Clock,
    engine: BatchEngine,
    tariffs: Mapping[str, TariffDocument],
    rules: FeeControlRules,
    day: date,
    *,
    charge: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> FeeControlRun:
    """Charge every prepay account through ``day`` (a local date whose closing freeze is in)
    and take the fee-control step its balance calls for at the clock's now; without
    ``charge``, only the step, on the balances as they stand (as when a top-up is to
    restore supply at once).

    An account flagged prepay without a fee-control state (not enrolled by :func:`enrol`)
    is charged from the first day of ``day``'s month. ``on_step`` hears what the run is
    doing ("charging 2026-07-14", "deciding"), for a progress display.
    """
    step = on_step or (lambda _: None)
    with unit_of_work(records) as session:
        accounts = _prepay_accounts(session, clock, day)
    names = accounts.set_index("account_id")["account_no"]
    charged_through = accounts.set_index("account_id")["charged_through"]
    posted = charged = 0
    behind = charged_through[charged_through < pd.Timestamp(day)]
    first = pd.Timestamp(behind.min()).date() + timedelta(days=1) if len(behind) else day
    for offset in range((day - first).days + 1 if charge else 0):
        current = first + timedelta(days=offset)
        due = charged_through.index[charged_through == pd.Timestamp(current - timedelta(days=1))]
        if due.empty:
            continue
        step(f"charging {current}")
        with unit_of_work(records) as session:
            charges = day_charges(
                session, clock, engine, tariffs, names.loc[due].reset_index(), current
            )
            posted += post_charges(session, clock, charges, current)
            charged += int(charges["charge_minor"].sum())
            _mark_charged(session, clock, charges["account_id"].tolist(), current)
        charged_through.loc[charges["account_id"].to_numpy(np.int64)] = pd.Timestamp(current)
    step("deciding")
    with unit_of_work(records) as session:
        decided = _decide(session, clock, rules, accounts)
        actions = _act(session, clock, rules, decided, day)
        late = int((charged_through < pd.Timestamp(day)).sum())
        run = FeeControlRun(
            day=day,
            accounts=len(accounts),
            charges_posted=posted,
            charged_minor=charged,
            awaiting_reads=late,
            warnings=_count(actions, WARN),
            notices=_count(actions, ZERO_NOTICE),
            trips=_count(actions, TRIP),
            reconnects=_count(actions, RECONNECT),
            actions=actions,
        )
        audit.record(
            session,
            clock,
            actor=ACTOR,
            action="fee_control.run",
            object_type="fee_control",
            object_key=day.isoformat(),
            after={
                "accounts": run.accounts,
                "charges_posted": posted,
                "charged_minor": charged,
                "awaiting_reads": late,
                "warnings": run.warnings,
                "notices": run.notices,
                "trips": run.trips,
                "reconnects": run.reconnects,
            },
        )
    return run


def _count(actions: pd.DataFrame, action: str) -> int:
    return int(actions["action"].str.split(",").map(lambda names: action in names).sum())


def _prepay_accounts(session: Session, clock: Clock, day: date) -> pd.DataFrame:
    """Every prepay account with its state (account_id, account_no, charged_through as
    datetime64[D], warned, zero_since, tripped); a state is created for those without."""
    stmt = (
        select(
            Account.id,
            Account.account_no,
            FeeControlState.account_id,
            FeeControlState.charged_through,
            FeeControlState.warned,
            FeeControlState.zero_since,
            FeeControlState.tripped,
        )
        .outerjoin(FeeControlState, FeeControlState.account_id == Account.id)
        .where(Account.prepay.is_(True))
        .order_by(Account.id)
    )
    columns = ["account_id", "account_no", "state", "charged_through", "warned"]
    frame = pd.DataFrame(
        session.execute(stmt).tuples().all(), columns=[*columns, "zero_since", "tripped"]
    )
    new = frame["state"].isna().to_numpy(bool)
    start = day.replace(day=1) - timedelta(days=1)
    if new.any():
        now = clock.now()
        session.execute(
            insert(FeeControlState),
            [
                {
                    "account_id": int(a),
                    "charged_through": start,
                    "warned": False,
                    "zero_since": None,
                    "tripped": False,
                    "updated_at": now,
                }
                for a in frame.loc[new, "account_id"]
            ],
        )
    through = pd.to_datetime(frame["charged_through"].where(~new, start))
    return frame.drop(columns="state").assign(
        account_id=frame["account_id"].astype(np.int64),
        charged_through=through.to_numpy("datetime64[D]"),
        warned=frame["warned"].fillna(False).astype(bool),
        tripped=frame["tripped"].fillna(False).astype(bool),
        zero_since=frame["zero_since"].where(~new, None),
    )


def _mark_charged(session: Session, clock: Clock, account_ids: list[int], day: date) -> None:
    for start in range(0, len(account_ids), CHUNK):
        session.execute(
            update(FeeControlState)
            .where(FeeControlState.account_id.in_(account_ids[start : start + CHUNK]))
            .values(charged_through=day, updated_at=clock.now())
        )


def _balances(session: Session, account_ids: list[int]) -> pd.Series:
    """Each account's prepay balance [fen]: its customer credit, negative when it owes
    (accounts with no credit postings are absent: 0)."""
    stmt = (
        select(Posting.account_id, func.sum(Posting.amount_minor))
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(LedgerAccount.code == CUSTOMER_CREDIT, Posting.account_id.is_not(None))
        .group_by(Posting.account_id)
    )
    if len(account_ids) <= CHUNK:
        stmt = stmt.where(Posting.account_id.in_(account_ids))
    rows = session.execute(stmt).tuples().all()
    return pd.Series({a: -int(m) for a, m in rows}, dtype=np.int64)


def _failed_relays(session: Session) -> pd.Series:
    """Per account whose latest fee-control relay command failed: that command's kind."""
    latest = (
        select(func.max(FeeControlEvent.id))
        .where(FeeControlEvent.command_id.is_not(None))
        .group_by(FeeControlEvent.account_id)
    )
    stmt = (
        select(FeeControlEvent.account_id, MeterCommand.kind)
        .join(MeterCommand, MeterCommand.id == FeeControlEvent.command_id)
        .where(FeeControlEvent.id.in_(latest), MeterCommand.status == "failed")
    )
    return pd.Series(dict(session.execute(stmt).tuples().all()), dtype=object)


def _hours(instants: pd.Series) -> npt.NDArray[np.float64]:
    """Instants as hours since the Unix epoch, NaN where missing."""
    since = pd.to_datetime(instants, utc=True) - pd.Timestamp(0, tz="UTC")
    hours: npt.NDArray[np.float64] = (since / pd.Timedelta(hours=1)).to_numpy(np.float64)
    return hours


def _decide(
    session: Session, clock: Clock, rules: FeeControlRules, accounts: pd.DataFrame
) -> pd.DataFrame:
    """:func:`control` over ``accounts`` with their balances now, a failed trip counted
    as not tripped and a failed close as still tripped (so each is asked for again);
    ``changed`` marks the accounts whose stored state changes."""
    ids = accounts["account_id"].tolist()
    failed = _failed_relays(session).reindex(accounts["account_id"]).to_numpy()
    tripped = np.where(
        failed == TRIP, False, np.where(failed == RECONNECT, True, accounts["tripped"])
    )
    now = clock.now()
    decided = control(
        rules,
        accounts.assign(
            balance_minor=_balances(session, ids).reindex(ids, fill_value=0).to_numpy(),
            zero_since_h=_hours(accounts["zero_since"]),
            tripped=tripped.astype(bool),
        ),
        _hours(pd.Series([now]))[0],
    )
    at_zero = ~np.isnan(decided["zero_since_h"].to_numpy(np.float64))
    was_at_zero = accounts["zero_since"].notna().to_numpy(bool)
    kept = accounts["zero_since"].where(was_at_zero, now)
    changed = (
        (decided["warned"].to_numpy(bool) != accounts["warned"].to_numpy(bool))
        | (decided["tripped"].to_numpy(bool) != accounts["tripped"].to_numpy(bool))
        | (at_zero != was_at_zero)
    )
    return decided.assign(zero_since=kept.where(at_zero, None), changed=changed)


def _act(
    session: Session, clock: Clock, rules: FeeControlRules, decided: pd.DataFrame, day: date
) -> pd.DataFrame:
    """Persist the changed states of ``decided``, and for its accounts with an action: the events,
    the messages and the relay commands. Returns the accounts acted on (see
    :class:`FeeControlRun`)."""
    now = clock.now()
    changed = decided[decided["changed"].to_numpy(bool)]
    if len(changed):
        session.execute(
            update(FeeControlState),
            [
                {
                    "account_id": int(r.account_id),
                    "warned": bool(r.warned),
                    "zero_since": _instant(r.zero_since),
                    "tripped": bool(r.tripped),
                    "updated_at": now,
                }
                for r in changed.itertuples(index=False)
            ],
        )
    acting = decided[decided["action"] != ""].reset_index(drop=True)
    meters = _current_meters(session, acting["account_id"].tolist())
    rows = acting.assign(action=acting["action"].str.split(",")).explode("action")
    messages = rows[rows["action"].isin((WARN, ZERO_NOTICE))]
    if len(messages):
        queue_messages(session, clock, _messages(rules, messages, day))
    command_ids = np.zeros(len(rows), np.int64)
    details = np.full(len(rows), "", dtype=object)
    for i, r in enumerate(rows.itertuples(index=False)):
        if r.action not in (TRIP, RECONNECT):
            continue
        meter_no = meters.get(r.account_id)
        if meter_no is None:
            details[i] = "no meter installed: no relay command requested"
            continue
        command = commands.request(
            session,
            clock,
            meter_no=meter_no,
            kind=r.action,
            actor=ACTOR,
            reason=_command_reason(rules, r.action, int(r.balance_minor)),
            request_key=f"fee-control:{r.action}:{r.account_no}:{now:%Y%m%dT%H%M%S}",
        )
        command_ids[i] = command.id
        details[i] = f"meter {meter_no}"
    if len(rows):
        session.execute(
            insert(FeeControlEvent),
            [
                {
                    "account_id": int(r.account_id),
                    "at": now,
                    "action": r.action,
                    "balance_minor": int(r.balance_minor),
                    "command_id": int(c) or None,
                    "detail": d,
                }
                for r, c, d in zip(rows.itertuples(index=False), command_ids, details, strict=True)
            ],
        )
    by_account = pd.Series(command_ids, index=rows["account_id"].to_numpy()).groupby(level=0).max()
    return pd.DataFrame(
        {
            "account_no": acting["account_no"].to_numpy(),
            "balance_minor": acting["balance_minor"].to_numpy(np.int64),
            "action": acting["action"].to_numpy(),
            "command_id": by_account.reindex(acting["account_id"], fill_value=0).to_numpy(),
        }
    ).sort_values("account_no", ignore_index=True)


def _instant(value: object) -> datetime | None:
    """A pandas or Python instant as a Python datetime, None when missing."""
    if value is None or pd.isna(value):
        return None
    instant: datetime = pd.Timestamp(value).to_pydatetime()
    return instant


def _current_meters(session: Session, account_ids: list[int]) -> dict[int, str]:
    """The meter installed now at each account's service point (the latest installation)."""
    if not account_ids:
        return {}
    stmt = (
        select(ServicePoint.account_id, Meter.meter_no)
        .join(MeterInstallation, MeterInstallation.service_point_id == ServicePoint.id)
        .join(Meter, Meter.id == MeterInstallation.meter_id)
        .where(
            ServicePoint.account_id.in_(account_ids),
            MeterInstallation.removed_at.is_(None),
        )
        .order_by(MeterInstallation.installed_at)
    )
    return {int(a): m for a, m in session.execute(stmt).tuples().all() if a is not None}


def _yuan(minor: int) -> str:
    return f"{from_minor(minor):,.2f}"


def _messages(rules: FeeControlRules, rows: pd.DataFrame, day: date) -> pd.DataFrame:
    """The SMS of each warning and zero notice in ``rows`` (account_id, account_no,
    balance_minor, action), as outbox rows; one per account, action and day."""
    texts = []
    for r in rows.itertuples(index=False):
        balance = _yuan(int(r.balance_minor))
        if r.action == WARN:
            subject = "电费余额不足提醒 Low balance"
            body = (
                f"尊敬的客户：您的户号 {r.account_no} 电费余额 {balance} 元，已低于 "
                f"{_yuan(rules.warn_below_minor)} 元，请及时充值，以免停电。"
            )
        else:
            subject = "电费余额已用完 Balance used up"
            body = (
                f"尊敬的客户：您的户号 {r.account_no} 电费余额 {balance} 元，已用完。请于 "
                f"{rules.grace_hours} 小时内充值，逾期将远程停电；充值到账后自动复电。"
            )
        texts.append(
            (
                f"fee-control:{r.action}:{r.account_no}:{day.isoformat()}",
                int(r.account_id),
                "sms",
                PURPOSE,
                subject,
                body,
                None,
            )
        )
    return pd.DataFrame(texts, columns=list(MESSAGE_COLUMNS))


def _command_reason(rules: FeeControlRules, kind: str, balance_minor: int) -> str:
    balance = _yuan(balance_minor)
    if kind == TRIP:
        return (
            f"费控停电：余额 {balance} 元，用完已超过 {rules.grace_hours} 小时 (prepay balance "
            f"{balance} yuan, used up for over {rules.grace_hours} h)"
        )
    return f"费控复电：充值后余额 {balance} 元 (prepay topped up, balance {balance} yuan)"
