"""An SMA crossover strategy as an etrade-cli plug-in.

Entry: the bar where SMA(fast) closes above SMA(slow) after being at or below it the bar
before (a golden cross of the two averages). Exits: a stop loss `stop_pct` below the entry,
a profit target `target_pct` above it, or a time exit after `hold_days` sessions. Sizing:
`fraction` of equity per position, at most `max_positions` open, one per symbol. Percentages
are fractions (0.05 = 5 %); prices USD; quantities whole shares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from etrade_cli.plugins import hookimpl
from etrade_cli.registry import StrategySpec
from etrade_cli.strategy.base import (
    Book,
    Decision,
    Evaluation,
    ExitPlan,
    PositionState,
    Signal,
)
from etrade_cli.strategy.indicators import sma
from etrade_cli.strategy.panel import Panel
from etrade_cli.values import Bars

FILTERS = ("history", "cross")
TAG = "X"


@dataclass(frozen=True)
class Params:
    """`[strategy]` keys of `sma_cross` (validated by etrade-cli from the field metadata)."""

    fast: int = field(default=10, metadata={"min": 2, "max": 500})
    slow: int = field(default=30, metadata={"min": 3, "max": 1000})
    fraction: float = field(default=0.10, metadata={"min": 0.0, "max": 1.0, "exclusive_min": True})
    max_positions: int = field(default=5, metadata={"min": 1, "max": 1000})
    stop_pct: float = field(default=0.08, metadata={"min": 0.0, "max": 1.0, "exclusive_min": True})
    target_pct: float = field(default=0.15, metadata={"min": 0.0, "exclusive_min": True})
    hold_days: int = field(default=30, metadata={"min": 1, "max": 10_000})

    def problems(self) -> list[tuple[str, str]]:
        """Cross-field rules as (key, message)."""
        return [("fast", "must be below slow")] if self.fast >= self.slow else []


class SmaCross:
    """Golden cross of two simple moving averages (see the module doc)."""

    name = "sma_cross"
    Params = Params

    def __init__(self, params: Params | None = None):
        self.params = params or Params()

    @property
    def warmup_bars(self) -> int:
        """The slow average's length plus the bar before the cross."""
        return self.params.slow + 1

    def evaluate(self, bars: Sequence[Bars], benchmark: Bars | None = None) -> Evaluation:
        """A verdict for every bar: `history` until both averages exist, `cross` when there is
        no golden cross at that bar, else a signal scored 1 (+1 when the close is above both)."""
        p = Panel.from_bars(list(bars))
        fast, slow = sma(p.close, self.params.fast), sma(p.close, self.params.slow)
        prev_fast = np.vstack([np.full((1, p.close.shape[1]), np.nan), fast[:-1]])
        prev_slow = np.vstack([np.full((1, p.close.shape[1]), np.nan), slow[:-1]])
        with np.errstate(invalid="ignore"):
            ready = ~np.isnan(prev_slow)
            cross = ready & (fast > slow) & (prev_fast <= prev_slow)
            above = p.close > np.fmax(fast, slow)
        reason = np.where(~ready, 1, np.where(~cross, 2, 0)).astype(np.int8)
        parts = {"cross": cross, "above": above}
        score = cross.astype(float) + (cross & above).astype(float)
        return Evaluation(
            p,
            {"sma_fast": fast, "sma_slow": slow},
            reason,
            np.zeros(p.close.shape, dtype=np.int8),
            parts,
            score,
            filters=FILTERS,
            weights={"cross": 1.0, "above": 1.0},
        )

    def benchmark_symbol(self) -> str | None:
        """No benchmark."""
        return None

    def order_key(self, sig: Signal) -> tuple[Any, ...]:
        """Higher score first, then symbol."""
        return (-sig.score, sig.symbol)

    def classify(self, sig: Signal, book: Book) -> Decision:
        """Enter unless the symbol is held or `max_positions` are open."""
        if sig.symbol in book.open_types:
            return Decision(sig, "HELD", "already holds the symbol")
        if book.count(TAG) >= self.params.max_positions:
            return Decision(sig, "SKIP", f"max_positions={self.params.max_positions} reached")
        return Decision(sig, TAG, enter=True)

    def size(self, tag: str, price: float, cash: float, open_value: float) -> tuple[int, float]:
        """`fraction` of equity (cash + open value), never more than the cash."""
        amount = min((cash + open_value) * self.params.fraction, cash)
        return (math.floor(amount / price), amount) if amount > 0 and price > 0 else (0, amount)

    def initial_stop(self, tag: str, entry_price: float) -> float:
        """`entry * (1 - stop_pct)`."""
        return entry_price * (1 - self.params.stop_pct)

    def plan_exit(self, pos: PositionState, price: float, bars_held: int) -> ExitPlan:
        """Sell everything at the stop, the target, or after `hold_days` sessions."""
        sell = [("SL", pos.remaining_qty)] if price <= pos.stop_loss else []
        if not sell and price >= pos.entry_price * (1 + self.params.target_pct):
            sell = [("TP", pos.remaining_qty)]
        if not sell and bars_held >= self.params.hold_days:
            sell = [("TIME", pos.remaining_qty)]
        return ExitPlan(pos.stop_loss, pos.targets_hit, sell if pos.remaining_qty > 0 else [])

    def buy_window(self) -> tuple[int, int] | None:
        """Any time of the session."""
        return None


@hookimpl
def register_strategies(register: Any) -> None:
    """The plug-in's one registration."""
    register(
        StrategySpec(
            name="sma_cross",
            factory=lambda cfg: SmaCross(cfg.strategy),
            params_type=Params,
            description="example plug-in: SMA(fast) crosses above SMA(slow)",
        )
    )
