"""`etrade accounts list|balance|portfolio`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import typer

from . import common  # common.out / common.err: Rich consoles built on first use
from .common import CSV_OPT, JSON_OPT, Format, emit_csv, emit_json, output_format, state

accounts_app = typer.Typer(
    help="Broker accounts (E*TRADE unless the global --broker says otherwise): list, balance, "
    "portfolio.",
    no_args_is_help=True,
)
ACCOUNT_OPT = typer.Option(
    None,
    "--account",
    "-a",
    help="accountIdKey, accountId or the list "
    "number (default: [etrade] account or the only active one).",
)


def register(app: typer.Typer) -> None:
    """Add the `accounts` group to `app`."""
    app.add_typer(accounts_app, name="accounts")


@accounts_app.command("list")
def list_accounts(
    ctx: typer.Context,
    show_all: bool = typer.Option(False, "--all", help="Include closed accounts."),
    as_json: bool = JSON_OPT,
    as_csv: bool = CSV_OPT,
) -> None:
    """The accounts of the logged-in user (closed ones hidden unless --all)."""
    from rich.table import Table

    from ..services import etrade_client

    fmt = output_format(as_json, as_csv)
    if (name := _other_broker(ctx)) is not None:
        _generic_list(ctx, name, fmt)
        return
    accounts = etrade_client(state(ctx).config()).list_accounts()
    shown = [a for a in accounts if show_all or a.status.upper() != "CLOSED"]
    rows = [asdict(a) for a in shown]
    if fmt is Format.json:
        emit_json(rows)
    elif fmt is Format.csv:
        emit_csv(rows, list(asdict(accounts[0]) if accounts else ["account_id"]))
    else:
        t = Table(title="Accounts", title_justify="left")
        for c in ("#", "accountId", "accountIdKey", "Description", "Type", "Mode", "Status"):
            t.add_column(c, no_wrap=c in ("accountId", "accountIdKey"))
        for i, a in enumerate(shown, 1):
            t.add_row(
                str(i),
                a.account_id,
                a.account_id_key,
                a.description or a.name,
                a.type,
                a.mode,
                a.status,
            )
        common.out.print(t)


@accounts_app.command("balance")
def balance(ctx: typer.Context, account: str = ACCOUNT_OPT, as_json: bool = JSON_OPT) -> None:
    """Cash, buying power and total account value (USD)."""
    from rich.table import Table

    from ..services import etrade_client, resolve_account

    if (name := _other_broker(ctx)) is not None:
        _generic_balance(ctx, name, account, as_json)
        return
    cfg = state(ctx).config()
    client = etrade_client(cfg)
    acct = resolve_account(client, cfg, account)
    b = client.balance(acct.account_id_key, acct.institution_type or "BROKERAGE")
    if as_json:
        emit_json(asdict(b))
        return
    t = Table(
        title=f"Balance of {acct.account_id} ({b.description or acct.description})",
        title_justify="left",
        show_header=False,
    )
    t.add_column("")
    t.add_column("", justify="right")
    for label, v in (
        ("Total account value", b.total_account_value),
        ("Net cash", b.net_cash),
        ("Cash for investment", b.cash_for_investment),
        ("Cash buying power", b.cash_buying_power),
        ("Margin buying power", b.margin_buying_power),
    ):
        t.add_row(label, "" if v is None else f"{v:,.2f} USD")
    common.out.print(t)


@accounts_app.command("portfolio")
def portfolio(
    ctx: typer.Context, account: str = ACCOUNT_OPT, as_json: bool = JSON_OPT, as_csv: bool = CSV_OPT
) -> None:
    """Positions held: shares, price paid, last trade, market value, gain."""
    from rich.table import Table

    from ..services import etrade_client, resolve_account

    fmt = output_format(as_json, as_csv)
    if (name := _other_broker(ctx)) is not None:
        _generic_portfolio(ctx, name, account, fmt)
        return
    cfg = state(ctx).config()
    client = etrade_client(cfg)
    acct = resolve_account(client, cfg, account)
    positions = client.portfolio(acct.account_id_key)
    rows = [asdict(p) for p in positions]
    if fmt is Format.json:
        emit_json(rows)
    elif fmt is Format.csv:
        emit_csv(
            rows,
            [
                "symbol",
                "quantity",
                "position_type",
                "price_paid",
                "last_trade",
                "market_value",
                "total_gain",
                "total_gain_pct",
                "date_acquired",
            ],
        )
    elif not positions:
        common.out.print(f"No positions in {acct.account_id}.", markup=False)
    else:
        t = Table(title=f"Portfolio of {acct.account_id}", title_justify="left")
        for c in ("Symbol", "Qty", "Paid", "Last", "Value USD", "Gain USD", "Gain %"):
            t.add_column(c, justify="left" if c == "Symbol" else "right")
        for p in positions:
            t.add_row(
                p.symbol,
                f"{p.quantity:g}",
                _f(p.price_paid),
                _f(p.last_trade),
                _f(p.market_value),
                _f(p.total_gain),
                _f(p.total_gain_pct),
            )
        common.out.print(t)


def _f(v: float | None) -> str:
    return "" if v is None else f"{v:,.2f}"


# --- other brokers (global --broker schwab|ibkr|alpaca|paper) ----------------------------------


def _other_broker(ctx: typer.Context) -> str | None:
    """The global `--broker` when it is not E*TRADE, else None."""
    from ..services import command_broker

    name = command_broker(state(ctx).broker)
    return None if name == "etrade" else name


def _generic_list(ctx: typer.Context, name: str, fmt: Format) -> None:
    from rich.table import Table

    from ..services import broker_accounts

    rows = [asdict(a) for a in broker_accounts(state(ctx).config(), name)]
    if fmt is Format.json:
        emit_json(rows)
    elif fmt is Format.csv:
        emit_csv(rows, ["account_id", "key", "broker", "description", "paper"])
    else:
        t = Table(title=f"Accounts ({name})", title_justify="left")
        for c in ("#", "Account", "Key", "Description"):
            t.add_column(c, no_wrap=c != "Description")
        for i, r in enumerate(rows, 1):
            t.add_row(str(i), r["account_id"], r["key"], r["description"])
        common.out.print(t)


def _open(ctx: typer.Context, name: str, account: str | None) -> tuple[Any, Any]:
    from ..services import make_broker, open_store, with_account

    cfg = with_account(state(ctx).config(), name, account)
    store = open_store(cfg)
    try:
        return store, make_broker(cfg, store, name)
    except BaseException:
        store.close()
        raise


def _generic_balance(ctx: typer.Context, name: str, account: str | None, as_json: bool) -> None:
    from rich.table import Table

    store, broker = _open(ctx, name, account)
    try:
        v = broker.account_values()
    finally:
        store.close()
    if as_json:
        emit_json({"broker": name, "account": broker.account, **asdict(v)})
        return
    t = Table(
        title=f"Balance of {broker.account} ({name})", title_justify="left", show_header=False
    )
    t.add_column("")
    t.add_column("", justify="right")
    for label, x in (("Equity", v.equity), ("Cash", v.cash), ("Buying power", v.buying_power)):
        t.add_row(label, "" if x is None else f"{x:,.2f} USD")
    common.out.print(t)


def _generic_portfolio(ctx: typer.Context, name: str, account: str | None, fmt: Format) -> None:
    from rich.table import Table

    store, broker = _open(ctx, name, account)
    try:
        rows = [asdict(p) for p in broker.positions()]
    finally:
        store.close()
    if fmt is Format.json:
        emit_json(rows)
    elif fmt is Format.csv:
        emit_csv(rows, ["symbol", "quantity", "avg_price"])
    elif not rows:
        common.out.print(f"No positions in {broker.account} ({name}).", markup=False)
    else:
        t = Table(title=f"Portfolio of {broker.account} ({name})", title_justify="left")
        for c in ("Symbol", "Qty", "Avg price"):
            t.add_column(c, justify="left" if c == "Symbol" else "right")
        for r in rows:
            t.add_row(r["symbol"], str(r["quantity"]), _f(r["avg_price"]))
        common.out.print(t)
