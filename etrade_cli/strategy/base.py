"""The strategy seam: the `Strategy` protocol and the plain values it exchanges with the engine.

A strategy turns daily bars into verdicts (`evaluate`), orders and classifies a session's
signals against the open positions (`order_key`, `classify`), sizes an entry (`size`), gives the
initial stop of a new position (`initial_stop`) and plans the exits of an open one
(`plan_exit`). The engine, the scanner and the backtest see only this protocol, so a new
strategy is one module plus one registration (`registry.strategies`). Rajat Alpha v67
(`strategy.rajat_alpha`) is the first implementation.

Pure: no I/O, no clock; bars and prices are arguments. Prices USD, quantities whole shares,
dates `datetime64[D]` session dates (US/Eastern).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..values import Bars
from .panel import Panel


@dataclass(frozen=True)
class Signal:
    """A strategy's verdict for one symbol at one bar.

    Attributes:
        symbol: ticker. date: the bar's session date (`datetime64[D]`). close: USD.
        reason: the first failing entry filter, or None for a signal.
        pattern: the entry pattern's name (Rajat Alpha: "engulfing" | "piercing" | "tweezer"),
            or None.
        score: points earned (Rajat Alpha: 0..6). parts: score part name -> points earned.
    """

    symbol: str
    date: np.datetime64
    close: float
    reason: str | None
    pattern: str | None
    score: float
    parts: dict[str, float]

    @property
    def is_signal(self) -> bool:
        """True when every entry filter passed."""
        return self.reason is None


@dataclass(frozen=True)
class Evaluation:
    """Verdicts of a strategy for every bar of a `Panel` (arrays shaped like the panel).

    Attributes:
        panel: the bars evaluated.
        indicators: name -> array (for charts and debugging).
        reason: int8; 0 for a signal, else 1 + the index in `filters` of the first failing one.
        pattern: int8 codes into `pattern_names` (0 = no pattern, name None).
        parts: score part name -> 0/1 (bool or float) array; points = value x `weights[name]`.
        score: float array of points.
        filters: the entry filters' names, in evaluation order.
        pattern_names: code -> pattern name (index 0 is None).
        weights: score part name -> points, in display order.
    """

    panel: Panel
    indicators: dict[str, np.ndarray]
    reason: np.ndarray
    pattern: np.ndarray
    parts: dict[str, np.ndarray]
    score: np.ndarray
    filters: tuple[str, ...] = ()
    pattern_names: tuple[str | None, ...] = (None,)
    weights: dict[str, float] = field(default_factory=dict)

    def signal(self, col: int, row: int) -> Signal:
        """The verdict of column `col` at row `row` (a real bar)."""
        p = self.panel
        code = int(self.reason[row, col])
        return Signal(
            symbol=p.symbols[col],
            date=p.dates[row, col],
            close=float(p.close[row, col]),
            reason=None if code == 0 else self.filters[code - 1],
            pattern=self.pattern_names[int(self.pattern[row, col])],
            score=float(self.score[row, col]),
            parts={k: float(v[row, col]) * self.weights.get(k, 1.0) for k, v in self.parts.items()},
        )

    def at(self, symbol: str, date: np.datetime64 | None = None) -> Signal | None:
        """Verdict for `symbol` at its last bar on or before `date` (its last bar if None).

        Returns None when the symbol has no bar on or before `date`.

        Raises:
            KeyError: the symbol is not in the panel.
        """
        col = self.panel.symbols.index(symbol)
        row = self.panel.dates.shape[0] - 1 if date is None else self.panel.row_at(col, date)
        return None if row < 0 else self.signal(col, row)

    def signals_by_date(self) -> dict[np.datetime64, list[tuple[int, int]]]:
        """Every passing (col, row), grouped by session date; for replaying history."""
        rows, cols = np.nonzero(self.reason == 0)
        out: dict[np.datetime64, list[tuple[int, int]]] = {}
        for r, c in zip(rows.tolist(), cols.tolist()):
            out.setdefault(self.panel.dates[r, c], []).append((c, r))
        return out

    def iter_at(self, date: np.datetime64) -> Iterator[Signal]:
        """The verdict of every symbol whose last bar on or before `date` exists."""
        for col in range(len(self.panel.symbols)):
            row = self.panel.row_at(col, date)
            if row >= 0:
                yield self.signal(col, row)


@dataclass
class Book:
    """Open positions as a classifier needs them: symbol -> set of open position tags."""

    open_types: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Book:
        """Build from (symbol, tag) pairs of open positions."""
        book = cls()
        for symbol, tag in pairs:
            book.add(symbol, tag)
        return book

    def add(self, symbol: str, tag: str) -> None:
        """Record one more open position tagged `tag` in `symbol`."""
        self.open_types.setdefault(symbol, set()).add(tag)

    def count(self, tag: str) -> int:
        """Number of symbols with an open position tagged `tag`."""
        return sum(tag in tags for tags in self.open_types.values())

    def has(self, symbol: str, tag: str) -> bool:
        """True when `symbol` has an open position tagged `tag`."""
        return tag in self.open_types.get(symbol, ())

    def copy(self) -> Book:
        """An independent copy."""
        return Book({k: set(v) for k, v in self.open_types.items()})


@dataclass(frozen=True)
class Decision:
    """A classified signal. `action` is the position tag to open (Rajat Alpha: B1, B2) when
    `enter` is True, else why not as a short label (OPP, SKIP); `why` explains a non-entry."""

    signal: Signal
    action: str
    why: str = ""
    enter: bool = False


@dataclass(frozen=True)
class PositionState:
    """What an exit plan needs of a position. Prices USD, quantities shares.

    Attributes:
        kind: the position's tag (Rajat Alpha: "B1" | "B2"). entry_price: fill price.
        original_qty: shares bought. remaining_qty: shares still held (and not already being
            sold by a live exit order). stop_loss: current stop (USD).
        targets_hit: how many profit targets are already done.
    """

    kind: str
    entry_price: float
    original_qty: int
    remaining_qty: int
    stop_loss: float
    targets_hit: int = 0


@dataclass(frozen=True)
class ExitPlan:
    """What to do: `sells` as (reason, shares) in order; the new stop and targets-done count.

    Reasons are short codes shown in the journal (Rajat Alpha: "SL" stop loss, "TES" time exit,
    "PT1".."PTn" profit targets).
    """

    stop_loss: float
    targets_hit: int
    sells: list[tuple[str, int]] = field(default_factory=list)

    def shares(self) -> int:
        """Total shares sold by the plan."""
        return sum(q for _, q in self.sells)


@runtime_checkable
class Strategy(Protocol):
    """What the engine, the scanner and the backtest need from a strategy.

    Attributes:
        name: the registry name (`[strategy] name`).
        params: the strategy's own parameters (a frozen dataclass).
        warmup_bars: bars of history a symbol needs before its first possible signal.
    """

    name: str
    params: Any
    warmup_bars: int

    def evaluate(self, bars: Sequence[Bars], benchmark: Bars | None = None) -> Evaluation:
        """Verdicts for every bar of every symbol in `bars` (one pass; no look-ahead)."""
        ...

    def benchmark_symbol(self) -> str | None:
        """A symbol whose bars `evaluate` needs as `benchmark`, or None."""
        ...

    def order_key(self, sig: Signal) -> tuple[Any, ...]:
        """Sort key of a session's signals: the first is considered first."""
        ...

    def classify(self, sig: Signal, book: Book) -> Decision:
        """Decide whether `sig` opens a position given the open ones (does not change `book`)."""
        ...

    def size(self, tag: str, price: float, cash: float, open_value: float) -> tuple[int, float]:
        """Whole shares to buy for a new `tag` position at `price` (USD), given the cash and the
        market value of open positions (USD). Returns (shares, amount_usd); 0 shares = skip."""
        ...

    def initial_stop(self, tag: str, entry_price: float) -> float:
        """The stop (USD) of a new position filled at `entry_price`."""
        ...

    def plan_exit(self, pos: PositionState, price: float, bars_held: int) -> ExitPlan:
        """Exits of one open position at `price` after `bars_held` sessions (entry = 0)."""
        ...

    def buy_window(self) -> tuple[int, int] | None:
        """The intraday entry window as (start, end) minutes after midnight US/Eastern for live
        runs, or None for any time of the session."""
        ...


def classify_all(strategy: Strategy, signals: Iterable[Signal], book: Book) -> list[Decision]:
    """Classify a session's signals in the strategy's order, each against the book as updated by
    the earlier entries of the same call (the caller's `book` is not modified)."""
    work = book.copy()
    out = []
    for sig in sorted(signals, key=strategy.order_key):
        d = strategy.classify(sig, work)
        if d.enter:
            work.add(sig.symbol, d.action)
        out.append(d)
    return out


# --- the optional proposal capability ------------------------------------------------------------


class ProposalsUnavailable(Exception):
    """A proposer could not give proposals (service down, timeout, an answer that breaks the
    contract); `str(exc)` names the problem in one line, without secrets."""


@dataclass(frozen=True)
class Proposal:
    """An order proposed by a `Proposer` (the signal-service contract's `proposals[]` item).

    Attributes:
        id: the proposer's id (<= 64 chars, unique): the order's `clientOrderId` is derived
            from it, so a proposal sent again is never executed twice.
        symbol: ticker. side: "BUY" or "SELL".
        quantity: shares (must be whole to pass the engine's checks) or None.
        notional_usd: amount to invest (USD) when `quantity` is None, or None.
        price_type: "MARKET" or "LIMIT". limit_price: USD, for LIMIT.
        stop_loss: the stop (USD) of the position a BUY opens, or None for the default.
        tag: the position tag of a BUY (free-form, <= 32 chars), or None.
        reason: the proposer's explanation, or None.
    """

    id: str
    symbol: str
    side: str
    quantity: float | None = None
    notional_usd: float | None = None
    price_type: str = "MARKET"
    limit_price: float | None = None
    stop_loss: float | None = None
    tag: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class HeldPosition:
    """An open position as a proposer sees it: shares, average fill price (USD), tag."""

    symbol: str
    quantity: int
    avg_price: float
    tag: str


@dataclass(frozen=True)
class ProposalContext:
    """What a proposer is told: the session (YYYY-MM-DD, US/Eastern), the run's time (ISO-8601
    UTC), the account's equity and cash (USD), its open positions and the tradable universe."""

    session: str
    as_of: str
    equity: float
    cash: float
    positions: tuple[HeldPosition, ...]
    universe: tuple[str, ...]


@dataclass(frozen=True)
class Sizing:
    """The engine's sizing of a proposal after its local checks: whole shares at an estimated
    price (USD; the limit price, else the last close), their notional and the order's
    `clientOrderId`."""

    quantity: int
    price: float
    notional_usd: float
    client_order_id: str


@runtime_checkable
class Proposer(Protocol):
    """An optional strategy capability: instead of bar signals, the strategy proposes orders.

    The engine detects it (`isinstance(strategy, Proposer)`), asks `propose` once per cycle
    after the rule exits, runs its own risk checks on every proposal, then `review`, and
    journals an approved one before sending it. Rewards (`reward`) are kept in the book's
    outbox until accepted. A proposer cannot reach around the engine's checks.
    """

    def propose(self, ctx: ProposalContext) -> list[Proposal]:
        """This cycle's proposals. Raises `ProposalsUnavailable`."""
        ...

    def review(self, proposal: Proposal, sizing: Sizing, ctx: ProposalContext) -> tuple[bool, str]:
        """A second opinion after the local checks: (approved, reason). Raises
        `ProposalsUnavailable` when it could not be asked (the engine rejects the proposal)."""
        ...

    def reward(self, key: str, body: dict[str, Any]) -> None:
        """Deliver one reward; `key` is its idempotency key (the same on every attempt).
        Raises `ProposalsUnavailable` when it was not accepted."""
        ...

    def supports_replay(self) -> bool:
        """True when proposals can be asked for past sessions (a backtest)."""
        ...
