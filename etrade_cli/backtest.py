"""Backtests: `engine.run_once` replayed session by session with a fresh paper account.

The strategy is evaluated once for the whole range (cost linear in bars x symbols); each session
is then one ordinary cycle of the engine, so a backtest exercises exactly the code that trades.
The book lives in its own database (a temporary one unless `db_path` is given), never the live one.
Fills happen at the close of the bar that triggered them (spec §6).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .brokers.paper import PaperBroker
from .config import RiskConfig
from .engine import Deps, run_once
from .errors import DataError, InputError
from .market import MarketView
from .report import Performance, TradeStats, performance, trade_stats
from .store import Store
from .strategy.base import Strategy
from .values import Bars

FILL_NOTE = "fills at the close of the bar that triggered them (spec §6); no slippage"


@dataclass
class BacktestResult:
    """Outcome of a backtest. Money USD; see `report.Performance` for the statistics."""

    start: str
    end: str
    sessions: int
    symbols: int
    starting_cash: float
    performance: Performance | None
    stats: TradeStats
    trades: list[dict[str, Any]]
    curve: list[tuple[str, float, float]] = field(default_factory=list)
    db_path: str | None = None
    note: str = FILL_NOTE
    #: with `[risk] protective_stop = "broker"`: how often the resting net fired and what it
    #: cost or saved (see `protective_summary`); None (and absent from JSON) when off
    protective: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the equity curve as a list of objects; `protective` only when the
        resting stop was on)."""
        d = asdict(self)
        d["curve"] = [{"session": s, "equity": e, "cash": c} for s, e, c in self.curve]
        if d["protective"] is None:
            del d["protective"]
        return d


def run_backtest(
    bars: Sequence[Bars],
    strategy: Strategy,
    risk: RiskConfig,
    *,
    cash: float,
    commission: float = 0.0,
    start: np.datetime64 | None = None,
    end: np.datetime64 | None = None,
    tradable: Sequence[str] | None = None,
    db_path: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    benchmark: Bars | None = None,
) -> BacktestResult:
    """Replay every session in [start, end] through the engine.

    Args:
        bars: daily bars of every symbol. cash: starting cash, USD. commission: USD per order.
        tradable: symbols that may be entered (default: all). db_path: keep the book there
            (a new file, or an earlier backtest's, which is replaced); default a temporary
            database that is deleted afterwards.
        on_progress: called with (sessions done, total) after each session.
        benchmark: bars of `rs_benchmark` for `rs_mode = "benchmark"` (spec §3).

    Raises:
        DataError: no session in the range. InputError: `db_path` exists and is not a backtest.
    """
    market = MarketView.from_bars(bars, strategy, tradable, benchmark)
    sessions = market.sessions_between(start, end)
    if not len(sessions):
        raise DataError(f"no sessions between {start or 'the start'} and {end or 'the end'}")
    if db_path is not None:
        _clear_previous_backtest(db_path)
    with tempfile.TemporaryDirectory(prefix="etrade-backtest-") as tmp:
        path = db_path or Path(tmp) / "backtest.db"
        store = Store(path)
        try:
            with store.tx() as db:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('kind', 'backtest')")
            broker = PaperBroker(store, "paper", cash, commission)
            deps = Deps(strategy, risk, store, broker, market, Path(str(path) + ".lock"))
            for i, session in enumerate(sessions, 1):
                run_once(deps, session, mode="backtest")
                if on_progress:
                    on_progress(i, len(sessions))
            result = _result(store, market, sessions, cash, db_path)
            if risk.protective_stop == "broker":
                result.protective = protective_summary(store, market, risk.protective_stop_gap_pct)
            return result
        finally:
            store.close()


def protective_summary(store: Store, market: MarketView, gap_pct: float) -> dict[str, Any]:
    """How the resting protective stop did in a backtest: `fired` exits (reason BROKER_STOP),
    `shares`, `realized_usd`, and `vs_close_usd` = sum of (fill - that session's close) x
    shares: positive when the net sold above the close the strategy would have seen at that
    run (it saved money), negative when the close recovered (it cost money). `gap_pct` as
    0.03 for 3 %. Each fill is listed under `exits` with its session and prices (USD)."""
    exits = []
    for sym, day, qty, price, pnl in store.exits_by_reason("paper", "paper", "BROKER_STOP"):
        close = market.close(sym, np.datetime64(day))
        exits.append(
            {
                "symbol": sym,
                "session": day,
                "shares": qty,
                "fill": price,
                "close": close,
                "realized_usd": pnl,
                "vs_close_usd": None if close is None else (price - close) * qty,
            }
        )
    return {
        "gap_pct": gap_pct,
        "fired": len(exits),
        "shares": sum(e["shares"] for e in exits),
        "realized_usd": sum(e["realized_usd"] for e in exits),
        "vs_close_usd": sum(e["vs_close_usd"] or 0.0 for e in exits),
        "exits": exits,
    }


def _clear_previous_backtest(path: Path) -> None:
    """Delete `path` if it holds an earlier backtest; refuse any other existing file.

    Raises:
        InputError: the file exists and is not a backtest database (e.g. the live book).
    """
    if not path.exists():
        return
    import sqlite3

    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            kind = con.execute("SELECT value FROM meta WHERE key = 'kind'").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError:
        kind = None
    if not kind or kind[0] != "backtest":
        raise InputError(f"{path} exists and is not a backtest database; choose a new --db path")
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _result(
    store: Store, market: MarketView, sessions: np.ndarray, cash: float, db_path: Path | None
) -> BacktestResult:
    last = sessions[-1]
    positions = store.positions("paper", "paper", ("open", "closed"))
    trades = []
    for p in positions:
        mark = market.last_close(p.symbol, last) if p.status == "open" else None
        unreal = (mark - p.entry_price) * p.remaining_qty if mark and p.entry_price else None
        trades.append(
            {
                "symbol": p.symbol,
                "type": p.kind,
                "status": p.status,
                "entry_date": p.entry_date,
                "entry_price": p.entry_price,
                "shares": p.original_qty,
                "remaining": p.remaining_qty,
                "exit_date": p.exit_date,
                "exit_price": p.exit_price,
                "exit_reason": p.exit_reason,
                "realized": p.realized_pnl,
                "unrealized": unreal,
                "mark": mark,
                "score": p.score,
                "pattern": p.pattern,
            }
        )
    curve = store.equity_curve("paper", "paper")
    return BacktestResult(
        start=str(sessions[0]),
        end=str(last),
        sessions=len(sessions),
        symbols=len(market.tradable),
        starting_cash=cash,
        performance=performance(curve, cash),
        stats=trade_stats(positions),
        trades=trades,
        curve=curve,
        db_path=str(db_path) if db_path else None,
    )
