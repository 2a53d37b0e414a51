"""Events of a trading run, and the seam that delivers them to subscribers.

The engine (and the CLI for failures, the login reminder and the daily summary) describe what
happens as typed, immutable events. Each has a machine-readable `type` (dotted, e.g.
`order.filled`), a `level` (`info`, `success`, `warning`, `failure`), a short `title` and a `body`
a person can act on. Subscribers are plain callables `subscriber(event)`: the `run-loop`
heartbeat, the apprise notifier (`etrade_cli.notify`), a plug-in's own. `emit()` calls each of
them and never lets one's exception reach the run: it becomes one warning line on stderr.

This module is neutral: it imports nothing of ours but `redact`, so every layer may use it.
Money in USD, quantities in shares, session dates YYYY-MM-DD (US/Eastern), times UTC ISO-8601.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol


class Subscriber(Protocol):
    """Anything called with each event; it should be quick and must not rely on raising."""

    def __call__(self, event: Event) -> None: ...


@dataclass(frozen=True)
class Event:
    """Base of every event. Subclasses set `type` and `level` and give `title` and `body`."""

    type: ClassVar[str] = "event"
    level: ClassVar[str] = "info"

    @property
    def title(self) -> str:
        """A short line for a phone's notification title."""
        return self.type

    @property
    def body(self) -> str:
        """A few lines a person can act on."""
        return ""

    @property
    def dedupe_key(self) -> str | None:
        """Identical repeats (same key) are not re-sent by the notifier for a while (None: every
        one is sent). Used for warnings that every cron run would otherwise repeat."""
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the fields plus `type`, `level`, `title`, `body`."""
        return {"type": self.type, "level": self.level, "title": self.title, "body": self.body} | (
            asdict(self)
        )


def _money(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.2f}"


# --- run ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStarted(Event):
    """A trading cycle started (`mode`: run-once, run-loop, backtest, dry-run)."""

    type: ClassVar[str] = "run.started"
    mode: str
    broker: str
    account: str
    as_of: str | None = None

    @property
    def title(self) -> str:
        return f"{self.mode} started ({self.broker})"


@dataclass(frozen=True)
class RunFinished(Event):
    """A trading cycle finished; `counts` as in `RunResult.counts()`, money USD."""

    type: ClassVar[str] = "run.finished"
    mode: str
    session: str | None
    market_open: bool
    counts: dict[str, int] = field(default_factory=dict)
    equity: float | None = None
    message: str = ""

    @property
    def title(self) -> str:
        return f"{self.mode} finished: session {self.session}"

    @property
    def body(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """One line: session and counts (the `run-loop` heartbeat)."""
        if not self.market_open:
            return f"session {self.session}: {self.message or 'market closed'}"
        c = self.counts
        return (
            f"session {self.session} exits {c.get('exits', 0)} entries {c.get('entries', 0)} "
            f"refusals {c.get('refusals', 0)} findings {c.get('findings', 0)}"
            + (f" UNCONFIRMED ORDERS {c['unconfirmed']}" if c.get("unconfirmed") else "")
        )


@dataclass(frozen=True)
class RunFailed(Event):
    """A command (`run-once`, `run-loop`) ended with an error: its exit code and one-line error."""

    type: ClassVar[str] = "run.failed"
    level: ClassVar[str] = "failure"
    command: str
    exit_code: int
    error: str

    @property
    def title(self) -> str:
        return f"etrade {self.command} failed (exit {self.exit_code})"

    @property
    def body(self) -> str:
        return f"{self.error}\nThe run was stopped; nothing more was sent. Check the message above."

    @property
    def dedupe_key(self) -> str | None:
        return f"{self.command}:{self.exit_code}:{self.error}"


# --- orders ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderEvent(Event):
    """An order of the journal. `tag` is B1/B2 for entries, the exit reason for exits, or the
    journal purpose (e.g. MANUAL, BROKER_STOP); `price` USD per share when known."""

    symbol: str
    side: str
    quantity: int
    tag: str
    client_order_id: str
    price: float | None = None
    message: str = ""

    def _what(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol} ({self.tag})"


@dataclass(frozen=True)
class OrderIntended(OrderEvent):
    """An order intent was journaled (before anything is sent)."""

    type: ClassVar[str] = "order.intended"

    @property
    def title(self) -> str:
        return f"Order intent: {self._what()}"


@dataclass(frozen=True)
class OrderPlaced(OrderEvent):
    """The broker accepted an order (`broker_order_id`)."""

    type: ClassVar[str] = "order.placed"
    broker_order_id: str = ""

    @property
    def title(self) -> str:
        return f"Order placed: {self._what()}"

    @property
    def body(self) -> str:
        return f"clientOrderId {self.client_order_id}, broker order {self.broker_order_id}"


@dataclass(frozen=True)
class OrderFilled(OrderEvent):
    """A fill: `quantity` shares at `price` USD; `pnl` is the realized P&L (USD, after
    commission) of an exit fill, None for entries."""

    type: ClassVar[str] = "order.filled"
    level: ClassVar[str] = "success"
    pnl: float | None = None

    @property
    def title(self) -> str:
        return (
            f"Filled: {self.side} {self.quantity} {self.symbol} @ {_money(self.price)} ({self.tag})"
        )

    @property
    def body(self) -> str:
        pnl = "" if self.pnl is None else f"Realized P&L {_money(self.pnl)} USD. "
        return (
            f"{self.side} {self.quantity} shares of {self.symbol} at {_money(self.price)} USD "
            f"({self.tag}). {pnl}clientOrderId {self.client_order_id}. "
            "See `etrade positions`."
        )


@dataclass(frozen=True)
class OrderRejected(OrderEvent):
    """The broker, a preview or a safety rule refused an order."""

    type: ClassVar[str] = "order.rejected"
    level: ClassVar[str] = "warning"

    @property
    def title(self) -> str:
        return f"Order rejected: {self._what()}"

    @property
    def body(self) -> str:
        return f"{self.message or 'no reason given'} (clientOrderId {self.client_order_id})"


@dataclass(frozen=True)
class OrderCancelled(OrderRejected):
    """An order ended cancelled (by a person at the broker, or dropped as stale)."""

    type: ClassVar[str] = "order.cancelled"

    @property
    def title(self) -> str:
        return f"Order cancelled: {self._what()}"


@dataclass(frozen=True)
class OrderExpired(OrderRejected):
    """An order's term ran out at the broker (a DAY order after the close)."""

    type: ClassVar[str] = "order.expired"

    @property
    def title(self) -> str:
        return f"Order expired: {self._what()}"


# --- decisions and warnings --------------------------------------------------------------------


@dataclass(frozen=True)
class ExitDecided(Event):
    """Spec §6 decided to sell `quantity` shares of a position for `reason`, at `price` USD."""

    type: ClassVar[str] = "exit.decided"
    symbol: str
    tag: str
    reason: str
    quantity: int
    price: float | None = None

    @property
    def title(self) -> str:
        return f"Exit: SELL {self.quantity} {self.symbol} ({self.tag}, {self.reason})"


@dataclass(frozen=True)
class RiskRefused(Event):
    """A `[risk]` check blocked an entry (`action` B1/B2)."""

    type: ClassVar[str] = "risk.refused"
    level: ClassVar[str] = "warning"
    symbol: str
    action: str
    reason: str

    @property
    def title(self) -> str:
        return f"Entry blocked: {self.action} {self.symbol}"

    @property
    def body(self) -> str:
        return f"{self.reason}. Adjust [risk] in the config if this limit is wrong."

    @property
    def dedupe_key(self) -> str | None:
        return f"{self.symbol}:{self.action}:{self.reason}"


@dataclass(frozen=True)
class KillSwitch(Event):
    """The daily-loss kill switch is on: no new entries this session."""

    type: ClassVar[str] = "kill_switch"
    level: ClassVar[str] = "failure"
    account: str
    session: str
    reason: str

    @property
    def title(self) -> str:
        return f"Kill switch tripped ({self.session})"

    @property
    def body(self) -> str:
        return f"{self.reason}. No new entries until the next session; exits continue."

    @property
    def dedupe_key(self) -> str | None:
        return f"{self.account}:{self.session}"


@dataclass(frozen=True)
class ReconcileFinding(Event):
    """Reconciliation found something: severity `error` (a person must decide; the symbol is not
    traded: type `reconcile.mismatch`), else `info`/`warning` (type `reconcile.finding`)."""

    severity: str
    message: str

    @property
    def type(self) -> str:  # type: ignore[override]
        return "reconcile.mismatch" if self.severity == "error" else "reconcile.finding"

    @property
    def level(self) -> str:  # type: ignore[override]
        return "failure" if self.severity == "error" else "info"

    @property
    def title(self) -> str:
        return "Book and broker disagree" if self.severity == "error" else "Reconcile"

    @property
    def body(self) -> str:
        hint = (
            " Check `etrade positions` and the broker, then fix by hand."
            if (self.severity == "error")
            else ""
        )
        return self.message + hint

    @property
    def dedupe_key(self) -> str | None:
        return self.message if self.severity == "error" else None


@dataclass(frozen=True)
class StaleData(Event):
    """Bars are missing or old: decisions for `symbols` were skipped."""

    type: ClassVar[str] = "data.stale"
    level: ClassVar[str] = "warning"
    message: str
    symbols: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return "Stale or missing market data"

    @property
    def body(self) -> str:
        return self.message + " Check `etrade data status`."

    @property
    def dedupe_key(self) -> str | None:
        return self.message


# --- login -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenExpired(Event):
    """The E*TRADE access token is missing or expired (or expires before `deadline_et`), so the
    next trading window would be missed. Sent at most once a day."""

    type: ClassVar[str] = "token.expired"
    level: ClassVar[str] = "failure"
    environment: str
    status: str  # missing | expired | expiring
    expires_at: str | None = None  # UTC ISO-8601
    deadline_et: str = "15:00"

    @property
    def title(self) -> str:
        return f"E*TRADE login needed ({self.environment}): token {self.status}"

    @property
    def body(self) -> str:
        when = ""
        if self.expires_at:
            from zoneinfo import ZoneInfo

            et = dt.datetime.fromisoformat(self.expires_at).astimezone(ZoneInfo("America/New_York"))
            verb = "expires" if self.status == "expiring" else "expired"
            when = f" The token {verb} at {et:%Y-%m-%d %H:%M} ET."
        return (
            f"Log in before {self.deadline_et} ET: run `etrade auth login`.{when} "
            "Without a valid token the buy window is missed."
        )

    @property
    def dedupe_key(self) -> str | None:
        return f"{self.environment}:{self.status}"


@dataclass(frozen=True)
class TokenExpiring(TokenExpired):
    """The token is valid now but expires before the end of the next trading window."""

    type: ClassVar[str] = "token.expiring"
    level: ClassVar[str] = "warning"


# --- summary -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DailySummary(Event):
    """The day's fills, realized and unrealized P&L (USD), open positions and equity (USD).

    `fills`: (side, quantity, symbol, price, tag) tuples; `positions`: (symbol, tag, shares,
    unrealized USD or None) tuples."""

    type: ClassVar[str] = "summary.daily"
    day: str
    broker: str
    realized: float
    unrealized: float
    equity: float | None
    fills: tuple[tuple[str, int, str, float | None, str], ...] = ()
    positions: tuple[tuple[str, str, int, float | None], ...] = ()

    @property
    def title(self) -> str:
        return f"{self.day} {self.broker}: P&L {_money(self.realized)} realized"

    @property
    def body(self) -> str:
        lines = [
            f"Realized {_money(self.realized)}, unrealized {_money(self.unrealized)}, "
            f"equity {_money(self.equity)} USD"
        ]
        lines.append(f"Fills ({len(self.fills)}):" if self.fills else "No fills.")
        lines += [f" {s} {q} {sym} @ {_money(p)} {t}" for s, q, sym, p, t in self.fills[:12]]
        if len(self.fills) > 12:
            lines.append(f" ... and {len(self.fills) - 12} more")
        lines.append(f"Open positions ({len(self.positions)}):" if self.positions else "Flat.")
        lines += [f" {sym} {t} {n} sh {_money(u)}" for sym, t, n, u in self.positions[:12]]
        if len(self.positions) > 12:
            lines.append(f" ... and {len(self.positions) - 12} more")
        return "\n".join(lines)


@dataclass(frozen=True)
class TestMessage(Event):
    """`etrade notify test`."""

    __test__ = False  # not a pytest class
    type: ClassVar[str] = "test"

    @property
    def title(self) -> str:
        return "etrade-cli test notification"

    @property
    def body(self) -> str:
        return "Notifications from etrade-cli reach this channel."


#: every event type a notifier can be asked to send (`[notify] events`)
EVENT_TYPES: tuple[str, ...] = (
    "run.started",
    "run.finished",
    "run.failed",
    "order.intended",
    "order.placed",
    "order.filled",
    "order.rejected",
    "order.cancelled",
    "order.expired",
    "exit.decided",
    "risk.refused",
    "kill_switch",
    "reconcile.mismatch",
    "reconcile.finding",
    "data.stale",
    "token.expired",
    "token.expiring",
    "summary.daily",
)

#: what `[notify] events` sends by default: what a person must know or act on
DEFAULT_EVENTS: tuple[str, ...] = (
    "run.failed",
    "order.placed",
    "order.filled",
    "order.rejected",
    "order.cancelled",
    "order.expired",
    "risk.refused",
    "kill_switch",
    "reconcile.mismatch",
    "data.stale",
    "token.expired",
    "token.expiring",
    "summary.daily",
)


def stderr_warning(message: str) -> None:
    """Write `warning: <message>` (secrets redacted) as one line on stderr."""
    from .redact import redact

    sys.stderr.write(f"warning: {redact(message)}\n")


def emit(
    subscribers: Iterable[Subscriber],
    event: Event,
    warn: Callable[[str], None] = stderr_warning,
) -> None:
    """Call every subscriber with `event`, in order. A subscriber's exception never reaches the
    caller: it becomes one warning line (`warn`), and the next subscriber still runs."""
    for sub in subscribers:
        try:
            sub(event)
        except Exception as exc:
            name = getattr(sub, "name", None) or type(sub).__name__
            warn(f"event {event.type} not delivered to {name}: {type(exc).__name__}: {exc}")
