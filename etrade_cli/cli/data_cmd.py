"""`etrade data status|fetch|import`: the local daily-bar cache."""

from __future__ import annotations

from pathlib import Path

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
    parse_symbols,
    state,
    warn,
)

data_app = typer.Typer(
    help="The local daily-bar cache: coverage, fetch, CSV import.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the `data` group to `app`."""
    app.add_typer(data_app, name="data")


def _symbols(ctx: typer.Context, symbols: list[str] | None) -> list[str]:
    from ..config import universe

    return parse_symbols(symbols) if symbols else universe(state(ctx).config())


@data_app.command("status")
def status(
    ctx: typer.Context,
    symbols: list[str] = typer.Argument(
        None,
        help="Symbols (default: every cached "  # noqa: B008
        "one).",
    ),
    as_json: bool = JSON_OPT,
    as_csv: bool = CSV_OPT,
) -> None:
    """Coverage per symbol: covered range, first/last bar, bars, missing NYSE sessions."""
    from dataclasses import asdict

    from ..marketdata.coverage import session_gaps
    from ..services import bar_cache

    fmt = output_format(as_json, as_csv)
    cache = bar_cache(state(ctx).config())
    try:
        rows = cache.status(parse_symbols(symbols) if symbols else None)
        gaps = session_gaps(cache, rows)
    finally:
        cache.close()
    docs = [{**asdict(r), "gaps": gaps.get(r.symbol)} for r in rows]
    if fmt is Format.json:
        emit_json(docs)
    elif fmt is Format.csv:
        emit_csv(docs, ["symbol", "start", "end", "first_bar", "last_bar", "bars", "gaps"])
    elif not docs:
        out.print(
            "The bar cache is empty: `etrade data fetch` or `etrade data import FILE`.",
            markup=False,
        )
    else:
        from ..views import fit, table

        n = len(docs)
        t = table(f"Bar cache ({n} symbol{'s' if n != 1 else ''})", drop=("Covered from", "to"))
        for c in ("Symbol", "Covered from", "to", "First bar", "Last bar", "Bars", "Gaps"):
            t.add_column(c, justify="right" if c in ("Bars", "Gaps") else "left")
        for d in docs:
            t.add_row(
                d["symbol"],
                d["start"] or "",
                d["end"] or "",
                d["first_bar"] or "",
                d["last_bar"] or "",
                str(d["bars"]),
                "" if d["gaps"] is None else str(d["gaps"]),
            )
        out.print(fit(t))


@data_app.command("fetch")
def fetch(
    ctx: typer.Context,
    symbols: list[str] = typer.Argument(
        None,
        help="Symbols (default: the watchlist "  # noqa: B008
        "minus exclusions).",
    ),
    source: str = typer.Option(
        None,
        "--source",
        help="alpaca, schwab or ibkr (default: [data] source when it is one of them, else alpaca).",
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Fill the cache from Alpaca (or Schwab, IBKR): only the days it does not cover yet."""
    from ..errors import UsageError
    from ..registry import bar_sources

    cfg = state(ctx).config()
    wanted = _symbols(ctx, symbols)
    name = source or (cfg.data.source if cfg.data.source != "csv" else "alpaca")
    provider = bar_sources.get(name).factory(cfg)
    if not hasattr(provider, "refresh"):
        raise UsageError(f"bar source {name!r} does not fill the bar cache")
    try:
        stored = provider.refresh(wanted)
        missing = [c.symbol for c in provider.cache.status(wanted) if not c.bars]
    finally:
        provider.cache.close()
    doc = {
        "symbols": len(wanted),
        "bars_stored": stored,
        "requests": provider.requests,
        "no_data": missing,
        "through": provider.end.isoformat(),
    }
    if as_json:
        emit_json(doc)
        return
    out.print(
        f"{stored} bars stored for {len(wanted)} symbols through {doc['through']} "
        f"({provider.requests} request(s) to {provider.source.name}).",
        markup=False,
    )
    for w in provider.warnings:
        warn(w)
    if missing:
        warn(f"no data for: {', '.join(missing)}")


@data_app.command("import")
def import_(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(
        ...,
        help="CSV files (long or per-symbol "  # noqa: B008
        "format).",
        dir_okay=False,
    ),
    symbol: str = typer.Option(
        None, "--symbol", help="Symbol of a per-symbol file (default: from the file name)."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Load CSV bars (the formats `scan` reads) into the cache; all files are checked first."""
    from ..marketdata.csv import read_bars_csv
    from ..services import bar_cache

    loaded = []
    for f in files:  # read everything before writing anything: no partial import
        bars, report = read_bars_csv(f, symbol)
        if w := report.warning():
            warn(w)
        loaded.append((f, bars))
    cache = bar_cache(state(ctx).config())
    try:  # one transaction: a failure midway imports nothing
        counts = cache.store_all((b, f"csv:{f.name}") for f, bars in loaded for b in bars.values())
    finally:
        cache.close()
    if as_json:
        emit_json({"imported": counts})
    else:
        err.print(f"Imported {sum(counts.values())} bars of {len(counts)} symbol(s).", markup=False)
