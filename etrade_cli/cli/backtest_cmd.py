"""`etrade backtest`: replay the trading loop over history with a fresh paper account; `backtest
list` and `backtest show [ID]` reprint stored results without rerunning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from . import common  # common.out / common.err: Rich consoles built on first use
from .common import (
    CSV_OPT,
    JSON_OPT,
    Format,
    emit_csv,
    emit_json,
    finite,
    output_format,
    parse_date,
    parse_symbols,
    progress_bar,
    state,
)
from .trading import STRATEGY_OPT

#: `--watchlist ALL`: every symbol of the data source
ALL = "ALL"

backtest_app = typer.Typer(no_args_is_help=False)  # help: the callback's docstring, in full


def register(app: typer.Typer) -> None:
    """Add `backtest` (with `list` and `show`) to `app`."""
    app.add_typer(backtest_app, name="backtest")


@backtest_app.callback(invoke_without_command=True)
def backtest_cmd(
    ctx: typer.Context,
    start: str = typer.Option(
        None,
        "--start",
        help="First session traded, YYYY-MM-DD (default: the first after indicator warm-up). "
        "Earlier bars warm the indicators up.",
    ),
    end: str = typer.Option(
        None, "--end", help="Last session, YYYY-MM-DD (default: the last bar)."
    ),
    symbols: list[str] = typer.Option(
        None,
        "--symbols",
        "-s",
        help="Symbols to trade (repeat or comma-separate; default: the watchlist).",
    ),
    watchlist: str = typer.Option(
        None,
        "--watchlist",
        "-w",
        help="Watchlist file (default: the configured one); ALL: every symbol of the data.",
    ),
    cash: float = typer.Option(
        None,
        "--cash",
        callback=finite(1.0),
        help="Starting cash, USD (default [broker] paper_cash).",
    ),
    benchmark: str = typer.Option(
        None,
        "--benchmark",
        help="Buy-and-hold benchmark symbol (default [report] benchmark, SPY; the "
        "equal-weight universe when the data lacks it).",
    ),
    chart: Path = typer.Option(
        None,
        "--chart",
        dir_okay=False,
        help="Write the equity vs benchmark chart with a drawdown panel (.png, .svg, .pdf).",
    ),
    db: Path = typer.Option(
        None,
        "--db",
        dir_okay=False,
        help="Keep the backtest's book in this new database file.",
    ),
    strategy: str = STRATEGY_OPT,
    as_json: bool = JSON_OPT,
    as_csv: bool = CSV_OPT,
) -> None:
    """Replay run-once over history with a fresh paper account (never the live book).

    Prints every statistic (returns, CAGR, volatility, Sharpe, Sortino, Calmar, alpha/beta vs
    the benchmark, drawdowns, trade statistics by B1/B2, exit reason and symbol) and the trade
    list with each exit fill; `--csv` prints one row per fill. Fills at the close of the
    triggering bar. The result is stored: see `backtest list` and `backtest show`.
    The [risk] checks and the [strategy] parameters of the config apply; the book is a
    temporary database or --db, never the live book of [paths] db.

    A strategy whose orders come from an external service (`http`) is refused (exit 2) unless
    the service declares it takes past sessions.
    """
    if ctx.invoked_subcommand is not None:
        return
    import numpy as np

    from ..backtest import run_backtest
    from ..charts import check_chart_path, equity_chart
    from ..errors import InputError
    from ..services import backtest_strategy, bar_provider, benchmark_bars, open_store

    cfg = state(ctx).config()
    fmt = output_format(as_json, as_csv)
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    if first and last and first > last:
        raise InputError("--start is after --end")
    if db is not None and db.resolve() == cfg.db_path.resolve():
        raise InputError("--db must not be the live position book")
    chosen = backtest_strategy(cfg, strategy)
    if chart is not None:
        check_chart_path(chart)
    provider = bar_provider(cfg)
    wanted = _wanted(cfg, provider, symbols, watchlist)
    bars, missing = provider.get(wanted, strict=bool(symbols))
    if not bars:
        raise InputError("no symbol to backtest has data")
    rs_bench = benchmark_bars(cfg, provider, chosen)
    compare = _compare(provider, benchmark or cfg.report.benchmark, strict=bool(benchmark))
    if missing:
        common.err.print(
            f"warning: no data for {len(missing)} symbol(s): {', '.join(missing[:10])}"
            + (" ..." if len(missing) > 10 else ""),
            markup=False,
        )
    with progress_bar(fmt, "Backtesting") as bar:
        res = run_backtest(
            bars,
            chosen,
            cfg.risk,
            cash=cash or cfg.broker.paper_cash,
            commission=cfg.broker.commission_usd,
            start=np.datetime64(first) if first else None,
            end=np.datetime64(last) if last else None,
            tradable=[b.symbol for b in bars],
            db_path=db,
            on_progress=bar.update if bar else None,
            benchmark=rs_bench,
            compare=compare,
        )
    if fmt is not Format.table and (res.warmup.short or not res.warmup.bars):
        common.err.print(f"note: {res.warmup.summary(res.start)}", markup=False)
    res.params = {
        "symbols": [b.symbol for b in bars],
        "strategy": {"name": chosen.name, **_asdict(chosen.params)},
        "risk": _asdict(cfg.risk),
        "commission_usd": cfg.broker.commission_usd,
        "data": {"first_bar": _first_bar(bars), "last_bar": _last_bar(bars)},
    }
    doc = res.to_dict()
    results = open_store(cfg, cfg.backtests_db_path)
    try:
        doc["id"] = results.save_backtest_result(doc)
    finally:
        results.close()
    if chart is not None:
        from .. import views

        equity_chart(
            res.curve,
            chart,
            views.backtest_title(doc),
            initial=res.starting_cash,
            benchmark=res.benchmark,
            trades=doc["trades"],
        )
        common.err.print(f"Chart written to {chart}", markup=False, highlight=False)
    _print(doc, fmt)


def _print(doc: dict[str, Any], fmt: Format) -> None:
    if fmt is Format.json:
        emit_json(doc)
        return
    from .. import views  # tables and CSV columns only: not imported for --json

    if fmt is Format.csv:
        emit_csv(views.fill_rows(doc["trades"]), views.FILL_COLUMNS)
    else:
        for part in views.backtest_renderables(doc):
            common.out.print(part)


def _wanted(cfg: Any, provider: Any, symbols: list[str] | None, watchlist: str | None) -> list[str]:
    """The symbols asked for: `--symbols`, every symbol of the data (`--watchlist ALL`), a
    watchlist file, or the configured universe."""
    from ..config import universe
    from ..errors import InputError

    if symbols:
        return parse_symbols(symbols)
    if watchlist == ALL and not Path(ALL).exists():
        if not hasattr(provider, "all"):
            raise InputError('--watchlist ALL needs CSV data ([data] source = "csv")')
        return sorted(provider.all())
    return universe(cfg, Path(watchlist) if watchlist else None)


def _compare(provider: Any, symbol: str, strict: bool) -> Any:
    """The benchmark's bars, or None (equal-weight universe) when the data lacks them.

    Raises:
        InputError: a benchmark named by `--benchmark` has no data.
    """
    from ..errors import InputError

    found, _ = provider.get([symbol.upper()])
    if not found and strict:
        raise InputError(f"no data for benchmark {symbol.upper()}")
    return found[0] if found else None


def _asdict(obj: Any) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    return asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else {}


def _first_bar(bars: list[Any]) -> str:
    return str(min(b.dates[0] for b in bars if len(b)))


def _last_bar(bars: list[Any]) -> str:
    return str(max(b.dates[-1] for b in bars if len(b)))


@backtest_app.command("list")
def list_cmd(ctx: typer.Context, as_json: bool = JSON_OPT, as_csv: bool = CSV_OPT) -> None:
    """Stored backtests, newest first: id, when, window, symbols, trades, total return."""
    from .. import views
    from ..services import open_store

    cfg = state(ctx).config()
    fmt = output_format(as_json, as_csv)
    store = open_store(cfg, cfg.backtests_db_path)
    try:
        rows = store.backtest_results()
    finally:
        store.close()
    if fmt is Format.json:
        emit_json(rows)
    elif fmt is Format.csv:
        emit_csv(rows, views.BACKTEST_LIST_COLUMNS)
    else:
        common.out.print(views.backtest_list_table(rows))


@backtest_app.command("show")
def show_cmd(
    ctx: typer.Context,
    result_id: int = typer.Argument(None, help="Backtest id (default: the latest)."),
    as_json: bool = JSON_OPT,
    as_csv: bool = CSV_OPT,
) -> None:
    """Reprint a stored backtest (statistics, tables, trade list) without rerunning it."""
    from ..errors import InputError
    from ..services import open_store

    cfg = state(ctx).config()
    fmt = output_format(as_json, as_csv)
    store = open_store(cfg, cfg.backtests_db_path)
    try:
        doc = store.backtest_result(result_id)
    finally:
        store.close()
    if doc is None:
        raise InputError(
            "no stored backtest yet; run `etrade backtest`"
            if result_id is None
            else f"no stored backtest {result_id}; see `etrade backtest list`"
        )
    _print(doc, fmt)
