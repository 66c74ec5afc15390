"""A day's dunning run (催费): every overdue account looked at once, column-wise, and the
accounts that move take their step's actions.

1. Facts per account (:func:`dunning_facts`): days past due of the oldest overdue bill,
   the overdue amount, customer class, exemption, the step it stands at and since when,
   whether dunning disconnected it — from the receivables sub-ledger and
   ``dunning_states``, as of the run's day.
2. :func:`~meter2cash.collections.dunning.advance` says who moves. The movers are locked
   (PostgreSQL, in id order, as payments lock them) and their facts read again, so a
   payment posted meanwhile is seen before anyone is cut off.
3. For each mover: the step is recorded (``dunning_steps``) and its state updated; SMS,
   email and letter messages are queued in the outbox in Chinese with amounts and due
   dates; a relay trip (or, once paid, a relay close) is requested through the head-end's
   command lifecycle on the meter installed at the account's service point, and the
   command recorded on the step; the notice PDF and the evidence pack are written under
   ``documents_dir/<day>/``.

An account moves at most once a day: running again the same day finds it moved today and
leaves it alone; outbox messages and relay commands carry natural keys besides.
Prepay accounts are left to fee control (费控): they do not enter dunning.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Select, insert, or_, select, update
from sqlalchemy.orm import Session

from meter2cash.assets.models import (
    Account,
    Customer,
    Meter,
    MeterInstallation,
    ServicePoint,
    TransformerArea,
    Utility,
    Zone,
)
from meter2cash.billing.models import Bill
from meter2cash.collections.dunning import NO_STEP, RECONNECT, DunningPolicy, Step, advance
from meter2cash.collections.evidence import evidence_pack, render_evidence
from meter2cash.collections.models import DunningState, DunningStep
from meter2cash.collections.notices import (
    PURPOSE,
    Notice,
    OverdueBill,
    message_body,
    render_notice,
    subject,
)
from meter2cash.collections.outbox import CHANNELS, MESSAGE_COLUMNS, queue_messages
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError
from meter2cash.core.money import from_minor
from meter2cash.headend import commands
from meter2cash.ledger.repository import NO_BILL, RETURNED_LABEL, open_items
from meter2cash.measurements.store import MeasurementStore

ACTOR: Final = "dunning"
"""Who requests dunning's relay commands (in the audit log)."""
ENDED: Final = "ended"
"""The step name reported for accounts whose dunning ended (paid)."""
FACT_COLUMNS: Final = (
    "account_id",
    "customer_class",
    "exemption",
    "days_past_due",
    "overdue_minor",
    "step",
    "days_since_step",
    "disconnected",
)
_CHUNK: Final = 5000

Progress = Callable[[str, int], AbstractContextManager[Callable[[], None]]]
"""Makes a progress display: (description, total) → a context yielding "one more done"."""


@contextmanager
def no_progress(description: str, total: int) -> Iterator[Callable[[], None]]:
    """A :data:`Progress` that shows nothing."""
    yield lambda: None


@dataclass(frozen=True, slots=True)
class DunningReport:
    """What one run did on ``on``."""

    on: date
    accounts: int
    """Accounts overdue or in dunning that were looked at."""
    moved: dict[str, int]
    """Accounts that reached each step (by step name; :data:`ENDED` = paid, dunning over)."""
    messages_queued: int
    notices_written: int
    evidence_written: int
    trips_requested: int
    reconnections_requested: int
    exempt_held: dict[str, int]
    """Accounts an exemption kept from their next step, by exemption flag."""
    without_meter: tuple[str, ...] = field(default=())
    """Accounts whose relay command could not be requested: no meter installed."""

    def as_json(self) -> dict[str, Any]:
        return {
            "on": self.on.isoformat(),
            "accounts": self.accounts,
            "moved": self.moved,
            "messages_queued": self.messages_queued,
            "notices_written": self.notices_written,
            "evidence_written": self.evidence_written,
            "trips_requested": self.trips_requested,
            "reconnections_requested": self.reconnections_requested,
            "exempt_held": self.exempt_held,
            "without_meter": list(self.without_meter),
        }


def run_dunning(
    session: Session,
    store: MeasurementStore,
    clock: Clock,
    policy: DunningPolicy,
    on: date,
    documents_dir: Path,
    progress: Progress = no_progress,
) -> DunningReport:
    """Run dunning for the local day ``on`` in the caller's transaction (it does not
    commit); notices and evidence packs go to ``documents_dir/<on>/``."""
    facts = dunning_facts(session, on)
    moving = advance(policy, facts)
    if not moving.empty:
        _lock(session, moving["account_id"].tolist())
        facts_now = dunning_facts(session, on, moving["account_id"].tolist())
        moving = advance(policy, facts_now)
    held = _exempt_held(policy, facts, moving)
    if moving.empty:
        return DunningReport(on, len(facts), {}, 0, 0, 0, 0, 0, held)
    moving = moving.merge(facts_now, on="account_id")
    work = _StepWork(session, store, clock, policy, on, documents_dir / on.isoformat())
    return work.take(moving, progress, len(facts), held)


def dunning_facts(
    session: Session, on: date, account_ids: Collection[int] | None = None
) -> pd.DataFrame:
    """:data:`FACT_COLUMNS` (the input of :func:`advance`) plus ``has_state``, of every
    account that is overdue on ``on`` or stands in dunning — of ``account_ids`` when given.
    Accounts that already moved on ``on`` are left out; so are prepay accounts not yet in
    dunning."""
    items = open_items(session, booked_through=on, account_ids=account_ids)
    due = pd.to_datetime(items["due_date"]).to_numpy("datetime64[D]")
    overdue = items[(due < np.datetime64(on, "D")) & (items["open_minor"].to_numpy() > 0)]
    owing = overdue.groupby("account_id").agg(
        oldest_due=("due_date", "min"),
        overdue_minor=("open_minor", "sum"),
        customer_class=("customer_class", "first"),
    )
    states = _frame(
        session,
        select(
            DunningState.account_id,
            DunningState.step,
            DunningState.since,
            DunningState.disconnected,
            Customer.customer_class,
        )
        .join(Account, Account.id == DunningState.account_id)
        .join(Customer, Customer.id == Account.customer_id),
        DunningState.account_id,
        account_ids,
        ["account_id", "step", "since", "disconnected", "state_class"],
    ).set_index("account_id")
    flags = _frame(
        session,
        select(Account.id, Account.dunning_exemption, Account.prepay).where(
            or_(Account.dunning_exemption != "", Account.prepay)
        ),
        Account.id,
        account_ids,
        ["account_id", "exemption", "prepay"],
    ).set_index("account_id")
    frame = owing.join(states, how="outer")
    frame["customer_class"] = frame["customer_class"].fillna(frame["state_class"])
    frame["has_state"] = frame["step"].notna()
    frame["step"] = frame["step"].fillna(NO_STEP).astype(np.int64)
    frame["disconnected"] = frame["disconnected"].fillna(False).astype(bool)
    frame["overdue_minor"] = frame["overdue_minor"].fillna(0).astype(np.int64)
    frame["exemption"] = flags["exemption"].reindex(frame.index, fill_value="")
    prepay = flags["prepay"].astype(bool).reindex(frame.index, fill_value=False).to_numpy(bool)
    frame["days_past_due"] = _days(on, frame["oldest_due"], missing=-1)
    frame["days_since_step"] = _days(on, frame["since"], missing=0)
    in_dunning = (frame["step"] != NO_STEP) | frame["disconnected"]
    keep = ((frame["overdue_minor"] > 0) & ~prepay) | in_dunning
    keep &= frame["since"].isna() | (frame["days_since_step"] > 0)
    frame = frame[keep.to_numpy(bool)].rename_axis("account_id").reset_index()
    return frame[[*FACT_COLUMNS, "has_state"]]


def _days(on: date, dates: pd.Series, *, missing: int) -> npt.NDArray[np.int64]:
    """Days from each of ``dates`` to ``on`` [days]; ``missing`` where there is no date."""
    absent = dates.isna().to_numpy()
    stamps = pd.to_datetime(dates.where(~absent, on)).to_numpy("datetime64[D]")
    days = (np.datetime64(on, "D") - stamps).astype(np.int64)
    return np.where(absent, missing, days)


def _frame(
    session: Session,
    stmt: Select[Any],
    key: Any,
    ids: Collection[int] | None,
    columns: list[str],
) -> pd.DataFrame:
    """Rows of ``stmt`` as a frame, restricted to ``key`` in ``ids`` (chunked) when given."""
    if ids is None:
        rows = session.execute(stmt).tuples().all()
    else:
        wanted = sorted(ids)
        rows = [
            row
            for start in range(0, len(wanted), _CHUNK)
            for row in session.execute(stmt.where(key.in_(wanted[start : start + _CHUNK])))
        ]
    return pd.DataFrame(rows, columns=columns)


def _lock(session: Session, account_ids: Sequence[int]) -> None:
    """Lock the moving accounts' rows until commit (PostgreSQL; SQLite has one writer), in
    id order like payments, so a payment and a disconnection never cross."""
    wanted = sorted(account_ids)
    for start in range(0, len(wanted), _CHUNK):
        session.execute(
            select(Account.id)
            .where(Account.id.in_(wanted[start : start + _CHUNK]))
            .order_by(Account.id)
            .with_for_update()
        ).all()


def _exempt_held(
    policy: DunningPolicy, facts: pd.DataFrame, moving: pd.DataFrame
) -> dict[str, int]:
    """Exempt accounts that would climb a step but for their exemption, by flag."""
    exempt = facts[facts["exemption"] != ""]
    if exempt.empty:
        return {}
    unexempt = advance(policy, exempt.assign(exemption=""))
    climbing = unexempt.loc[unexempt["to_step"] != NO_STEP, "account_id"]
    held = exempt[
        exempt["account_id"].isin(climbing) & ~exempt["account_id"].isin(moving["account_id"])
    ]
    return {str(k): int(v) for k, v in held["exemption"].value_counts().sort_index().items()}


@dataclass
class _StepWork:
    """The per-account part of a run: commands, step records, messages and documents."""

    session: Session
    store: MeasurementStore
    clock: Clock
    policy: DunningPolicy
    on: date
    folder: Path

    def take(
        self, moving: pd.DataFrame, progress: Progress, accounts: int, held: dict[str, int]
    ) -> DunningReport:
        ids = moving["account_id"].tolist()
        people = self._people(ids)
        meters = self._meters(ids)
        bills = self._overdue_bills(ids)
        utility = self.session.scalar(select(Utility.name)) or ""
        now = self.clock.now()
        steps: list[dict[str, Any]] = []
        states: list[dict[str, Any]] = []
        new_states: list[dict[str, Any]] = []
        messages: list[tuple[Any, ...]] = []
        notices: list[tuple[Path, Notice]] = []
        packs: list[tuple[Path, str]] = []
        without_meter: list[str] = []
        trips = closes = 0
        for row in moving.itertuples(index=False):
            account_id = int(row.account_id)
            account_no, name, address = people.loc[account_id]
            actions = [a for a in str(row.actions).split(",") if a]
            step = self.policy.steps[row.to_step] if row.to_step != NO_STEP else None
            disconnected = bool(row.disconnected)
            command_id = None
            kind = "relay_trip" if "relay_trip" in actions else None
            if RECONNECT in actions:
                kind = RECONNECT
            if kind is not None:
                meter_no = meters.get(account_id)
                if meter_no is None:
                    without_meter.append(account_no)
                else:
                    command_id = self._request(kind, meter_no, account_no, row)
                    disconnected = kind == "relay_trip"
                    trips += kind == "relay_trip"
                    closes += kind == RECONNECT
            if step is None:
                disconnected = False
            notice_path = evidence_path = None
            if step is not None:
                notice = self._notice(utility, account_no, name, address, step, row, bills)
                if "notice_pdf" in actions:
                    notice_path = self.folder / f"{account_no}-{step.name}-notice.pdf"
                    notices.append((notice_path, notice))
                if "notice_pdf" in actions or "relay_trip" in actions:
                    evidence_path = self.folder / f"{account_no}-{step.name}-evidence.pdf"
                    packs.append((evidence_path, account_no))
                for channel in CHANNELS:
                    if channel not in actions:
                        continue
                    enclosed = str(notice_path) if channel == "letter" and notice_path else None
                    messages.append(
                        (
                            f"{PURPOSE}:{account_no}:{self.on.isoformat()}:{step.name}:{channel}",
                            account_id,
                            channel,
                            PURPOSE,
                            subject(notice),
                            message_body(notice, enclosed=enclosed),
                            enclosed,
                        )
                    )
            step_name = step.name if step is not None else ""
            steps.append(
                {
                    "account_id": account_id,
                    "taken_on": self.on,
                    "from_step": int(row.from_step),
                    "to_step": int(row.to_step),
                    "step_name": step_name or ENDED,
                    "actions": ",".join(actions),
                    "overdue_minor": int(row.overdue_minor),
                    "evidence_path": None if evidence_path is None else str(evidence_path),
                    "command_id": command_id,
                    "recorded_at": now,
                }
            )
            state = {
                "account_id": account_id,
                "step": int(row.to_step),
                "step_name": step_name,
                "since": self.on,
                "disconnected": disconnected,
                "updated_at": now,
            }
            (states if row.has_state else new_states).append(state)
        self.session.execute(insert(DunningStep), steps)
        if states:
            self.session.execute(update(DunningState), states)
        if new_states:
            self.session.execute(insert(DunningState), new_states)
        queued = (
            queue_messages(
                self.session, self.clock, pd.DataFrame(messages, columns=list(MESSAGE_COLUMNS))
            )
            if messages
            else 0
        )
        self.session.flush()
        self._write_documents(notices, packs, progress)
        moved = moving["to_step"].map(
            lambda i: ENDED if i == NO_STEP else self.policy.steps[i].name
        )
        order = [s.name for s in self.policy.steps] + [ENDED]
        counts = moved.value_counts()
        return DunningReport(
            on=self.on,
            accounts=accounts,
            moved={name: int(counts[name]) for name in order if name in counts},
            messages_queued=queued,
            notices_written=len(notices),
            evidence_written=len(packs),
            trips_requested=trips,
            reconnections_requested=closes,
            exempt_held=held,
            without_meter=tuple(without_meter),
        )

    def _request(self, kind: str, meter_no: str, account_no: str, row: Any) -> int:
        if kind == RECONNECT:
            reason = f"欠费已结清，恢复供电 arrears paid: reconnect account {account_no}"
        else:
            reason = (
                f"欠费停电 disconnection for arrears: account {account_no} owes "
                f"{from_minor(int(row.overdue_minor))} yuan, {int(row.days_past_due)} days "
                "past due"
            )
        command = commands.request(
            self.session,
            self.clock,
            meter_no=meter_no,
            kind=kind,
            actor=ACTOR,
            reason=reason,
            request_key=f"{PURPOSE}:{account_no}:{self.on.isoformat()}:{kind}",
        )
        return command.id

    def _notice(
        self,
        utility: str,
        account_no: str,
        name: str,
        address: str,
        step: Step,
        row: Any,
        bills: pd.DataFrame,
    ) -> Notice:
        mine = bills[bills["account_id"] == row.account_id]
        overdue = tuple(
            OverdueBill(
                b.bill_no, b.period_start, b.period_end, b.due_date, from_minor(b.open_minor)
            )
            for b in mine.itertuples(index=False)
        )
        oldest_due = self.on - timedelta(days=int(row.days_past_due))
        return Notice(
            utility_name=utility,
            customer_name=name,
            account_no=account_no,
            address=address,
            label=step.label,
            issued_on=self.on,
            overdue=from_minor(int(row.overdue_minor)),
            oldest_due=oldest_due,
            days_past_due=int(row.days_past_due),
            bills=overdue,
            cut_on=self._cut_on(step, oldest_due),
            disconnection="relay_trip" in step.actions,
        )

    def _cut_on(self, step: Step, oldest_due: date) -> date | None:
        """The first day the next step may trip the relay, if the next step trips it."""
        index = self.policy.index(step.name)
        if index + 1 >= len(self.policy.steps):
            return None
        following = self.policy.steps[index + 1]
        if "relay_trip" not in following.actions:
            return None
        return max(
            self.on + timedelta(days=following.wait_days),
            oldest_due + timedelta(days=following.after_days),
        )

    def _write_documents(
        self,
        notices: Sequence[tuple[Path, Notice]],
        packs: Sequence[tuple[Path, str]],
        progress: Progress,
    ) -> None:
        if not notices and not packs:
            return
        labels = {s.name: s.label for s in self.policy.steps}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with progress("notices and evidence packs", len(notices) + len(packs)) as tick:
                for path, notice in notices:
                    path.write_bytes(render_notice(notice))
                    tick()
                for path, account_no in packs:
                    pack = evidence_pack(self.session, self.store, account_no, self.on, labels)
                    path.write_bytes(render_evidence(pack))
                    tick()
        except OSError as exc:
            raise InputError(
                f"cannot write dunning documents to {self.folder}: {exc.strerror}"
            ) from exc

    def _people(self, ids: Sequence[int]) -> pd.DataFrame:
        """account_no, customer name and address (service point / area / zone) by id."""
        people = _frame(
            self.session,
            select(Account.id, Account.account_no, Customer.name).join(
                Customer, Customer.id == Account.customer_id
            ),
            Account.id,
            ids,
            ["account_id", "account_no", "name"],
        ).set_index("account_id")
        places = _frame(
            self.session,
            select(ServicePoint.account_id, ServicePoint.code, TransformerArea.name, Zone.name)
            .join(TransformerArea, TransformerArea.id == ServicePoint.transformer_area_id)
            .join(Zone, Zone.id == TransformerArea.zone_id)
            .order_by(ServicePoint.id),
            ServicePoint.account_id,
            ids,
            ["account_id", "point", "area", "zone"],
        ).drop_duplicates("account_id")
        address = places["point"] + " / " + places["area"] + " / " + places["zone"]
        people["address"] = people.index.map(
            pd.Series(address.to_numpy(), index=places["account_id"])
        ).fillna("")
        return people[["account_no", "name", "address"]]

    def _meters(self, ids: Sequence[int]) -> dict[int, str]:
        """The meter installed now at each account's service point (the latest installed)."""
        found = _frame(
            self.session,
            select(ServicePoint.account_id, Meter.meter_no)
            .join(MeterInstallation, MeterInstallation.service_point_id == ServicePoint.id)
            .join(Meter, Meter.id == MeterInstallation.meter_id)
            .where(MeterInstallation.removed_at.is_(None))
            .order_by(MeterInstallation.installed_at),
            ServicePoint.account_id,
            ids,
            ["account_id", "meter_no"],
        ).drop_duplicates("account_id", keep="last")
        return dict(zip(found["account_id"].tolist(), found["meter_no"].tolist(), strict=True))

    def _overdue_bills(self, ids: Sequence[int]) -> pd.DataFrame:
        """account_id, bill_no, period_start, period_end, due_date, open_minor of the
        movers' bills past due, oldest first; a returned payment is named as such, its
        period the day it was returned."""
        items = open_items(self.session, booked_through=self.on, account_ids=ids)
        due = pd.to_datetime(items["due_date"]).to_numpy("datetime64[D]")
        items = items[(due < np.datetime64(self.on, "D")) & (items["open_minor"].to_numpy() > 0)]
        numbers = _frame(
            self.session,
            select(Bill.id, Bill.bill_no, Bill.period_start, Bill.period_end),
            Bill.id,
            items["bill_id"].tolist(),
            ["bill_id", "bill_no", "period_start", "period_end"],
        )
        numbers = numbers.astype({"bill_id": np.int64})
        bills = items.merge(numbers, on="bill_id", how="left")
        returned = (bills["bill_id"] == NO_BILL).to_numpy(bool)
        bills.loc[returned, "bill_no"] = RETURNED_LABEL
        for column in ("period_start", "period_end"):
            bills[column] = bills[column].where(~returned, bills["due_date"])
        return bills.sort_values(["account_id", "due_date"])
