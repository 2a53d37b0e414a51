"""Dual positions (spec §4) and sizing (spec §5): which signal becomes B1, B2, OPP or SKIP, and
how many whole shares to buy. Pure functions over plain values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..base import Book, Decision, Signal
from .params import StrategyParams
from .patterns import PATTERN_RANK


def signal_order(sig: Signal) -> tuple[float, int, str]:
    """Sort key of spec §4: score desc, pattern (engulfing > piercing > tweezer), symbol asc."""
    return (-sig.score, PATTERN_RANK.get(sig.pattern or "", 9), sig.symbol)


def classify_one(sig: Signal, book: Book, prm: StrategyParams) -> Decision:
    """Classify one signal against the book (spec §4); does not change the book."""
    has_b1 = book.has(sig.symbol, "B1")
    if not has_b1:
        if book.count("B1") < prm.max_positions_b1:
            return Decision(sig, "B1", enter=True)
        return Decision(sig, "SKIP", f"max_positions_b1={prm.max_positions_b1} reached")
    if book.has(sig.symbol, "B2"):
        return Decision(sig, "OPP", "open B1 and B2")
    if sig.score < prm.score_b2_min:
        return Decision(sig, "OPP", f"score {sig.score:g} < score_b2_min {prm.score_b2_min:g}")
    if book.count("B2") >= prm.max_positions_b2:
        return Decision(sig, "OPP", f"max_positions_b2={prm.max_positions_b2} reached")
    return Decision(sig, "B2", enter=True)


def classify(signals: Iterable[Signal], book: Book, prm: StrategyParams) -> list[Decision]:
    """Classify a session's signals in spec §4 order, each against the book as updated by the
    earlier B1/B2 decisions of the same call (the caller's `book` is not modified)."""
    work = book.copy()
    out = []
    for sig in sorted(signals, key=signal_order):
        d = classify_one(sig, work, prm)
        if d.enter:
            work.add(sig.symbol, d.action)
        out.append(d)
    return out


def position_size(
    kind: str, price: float, cash: float, open_value: float, prm: StrategyParams
) -> tuple[int, float]:
    """Whole shares to buy for a new `kind` position at `price` (spec §5).

    Args:
        kind: "B1" or "B2". price: USD per share. cash: USD available.
        open_value: USD market value of open positions at their latest close.

    Returns:
        (shares, amount_usd); shares is 0 when nothing should be bought (SKIP `size`).
    """
    equity = cash + open_value
    amount = min(
        equity * prm.equity_fraction(kind),
        equity * prm.max_loss_pct / prm.initial_stop_loss_pct,
        prm.max_equity_utilization_pct * equity - open_value,
        cash,
    )
    if amount <= 0 or price <= 0:
        return 0, amount
    return math.floor(amount / price), amount
