"""P&L and performance from the position book: one implementation for `report` and `backtest`.

Money in USD. Fields ending in `_pct` are percent numbers (5.0 means 5 %). Dates are session
dates (YYYY-MM-DD). Returns and drawdowns come from the equity recorded at the end of each
session's last completed run (`runs.equity`), so they include unrealized P&L.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .store import Position, Store

TRADING_DAYS = 252


@dataclass(frozen=True)
class Performance:
    """Equity-curve statistics. `sharpe` is of daily returns, annualized by sqrt(252), rf = 0;
    `exposure_pct` is the mean share of equity invested at session ends."""

    start_equity: float
    end_equity: float
    total_return_pct: float
    cagr_pct: float | None
    max_drawdown_pct: float
    max_drawdown_usd: float
    sharpe: float | None
    exposure_pct: float
    sessions: int


@dataclass(frozen=True)
class TradeStats:
    """Closed-trade statistics; a trade is a position from entry to its last exit."""

    trades: int
    wins: int
    losses: int
    win_rate_pct: float | None
    avg_win: float | None
    avg_loss: float | None
    profit_factor: float | None
    realized: float


def performance(
    curve: Sequence[tuple[str, float, float]], initial: float | None = None
) -> Performance | None:
    """Statistics of an equity curve [(session, equity, cash)], measured from `initial` equity
    (default: the first point). None for an empty curve."""
    if not curve:
        return None
    equity = [e for _, e, _ in curve]
    start = initial if initial is not None else equity[0]
    series = [start, *equity] if initial is not None else equity
    peak, dd_pct, dd_usd = series[0], 0.0, 0.0
    for e in series:
        peak = max(peak, e)
        if peak > 0 and (e - peak) / peak < dd_pct:
            dd_pct, dd_usd = (e - peak) / peak, e - peak
    rets = [b / a - 1 for a, b in zip(series, series[1:]) if a > 0]
    sd = statistics.stdev(rets) if len(rets) > 1 else 0.0
    sharpe = statistics.fmean(rets) / sd * math.sqrt(TRADING_DAYS) if sd > 0 else None
    import datetime as dt

    days = (dt.date.fromisoformat(curve[-1][0]) - dt.date.fromisoformat(curve[0][0])).days
    total = equity[-1] / start - 1 if start else 0.0
    cagr = ((1 + total) ** (365.25 / days) - 1) * 100 if days > 0 and total > -1 else None
    exposure = statistics.fmean((e - c) / e for _, e, c in curve if e) if curve else 0.0
    return Performance(
        start,
        equity[-1],
        total * 100,
        cagr,
        dd_pct * 100,
        dd_usd,
        sharpe,
        exposure * 100,
        len(curve),
    )


def trade_stats(positions: Sequence[Position]) -> TradeStats:
    """Win rate, average win/loss and profit factor of the closed positions among `positions`."""
    closed = [p for p in positions if p.status == "closed"]
    wins = [p.realized_pnl for p in closed if p.realized_pnl > 0]
    losses = [p.realized_pnl for p in closed if p.realized_pnl <= 0]
    gross_loss = -sum(losses)
    return TradeStats(
        trades=len(closed),
        wins=len(wins),
        losses=len(losses),
        win_rate_pct=len(wins) / len(closed) * 100 if closed else None,
        avg_win=statistics.fmean(wins) if wins else None,
        avg_loss=statistics.fmean(losses) if losses else None,
        profit_factor=sum(wins) / gross_loss if gross_loss > 0 else None,
        realized=sum(p.realized_pnl for p in positions),
    )


def build_report(
    store: Store,
    broker: str,
    account: str,
    last_price: Callable[[str], float | None],
    since: str | None = None,
    initial: float | None = None,
) -> dict[str, Any]:
    """The `report` document: realized and unrealized P&L, P&L by day and month, trade stats
    overall, by B1/B2 and by exit reason, and the equity curve's performance."""
    since = since or "0000-00-00"
    positions = [
        p
        for p in store.positions(broker, account, ("open", "closed"))
        if (p.exit_date or p.entry_date or "") >= since
    ]
    exits = store.query(
        "SELECT e.session_date, e.reason, e.quantity, e.realized_pnl, p.kind FROM partial_exits e"
        " JOIN positions p ON p.id = e.position_id WHERE p.broker = ? AND p.account = ? AND "
        "e.session_date >= ? ORDER BY e.session_date",
        broker,
        account,
        since,
    )
    by_day: dict[str, float] = defaultdict(float)
    by_month: dict[str, float] = defaultdict(float)
    by_reason: dict[str, dict[str, float]] = defaultdict(
        lambda: {"exits": 0, "shares": 0, "realized": 0.0}
    )
    for r in exits:
        by_day[r["session_date"]] += r["realized_pnl"]
        by_month[r["session_date"][:7]] += r["realized_pnl"]
        agg = by_reason[r["reason"]]
        agg["exits"] += 1
        agg["shares"] += r["quantity"]
        agg["realized"] += r["realized_pnl"]
    unrealized = 0.0
    for p in positions:
        price = last_price(p.symbol) if p.status == "open" else None
        if price is not None and p.entry_price:
            unrealized += (price - p.entry_price) * p.remaining_qty
    curve = [c for c in store.equity_curve(broker, account) if c[0] >= since]
    perf = performance(curve, initial)
    return {
        "broker": broker,
        "account": account,
        "since": None if since.startswith("0000") else since,
        "realized": sum(by_day.values()),
        "unrealized": unrealized,
        "open_positions": sum(p.status == "open" for p in positions),
        "trades": asdict(trade_stats(positions)),
        "by_type": {
            k: asdict(trade_stats([p for p in positions if p.kind == k])) for k in ("B1", "B2")
        },
        "by_exit_reason": dict(sorted(by_reason.items())),
        "by_day": dict(by_day),
        "by_month": dict(by_month),
        "performance": asdict(perf) if perf else None,
        "equity_curve": [{"session": d, "equity": e, "cash": c} for d, e, c in curve],
    }


def equity_chart(curve: Sequence[tuple[str, float, float]], path: Path, title: str) -> Path:
    """Write an equity-curve PNG (matplotlib, Agg backend) and return its path.

    Raises:
        InputError: empty curve, an unsupported format (suffix), or a path that cannot be
            written completely (`chartio.save_figure`).
    """
    from .chartio import save_figure
    from .errors import InputError

    if not curve:
        raise InputError("no equity history to chart yet (run the trading loop first)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = np.array([d for d, _, _ in curve], dtype="datetime64[D]")
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    ax.plot(days, [e for _, e, _ in curve], label="equity", color="tab:blue")
    ax.plot(days, [c for _, _, c in curve], label="cash", color="tab:gray", alpha=0.6)
    ax.set_title(title)
    ax.set_ylabel("USD")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        save_figure(fig, path)  # format checked, written whole or not at all
    finally:
        plt.close(fig)
    return path
