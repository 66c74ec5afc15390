"""`m2c bill …`: bill runs, review (复核), issue (发行), cancel and rebill (退补)."""

from __future__ import annotations

from typing import Annotated

import typer

from meter2cash.billing import issue as billing_issue
from meter2cash.billing import repository
from meter2cash.billing.cycles import MonthPeriod, month_period
from meter2cash.billing.rebill import Rebill, backbill, cancel, rebill
from meter2cash.billing.review import count_by_rule, rules_of
from meter2cash.cli.bill_documents import register as register_documents
from meter2cash.cli.output import JsonFlag, console, print_json, table, yuan
from meter2cash.core.errors import InputError
from meter2cash.core.money import from_minor
from meter2cash.core.settings import Settings
from meter2cash.db.session import unit_of_work
from meter2cash.tariffs.loader import load_catalogue
from meter2cash.workspace import Workspace, open_workspace, today

app = typer.Typer(
    help="Bill runs, review (复核), issue (发行), cancel and rebill (退补).", no_args_is_help=True
)
review_app = typer.Typer(help="Bills held for review.", no_args_is_help=True)
app.add_typer(review_app, name="review")
register_documents(app)

ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]
ActorOption = Annotated[str, typer.Option("--actor", help="Who acts (kept in the audit log).")]


def _workspace() -> Workspace:
    return open_workspace(Settings.from_env())


def parse_month(text: str, option: str) -> MonthPeriod:
    try:
        year, month = (int(part) for part in text.split("-"))
        return month_period(year, month)
    except ValueError as exc:
        raise InputError(f"{option} {text!r} is not a month (YYYY-MM)") from exc


def _money(minor: int) -> str:
    return yuan(from_minor(minor))


@app.command("run")
def bill_run(
    month: Annotated[str, typer.Option(help="Billing month, YYYY-MM.")],
    as_json: JsonFlag = False,
) -> None:
    """Bill every account for one month (determinants, rating, review)."""
    from meter2cash.spine import bill

    period = parse_month(month, "--month")
    with _workspace() as ws:
        report = bill(ws, period)
    data = {
        "period_start": period.period_start.isoformat(),
        "accounts": report.accounts,
        "billed": report.billed,
        "in_review": report.in_review,
        "unbillable": report.unbillable,
        "amount": str(from_minor(report.amount_minor)),
    }
    if as_json:
        print_json(data)
    else:
        console.print(table(f"bill run {month}", ["measure", "value"], list(data.items())))


@app.command("issue")
def bill_issue() -> None:
    """Issue (发行) every approved bill to the ledger."""
    from meter2cash.spine import issue

    with _workspace() as ws:
        report = issue(ws)
    console.print(f"issued {report.issued} bills, {_money(report.amount_minor)}")


@review_app.command("list")
def review_list(
    as_json: JsonFlag = False,
    limit: Annotated[int, typer.Option(min=0, help="How many held bills to list.")] = 50,
) -> None:
    """Bills held for review: counts by rule, then the bills with their reasons."""
    with _workspace() as ws, unit_of_work(ws.records) as session:
        held = [
            {
                "bill_no": bill.bill_no,
                "account_no": account_no,
                "period": f"{bill.period_start:%Y-%m}",
                "kwh": f"{bill.kwh:.2f}",
                "amount": str(from_minor(bill.total_minor)),
                "reasons": bill.review_reasons,
            }
            for bill, account_no in repository.held_bills(session)
        ]
    by_rule = count_by_rule(h["reasons"] for h in held)
    if as_json:
        print_json({"held": len(held), "by_rule": by_rule, "bills": held[:limit]})
        return
    console.print(
        table(f"bills in review ({len(held)}) by rule", ["rule", "bills"], list(by_rule.items()))
    )
    console.print(
        table(
            f"bills in review, first {min(limit, len(held))}",
            ["bill", "account", "month", "kWh", "amount", "rules (`show` for the reasons)"],
            [
                (
                    h["bill_no"],
                    h["account_no"],
                    h["period"],
                    h["kwh"],
                    h["amount"],
                    ", ".join(rules_of(h["reasons"])),
                )
                for h in held[:limit]
            ],
        )
    )


@review_app.command("show")
def review_show(bill_no: str, as_json: JsonFlag = False) -> None:
    """One bill: its reasons, lines, the account's recent bills and the acts on it."""
    with _workspace() as ws, unit_of_work(ws.records) as session:
        bill = repository.bill_by_no(session, bill_no)
        if bill is None:
            raise InputError(f"no bill {bill_no}", "see `m2c bill review list`")
        header = {
            "bill_no": bill.bill_no,
            "status": bill.status,
            "period": f"{bill.period_start} … {bill.period_end}",
            "revision": bill.revision,
            "kwh": f"{bill.kwh:.2f}",
            "max_demand_kw": "" if bill.max_demand_kw is None else f"{bill.max_demand_kw:.2f}",
            "multiplier": bill.multiplier,
            "estimated": bill.estimated,
            "amount": str(from_minor(bill.total_minor)),
            "bill_date": bill.bill_date.isoformat(),
            "due_date": bill.due_date.isoformat(),
        }
        reasons = [r for r in bill.review_reasons.split("; ") if r]
        lines = [
            (
                ln.seq,
                ln.kind,
                ln.description,
                f"{ln.quantity:.4f}",
                ln.unit,
                f"{ln.unit_price}",
                str(from_minor(ln.amount_minor)),
            )
            for ln in repository.lines_of(session, bill.id)
        ]
        recent = [
            (
                b.bill_no,
                f"{b.period_start:%Y-%m}",
                b.status,
                f"{b.kwh:.2f}",
                str(from_minor(b.total_minor)),
                "yes" if b.estimated else "",
                b.multiplier or "",
            )
            for b in repository.bills_of_account(session, bill.account_id)
        ]
        acts = [
            (f"{a.at:%Y-%m-%d %H:%M}", a.actor, a.action, a.object_key, a.reason)
            for a in repository.acts_on(session, [b[0] for b in recent])
        ]
    if as_json:
        print_json(
            {
                **header,
                "reasons": reasons,
                "lines": [
                    dict(
                        zip(
                            [
                                "seq",
                                "kind",
                                "description",
                                "quantity",
                                "unit",
                                "unit_price",
                                "amount",
                            ],
                            ln,
                            strict=True,
                        )
                    )
                    for ln in lines
                ],
                "recent_bills": [
                    dict(
                        zip(
                            [
                                "bill_no",
                                "month",
                                "status",
                                "kwh",
                                "amount",
                                "estimated",
                                "multiplier",
                            ],
                            b,
                            strict=True,
                        )
                    )
                    for b in recent
                ],
                "acts": [
                    dict(zip(["at", "actor", "action", "bill_no", "reason"], a, strict=True))
                    for a in acts
                ],
            }
        )
        return
    console.print(table(f"bill {bill_no}", ["field", "value"], list(header.items())))
    console.print(table("held because", ["reason"], [(r,) for r in reasons] or [("—",)]))
    console.print(
        table("lines", ["#", "kind", "description", "quantity", "unit", "price", "amount"], lines)
    )
    console.print(
        table(
            "the account's recent bills",
            ["bill", "month", "status", "kWh", "amount", "estimated", "multiplier"],
            recent,
        )
    )
    if acts:
        console.print(table("acts (UTC)", ["at", "actor", "action", "bill", "reason"], acts))


def _decide(bill_no: str, reason: str, actor: str, approve: bool) -> None:
    with _workspace() as ws, unit_of_work(ws.records) as session:
        bill = billing_issue.decide(
            session, ws.clock, bill_no, approve=approve, actor=actor, reason=reason
        )
        console.print(f"bill {bill.bill_no} is now {bill.status}")


@review_app.command("approve")
def review_approve(
    bill_no: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    actor: Annotated[str, typer.Option(help="Who decides.")] = "billing-clerk",
) -> None:
    """Approve a held bill; `m2c bill issue` then posts it."""
    _decide(bill_no, reason, actor, approve=True)


@review_app.command("reject")
def review_reject(
    bill_no: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    actor: Annotated[str, typer.Option(help="Who decides.")] = "billing-clerk",
) -> None:
    """Reject a held bill (it is cancelled; fix the reads, then `m2c bill rebill` it)."""
    _decide(bill_no, reason, actor, approve=False)


@app.command("cancel")
def bill_cancel(bill_no: str, reason: ReasonOption, actor: ActorOption) -> None:
    """Cancel an issued bill: post the reversal of its issue entry (audited)."""
    with _workspace() as ws, unit_of_work(ws.records) as session:
        done = cancel(
            session, ws.clock, bill_no, reason=reason, actor=actor, on=today(ws.clock, ws.settings)
        )
    credit = (
        f"; {_money(done.to_credit_minor)} paid on it is now credit" if done.to_credit_minor else ""
    )
    console.print(f"bill {done.bill_no} cancelled, {_money(done.reversed_minor)} reversed{credit}")


def _rebill_table(title: str, rebills: list[Rebill], as_json: bool) -> None:
    net = sum(r.difference_minor for r in rebills)
    if as_json:
        print_json(
            {
                "periods": [
                    {
                        "month": f"{r.period_start:%Y-%m}",
                        "old_bill_no": r.old_bill_no,
                        "old_total": str(from_minor(r.old_total_minor)),
                        "new_bill_no": r.new_bill_no,
                        "new_total": str(from_minor(r.new_total_minor)),
                        "difference": str(from_minor(r.difference_minor)),
                        "review_reasons": r.review_reasons,
                    }
                    for r in rebills
                ],
                "net": str(from_minor(net)),
                "currency": "CNY",
            }
        )
        return
    rows = [
        (
            f"{r.period_start:%Y-%m}",
            r.old_bill_no,
            _money(r.old_total_minor),
            r.new_bill_no,
            _money(r.new_total_minor),
            _money(r.difference_minor),
        )
        for r in rebills
    ]
    rows.append(("net (退补)", "", "", "", "", _money(net)))
    console.print(
        table(
            title, ["month", "old bill", "old total", "new bill", "new total", "difference"], rows
        )
    )
    for r in rebills:
        if r.review_reasons:
            console.print(f"[yellow]{r.new_bill_no}: review says {r.review_reasons}[/]")


@app.command("rebill")
def bill_rebill(
    bill_no: str, reason: ReasonOption, actor: ActorOption, as_json: JsonFlag = False
) -> None:
    """Cancel a bill and issue its period re-rated from current reads, tariff and multiplier."""
    with _workspace() as ws, unit_of_work(ws.records) as session:
        done = rebill(
            session,
            ws.clock,
            ws.batch,
            load_catalogue(),
            bill_no,
            reason=reason,
            actor=actor,
            on=today(ws.clock, ws.settings),
        )
    _rebill_table(f"rebill of {bill_no} (退补)", [done], as_json)


@app.command("backbill")
def bill_backbill(
    account_no: str,
    first: Annotated[str, typer.Option("--from", help="First month, YYYY-MM.")],
    last: Annotated[str, typer.Option("--to", help="Last month, YYYY-MM.")],
    reason: ReasonOption,
    actor: ActorOption,
    as_json: JsonFlag = False,
) -> None:
    """Rebill every issued bill of an account over months (after a tariff or multiplier
    correction): old total, new total and the difference per month, and the net."""
    start, end = parse_month(first, "--from"), parse_month(last, "--to")
    with _workspace() as ws, unit_of_work(ws.records) as session:
        done = backbill(
            session,
            ws.clock,
            ws.batch,
            load_catalogue(),
            account_no,
            start,
            end,
            reason=reason,
            actor=actor,
            on=today(ws.clock, ws.settings),
        )
    _rebill_table(f"back-billing of account {account_no} (退补)", done, as_json)
