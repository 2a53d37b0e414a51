"""Exits of spec §6 for one position at one price: stop loss, time exit, trailing stop, partial
profit targets. Pure: the caller persists the plan and sends the orders.
"""

from __future__ import annotations

import math

from ..base import ExitPlan, PositionState
from .params import StrategyParams


def initial_stop(entry_price: float, prm: StrategyParams) -> float:
    """The stop of a new position: `entry * (1 - initial_stop_loss_pct)` (spec §6.3)."""
    return entry_price * (1 - prm.initial_stop_loss_pct)


def trailing_level(entry: float, price: float, prm: StrategyParams) -> float:
    """Stop level for the current gain `p = (price-entry)/entry` (spec §6.3): entry*(1-0.01) at
    p >= 0.10, entry*(1-0.09) at p >= 0.05, else entry*(1-0.17) (defaults)."""
    p = (price - entry) / entry
    if p >= prm.tier2_profit_pct:
        return entry * (1 - prm.tier2_stop_loss_pct)
    if p >= prm.tier1_profit_pct:
        return entry * (1 - prm.tier1_stop_loss_pct)
    return entry * (1 - prm.initial_stop_loss_pct)


def plan_exit(pos: PositionState, price: float, bars_held: int, prm: StrategyParams) -> ExitPlan:
    """Spec §6 steps 1-4 for one position at `price` after `bars_held` sessions.

    Args:
        pos: the position. price: the bar close (live: the latest price), USD.
        bars_held: exchange sessions after the entry session (the entry session counts 0).
        prm: strategy parameters.

    Returns:
        The `ExitPlan`; an empty `sells` list means hold.
    """
    remaining = pos.remaining_qty
    if remaining <= 0:
        return ExitPlan(pos.stop_loss, pos.targets_hit)
    if price <= pos.stop_loss:  # 1. stop loss
        return ExitPlan(pos.stop_loss, pos.targets_hit, [("SL", remaining)])
    tes = prm.tes_days_b1 if pos.kind == "B1" else prm.tes_days_b2
    if bars_held >= tes:  # 2. time exit
        return ExitPlan(pos.stop_loss, pos.targets_hit, [("TES", remaining)])
    stop = max(pos.stop_loss, trailing_level(pos.entry_price, price, prm))  # 3. ratchet up only
    if not prm.enable_partial_exits:
        return ExitPlan(stop, pos.targets_hit)
    sells: list[tuple[str, int]] = []
    done = pos.targets_hit
    last = len(prm.targets) - 1
    for k in range(pos.targets_hit, len(prm.targets)):  # 4. partial exits, in order
        if not price >= pos.entry_price * (1 + prm.targets[k]):
            break
        qty = (
            remaining
            if k == last
            else min(remaining, math.floor(prm.target_fractions[k] * pos.original_qty))
        )
        done = k + 1
        if qty > 0:
            sells.append((f"PT{k + 1}", qty))
            remaining -= qty
        if remaining == 0:
            break
    return ExitPlan(stop, done, sells)
