"""Test doubles: a market whose signals and prices the test chooses, and engine wiring."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from etrade_cli.brokers.paper import PaperBroker
from etrade_cli.config import RiskConfig
from etrade_cli.engine import Deps
from etrade_cli.market import MarketView
from etrade_cli.store import Store
from etrade_cli.strategy.base import Evaluation
from etrade_cli.strategy.panel import Bars, Panel
from etrade_cli.strategy.rajat_alpha import RajatAlpha
from etrade_cli.strategy.rajat_alpha.params import StrategyParams
from etrade_cli.strategy.rajat_alpha.signals import FILTERS, SCORE_PARTS

START = np.datetime64("2024-01-02")
PATTERN_NAMES_TUPLE = (None, "engulfing", "piercing", "tweezer")


def day(i: int) -> np.datetime64:
    """Session i of the fake market (consecutive calendar days: the data's own clock)."""
    return START + i


def fake_market(
    prices: dict[str, list[float | None]],
    signals: dict[tuple[str, int], float],
    ohlc: dict[tuple[str, int], tuple[float, float, float]] | None = None,
) -> MarketView:
    """A market of daily closes (open/high/low = close; None = no bar that session) where exactly
    `signals` pass, keyed by (symbol, session index) with their score; every other bar fails the
    `pattern` filter. `ohlc` sets (open, high, low) of chosen bars, keyed like `signals`."""
    bars = []
    for sym, closes in prices.items():
        idx = [i for i, v in enumerate(closes) if v is not None]
        c = np.asarray([closes[i] for i in idx], dtype=float)
        o, h, lo = c.copy(), c.copy(), c.copy()
        for k, i in enumerate(idx):
            if ohlc and (sym, i) in ohlc:
                o[k], h[k], lo[k] = ohlc[(sym, i)]
        dates = np.array([day(i) for i in idx])
        bars.append(Bars(sym, dates, o, h, lo, c, np.full(len(c), 1e6)))
    panel = Panel.from_bars(bars)
    reason = np.full(panel.close.shape, FILTERS.index("pattern") + 1, dtype=np.int8)
    score = np.zeros(panel.close.shape)
    for (sym, i), sc in signals.items():
        col = panel.symbols.index(sym)
        row = panel.row_at(col, day(i))
        reason[row, col], score[row, col] = 0, sc
    pattern = np.where(reason == 0, 1, 0).astype(np.int8)
    parts = {k: np.zeros(panel.close.shape, dtype=bool) for k in SCORE_PARTS}
    ev = Evaluation(
        panel,
        {},
        reason,
        pattern,
        parts,
        score,
        filters=FILTERS,
        pattern_names=PATTERN_NAMES_TUPLE,
        weights=SCORE_PARTS,
    )
    return MarketView(ev)


def make_deps(
    tmp_path: Path,
    market: MarketView,
    *,
    cash: float = 20_000.0,
    params: StrategyParams | None = None,
    risk: RiskConfig | None = None,
    commission: float = 0.0,
    faults=None,
) -> Deps:
    store = Store(tmp_path / "book.db")
    broker = PaperBroker(store, "paper", cash, commission)
    deps = Deps(
        RajatAlpha(params or StrategyParams()),
        risk or RiskConfig(),
        store,
        broker,
        market,
        tmp_path / "book.db.lock",
    )
    if faults is not None:
        deps = replace(deps, faults=faults)
    return deps


def counts(store: Store) -> dict[str, int]:
    """Rows per table that matter for duplicate checks."""
    return {
        t: store._query(f"SELECT count(*) FROM {t}")[0][0]
        for t in ("orders", "fills", "paper_orders", "positions", "partial_exits")
    }


def sigint_main_thread() -> None:
    """SIGINT to this (the main) thread: handled before the next bytecode. `os.kill` on the
    process may land on another thread (a test server's), and the main thread then runs the
    handler only later, which a loaded machine makes late enough to fail the test."""
    import signal
    import threading

    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
