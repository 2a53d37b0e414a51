"""`etrade chart SYMBOL`: daily candles with the strategy's averages, signals and the book."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from . import common  # common.out / common.err: Rich consoles built on first use
from .common import JSON_OPT, emit_json, parse_date, parse_symbols, state


def register(app: typer.Typer) -> None:
    """Add `chart` to `app`."""
    app.command("chart")(chart_cmd)


def chart_cmd(
    ctx: typer.Context,
    symbol: str = typer.Argument(..., help="Ticker to chart."),
    as_of: str = typer.Option(None, "--as-of", help="Last bar shown, YYYY-MM-DD (default: last)."),
    days: int = typer.Option(120, "--days", min=10, max=5000, help="Bars shown."),
    output: Path = typer.Option(
        None,
        "--output",
        "-o",
        dir_okay=False,
        help="Image file (.png, .svg, .pdf; default SYMBOL.png).",
    ),
    data: list[Path] = typer.Option(
        None, "--data", dir_okay=False, help="CSV file(s) to read bars from instead of [data]."
    ),
    db: Path = typer.Option(
        None, "--db", dir_okay=False, help="Book whose trades to show (e.g. a backtest's --db)."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Daily candlesticks with SMA50, SMA200, EMA21 and volume, the strategy's signals (pattern
    and score) and the book's entries, exits and stop levels, to check a signal by eye."""
    import numpy as np

    from ..charts import check_chart_path, symbol_chart
    from ..errors import InputError
    from ..marketdata.provider import CsvBarProvider
    from ..services import bar_provider, make_strategy, open_store

    cfg = state(ctx).config()
    sym = parse_symbols([symbol])
    if len(sym) != 1:
        raise InputError("give one symbol")
    day = parse_date(as_of, "--as-of")
    path = output or Path(f"{sym[0]}.png")
    check_chart_path(path)
    for f in data or []:
        if not f.is_file():
            raise InputError(f"no such file: {f}")
    provider = CsvBarProvider(data) if data else bar_provider(cfg)
    found, _ = provider.get(sym, strict=True)
    book = db or cfg.db_path
    positions: list[Any] = []
    fills: list[dict[str, Any]] = []
    if book.exists():
        store = open_store(cfg, book)
        try:
            positions, fills = store.symbol_history(sym[0])
        finally:
            store.close()
    elif db is not None:
        raise InputError(f"no such database: {db}")
    drawn = symbol_chart(
        found[0],
        make_strategy(cfg),
        path,
        as_of=np.datetime64(day) if day else None,
        days=days,
        positions=positions,
        fills=fills,
    )
    if as_json:
        emit_json(drawn)
        return
    common.out.print(
        f"Chart of {drawn['symbol']} {drawn['first']} .. {drawn['last']} ({drawn['bars']} bars, "
        f"{len(drawn['signals'])} signal(s), {drawn['entries']} entr(ies), {drawn['exits']} "
        f"exit(s)) written to {drawn['path']}",
        markup=False,
    )
