"""`etrade quote SYMBOL... | -`: batched E*TRADE quotes."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

import typer

from . import common
from .common import (
    CSV_OPT,
    JSON_OPT,
    Format,
    emit_csv,
    emit_json,
    output_format,
    parse_symbols,
    state,
)


def register(app: typer.Typer) -> None:
    """Add `quote` to `app`."""
    app.command("quote")(quote_cmd)


def quote_cmd(
    ctx: typer.Context,
    symbols: list[str] = typer.Argument(..., help="Symbols, or - to read them from stdin."),  # noqa: B008
    fields: str = typer.Option(
        None,
        "--fields",
        help="Comma-separated fields to show (default: "
        "symbol,last,change,change_pct,bid,ask,volume,time_utc).",
    ),
    as_json: bool = JSON_OPT,
    as_csv: bool = CSV_OPT,
) -> None:
    """Quote symbols from E*TRADE (one request per 50 symbols), or from the global --broker.

    Invalid symbols are reported on stderr, one line each, and make the exit code 1; the valid
    ones still print.
    """
    from ..errors import InputError
    from ..etrade import QUOTE_FIELDS
    from ..services import etrade_client

    fmt = output_format(as_json, as_csv)
    tokens = sys.stdin.read().split() if symbols == ["-"] else symbols
    wanted = parse_symbols(tokens)
    if not wanted:
        raise InputError("no symbols given")
    from ..services import command_broker

    name = command_broker(state(ctx).broker)
    if name != "etrade":
        _generic_quotes(ctx, name, wanted, fields, fmt)
        return
    cols = [
        f.strip()
        for f in (fields or "symbol,last,change,change_pct,bid,ask,volume,time_utc").split(",")
        if f.strip()
    ]
    if bad := [c for c in cols if c not in QUOTE_FIELDS]:
        raise InputError(
            f"unknown field(s) {', '.join(bad)}; choose from {', '.join(QUOTE_FIELDS)}"
        )
    res = etrade_client(
        state(ctx).config(), warn=lambda m: common.err.print(f"warning: {m}", markup=False)
    ).quotes(wanted)
    got = {q.symbol for q in res.quotes}
    invalid = [s for s in wanted if s not in got]
    notes = {m.description for m in res.messages}
    for s in invalid:
        detail = next((n for n in notes if s in n), None) or "no quote returned"
        common.err.print(f"{s}: {detail}", markup=False)
    rows = [{c: asdict(q)[c] for c in cols} for q in res.quotes]
    if fmt is Format.json:
        emit_json(rows)
    elif fmt is Format.csv:
        emit_csv(rows, cols)
    elif rows:
        _print_table("Quotes", cols, rows)
    if invalid:
        raise InputError(f"no quote for {len(invalid)} symbol(s): {', '.join(invalid)}")


GENERIC_FIELDS = ("symbol", "last", "open", "high", "low", "volume", "time_utc", "session")
#: the default columns: a live broker's quote has a time, a paper quote the session of its bar
DEFAULT_FIELDS = {"paper": ("symbol", "last", "open", "high", "low", "volume", "session")}


def _generic_quotes(
    ctx: typer.Context, name: str, wanted: list[str], fields: str | None, fmt: Format
) -> None:
    """Quotes through a registered broker's `quotes()` (Schwab `get_quotes`, IB `reqTickers`).
    The paper broker has no market of its own: its quotes are the last bars of the configured
    data (`services.LastBarPrices`), each with the session it is from."""
    from ..errors import InputError
    from ..services import LastBarPrices, make_broker, open_store

    default = DEFAULT_FIELDS.get(name, GENERIC_FIELDS[:-1])
    cols = [f.strip() for f in (fields or ",".join(default)).split(",") if f.strip()]
    if bad := [c for c in cols if c not in GENERIC_FIELDS]:
        raise InputError(
            f"unknown field(s) {', '.join(bad)}; choose from {', '.join(GENERIC_FIELDS)}"
        )
    cfg = state(ctx).config()
    sessions: dict[str, str | None] = {}
    if name == "paper":  # no book needed (and none created) for a price
        prices = LastBarPrices(cfg)
        quotes = prices.quotes(wanted)
        sessions = {s: prices.session(s) for s in quotes}
        title, none = "Quotes (paper: the last bar of the configured data)", "no bars in the data"
    else:
        store = open_store(cfg)
        try:
            quotes = make_broker(cfg, store, name).quotes(wanted)
        finally:
            store.close()
        title, none = f"Quotes ({name})", "no quote returned"
    rows = []
    for s in wanted:
        if s not in quotes:
            common.err.print(f"{s}: {none}", markup=False)
            continue
        q = quotes[s]
        full = {"symbol": s, "last": q.last, "time_utc": q.time, "session": sessions.get(s)}
        full.update(q.extra)
        rows.append({c: full.get(c) for c in cols})
    if fmt is Format.json:
        emit_json(rows)
    elif fmt is Format.csv:
        emit_csv(rows, cols)
    elif rows:
        _print_table(title, cols, rows)
    if missing := [s for s in wanted if s not in quotes]:
        raise InputError(f"no quote for {len(missing)} symbol(s): {', '.join(missing)}")


#: columns shown as text, left-aligned; every other column is a number
_TEXT = ("symbol", "time_utc", "session", "quote_status", "description")


def _cell(column: str, value: Any) -> str:
    """A table cell: prices with 2 decimals and thousands separators, share counts whole."""
    if value is None:
        return ""
    if isinstance(value, float):
        whole = column == "volume" and value.is_integer()
        return f"{value:,.0f}" if whole else f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) and column == "volume" else str(value)


def _print_table(title: str, cols: list[str], rows: list[dict[str, Any]]) -> None:
    """The quotes as a Rich table on stdout."""
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for c in cols:
        t.add_column(c, justify="left" if c in _TEXT else "right")
    for r in rows:
        t.add_row(*(_cell(c, r[c]) for c in cols))
    common.out.print(t)
