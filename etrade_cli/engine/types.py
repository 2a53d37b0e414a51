"""Values of the trading cycle: its dependencies, what it did, and the crash-test hook."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..brokers.base import Broker
from ..config import RiskConfig
from ..errors import ApiError
from ..market import MarketView
from ..store import Store
from ..strategy.base import Decision, Strategy

if TYPE_CHECKING:  # `etrade_cli.events` loads only when someone listens (`Deps.emit`)
    from ..events import Event, Subscriber


class SimulatedCrash(BaseException):
    """Raised by a test's fault hook to stop a cycle dead at a named step."""


#: the named steps of an order's life where a fault hook is called (crash-recovery tests)
FAULT_POINTS = ("after_intent", "after_preview", "after_place", "after_placed", "after_fill")


def _no_fault(_point: str) -> None:
    return None


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


@dataclass
class Deps:
    """Everything a cycle uses. `lock_path` None means no lock (in-memory tests only).
    `subscribers` receive the cycle's events (`etrade_cli.events`) through `emit`."""

    strategy: Strategy
    risk: RiskConfig
    store: Store
    broker: Broker
    market: MarketView  # unused by the order functions (send_order, apply_state)
    lock_path: Path | None = None
    faults: Callable[[str], None] = _no_fault
    sleep: Callable[[float], None] = _sleep  # waits (seconds) before re-sending a place
    subscribers: list[Subscriber] = field(default_factory=list)

    def emit(self, kind: str, *args: Any, **kwargs: Any) -> None:
        """Build the event `kind` (a class of `etrade_cli.events`) from the arguments and
        deliver it to every subscriber. With none (a backtest) nothing is built, and the events
        module is not even imported."""
        if self.subscribers:
            from .. import events

            self.deliver(getattr(events, kind)(*args, **kwargs))

    def deliver(self, event: Event) -> None:
        """Deliver `event` to every subscriber; a subscriber's failure is one warning line."""
        from ..events import emit

        emit(self.subscribers, event)


@dataclass
class Action:
    """An exit or entry of this cycle. Prices USD; `status` is the journal status after sending
    (`filled`, `placed`, `rejected`, ...) or `dry-run`; `pnl` is the realized P&L of an exit."""

    side: str
    symbol: str
    kind: str
    reason: str
    quantity: int
    price: float | None
    status: str
    client_order_id: str | None = None
    position_id: int | None = None
    pnl: float | None = None
    message: str = ""


@dataclass
class Finding:
    """A reconciliation finding: severity `info`, `warning` or `error`."""

    severity: str
    message: str


@dataclass
class RunResult:
    """What a cycle did. `session` is YYYY-MM-DD; money in USD."""

    run_id: int | None
    session: str | None
    market_open: bool
    dry_run: bool
    message: str = ""
    findings: list[Finding] = field(default_factory=list)
    exits: list[Action] = field(default_factory=list)
    entries: list[Action] = field(default_factory=list)
    refusals: list[dict[str, str]] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    #: resting protective stops placed, changed or cancelled (`[risk] protective_stop`)
    stops: list[Action] = field(default_factory=list)
    equity: float | None = None
    cash: float | None = None
    #: orders this run meant to send that no broker confirmed (clientOrderId, symbol, side,
    #: quantity, journal status, message); non-empty means the run failed (exit 5)
    unconfirmed: list[dict[str, Any]] = field(default_factory=list)
    #: why no order was sent this cycle when a person must decide first (reconcile mismatch)
    halted: str | None = None
    #: a proposing strategy's proposals: id, symbol, side, outcome (ordered, refused, rejected,
    #: duplicate), reason, clientOrderId
    proposals: list[dict[str, Any]] = field(default_factory=list)
    #: problems with a proposing strategy's service this cycle (one line each; exit code 5)
    service_errors: list[str] = field(default_factory=list)
    rewards_sent: int = 0

    def counts(self) -> dict[str, int]:
        """Numbers for the `runs` row and the heartbeat line."""
        return {
            "exits": len(self.exits),
            "entries": len(self.entries),
            "refusals": len(self.refusals),
            "signals": len(self.decisions),
            "findings": len(self.findings),
            "unconfirmed": len(self.unconfirmed),
        }

    def failure(self) -> ApiError | None:
        """The error a script or cron must see (exit 5) when orders of this run were not
        confirmed by the broker (`unconfirmed`), else None."""
        if not self.unconfirmed:
            return None
        what = "; ".join(
            f"{u['client_order_id']} ({u['side']} {u['quantity']} {u['symbol']}): {u['message']}"
            for u in self.unconfirmed
        )
        return ApiError(
            f"{len(self.unconfirmed)} order(s) not confirmed by the broker: {what}. The next "
            "run of this session looks them up and sends what the broker does not have"
        )


# --- the cycle ---------------------------------------------------------------------------------
