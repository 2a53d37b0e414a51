"""The trading engine: `run_once` (one cycle), shared by `etrade run-once`, `run-loop` and
`backtest`.

A cycle, under a file lock so two never trade at once:
1. reconcile (`reconcile.py`): journal rows left live by an earlier crash are looked up at the
   broker by `clientOrderId` before anything is sent again, and the book's holdings are compared
   with the broker's; what cannot be resolved is reported, never silently changed;
2. exits (strategy spec §6) for every open position, oldest first;
3. entries (spec §4-§5) inside the buy window, each after the risk checks of `[risk]`;
4. with `[risk] protective_stop = "broker"`, the resting stops of the open positions are placed,
   changed or cancelled (`protect.py`; a strategy exit first reduces or cancels its stop).

Every order intent is journaled (committed) before it is sent and every fill recorded after
(`orders.py`), so a crash between any two steps is recovered by the next cycle with no duplicate
order and no lost fill.
"""

from .cycle import run_once, session_count, trading_lock, unrealized
from .orders import (
    apply_state,
    fills_of,
    order_request,
    place_previewed,
    preview_journaled,
    send_order,
)
from .protect import PROTECT_FAULT_POINTS, change_journaled
from .types import FAULT_POINTS, Action, Deps, Finding, RunResult, SimulatedCrash

__all__ = [
    "FAULT_POINTS",
    "PROTECT_FAULT_POINTS",
    "Action",
    "Deps",
    "Finding",
    "RunResult",
    "SimulatedCrash",
    "apply_state",
    "change_journaled",
    "fills_of",
    "order_request",
    "place_previewed",
    "preview_journaled",
    "run_once",
    "send_order",
    "session_count",
    "trading_lock",
    "unrealized",
]
