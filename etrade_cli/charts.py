"""Charts (matplotlib, Agg backend): the equity curve against its benchmark with a drawdown
panel and trade markers, and a symbol's daily candles (mplfinance) with the strategy's averages,
signals and the book's entries, exits and stops.

Every figure is written by `save_figure`: PNG, SVG or PDF by the file's extension; an unknown
extension or a failed write (a full disk, a missing folder) is one `InputError` line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

FORMATS = ("png", "svg", "pdf")


def check_chart_path(path: Path) -> None:
    """Refuse an extension other than .png/.svg/.pdf before any work is done.

    Raises:
        InputError: unknown extension.
    """
    ext = path.suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise InputError(
            f"cannot write chart {path}: unknown format {ext or '(no extension)'!r}; "
            f"use .png, .svg or .pdf"
        )


def save_figure(fig: Any, path: Path) -> Path:
    """Write `fig` to `path` in the format its extension names, then close it.

    Raises:
        InputError: unknown extension, or the file could not be written completely (e.g. a
            full disk: the size is checked after the write).
    """
    import matplotlib.pyplot as plt

    from .chartio import save_figure as write_whole

    try:
        check_chart_path(path)
        write_whole(fig, path, bbox_inches="tight")  # in memory first; whole file or none
    finally:
        plt.close(fig)
    return path


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _thousands(ax: Any, axis: str = "y", fmt: str = "{x:,.0f}") -> None:
    from matplotlib.ticker import StrMethodFormatter

    getattr(ax, f"{axis}axis").set_major_formatter(StrMethodFormatter(fmt))


def equity_chart(
    curve: Sequence[tuple[str, float, float, float | None]],
    path: Path,
    title: str,
    *,
    initial: float | None = None,
    benchmark: str | None = None,
    trades: Sequence[dict[str, Any]] = (),
) -> Path:
    """Equity and benchmark as percent return from `initial` (USD, default the first equity),
    a drawdown (underwater) panel below, entries (^) and exit fills (v) as markers.

    Args:
        curve: (session YYYY-MM-DD, equity USD, cash USD, benchmark equity USD or None).
        trades: trade dicts with `entry_date` and `fills` ([{date, ...}]), as the backtest's.

    Raises:
        InputError: empty curve, unknown extension, write failure.
    """
    if not curve:
        raise InputError("no equity history to chart yet (run the trading loop first)")
    check_chart_path(path)
    plt = _plt()
    days = np.array([c[0] for c in curve], dtype="datetime64[D]")
    eq = np.array([c[1] for c in curve], dtype=float)
    base = initial or eq[0]
    ret = (eq / base - 1) * 100
    peak = np.maximum.accumulate(np.concatenate([[base], eq]))[1:]
    dd = (eq / peak - 1) * 100
    fig, (ax, axd) = plt.subplots(
        2, 1, figsize=(10, 6), dpi=100, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot(days, ret, label="strategy", color="tab:blue", lw=1.4)
    bench = [c[3] for c in curve]
    if benchmark and all(b is not None for b in bench):
        ax.plot(
            days,
            (np.array(bench, dtype=float) / base - 1) * 100,
            label=f"buy & hold {benchmark}",
            color="tab:gray",
            lw=1.1,
        )
    _markers(ax, days, ret, trades)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("return, %")
    _thousands(ax, fmt="{x:,.1f}")
    usd = ax.secondary_yaxis(
        "right", functions=(lambda r: base * (1 + r / 100), lambda v: (v / base - 1) * 100)
    )
    usd.set_ylabel("equity, USD")
    _thousands(usd, fmt="{x:,.0f}")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    axd.fill_between(days, dd, 0, color="tab:red", alpha=0.35, step="post")
    axd.set_ylabel("drawdown, %")
    _thousands(axd, fmt="{x:,.1f}")
    axd.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return save_figure(fig, path)


def _markers(ax: Any, days: np.ndarray, ret: np.ndarray, trades: Sequence[dict[str, Any]]) -> None:
    """Entry (^ green) and exit fill (v red) markers on the equity line."""

    def at(day: str | None) -> tuple[np.datetime64, float] | None:
        if not day:
            return None
        i = int(np.searchsorted(days, np.datetime64(day)))
        return (days[i], float(ret[i])) if i < len(days) else None

    entries = [p for t in trades if (p := at(t.get("entry_date")))]
    exits = [p for t in trades for f in t.get("fills", []) if (p := at(f.get("date")))]
    if entries:
        x, y = zip(*entries)
        ax.scatter(x, y, marker="^", color="tab:green", s=36, zorder=3, label="entry")
    if exits:
        x, y = zip(*exits)
        ax.scatter(x, y, marker="v", color="tab:red", s=36, zorder=3, label="exit")


def symbol_chart(
    bars: Any,
    strategy: Any,
    path: Path,
    *,
    as_of: np.datetime64 | None = None,
    days: int = 120,
    positions: Sequence[Any] = (),
    fills: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Daily candles of one symbol (mplfinance) with SMA50, SMA200 and EMA21 (spec §1, computed
    over all history so they are warm), volume, the strategy's signals (pattern and score, as
    `scan` evaluates them) and the book's entries, exit fills and stop levels.

    Args:
        bars: the symbol's `Bars`. strategy: the configured `Strategy` (signals as `scan`). as_of: last bar shown (default the
            last). days: bars shown. positions: the book's `Position`s in this symbol. fills:
            their exit fills (`Store.exit_fills` rows).

    Returns: what was drawn: {"symbol", "first", "last", "bars", "signals": [{date, pattern,
        score}], "entries", "exits"}.

    Raises:
        InputError: no bar on or before `as_of`, unknown extension, write failure.
    """
    import pandas as pd

    from .scanner import evaluate_bars
    from .strategy import indicators as ind

    check_chart_path(path)
    end = len(bars) - 1 if as_of is None else bars.index_at(as_of)
    if end < 0:
        raise InputError(f"{bars.symbol}: no bar on or before {as_of}")
    lo = max(0, end - days + 1)
    sl = slice(lo, end + 1)
    close = bars.close
    lines = {
        "SMA50": ind.sma(close, 50)[sl],
        "SMA200": ind.sma(close, 200)[sl],
        "EMA21": ind.ema(close, 21)[sl],
    }
    ev = evaluate_bars([bars], strategy)
    shown = ev.panel.first_row[0] + np.arange(lo, end + 1)
    index = pd.DatetimeIndex(bars.dates[sl].astype("datetime64[ns]"))
    df = pd.DataFrame(
        {
            "Open": bars.open[sl],
            "High": bars.high[sl],
            "Low": bars.low[sl],
            "Close": close[sl],
            "Volume": bars.volume[sl],
        },
        index=index,
    )
    signals = [ev.signal(0, int(r)) for r in shown if ev.reason[int(r), 0] == 0]
    drawn: dict[str, Any] = {
        "symbol": bars.symbol,
        "first": str(bars.dates[lo]),
        "last": str(bars.dates[end]),
        "bars": end - lo + 1,
        "signals": [{"date": str(s.date), "pattern": s.pattern, "score": s.score} for s in signals],
    }
    adds = _symbol_addplots(df, lines, signals, positions, fills, drawn)
    fig = _candles(df, adds, bars.symbol, drawn)
    ax = fig.axes[0]
    pos = {d: i for i, d in enumerate(bars.dates[sl])}
    for s in signals:
        i = pos[s.date]
        ax.annotate(
            f"{s.pattern} {s.score:g}",
            (i, float(df["Low"].iloc[i]) * 0.985),
            fontsize=7,
            ha="center",
            va="top",
            color="darkblue",
        )
    _stops(ax, positions, pos, len(df))
    return {**drawn, "path": str(save_figure(fig, path))}


def _series(df: Any, points: Sequence[tuple[str, float]]) -> Any:
    """A column aligned to `df`'s dates: the given (date, price) points, NaN elsewhere."""
    import pandas as pd

    s = pd.Series(np.nan, index=df.index)
    for day, price in points:
        ts = pd.Timestamp(day)
        if ts in s.index:
            s[ts] = price
    return s


def _symbol_addplots(
    df: Any,
    lines: dict[str, np.ndarray],
    signals: Sequence[Any],
    positions: Sequence[Any],
    fills: Sequence[dict[str, Any]],
    drawn: dict[str, Any],
) -> list[Any]:
    import mplfinance as mpf

    colors = {"SMA50": "tab:orange", "SMA200": "tab:red", "EMA21": "tab:blue"}
    adds = [
        mpf.make_addplot(v, color=colors[k], width=1.0, label=k)
        for k, v in lines.items()
        if np.isfinite(v).any()
    ]
    marks = [
        ([(str(s.date), float(df["Low"].loc[str(s.date)]) * 0.99) for s in signals], "*", "gold"),
        ([(p.entry_date, p.entry_price) for p in positions if p.entry_date], "^", "green"),
        ([(f["session_date"], f["price"]) for f in fills], "v", "red"),
    ]
    drawn["entries"] = len(marks[1][0])
    drawn["exits"] = len(marks[2][0])
    for points, marker, color in marks:
        s = _series(df, points)
        if s.notna().any():
            adds.append(
                mpf.make_addplot(s, type="scatter", marker=marker, color=color, markersize=60)
            )
    return adds


def _candles(df: Any, adds: list[Any], symbol: str, drawn: dict[str, Any]) -> Any:
    import mplfinance as mpf

    _plt()
    title = (
        f"{symbol} daily {drawn['first']} .. {drawn['last']}: "
        f"{len(drawn['signals'])} signal(s), {drawn['entries']} entr(ies), {drawn['exits']} exit(s)"
    )
    fig, axes = mpf.plot(
        df,
        type="candle",
        style="yahoo",
        volume=True,
        addplot=adds,
        returnfig=True,
        figsize=(11, 6.5),
        warn_too_much_data=10_000,
    )
    axes[0].set_title(title, fontsize=9)
    axes[0].legend(loc="upper left", fontsize=7)
    _thousands(axes[0], fmt="{x:,.0f}" if float(df["High"].max()) >= 100 else "{x:,.2f}")
    return fig


def _stops(ax: Any, positions: Sequence[Any], pos: dict[Any, int], n: int) -> None:
    """Each position's stop as a dashed level from its entry to its exit (or the right edge)."""
    for p in positions:
        if not p.entry_date or p.stop_loss is None:
            continue
        start = pos.get(np.datetime64(p.entry_date))
        stop = pos.get(np.datetime64(p.exit_date)) if p.exit_date else None
        if start is None:
            continue
        ax.hlines(p.stop_loss, start, n - 1 if stop is None else stop, colors="red",
                  linestyles="--", linewidth=0.8)  # fmt: skip
