"""Rajat Alpha v67, the first `Strategy`: the B1/B2 dual-position strategy of the project's
pinned spec (`docs/strategy.md` of the shared documents).

- `signals`: entry filters (spec §2) and score (spec §3) for every bar in one vectorized pass;
- `patterns`: bullish engulfing, piercing and tweezer bottom;
- `dual`: B1/B2/OPP/SKIP classification (spec §4) and sizing (spec §5);
- `exits`: stop loss, time exit, trailing stop tiers and partial targets (spec §6);
- `params`: the `[strategy]` parameters (spec §8).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .params import StrategyParams

if TYPE_CHECKING:  # the numpy modules load on first use: registering the strategy stays cheap
    from ...values import Bars
    from ..base import Book, Decision, Evaluation, ExitPlan, PositionState, Signal

__all__ = ["RajatAlpha", "StrategyParams"]


class RajatAlpha:
    """Rajat Alpha v67 behind the `Strategy` protocol; every rule is the spec's, unchanged.

    Args:
        params: spec §8 parameters (percentages as fractions: 0.05 means 5 %).
    """

    name = "rajat_alpha"

    def __init__(self, params: StrategyParams | None = None):
        self.params = params or StrategyParams()

    @property
    def warmup_bars(self) -> int:
        """`min_listing_days` (the maturity rule, spec §2.1): no signal on an earlier bar."""
        return int(self.params.min_listing_days)

    def evaluate(self, bars: Sequence[Bars], benchmark: Bars | None = None) -> Evaluation:
        """Spec §1-§3 over every bar of every symbol (see `signals.evaluate`)."""
        from ..panel import Panel
        from .signals import evaluate

        return evaluate(Panel.from_bars(list(bars)), self.params, benchmark)

    def benchmark_symbol(self) -> str | None:
        """`rs_benchmark` when `rs_mode = "benchmark"` (spec §3), else None."""
        return self.params.rs_benchmark if self.params.rs_mode == "benchmark" else None

    def order_key(self, sig: Signal) -> tuple[Any, ...]:
        """Spec §4: score desc, pattern (engulfing > piercing > tweezer), symbol asc."""
        from . import dual

        return dual.signal_order(sig)

    def classify(self, sig: Signal, book: Book) -> Decision:
        """B1, B2 (entries), OPP or SKIP (spec §4)."""
        from . import dual

        return dual.classify_one(sig, book, self.params)

    def size(self, tag: str, price: float, cash: float, open_value: float) -> tuple[int, float]:
        """Spec §5 sizing (see `dual.position_size`)."""
        from . import dual

        return dual.position_size(tag, price, cash, open_value, self.params)

    def initial_stop(self, tag: str, entry_price: float) -> float:
        """`entry * (1 - initial_stop_loss_pct)` (spec §6.3)."""
        from . import exits

        return exits.initial_stop(entry_price, self.params)

    def plan_exit(self, pos: PositionState, price: float, bars_held: int) -> ExitPlan:
        """Spec §6 steps 1-4 (see `exits.plan_exit`)."""
        from . import exits

        return exits.plan_exit(pos, price, bars_held, self.params)

    def buy_window(self) -> tuple[int, int] | None:
        """`buy_window` (spec §7) as minutes after midnight US/Eastern."""
        return self.params.buy_window_minutes()
