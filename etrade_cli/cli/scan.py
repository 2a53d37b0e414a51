"""`etrade scan`: the strategy over the watchlist (minus exclusions) at one session."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from .common import (
    CSV_OPT,
    JSON_OPT,
    Format,
    complete_symbol,
    output_format,
    parse_date,
    parse_symbols,
    progress_bar,
    state,
    warn,
)


def register(app: typer.Typer) -> None:
    """Add the `scan` command to `app`."""
    app.command("scan")(scan_cmd)


def scan_cmd(
    ctx: typer.Context,
    symbols: list[str] = typer.Argument(  # noqa: B008
        None,
        help="Symbols to scan (default: the watchlist minus the exclusion list).",
        autocompletion=complete_symbol,
    ),
    watchlist: Path = typer.Option(
        None,
        "--watchlist",
        "-w",
        help="Watchlist file.",  # noqa: B008
        dir_okay=False,
    ),
    exclude: Path = typer.Option(
        None,
        "--exclude",
        "-x",
        help="Exclusion list file.",  # noqa: B008
        dir_okay=False,
    ),
    as_of: str = typer.Option(
        None,
        "--as-of",
        help="Evaluate at the last bar on or before "
        "this date, YYYY-MM-DD (default: the latest bar).",
    ),
    show_all: bool = typer.Option(
        False,
        "--all",
        help="List every symbol with its first failing filter (the default for named symbols).",
    ),
    as_json: bool = JSON_OPT,
    as_csv: bool = CSV_OPT,
) -> None:
    """Scan for Rajat Alpha v67 signals and classify them B1/B2/OPP/SKIP."""
    import numpy as np

    from .. import views
    from ..config import read_symbol_list, universe
    from ..scanner import scan
    from ..services import bar_provider, benchmark_bars, make_strategy, open_book

    fmt = output_format(as_json, as_csv)
    show_all = show_all or bool(symbols)  # symbols named by the user: show each one's result
    cfg = state(ctx).config()
    day = parse_date(as_of, "--as-of")
    if symbols:
        wanted = parse_symbols(symbols)
        excl_path = exclude or cfg.exclusionlist_path
        excluded = set(read_symbol_list(excl_path)) if excl_path else set()
        if skipped := [s for s in wanted if s in excluded]:
            warn(f"skipping excluded symbol(s): {', '.join(skipped)}")
        wanted = [s for s in wanted if s not in excluded]
    else:
        wanted = universe(cfg, watchlist, exclude)
    provider = bar_provider(cfg)
    bars, missing = provider.get(wanted, strict=bool(symbols))
    for w in provider.warnings:
        warn(w)
    benchmark = benchmark_bars(cfg, provider)
    with progress_bar(fmt, "Scanning", len(bars), min_total=50) as bar:
        result = scan(
            bars,
            make_strategy(cfg),
            as_of=np.datetime64(day) if day else None,
            book=open_book(cfg),
            missing=missing,
            benchmark=benchmark,
            on_progress=bar.advance if bar else None,
        )
    if day is not None:
        from ..services import session_note

        if note := session_note(day, result.session.astype(dt.date)):
            warn(note)
    if fmt is Format.json:
        from .common import emit_json

        emit_json(views.scan_json(result, show_all))
    elif fmt is Format.csv:
        from .common import emit_csv

        emit_csv(views.scan_rows(result, show_all), views.scan_csv_columns(result))
    else:
        from .common import out

        if show_all:
            out.print(views.verdict_table(result))
        if result.decisions:
            out.print(views.scan_table(result))
        out.print(views.scan_summary(result))
