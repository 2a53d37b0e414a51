"""`etrade positions` and `etrade report`: the position book and its P&L."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .common import (
    CSV_OPT,
    JSON_OPT,
    Format,
    complete_broker,
    emit_csv,
    emit_json,
    err,
    out,
    output_format,
    parse_date,
    require_book,
    state,
)

BROKER_OPT = typer.Option(
    None,
    "--broker",
    "-b",
    help="Broker whose book to show (default: [broker] name).",
    autocompletion=complete_broker,
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


def _book(
    ctx: typer.Context,
    broker: str | None,
    statuses: tuple[str, ...] = ("open", "pending"),
    account: str | None = None,
) -> tuple[Any, Any, Any, Any]:
    """(store, book choice, market view at the book's clock, session) for the configured
    book, read offline; the market holds bars of the symbols of positions in `statuses` and
    of the universe."""
    store, book, market, session, _ = _book_and_bars(ctx, broker, statuses, (), account)
    return store, book, market, session


def _book_and_bars(
    ctx: typer.Context,
    broker: str | None,
    statuses: tuple[str, ...] = ("open", "pending"),
    extra: tuple[str, ...] = (),
    account: str | None = None,
) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
    """(store, book choice (`books.BookChoice`), market view at the book's clock, session,
    bars of `extra` symbols by symbol) for the configured book, read offline (no broker API
    call); the market holds bars of the symbols of positions in `statuses` and of the
    universe."""
    import numpy as np

    from ..books import choose_book
    from ..config import universe
    from ..market import MarketView
    from ..services import bar_provider, broker_spec, make_strategy, open_store

    require_book(ctx)
    cfg = state(ctx).config()
    broker_spec(cfg, broker or state(ctx).broker)  # unknown name: exit 2 before the book opens
    store = open_store(cfg)
    try:
        b = choose_book(cfg, store, broker or state(ctx).broker, account)
    except BaseException:
        store.close()
        raise
    held = sorted({p.symbol for p in store.positions(b.broker, b.account, statuses)})
    # the universe too: sessions held count the sessions the trading loop saw (spec §6.2)
    symbols = list(dict.fromkeys([*held, *universe(cfg)])) if held else []
    provider = bar_provider(cfg)
    bars, _ = provider.get(symbols)
    found, _ = provider.get(extra) if extra else ([], [])
    market = MarketView.from_bars(bars, make_strategy(cfg))
    last = store.last_session(b.broker, b.account)
    session = market.session_on_or_before(np.datetime64(last) if last else None)
    return store, b, market, session, {x.symbol: x for x in found}


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
    """The position book: open positions with stops, targets, sessions held and unrealized P&L,
    and each position's resting stop at the broker (order id, level, status) when
    [risk] protective_stop = "broker".

    Read offline from the book of the configured broker (or `--broker`/`--account`); the
    first line says which book is shown.
    """
    import numpy as np

    from .. import views
    from ..engine import session_count

    fmt = output_format(as_json, as_csv)
    statuses = ("closed",) if closed else ("open", "pending")
    store, b, market, session = _book(ctx, broker, statuses, account)
    try:
        positions = store.positions(b.broker, b.account, statuses)
        stops = {p.id: s for p in positions if (s := store.resting_stop(p.id)) is not None}
    finally:
        store.close()

    def price(symbol: str) -> float | None:
        return market.last_close(symbol, session) if session is not None else None

    def held(p: Any) -> int | None:
        """Sessions held up to today, or up to the exit for a closed position."""
        if p.exit_date:
            return session_count(market, p, np.datetime64(p.exit_date))
        return session_count(market, p, session) if session is not None else None

    rows = views.position_rows(positions, price, held, stops)
    _say_book(b, fmt, not rows)
    if fmt is Format.json:
        emit_json(
            {
                "broker": b.broker,
                "account": b.account,
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
    since: str = typer.Option(
        None,
        "--since",
        help="Report the window from this session, YYYY-MM-DD (returns, "
        "drawdown and statistics measured inside it).",
    ),
    breakdown: str = typer.Option(
        "month", "--breakdown", help="P&L and return by day, week, month or year."
    ),
    chart: Path = typer.Option(
        None,
        "--chart",
        dir_okay=False,
        help="Write the equity chart with a drawdown panel (.png, .svg, .pdf).",
    ),
    broker: str = BROKER_OPT,
    account: str = ACCOUNT_OPT,
    as_json: bool = JSON_OPT,
    as_csv: bool = CSV_OPT,
    table: str = typer.Option(
        None,
        "--table",
        help="With --csv: print only this table (stats, by_type, "
        "by_exit_reason, by_symbol, periods, trades, equity).",
    ),
    output_dir: Path = typer.Option(
        None, "--output-dir", file_okay=False, help="With --csv: write one NAME.csv per table here."
    ),
) -> None:
    """P&L report: realized/unrealized, every statistic of the window, by period.

    Trade statistics (win rate, average, profit factor, expectancy, SQN) overall, by B1/B2, by
    symbol and by exit reason (win rate, average and profit factor of the exit fills); the
    trade list with every exit fill. `--chart` writes the equity curve with its drawdown.
    """
    from .. import views
    from ..books import starting_cash
    from ..charts import check_chart_path, equity_chart
    from ..errors import InputError
    from ..report import BREAKDOWNS, REPORT_TABLES, build_report, report_json
    from ..services import make_strategy

    fmt = output_format(as_json, as_csv)
    day = parse_date(since, "--since")
    if breakdown not in BREAKDOWNS:
        raise InputError(f"bad --breakdown {breakdown!r}: use one of {', '.join(BREAKDOWNS)}")
    if (table or output_dir) and fmt is not Format.csv:
        raise InputError("--table and --output-dir go with --csv")
    if table and table not in REPORT_TABLES:
        raise InputError(f"no report table {table!r}; choose one of {', '.join(REPORT_TABLES)}")
    if chart is not None:
        check_chart_path(chart)
    cfg = state(ctx).config()
    bench = cfg.report.benchmark.upper()
    store, b, market, session, extra = _book_and_bars(
        ctx, broker, ("open", "pending", "closed"), (bench,), account
    )
    try:
        doc = build_report(
            store,
            b.broker,
            b.account,
            lambda s: market.last_close(s, session) if session is not None else None,
            since=day.isoformat() if day else None,
            initial=starting_cash(store, b),
            breakdown=breakdown,
            initial_stop=make_strategy(cfg).initial_stop,
            benchmark=extra.get(bench),
        )
    finally:
        store.close()
    doc = {"broker": b.broker, "account": b.account, **report_json(doc)}
    _say_book(b, fmt, not doc["equity_curve"] and not doc.get("open_positions"))
    if chart is not None:
        curve = [
            (c["session"], c["equity"], c["cash"], c.get("benchmark")) for c in doc["equity_curve"]
        ]
        equity_chart(
            curve,
            chart,
            views.report_title(doc, b.broker),
            trades=doc["trades"],
            initial=(doc["stats"] or {}).get("equity_start"),
            benchmark=doc["benchmark"],
        )
        err.print(f"Chart written to {chart}", markup=False, highlight=False)
    if fmt is Format.json:
        emit_json(doc)
    elif fmt is Format.csv:
        _report_csv(doc, table, output_dir)
    else:
        for part in views.report_renderables(doc):
            out.print(part)


def _report_csv(doc: dict[str, Any], table: str | None, output_dir: Path | None) -> None:
    """One table on stdout (`--table`), one file per table (`--output-dir`), or every table on
    stdout, each after a `# table NAME` line and separated by a blank line."""
    import csv
    import sys

    from ..errors import InputError
    from ..report import report_tables
    from .machine import machine_columns, to_machine

    tables = report_tables(doc)
    if table:
        emit_csv(*tables[table])
        return
    if output_dir is not None:
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
            for name, (rows, cols) in tables.items():
                with open(output_dir / f"{name}.csv", "w", newline="") as fh:
                    w = csv.DictWriter(fh, fieldnames=machine_columns(cols), extrasaction="ignore")
                    w.writeheader()
                    w.writerows(to_machine(list(rows)))
        except OSError as exc:
            raise InputError(f"cannot write {output_dir}: {exc.strerror or exc}") from None
        err.print(f"{len(tables)} CSV files written to {output_dir}", markup=False)
        return
    for i, (name, (rows, cols)) in enumerate(tables.items()):
        sys.stdout.write(("\n" if i else "") + f"# table {name}\n")
        emit_csv(rows, cols)
