"""Backtest and report statistics: one function, `statistics()`, one line per metric.

Definitions follow backtesting.py's `Stats` table and quantstats/empyrical where they differ
from nothing we do (rf = 0, 252 sessions a year):

- returns are session-to-session returns of end-of-session equity, the first one measured from
  the starting equity; volatility = stdev (ddof 1) x sqrt(252); Sharpe = mean / stdev x sqrt(252);
  Sortino = mean x 252 / (sqrt(mean(min(r, 0)^2)) x sqrt(252)) (empyrical); Calmar = CAGR /
  |max drawdown|; CAGR = (final / initial) ^ (365.25 / calendar days) - 1;
- beta = cov(r, rb) / var(rb); alpha = (1 + mean(r - beta x rb)) ^ 252 - 1 (empyrical, rf = 0);
- a drawdown runs from a peak to the first session back at or above it (its recovery), or to the
  end; durations are calendar days;
- trades are closed positions (entry to last exit); a trade's return is its realized P&L over
  its cost (entry price x shares); profit factor = gross wins / gross losses (inf without a
  loss); expectancy = mean P&L; SQN = sqrt(n) x mean(P&L) / stdev(P&L) (Van Tharp, as
  backtesting.py); Kelly = W - (1 - W) / (mean win / mean |loss|) (as backtesting.py).

Percent values are percent numbers (5.0 means 5 %); money USD; dates session dates YYYY-MM-DD.
Undefined values are None (rendered "—" by `views`). Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics as st
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

TRADING_DAYS = 252


@dataclass(frozen=True)
class TradeFill:
    """One exit fill: session date, reason (SL, TES, PT1..PT3, TRAIL), shares, price USD,
    realized P&L USD (after that order's commission)."""

    date: str
    reason: str
    shares: int
    price: float
    pnl: float


@dataclass(frozen=True)
class Trade:
    """A position from entry to last exit. `pnl`: realized USD after commissions (plus the
    unrealized part for an open trade); `exit_date` None while open."""

    symbol: str
    tag: str
    entry_date: str
    entry_price: float
    shares: int
    pnl: float
    exit_date: str | None = None
    exit_reason: str | None = None
    fills: tuple[TradeFill, ...] = field(default_factory=tuple)

    @property
    def closed(self) -> bool:
        """True once the last share is sold."""
        return self.exit_date is not None

    @property
    def return_pct(self) -> float | None:
        """P&L over cost (entry price x shares), percent; None without a cost."""
        cost = self.entry_price * self.shares
        return self.pnl / cost * 100 if cost > 0 else None

    @property
    def duration_days(self) -> int | None:
        """Calendar days from entry to last exit; None while open."""
        if self.exit_date is None:
            return None
        return (_date(self.exit_date) - _date(self.entry_date)).days


def _date(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def _mean(xs: Sequence[float]) -> float | None:
    return st.fmean(xs) if xs else None


def _stdev(xs: Sequence[float]) -> float | None:
    return st.stdev(xs) if len(xs) > 1 else None


def returns(values: Sequence[float]) -> list[float]:
    """Simple returns of consecutive values (a zero or negative base is skipped).

    >>> returns([100.0, 110.0, 99.0])
    [0.10000000000000009, -0.09999999999999998]
    """
    return [b / a - 1 for a, b in zip(values, values[1:]) if a > 0]


def drawdowns(dates: Sequence[str], values: Sequence[float]) -> list[dict[str, Any]]:
    """Every drawdown of an equity series: peak date, trough date, recovery date (None when not
    recovered), depth (fraction, negative) and USD, duration in calendar days (to the recovery,
    or to the last date). Ordered by time."""
    out: list[dict[str, Any]] = []
    peak_i = 0
    cur: dict[str, Any] | None = None
    for i, v in enumerate(values):
        if v >= values[peak_i]:
            if cur is not None:
                cur["recovery"] = dates[i]
                out.append(cur)
                cur = None
            peak_i = i
            continue
        depth = v / values[peak_i] - 1 if values[peak_i] > 0 else 0.0
        if cur is None:
            cur = {"peak": dates[peak_i], "trough": dates[i], "depth": depth, "recovery": None}
            cur["usd"] = v - values[peak_i]
        elif depth < cur["depth"]:
            cur.update(trough=dates[i], depth=depth, usd=v - values[peak_i])
    if cur is not None:
        out.append(cur)
    for d in out:
        d["days"] = (_date(d["recovery"] or dates[-1]) - _date(d["peak"])).days
    return out


def equity_stats(
    dates: Sequence[str],
    equity: Sequence[float],
    initial: float,
    invested: Sequence[float] | None = None,
    benchmark: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Statistics of an equity curve.

    Args:
        dates: session dates of `equity`. equity: end-of-session equity, USD. initial: equity
            before the first session, USD. invested: equity minus cash at each session, USD
            (exposure = its mean share of equity). benchmark: the benchmark's value before the
            first session followed by one value per session (len(dates) + 1), any unit.
    """
    series = [initial, *equity]
    r = returns(series)
    first, last = dates[0], dates[-1]
    days = (_date(last) - _date(first)).days
    total = equity[-1] / initial - 1 if initial > 0 else None
    cagr = (
        (1 + total) ** (365.25 / days) - 1
        if total is not None and days > 0 and total > -1
        else None
    )
    sd = _stdev(r)
    mean = _mean(r)
    down = math.sqrt(st.fmean(min(x, 0.0) ** 2 for x in r)) if r else 0.0
    dds = drawdowns([first, *dates], series)
    worst = min(dds, key=lambda d: d["depth"]) if dds else None
    max_dd = worst["depth"] if worst else 0.0
    exposure = None
    if invested is not None:
        exposure = _mean([i / e for i, e in zip(invested, equity) if e > 0])
    bench = _benchmark_stats(r, benchmark)
    return {
        "start": first,
        "end": last,
        "duration_days": days,
        "sessions": len(dates),
        "exposure_pct": None if exposure is None else exposure * 100,
        "equity_start": initial,
        "equity_final": equity[-1],
        "equity_peak": max(series),
        "return_pct": None if total is None else total * 100,
        "buy_hold_return_pct": bench["return_pct"],
        "cagr_pct": None if cagr is None else cagr * 100,
        "volatility_ann_pct": None if sd is None else sd * math.sqrt(TRADING_DAYS) * 100,
        "sharpe": mean / sd * math.sqrt(TRADING_DAYS) if sd and mean is not None else None,
        "sortino": mean * TRADING_DAYS / (down * math.sqrt(TRADING_DAYS))
        if down > 0 and mean is not None
        else None,
        "calmar": cagr / -max_dd if cagr is not None and max_dd < 0 else None,
        "alpha_pct": bench["alpha_pct"],
        "beta": bench["beta"],
        "max_drawdown_pct": max_dd * 100,
        "max_drawdown_usd": worst["usd"] if worst else 0.0,
        "max_drawdown_start": worst["peak"] if worst else None,
        "max_drawdown_trough": worst["trough"] if worst else None,
        "max_drawdown_recovery": worst["recovery"] if worst else None,
        "max_drawdown_days": max((d["days"] for d in dds), default=None),
        "avg_drawdown_days": _mean([d["days"] for d in dds]),
    }


def _benchmark_stats(r: Sequence[float], benchmark: Sequence[float] | None) -> dict[str, Any]:
    """Buy-and-hold return of the benchmark, and alpha/beta of `r` against its returns."""
    out: dict[str, Any] = {"return_pct": None, "alpha_pct": None, "beta": None}
    if not benchmark or len(benchmark) < 2 or benchmark[0] <= 0:
        return out
    out["return_pct"] = (benchmark[-1] / benchmark[0] - 1) * 100
    rb = returns(benchmark)
    if len(rb) != len(r) or len(r) < 2:
        return out
    var = st.variance(rb)
    if var <= 0:
        return out
    beta = st.covariance(list(r), rb) / var
    excess = st.fmean(a - beta * b for a, b in zip(r, rb))
    out["beta"] = beta
    out["alpha_pct"] = ((1 + excess) ** TRADING_DAYS - 1) * 100
    return out


def trade_stats(trades: Iterable[Trade]) -> dict[str, Any]:
    """Statistics of the closed trades among `trades` (see the module doc for the formulas)."""
    closed = [t for t in trades if t.closed]
    pnl = [t.pnl for t in closed]
    rets = [t.return_pct for t in closed if t.return_pct is not None]
    wins = [x for x in pnl if x > 0]
    losses = [x for x in pnl if x <= 0]
    win_rate = len(wins) / len(closed) if closed else None
    gross_loss = -sum(losses)
    if not closed:
        pf = None
    elif gross_loss > 0:
        pf = sum(wins) / gross_loss
    else:
        pf = math.inf if wins else None
    sd = _stdev(pnl)
    mean = _mean(pnl)
    kelly = None
    if wins and losses and win_rate is not None and st.fmean(losses) < 0:
        kelly = win_rate - (1 - win_rate) / (st.fmean(wins) / -st.fmean(losses))
    durations = [t.duration_days for t in closed if t.duration_days is not None]
    return {
        "trades": len(closed),
        "win_rate_pct": None if win_rate is None else win_rate * 100,
        "best_trade_pct": max(rets, default=None),
        "worst_trade_pct": min(rets, default=None),
        "avg_trade_pct": _mean(rets),
        "max_trade_days": max(durations, default=None),
        "avg_trade_days": _mean(durations),
        "profit_factor": pf,
        "expectancy_usd": mean,
        "expectancy_pct": _mean(rets),
        "sqn": math.sqrt(len(pnl)) * mean / sd if sd and mean is not None else None,
        "kelly": kelly,
        "realized_usd": sum(pnl),
    }


def statistics(
    dates: Sequence[str],
    equity: Sequence[float],
    initial: float,
    trades: Sequence[Trade],
    *,
    invested: Sequence[float] | None = None,
    benchmark: Sequence[float] | None = None,
    commissions: float = 0.0,
) -> dict[str, Any]:
    """Every statistic of a run, one key per metric, in display order (`STAT_LINES`).

    Args: as `equity_stats` (`benchmark` has len(dates) + 1 values) plus `trades` (closed ones
    are counted) and `commissions` paid, USD. Raises ValueError for an empty curve.
    """
    if not dates or len(dates) != len(equity):
        raise ValueError("statistics need one equity value per session")
    out = equity_stats(dates, equity, initial, invested, benchmark)
    out["open_trades"] = sum(not t.closed for t in trades)
    out.update(trade_stats(trades))
    out["commissions_usd"] = commissions
    return {k: out[k] for k, _, _ in STAT_LINES}


def grouped(trades: Sequence[Trade], key: Callable[[Trade], str]) -> dict[str, dict[str, Any]]:
    """`trade_stats` per group of trades (e.g. by tag B1/B2 or by symbol), groups sorted."""
    groups: dict[str, list[Trade]] = {}
    for t in trades:
        groups.setdefault(key(t), []).append(t)
    return {k: trade_stats(v) for k, v in sorted(groups.items())}


def by_exit_reason(fills: Iterable[TradeFill]) -> dict[str, dict[str, Any]]:
    """Per exit reason: exits, shares, win rate (fills with P&L > 0, percent), average P&L,
    profit factor (inf without a losing fill) and realized P&L, USD."""
    groups: dict[str, list[TradeFill]] = {}
    for f in fills:
        groups.setdefault(f.reason, []).append(f)
    out = {}
    for reason, fs in sorted(groups.items()):
        pnl = [f.pnl for f in fs]
        gains = sum(x for x in pnl if x > 0)
        loss = -sum(x for x in pnl if x <= 0)
        out[reason] = {
            "exits": len(fs),
            "shares": sum(f.shares for f in fs),
            "win_rate_pct": sum(x > 0 for x in pnl) / len(fs) * 100,
            "avg_usd": st.fmean(pnl),
            "profit_factor": gains / loss if loss > 0 else (math.inf if gains > 0 else None),
            "realized_usd": sum(pnl),
        }
    return out


#: (key, label, kind) in display order; kinds: date, int, days, usd, pct, ratio, text
STAT_LINES: list[tuple[str, str, str]] = [
    ("start", "Start", "date"),
    ("end", "End", "date"),
    ("duration_days", "Duration", "days"),
    ("sessions", "Sessions", "int"),
    ("exposure_pct", "Exposure", "pct"),
    ("equity_start", "Equity start", "usd"),
    ("equity_final", "Equity final", "usd"),
    ("equity_peak", "Equity peak", "usd"),
    ("return_pct", "Total return", "pct"),
    ("buy_hold_return_pct", "Buy & hold return", "pct"),
    ("cagr_pct", "CAGR", "pct"),
    ("volatility_ann_pct", "Volatility (ann.)", "pct"),
    ("sharpe", "Sharpe", "ratio"),
    ("sortino", "Sortino", "ratio"),
    ("calmar", "Calmar", "ratio"),
    ("alpha_pct", "Alpha (ann.)", "pct"),
    ("beta", "Beta", "ratio"),
    ("max_drawdown_pct", "Max drawdown", "pct"),
    ("max_drawdown_usd", "Max drawdown USD", "usd"),
    ("max_drawdown_start", "Max drawdown start", "date"),
    ("max_drawdown_trough", "Max drawdown trough", "date"),
    ("max_drawdown_recovery", "Max drawdown recovery", "date"),
    ("max_drawdown_days", "Max drawdown duration", "days"),
    ("avg_drawdown_days", "Avg drawdown duration", "days"),
    ("trades", "Trades (closed)", "int"),
    ("open_trades", "Open trades", "int"),
    ("win_rate_pct", "Win rate", "pct"),
    ("best_trade_pct", "Best trade", "pct"),
    ("worst_trade_pct", "Worst trade", "pct"),
    ("avg_trade_pct", "Avg trade", "pct"),
    ("max_trade_days", "Max trade duration", "days"),
    ("avg_trade_days", "Avg trade duration", "days"),
    ("profit_factor", "Profit factor", "ratio"),
    ("expectancy_usd", "Expectancy USD", "usd"),
    ("expectancy_pct", "Expectancy", "pct"),
    ("sqn", "SQN", "ratio"),
    ("kelly", "Kelly criterion", "ratio"),
    ("realized_usd", "Realized USD", "usd"),
    ("commissions_usd", "Commissions USD", "usd"),
]


def fmt(value: Any, kind: str) -> str:
    """One statistic as text: "—" when undefined, "inf" for an infinite ratio, thousands
    separators for money, 2 decimals for percents and ratios."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if kind == "usd":
        return f"{value:,.2f}"
    if kind == "pct":
        return f"{value:.2f} %"
    if kind == "ratio":
        return f"{value:.2f}"
    if kind == "days":
        return f"{value:.0f} d" if isinstance(value, float) else f"{value} d"
    return str(value)


def json_safe(obj: Any) -> Any:
    """Numbers made JSON-ready: inf as "inf", NaN as None, floats rounded to 4 decimals
    (callers round money to cents first where it matters)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return round(obj, 4)
    return obj
