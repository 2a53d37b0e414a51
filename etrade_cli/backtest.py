"""Backtests: `engine.run_once` replayed session by session with a fresh paper account.

The strategy is evaluated once over all the bars given, warm-up included (cost linear in bars x
symbols); each session of the window [start, end] is then one ordinary cycle of the engine, so a
backtest exercises exactly the code that trades. Bars before `start` only warm the indicators up
(SMA200, the weekly and monthly EMAs, the maturity rule of spec §2): nothing trades there, so a
window gives the same trades as a longer run over the same sessions. The book lives in its own
database (a temporary one unless `db_path` is given), never the live one. Fills happen at the
close of the bar that triggered them (spec §6).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import stats as st
from .brokers.paper import PaperBroker
from .config import RiskConfig
from .engine import Deps, run_once, trading_lock
from .errors import DataError, InputError
from .interrupts import deferred_sigint
from .market import MarketView
from .report import _r, book_trades, round_stats, round_trade, trade_dict
from .store import Store
from .strategy.base import Strategy
from .values import Bars

FILL_NOTE = "fills at the close of the bar that triggered them (spec §6); no slippage"
EQUAL_WEIGHT = "equal-weight universe"


@dataclass
class Warmup:
    """Bars before the window that warmed the indicators up.

    Attributes:
        bars: sessions of the data before `start`. first: the first of them (None if none).
        needed: the most bars any tradable symbol needed before it could signal.
        short: tradable symbols not warmed up at `start`, with the first session they can signal
            (None: never inside the data).
    """

    bars: int
    first: str | None
    needed: int
    short: dict[str, str | None] = field(default_factory=dict)

    def summary(self, start: str) -> str:
        """One line for people: the warm-up used, and the symbols it could not cover."""
        line = (
            f"warm-up: {self.bars} bars from {self.first} before {start} "
            f"(indicators need {self.needed})"
            if self.bars
            else f"warm-up: no bars before {start} (indicators need {self.needed})"
        )
        if self.short:
            later = sorted(d for d in self.short.values() if d)
            never = sorted(s for s, d in self.short.items() if d is None)
            line += f"; {len(self.short)} symbol(s) not warmed up at {start}"
            if later:
                line += f" ({len(later)} tradable from {later[0]} .. {later[-1]})"
            if never:
                line += f"; never within the data: {', '.join(never[:6])}" + (
                    f" and {len(never) - 6} more" if len(never) > 6 else ""
                )
        return line


@dataclass
class BacktestResult:
    """Outcome of a backtest. Money USD, percents as percent numbers (5.0 = 5 %).

    `stats` holds every statistic of `stats.statistics` (keys of `stats.STAT_LINES`);
    `by_tag`, `by_symbol`: `stats.trade_stats` per group; `by_exit_reason`: per exit fill
    reason; `trades`: one dict per position with its exit `fills`; `curve`: (session, equity,
    cash, benchmark equity); `benchmark`: its name (a symbol or "equal-weight universe").
    """

    start: str
    end: str
    sessions: int
    symbols: int
    starting_cash: float
    warmup: Warmup
    benchmark: str
    stats: dict[str, Any]
    by_tag: dict[str, dict[str, Any]]
    by_exit_reason: dict[str, dict[str, Any]]
    by_symbol: dict[str, dict[str, Any]]
    trades: list[dict[str, Any]]
    curve: list[tuple[str, float, float, float | None]] = field(default_factory=list)
    db_path: str | None = None
    note: str = FILL_NOTE
    #: with `[risk] protective_stop = "broker"`: how often the resting net fired and what it
    #: cost or saved (see `protective_summary`); None (and absent from JSON) when off
    protective: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: money rounded to cents, prices to 4 decimals, "inf" for an
        infinite profit factor, None for an undefined statistic."""
        d = asdict(replace(self, curve=[]))  # the curve is rebuilt below: not deep-copied first
        d["warmup"]["summary"] = self.warmup.summary(self.start)
        d["stats"] = round_stats(self.stats)
        for key in ("by_tag", "by_exit_reason", "by_symbol"):
            d[key] = {k: round_stats(v) for k, v in d[key].items()}
        d["trades"] = [round_trade(t) for t in self.trades]
        d["curve"] = [
            {"session": s, "equity": _r(e, 2), "cash": _r(c, 2), "benchmark": _r(b, 2)}
            for s, e, c, b in self.curve
        ]
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
    market: MarketView | None = None,
    compare: Bars | None = None,
    memo: dict[Any, Any] | None = None,
) -> BacktestResult:
    """Replay every session in [start, end] through the engine; bars before `start` warm up.

    Args:
        bars: daily bars of every symbol, warm-up history included. cash: starting cash, USD.
            commission: USD per order.
        start: first session traded (default: the first session at which a tradable symbol has
            every indicator defined, i.e. the data's range after warm-up). end: last session.
        tradable: symbols that may be entered (default: all). db_path: keep the book there
            (a new file, or an earlier backtest's, which is replaced); default a temporary
            database that is deleted afterwards.
        on_progress: called with (sessions done, total) after each session.
        benchmark: bars of `rs_benchmark` for `rs_mode = "benchmark"` (spec §3).
        market: `bars` already evaluated by `strategy` (a sweep shares one evaluation between
            many backtests); `bars` is then unused.
        compare: the buy-and-hold benchmark's bars (`[report] benchmark`); None compares with
            the equal-weight universe.
        memo: a dict the caller keeps per `market` (a sweep: one per evaluation), where the
            ready dates and the warm-up, which depend only on the market, the strategy's
            warm-up and the window, are kept for the next backtest on that market.

    Raises:
        DataError: no session in the range. InputError: `db_path` exists and is not a backtest.
    """
    if market is None:
        market = MarketView.from_bars(bars, strategy, tradable, benchmark)
    memo = {} if memo is None else memo
    ready = memo.get(("ready", strategy.warmup_bars))
    if ready is None:
        ready = memo[("ready", strategy.warmup_bars)] = ready_dates(market, strategy.warmup_bars)
    if start is None:
        dates = [np.datetime64(d) for d in ready.values() if d is not None]
        start = min(dates) if dates else None
    sessions = market.sessions_between(start, end)
    if not len(sessions):
        raise DataError(f"no sessions between {start or 'the start'} and {end or 'the end'}")
    key = ("warmup", strategy.warmup_bars, str(sessions[0]))
    if key not in memo:
        memo[key] = warmup(market, ready, sessions[0])
    warm = replace(memo[key], short=dict(memo[key].short))  # (each result its own)
    if db_path is not None:
        _clear_previous_backtest(db_path)
    with tempfile.TemporaryDirectory(prefix="etrade-backtest-") as tmp:
        path = db_path or Path(tmp) / "backtest.db"
        store = Store(path) if path.exists() else Store.fresh(path)
        try:
            store.set_meta("kind", "backtest")
            broker = PaperBroker(store, "paper", cash, commission)
            # one lock, one transaction and one SIGINT hold for the whole replay, not one per
            # session or write (issue 13); Ctrl-C stops it after the session it arrived in. The
            # lock guards a --db file; the default book lives in this call's own temporary
            # folder, which no other process can know, so it needs none
            lock = Path(str(path) + ".lock") if db_path is not None else None
            with trading_lock(lock), store.batch(), deferred_sigint() as held:
                deps = Deps(strategy, risk, store, broker, market, lock_path=None)
                for i, session in enumerate(sessions, 1):
                    run_once(deps, session, mode="backtest")
                    held.check()
                    if on_progress:
                        on_progress(i, len(sessions))
            res = _result(store, market, sessions, cash, compare, warm, strategy)
            res.db_path = str(db_path) if db_path else None
            if risk.protective_stop == "broker":
                res.protective = protective_summary(store, market, risk.protective_stop_gap_pct)
            return res
        finally:
            store.close()


def protective_summary(store: Store, market: MarketView, gap_pct: float) -> dict[str, Any]:
    """How the resting protective stop did in a backtest: `fired` exits (reason BROKER_STOP),
    `shares`, `realized_usd`, and `vs_close_usd` = sum of (fill - that session's close) x
    shares: positive when the net sold above the close the strategy would have seen at that
    run (it saved money), negative when the close recovered (it cost money). `gap_pct` (and
    `gap_fraction` in the result) as 0.03 for 3 %. Each fill is listed under `exits` with its session and prices (USD)."""
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
        "gap_fraction": gap_pct,
        "fired": len(exits),
        "shares": sum(e["shares"] for e in exits),
        "realized_usd": sum(e["realized_usd"] for e in exits),
        "vs_close_usd": sum(e["vs_close_usd"] or 0.0 for e in exits),
        "exits": exits,
    }


def ready_dates(market: MarketView, warmup_bars: int) -> dict[str, str | None]:
    """Per tradable symbol, the first session at which every indicator of the strategy's
    evaluation is defined (Rajat Alpha: SMA50/SMA200, EMA21, the weekly and monthly EMAs,
    spec §1) and the symbol has `warmup_bars` bars (the strategy's own rule; Rajat Alpha: the
    maturity filter, spec §2.1); None when that never happens inside the data."""
    ev = market.ev
    panel = ev.panel
    ok = np.ones(panel.close.shape, dtype=bool)
    for values in ev.indicators.values():
        ok &= np.isfinite(values)
    bar_no = np.arange(panel.close.shape[0])[:, None] - panel.first_row[None, :] + 1
    ok &= bar_no >= warmup_bars
    out: dict[str, str | None] = {}
    for col, symbol in enumerate(panel.symbols):
        if symbol not in market.tradable:
            continue
        rows = np.flatnonzero(ok[:, col])
        out[symbol] = str(panel.dates[rows[0], col]) if len(rows) else None
    return out


def warmup(market: MarketView, ready: dict[str, str | None], start: np.datetime64) -> Warmup:
    """The warm-up before `start`: sessions loaded, bars needed, symbols short of it."""
    before = market.sessions[market.sessions < start]
    panel = market.ev.panel
    needed = 0
    for symbol, day in ready.items():
        if day is not None:
            col = market.col[symbol]
            needed = max(needed, panel.row_at(col, np.datetime64(day)) - int(panel.first_row[col]))
    short = {s: d for s, d in ready.items() if d is None or np.datetime64(d) > start}
    return Warmup(len(before), str(before[0]) if len(before) else None, needed, short)


def _clear_previous_backtest(path: Path) -> None:
    """Delete `path` if it holds an earlier backtest; refuse any other existing file.

    Raises:
        InputError: the file exists and is not a backtest database (e.g. the live book).
    """
    if not path.exists():
        return
    if Store.kind_of(path) != "backtest":
        raise InputError(f"{path} exists and is not a backtest database; choose a new --db path")
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def benchmark_values(
    market: MarketView, sessions: np.ndarray, compare: Bars | None
) -> list[float] | None:
    """The benchmark's value at the session before the window (or its first session) and at
    every session: `compare`'s closes, or the equal-weight universe's mean of closes relative
    to that first value (symbols priced there only). None when nothing can be priced."""
    prev = market.sessions[market.sessions < sessions[0]]
    days = [prev[-1] if len(prev) else sessions[0], *sessions]
    if compare is not None:
        vals = [compare.close[i] if (i := compare.index_at(d)) >= 0 else np.nan for d in days]
        arr = np.asarray(vals, dtype=float)
        if not np.isfinite(arr).all():
            return None
        return arr.tolist()
    closes = market.last_closes(sorted(market.tradable), days)
    base = closes[0]
    keep = np.isfinite(base) & (base > 0)
    if not keep.any():
        return None
    rel = closes[:, keep] / base[keep]
    rel = np.where(np.isfinite(rel), rel, np.nan)
    return np.nanmean(rel, axis=1).tolist()


def _result(
    store: Store,
    market: MarketView,
    sessions: np.ndarray,
    cash: float,
    compare: Bars | None,
    warm: Warmup,
    strategy: Strategy,
) -> BacktestResult:
    last = sessions[-1]
    positions = [p for p in store.positions("paper", "paper", ("open", "closed")) if p.entry_date]
    fills = store.exit_fills("paper", "paper")

    def mark(symbol: str) -> float | None:
        return market.last_close(symbol, last)

    trades = book_trades(positions, fills, mark, strategy.initial_stop)
    curve = store.equity_curve("paper", "paper")
    if not curve:
        raise DataError("the backtest recorded no equity (no session completed)")
    dates = [d for d, _, _ in curve]
    bench = benchmark_values(market, sessions, compare)
    stats = st.statistics(
        dates,
        [e for _, e, _ in curve],
        cash,
        trades,
        invested=[e - c for _, e, c in curve],
        benchmark=bench if bench and len(bench) == len(dates) + 1 else None,
        commissions=store.commissions_paid("paper", "paper"),
    )
    bench_eq = [cash * b / bench[0] for b in bench[1:]] if bench else [None] * len(curve)
    all_fills = [f for t in trades for f in t.fills]
    return BacktestResult(
        start=str(sessions[0]),
        end=str(last),
        sessions=len(sessions),
        symbols=len(market.tradable),
        starting_cash=cash,
        warmup=warm,
        benchmark=compare.symbol if compare is not None else EQUAL_WEIGHT,
        stats=stats,
        by_tag=st.grouped(trades, lambda t: t.tag),
        by_exit_reason=st.by_exit_reason(all_fills),
        by_symbol=st.grouped(trades, lambda t: t.symbol),
        trades=[
            trade_dict(t, p, mark(p.symbol) if p.status == "open" else None)
            for t, p in zip(trades, positions)
        ],
        curve=[(d, e, c, b) for (d, e, c), b in zip(curve, bench_eq)],
    )
