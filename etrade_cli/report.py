"""P&L and statistics from the position book: one implementation for `report` and `backtest`.

Money in USD. Fields ending in `_pct` are percent numbers (5.0 means 5 %). Dates are session
dates (YYYY-MM-DD). Returns and drawdowns come from the equity recorded at the end of each
session's last completed run (`runs.equity`), so they include unrealized P&L. Every statistic
is `stats.statistics`; this module only selects the book's rows (through `Store` methods: no
SQL here) and shapes the document.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from typing import Any

from . import stats as st
from .store import Position, Store
from .values import Bars

#: `report --breakdown` periods and the key of a session date in each
BREAKDOWNS: dict[str, Callable[[str], str]] = {
    "day": lambda d: d,
    "week": lambda d: "{}-W{:02d}".format(*dt.date.fromisoformat(d).isocalendar()[:2]),
    "month": lambda d: d[:7],
    "year": lambda d: d[:4],
}


#: exit reason shown for a stop loss hit at a stop the trailing rule raised (spec §6.3)
TRAILING = "TSL"


def exit_reason(
    fill: dict[str, Any], p: Position, initial_stop: Callable[[str, float], float] | None
) -> str:
    """The fill's reason, with an "SL" at a stop above the position's initial stop shown as
    `TRAILING` (the position's recorded stop is the last one, the one an SL exit hit)."""
    if (
        fill["reason"] == "SL"
        and initial_stop is not None
        and p.entry_price is not None
        and p.stop_loss is not None
        and p.stop_loss > initial_stop(p.kind, p.entry_price) + 1e-9
    ):
        return TRAILING
    return str(fill["reason"])


def book_trades(
    positions: Sequence[Position],
    fills: Sequence[dict[str, Any]],
    mark: Callable[[str], float | None],
    initial_stop: Callable[[str, float], float] | None = None,
) -> list[st.Trade]:
    """`stats.Trade`s of filled positions with their exit fills (`Store.exit_fills` rows); an
    open position's P&L adds its unrealized part at `mark(symbol)` (USD). With `initial_stop`
    (the strategy's, (tag, entry price USD) -> stop USD) a trailing-stop exit reads `TSL`."""
    pos_by_id = {p.id: p for p in positions}
    by_pos: dict[int, list[st.TradeFill]] = {}
    for f in fills:
        p = pos_by_id.get(f["position_id"])
        if p is None:
            continue
        by_pos.setdefault(f["position_id"], []).append(
            st.TradeFill(
                f["session_date"],
                exit_reason(f, p, initial_stop),
                f["quantity"],
                f["price"],
                f["realized_pnl"],
            )
        )
    out = []
    for p in positions:
        if not p.entry_date or p.entry_price is None:
            continue
        pnl = p.realized_pnl
        if p.status == "open":
            price = mark(p.symbol)
            pnl += (price - p.entry_price) * p.remaining_qty if price is not None else 0.0
        out.append(
            st.Trade(
                p.symbol,
                p.kind,
                p.entry_date,
                p.entry_price,
                p.original_qty,
                pnl,
                p.exit_date if p.status == "closed" else None,
                by_pos[p.id][-1].reason
                if p.status == "closed" and p.id in by_pos
                else p.exit_reason,
                tuple(by_pos.get(p.id, ())),
            )
        )
    return out


def trade_dict(t: st.Trade, p: Position, mark: float | None) -> dict[str, Any]:
    """A trade for the trade list: entry, every exit fill, the total (USD, percent)."""
    return {
        "symbol": t.symbol,
        "type": t.tag,
        "status": p.status,
        "entry_date": t.entry_date,
        "entry_price": t.entry_price,
        "shares": t.shares,
        "remaining": p.remaining_qty,
        "exit_date": t.exit_date,
        "exit_price": p.exit_price,
        "exit_reason": t.exit_reason,
        "fills": [asdict(f) for f in t.fills],
        "realized": p.realized_pnl,
        "unrealized": t.pnl - p.realized_pnl if p.status == "open" else None,
        "mark": mark,
        "pnl": t.pnl,
        "return_pct": t.return_pct,
        "score": p.score,
        "pattern": p.pattern,
    }


def periods(
    fills: Sequence[dict[str, Any]],
    curve: Sequence[tuple[str, float, float]],
    start_equity: float | None,
    breakdown: str,
) -> list[dict[str, Any]]:
    """Per period (`BREAKDOWNS`): realized P&L of its exit fills, equity at its last session
    and its return from the previous period's end (the first from `start_equity`), percent."""
    key = BREAKDOWNS[breakdown]
    realized: dict[str, float] = defaultdict(float)
    for f in fills:
        realized[key(f["session_date"])] += f["realized_pnl"]
    end_eq: dict[str, float] = {}
    for d, e, _ in curve:
        end_eq[key(d)] = e
    out, prev = [], start_equity
    for period in sorted(set(realized) | set(end_eq)):
        eq = end_eq.get(period)
        ret = (eq / prev - 1) * 100 if eq is not None and prev else None
        out.append(
            {"period": period, "realized_usd": realized.get(period, 0.0), "equity_end": eq,
             "return_pct": ret}
        )  # fmt: skip
        prev = eq if eq is not None else prev
    return out


def build_report(
    store: Store,
    broker: str,
    account: str,
    last_price: Callable[[str], float | None],
    since: str | None = None,
    initial: float | None = None,
    breakdown: str = "month",
    initial_stop: Callable[[str, float], float] | None = None,
    benchmark: Bars | None = None,
) -> dict[str, Any]:
    """The `report` document over the window from `since` (default: the whole book).

    Returns and drawdowns are measured inside the window only: from the equity at the last
    session before `since` (else `initial`, the starting cash, else the first equity). Trades
    are positions closed in the window or still open; fills and commissions those in the window.

    Keys: broker, account, since, breakdown, realized, unrealized, open_positions, stats
    (`stats.statistics`, None without equity history), by_type, by_exit_reason, by_symbol,
    periods (`periods`), trades (`trade_dict`), equity_curve.
    """
    day = since or ""
    positions = [
        p
        for p in store.positions(broker, account, ("open", "closed"))
        if p.entry_date and (p.status == "open" or (p.exit_date or "") >= day)
    ]
    fills = store.exit_fills(broker, account, day or None)
    trades = book_trades(positions, store.exit_fills(broker, account), last_price, initial_stop)
    full_curve = store.equity_curve(broker, account)
    before = [c for c in full_curve if c[0] < day]
    curve = [c for c in full_curve if c[0] >= day]
    start_eq = before[-1][1] if before else initial if initial is not None else None
    stats = None
    bench = benchmark_closes(benchmark, [before[-1][0]] if before else [], curve)
    if curve:
        stats = st.statistics(
            [d for d, _, _ in curve],
            [e for _, e, _ in curve],
            start_eq if start_eq is not None else curve[0][1],
            trades,
            invested=[e - c for _, e, c in curve],
            benchmark=bench,
            commissions=store.commissions_paid(broker, account, day or None),
        )
    window_fills = [f for t in trades for f in t.fills if f.date >= day]
    return {
        "broker": broker,
        "account": account,
        "since": since,
        "breakdown": breakdown,
        "realized": sum(f["realized_pnl"] for f in fills),
        "unrealized": sum(
            t.pnl - p.realized_pnl for t, p in zip(trades, positions) if not t.closed
        ),
        "open_positions": sum(p.status == "open" for p in positions),
        "stats": stats,
        "trades_stats": st.trade_stats(trades),
        "by_type": st.grouped(trades, lambda t: t.tag),
        "by_exit_reason": st.by_exit_reason(window_fills),
        "by_symbol": st.grouped(trades, lambda t: t.symbol),
        "periods": periods(fills, curve, start_eq, breakdown),
        "trades": [
            trade_dict(t, p, last_price(p.symbol) if p.status == "open" else None)
            for t, p in zip(trades, positions)
        ],
        "benchmark": benchmark.symbol if bench and benchmark is not None else None,
        "equity_curve": [
            {"session": d, "equity": e, "cash": c, "benchmark": b}
            for (d, e, c), b in zip(curve, _scaled(bench, stats))
        ],
    }


def _scaled(bench: list[float] | None, stats: dict[str, Any] | None) -> Iterable[float | None]:
    """Benchmark closes after the first as the equity buy-and-hold would have (USD), or Nones."""
    if not bench or not stats:
        return itertools.repeat(None)
    return [stats["equity_start"] * b / bench[0] for b in bench[1:]]


def benchmark_closes(
    bars: Bars | None, before: list[str], curve: Sequence[tuple[str, float, float]]
) -> list[float] | None:
    """The benchmark's close at the session before the window (else the first session) and at
    every session of `curve`, for `stats.statistics`; None without bars for all of them."""
    if bars is None or not curve:
        return None
    import numpy as np

    days = [*(before or [curve[0][0]]), *(d for d, _, _ in curve)]
    out = []
    for d in days:
        i = bars.index_at(np.datetime64(d))
        if i < 0:
            return None
        out.append(float(bars.close[i]))
    return out


def _r(v: float | None, n: int) -> float | None:
    return None if v is None else round(v, n)


_KINDS = {k: kind for k, _, kind in st.STAT_LINES} | {"avg_usd": "usd", "realized_usd": "usd"}


def round_stats(d: dict[str, Any]) -> dict[str, Any]:
    """A statistics dict for JSON: USD to cents, other floats to 4 decimals, inf as "inf"."""
    out = {}
    for k, v in d.items():
        if isinstance(v, float) and _KINDS.get(k) == "usd":
            v = round(v, 2)
        out[k] = st.json_safe(v)
    return out


def round_trade(t: dict[str, Any]) -> dict[str, Any]:
    """A trade dict for JSON: prices to 4 decimals, money to cents (fills too)."""
    out = dict(t)
    for k in ("entry_price", "exit_price", "mark"):
        out[k] = _r(t.get(k), 4)
    for k in ("realized", "unrealized", "pnl", "return_pct"):
        out[k] = _r(t.get(k), 2)
    out["fills"] = [{**f, "price": _r(f["price"], 4), "pnl": _r(f["pnl"], 2)} for f in t["fills"]]
    return out


def report_json(doc: dict[str, Any]) -> dict[str, Any]:
    """The report document for JSON: money to cents, prices to 4 decimals, "inf" kept."""
    out = dict(doc)
    for key in ("stats", "trades_stats"):
        out[key] = round_stats(doc[key]) if doc[key] else None
    for key in ("by_type", "by_exit_reason", "by_symbol"):
        out[key] = {k: round_stats(v) for k, v in doc[key].items()}
    out["trades"] = [round_trade(t) for t in doc["trades"]]
    for key in ("realized", "unrealized"):
        out[key] = round(doc[key], 2)
    out["periods"] = [
        round_stats(p) | {"equity_end": _r(p["equity_end"], 2)} for p in doc["periods"]
    ]
    out["equity_curve"] = [
        {**c, "equity": _r(c["equity"], 2), "cash": _r(c["cash"], 2),
         "benchmark": _r(c["benchmark"], 2)}
        for c in doc["equity_curve"]
    ]  # fmt: skip
    return out


#: `report --csv` tables by name
REPORT_TABLES = ("stats", "by_type", "by_exit_reason", "by_symbol", "periods", "trades", "equity")


def report_tables(doc: dict[str, Any]) -> dict[str, tuple[list[dict[str, Any]], list[str]]]:
    """The report's tables as CSV rows and columns, by name (`REPORT_TABLES`)."""
    from .views import FILL_COLUMNS, fill_rows

    stats = doc["stats"] or {}
    group_cols = ["group", *st.trade_stats([]).keys()]
    reason_cols = ["reason", "exits", "shares", "win_rate_pct", "avg_usd", "profit_factor",
                   "realized_usd"]  # fmt: skip
    return {
        "stats": ([{"metric": k, "value": v} for k, v in stats.items()], ["metric", "value"]),
        "by_type": (
            [{"group": "All", **doc["trades_stats"]}]
            + [{"group": k, **v} for k, v in doc["by_type"].items()],
            group_cols,
        ),
        "by_exit_reason": (
            [{"reason": k, **v} for k, v in doc["by_exit_reason"].items()],
            reason_cols,
        ),
        "by_symbol": ([{"group": k, **v} for k, v in doc["by_symbol"].items()], group_cols),
        "periods": (doc["periods"], ["period", "realized_usd", "equity_end", "return_pct"]),
        "trades": (fill_rows(doc["trades"]), FILL_COLUMNS),
        "equity": (doc["equity_curve"], ["session", "equity", "cash"]),
    }
