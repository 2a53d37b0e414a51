"""`etrade history`: the order journal, fills, runs and risk refusals of the book, any broker."""

from __future__ import annotations

from enum import Enum

import typer

from .common import (
    CSV_OPT,
    JSON_OPT,
    Format,
    complete_broker,
    complete_symbol,
    emit_csv,
    emit_json,
    err,
    out,
    output_format,
    parse_date,
    parse_symbols,
    require_book,
    state,
)


class Kind(str, Enum):
    """What `etrade history` lists."""

    orders = "orders"
    fills = "fills"
    runs = "runs"
    refusals = "refusals"


def register(app: typer.Typer) -> None:
    """Add `history` to `app`."""
    app.command("history")(history_cmd)


def history_cmd(
    ctx: typer.Context,
    kind: Kind = typer.Argument(Kind.orders, help="orders, fills, runs or refusals."),
    since: str = typer.Option(None, "--since", help="From this session date on, YYYY-MM-DD."),
    symbol: str = typer.Option(
        None, "--symbol", "-s", help="Only this symbol.", autocompletion=complete_symbol
    ),
    broker: str = typer.Option(
        None,
        "--broker",
        "-b",
        help="Only this broker's rows (default: every broker in the book).",
        autocompletion=complete_broker,
    ),
    as_json: bool = JSON_OPT,
    as_csv: bool = CSV_OPT,
) -> None:
    """The journal of the position book: orders (every intent, its clientOrderId and status),
    fills, runs (one per run-once/run-loop cycle with equity and cash) or risk refusals, for
    every broker (paper, etrade, alpaca), oldest first.

    Prices and money in USD; session dates are US/Eastern market dates; *_at times are UTC.
    """
    from .. import views
    from ..errors import UsageError
    from ..services import open_store

    fmt = output_format(as_json, as_csv)
    day = parse_date(since, "--since")
    sym = parse_symbols([symbol])[0] if symbol else None
    if sym and kind is Kind.runs:
        raise UsageError("--symbol does not apply to runs")
    require_book(ctx)
    cfg = state(ctx).config()
    rows: list[dict] = []
    columns: list[str] = []
    if cfg.db_path.exists():  # the default book: nothing to list before the first run
        store = open_store(cfg)
        try:
            rows = store.history(
                kind.value, since=day.isoformat() if day else None, symbol=sym, broker=broker
            )
            columns = store.history_columns(kind.value)
        finally:
            store.close()
    if fmt is Format.json:
        emit_json(rows)
    elif fmt is Format.csv:
        emit_csv(rows, columns)
    elif rows:
        out.print(views.history_table(kind.value, rows, str(cfg.db_path)))
    else:
        err.print(f"No {kind.value} in {cfg.db_path}.", markup=False, highlight=False)
