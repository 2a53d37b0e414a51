"""`etrade backtest`: replay the trading loop over history with a fresh paper account."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import (
    JSON_OPT,
    Format,
    emit_json,
    err,
    out,
    parse_date,
    parse_symbols,
    progress_bar,
    state,
)


def register(app: typer.Typer) -> None:
    """Add `backtest` to `app`."""
    app.command("backtest")(backtest_cmd)


def backtest_cmd(
    ctx: typer.Context,
    start: str = typer.Option(
        None, "--start", help="First session, YYYY-MM-DD (default: the first bar)."
    ),
    end: str = typer.Option(
        None, "--end", help="Last session, YYYY-MM-DD (default: the last bar)."
    ),
    symbols: list[str] = typer.Option(
        None,
        "--symbols",
        "-s",
        help="Symbols to trade  "  # noqa: B008
        "(repeat or comma-separate; default: the watchlist).",
    ),
    watchlist: Path = typer.Option(
        None,
        "--watchlist",
        "-w",
        dir_okay=False,  # noqa: B008
        help="Watchlist file (default: the configured one).",
    ),
    cash: float = typer.Option(
        None, "--cash", min=1.0, help="Starting cash, USD (default [broker] paper_cash)."
    ),
    chart: Path = typer.Option(
        None,
        "--chart",
        dir_okay=False,  # noqa: B008
        help="Write an equity-curve PNG here.",
    ),
    db: Path = typer.Option(
        None,
        "--db",
        dir_okay=False,  # noqa: B008
        help="Keep the backtest's book in this new database file.",
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Replay run-once over history with a fresh paper account (never the live book).

    Prints total return, CAGR, max drawdown, Sharpe of daily returns, exposure, trades, win rate
    and the trade list. Fills at the close of the triggering bar.
    """
    import numpy as np

    from .. import views
    from ..backtest import run_backtest
    from ..config import universe
    from ..errors import InputError
    from ..report import equity_chart
    from ..services import bar_provider, benchmark_bars, make_strategy

    cfg = state(ctx).config()
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    if first and last and first > last:
        raise InputError("--start is after --end")
    if db is not None and db.resolve() == cfg.db_path.resolve():
        raise InputError("--db must not be the live position book")
    wanted = parse_symbols(symbols) if symbols else universe(cfg, watchlist)
    provider = bar_provider(cfg)
    bars, missing = provider.get(wanted, strict=bool(symbols))
    benchmark = benchmark_bars(cfg, provider)
    if missing:
        err.print(
            f"warning: no data for {len(missing)} symbol(s): {', '.join(missing[:10])}"
            + (" ..." if len(missing) > 10 else ""),
            markup=False,
        )
    fmt = Format.json if as_json else Format.table
    with progress_bar(fmt, "Backtesting") as bar:
        res = run_backtest(
            bars,
            make_strategy(cfg),
            cfg.risk,
            cash=cash or cfg.broker.paper_cash,
            commission=cfg.broker.commission_usd,
            start=np.datetime64(first) if first else None,
            end=np.datetime64(last) if last else None,
            tradable=[b.symbol for b in bars],
            db_path=db,
            on_progress=bar.update if bar else None,
            benchmark=benchmark,
        )
    if chart is not None:
        equity_chart(res.curve, chart, f"Backtest {res.start} .. {res.end}")
    if as_json:
        emit_json(res.to_dict())
        return
    for part in views.backtest_renderables(res):
        out.print(part)
    if chart is not None:
        out.print(f"Chart written to {chart}", markup=False)
