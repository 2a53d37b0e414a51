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
    out,
    output_format,
    parse_date,
    state,
)

BROKER_OPT = typer.Option(
    None, "--broker", "-b", help="Broker whose book to show (default from config)."
)


def register(app: typer.Typer) -> None:
    """Add `positions` and `report` to `app`."""
    app.command("positions")(positions_cmd)
    app.command("report")(report_cmd)


def _book(ctx: typer.Context, broker: str | None) -> tuple[Any, Any, Any, Any]:
    """(store, broker, market view at the book's clock, session) for the configured book."""
    import numpy as np

    from ..market import MarketView
    from ..services import bar_provider, make_broker, make_strategy, open_store

    cfg = state(ctx).config()
    store = open_store(cfg)
    b = make_broker(cfg, store, broker or state(ctx).broker)
    symbols = sorted({p.symbol for p in store.positions(b.name, b.account, ("open", "pending"))})
    bars, _ = bar_provider(cfg).get(symbols)
    market = MarketView.from_bars(bars, make_strategy(cfg))
    last = store.last_session(b.name, b.account)
    session = market.session_on_or_before(np.datetime64(last) if last else None)
    return store, b, market, session


def positions_cmd(
    ctx: typer.Context,
    closed: bool = typer.Option(False, "--closed", help="Show closed positions instead."),
    broker: str = BROKER_OPT,
    as_json: bool = JSON_OPT,
    as_csv: bool = CSV_OPT,
) -> None:
    """The position book: open positions with stops, targets, sessions held and unrealized P&L,
    and each position's resting stop at the broker (order id, level, status) when
    [risk] protective_stop = "broker"."""
    from .. import views
    from ..engine import session_count

    fmt = output_format(as_json, as_csv)
    store, b, market, session = _book(ctx, broker)
    try:
        statuses = ("closed",) if closed else ("open", "pending")
        positions = store.positions(b.name, b.account, statuses)
        stops = {p.id: s for p in positions if (s := store.resting_stop(p.id)) is not None}
    finally:
        store.close()

    def price(symbol: str) -> float | None:
        return market.last_close(symbol, session) if session is not None else None

    def held(p: Any) -> int | None:
        return session_count(market, p, session) if session is not None else None

    rows = views.position_rows(positions, price, held, stops)
    if fmt is Format.json:
        emit_json({"session": str(session) if session is not None else None, "positions": rows})
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
    as_json: bool = JSON_OPT,
    as_csv: bool = CSV_OPT,
) -> None:
    """P&L report: realized/unrealized, by day and month, trade statistics, drawdown.

    Win rate, average win/loss and profit factor overall, by B1/B2 and by exit reason; `--chart`
    writes the equity curve as a PNG.
    """
    from .. import views
    from ..report import build_report, equity_chart

    fmt = output_format(as_json, as_csv)
    day = parse_date(since, "--since")
    store, b, market, session = _book(ctx, broker)
    try:
        initial = getattr(b, "starting_cash", None)
        doc = build_report(
            store,
            b.name,
            b.account,
            lambda s: market.last_close(s, session) if session is not None else None,
            since=day.isoformat() if day else None,
            initial=initial,
        )
    finally:
        store.close()
    if chart is not None:
        curve = [(c["session"], c["equity"], c["cash"]) for c in doc["equity_curve"]]
        equity_chart(curve, chart, f"etrade-cli {b.name} account: equity")
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
