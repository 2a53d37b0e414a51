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
from .engine import Deps, run_once, trading_lock
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the equity curve as a list of objects)."""
        d = asdict(self)
        d["curve"] = [{"session": s, "equity": e, "cash": c} for s, e, c in self.curve]
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
    market: MarketView | None = None,
) -> BacktestResult:
    """Replay every session in [start, end] through the engine.

    Args:
        bars: daily bars of every symbol. cash: starting cash, USD. commission: USD per order.
        tradable: symbols that may be entered (default: all). db_path: keep the book there
            (a new file, or an earlier backtest's, which is replaced); default a temporary
            database that is deleted afterwards.
        on_progress: called with (sessions done, total) after each session.
        benchmark: bars of `rs_benchmark` for `rs_mode = "benchmark"` (spec §3).
        market: `bars` already evaluated by `strategy` (a sweep shares one evaluation between
            many backtests); `bars` is then unused.

    Raises:
        DataError: no session in the range. InputError: `db_path` exists and is not a backtest.
    """
    if market is None:
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
            # one lock and one transaction for the whole replay, not one per session (issue 13)
            with trading_lock(Path(str(path) + ".lock")), store.batch():
                deps = Deps(strategy, risk, store, broker, market, lock_path=None)
                for i, session in enumerate(sessions, 1):
                    run_once(deps, session, mode="backtest")
                    if on_progress:
                        on_progress(i, len(sessions))
            return _result(store, market, sessions, cash, db_path)
        finally:
            store.close()


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
