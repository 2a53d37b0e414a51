"""`etrade positions` and `etrade report`: the position book and its P&L."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .common import (
    CSV_OPT,
    JSON_OPT,
    Format,
    emit_csv,
    emit_json,
    err,
    out,
    output_format,
    parse_date,
    state,
)

BROKER_OPT = typer.Option(
    None, "--broker", "-b", help="Broker whose book to show (default: [broker] name)."
)
ACCOUNT_OPT = typer.Option(
    None,
    "--account",
    help="Account whose book to show (default: from config, else the broker's only account "
    "in the book).",
)


def register(app: typer.Typer) -> None:
    """Add `positions` and `report` to `app`."""
    app.command("positions")(positions_cmd)
    app.command("report")(report_cmd)


def _book(ctx: typer.Context, broker: str | None, account: str | None) -> tuple[Any, ...]:
    """(store, book choice, market view at the book's clock, session), read offline."""
    import numpy as np

    from ..books import choose_book
    from ..market import MarketView
    from ..services import bar_provider, make_strategy, open_store

    cfg = state(ctx).config()
    store = open_store(cfg)
    try:
        book = choose_book(cfg, store, broker or state(ctx).broker, account)
    except BaseException:
        store.close()
        raise
    held = store.positions(book.broker, book.account, ("open", "pending"))
    bars, _ = bar_provider(cfg).get(sorted({p.symbol for p in held}))
    market = MarketView.from_bars(bars, make_strategy(cfg))
    last = store.last_session(book.broker, book.account)
    session = market.session_on_or_before(np.datetime64(last) if last else None)
    return store, book, market, session


def _say_book(book: Any, fmt: Format, empty: bool) -> None:
    """Which book is shown (and where positions are when it is empty): stdout for tables,
    stderr when stdout is JSON or CSV."""
    console = out if fmt is Format.table else err
    console.print(book.label(), markup=False, soft_wrap=True)
    if empty and book.hint():
        console.print(book.hint(), markup=False, soft_wrap=True)


def positions_cmd(
    ctx: typer.Context,
    closed: bool = typer.Option(False, "--closed", help="Show closed positions instead."),
    broker: str = BROKER_OPT,
    account: str = ACCOUNT_OPT,
    as_json: bool = JSON_OPT,
    as_csv: bool = CSV_OPT,
) -> None:
    """The position book: open positions with stops, targets, sessions held and unrealized P&L.

    Read offline from the book of the configured broker (or `--broker`/`--account`); the
    first line says which book is shown.
    """
    from .. import views
    from ..engine import session_count

    fmt = output_format(as_json, as_csv)
    store, book, market, session = _book(ctx, broker, account)
    try:
        statuses = ("closed",) if closed else ("open", "pending")
        positions = store.positions(book.broker, book.account, statuses)
    finally:
        store.close()

    def price(symbol: str) -> float | None:
        return market.last_close(symbol, session) if session is not None else None

    def held(p: Any) -> int | None:
        return session_count(market, p, session) if session is not None else None

    rows = views.position_rows(positions, price, held)
    _say_book(book, fmt, not rows)
    if fmt is Format.json:
        emit_json(
            {
                "broker": book.broker,
                "account": book.account,
                "session": str(session) if session is not None else None,
                "positions": rows,
            }
        )
    elif fmt is Format.csv:
        emit_csv(rows, views.POSITION_COLUMNS)
    else:
        out.print(views.positions_table(rows, closed))
        if session is not None and not closed:
            out.print(f"Marked at the close of {session}.", markup=False)


def report_cmd(
    ctx: typer.Context,
    since: str = typer.Option(None, "--since", help="Only P&L from this date, YYYY-MM-DD."),
    chart: Path = typer.Option(
        None,
        "--chart",
        help="Write an equity-curve PNG here.",  # noqa: B008
        dir_okay=False,
    ),
    broker: str = BROKER_OPT,
    account: str = ACCOUNT_OPT,
    as_json: bool = JSON_OPT,
    as_csv: bool = CSV_OPT,
) -> None:
    """P&L report: realized/unrealized, by day and month, trade statistics, drawdown.

    Win rate, average win/loss and profit factor overall, by B1/B2 and by exit reason; `--chart`
    writes the equity curve as a PNG.
    """
    from .. import views
    from ..books import starting_cash
    from ..report import build_report, equity_chart

    fmt = output_format(as_json, as_csv)
    day = parse_date(since, "--since")
    store, book, market, session = _book(ctx, broker, account)
    try:
        initial = starting_cash(store, book)
        doc = build_report(
            store,
            book.broker,
            book.account,
            lambda s: market.last_close(s, session) if session is not None else None,
            since=day.isoformat() if day else None,
            initial=initial,
        )
    finally:
        store.close()
    doc = {"broker": book.broker, "account": book.account, **doc}
    _say_book(book, fmt, not doc["equity_curve"] and not doc.get("open_positions"))
    if chart is not None:
        curve = [(c["session"], c["equity"], c["cash"]) for c in doc["equity_curve"]]
        equity_chart(curve, chart, f"etrade-cli {book.broker} account {book.account}: equity")
    if fmt is Format.json:
        emit_json(doc)
    elif fmt is Format.csv:
        rows = [{"session": d, "realized_usd": v} for d, v in doc["by_day"].items()]
        emit_csv(rows, ["session", "realized_usd"])
    else:
        for part in views.report_renderables(doc):
            out.print(part)
        if chart is not None:
            out.print(f"Chart written to {chart}", markup=False)
