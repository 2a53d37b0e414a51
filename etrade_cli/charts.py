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

    try:
        check_chart_path(path)
        ext = path.suffix.lower().lstrip(".")
        with open(path, "wb") as fh:
            fig.savefig(fh, format=ext)
            fh.flush()
            size = fh.tell()
        if size <= 0 or (path.is_file() and path.stat().st_size != size):
            raise InputError(f"cannot write chart {path}: the file is incomplete")
    except OSError as exc:
        raise InputError(f"cannot write chart {path}: {exc.strerror or exc}") from None
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
