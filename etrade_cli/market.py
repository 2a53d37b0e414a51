"""`MarketView`: the engine's clock and prices over daily bars evaluated once.

For CSV data the clock is the data's own (spec §1, issue "Position book"): a session is a date on
which the data has bars, a run at session D sees the bar closes of D, and `bars_held` counts the
data's sessions. The strategy's `Evaluation` is computed once for the whole history, so a
backtest replaying every session costs one evaluation, not one per day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from .strategy.base import Evaluation, Signal, Strategy
from .values import Bars


class MarketView:
    """Prices, sessions and signals of an `Evaluation`.

    Args:
        evaluation: the strategy evaluated over every symbol the run may touch.
        tradable: symbols that may be entered (the universe); others are priced only.
    """

    def __init__(self, evaluation: Evaluation, tradable: Iterable[str] | None = None):
        self.ev = evaluation
        panel = evaluation.panel
        self.col = {s: i for i, s in enumerate(panel.symbols)}
        self.tradable = set(panel.symbols if tradable is None else tradable)
        dates = panel.dates[~np.isnat(panel.dates)]
        self.sessions = np.unique(dates)
        self._by_date: dict[np.datetime64, list[tuple[int, int]]] | None = None
        #: live runs only: why the market is closed now (None = open, or the data's clock)
        self.closed_reason: str | None = None
        #: live runs only: whether now is inside the buy window (always True on the data clock)
        self.buy_window_open = True
        #: the exchange calendar, when known: True if a date is a session (NYSE), so that a
        #: date missing from the data can be told apart from a holiday (set by services)
        self.exchange_session: Callable[[dt.date], bool] | None = None

    @classmethod
    def from_bars(
        cls,
        bars: Sequence[Bars],
        strategy: Strategy,
        tradable: Iterable[str] | None = None,
        benchmark: Bars | None = None,
    ) -> MarketView:
        """Evaluate `bars` once with `strategy` and wrap them."""
        return cls(strategy.evaluate(list(bars), benchmark), tradable)

    # -- clock ------------------------------------------------------------------------------

    def session_on_or_before(self, day: np.datetime64 | None) -> np.datetime64 | None:
        """The latest session on or before `day` (the latest session if None); None if none."""
        if not len(self.sessions):
            return None
        if day is None:
            return self.sessions[-1]
        # the array's method: np.searchsorted's dispatch wrapper costs more than the search
        i = int(self.sessions.searchsorted(day, side="right")) - 1
        return None if i < 0 else self.sessions[i]

    def is_session(self, day: np.datetime64) -> bool:
        """True when the data has bars dated `day`."""
        i = int(np.searchsorted(self.sessions, day))
        return i < len(self.sessions) and self.sessions[i] == day

    def sessions_between(
        self, start: np.datetime64 | None, end: np.datetime64 | None
    ) -> np.ndarray:
        """Sessions in [start, end] (open-ended where None)."""
        s = self.sessions
        if start is not None:
            s = s[s >= start]
        if end is not None:
            s = s[s <= end]
        return s

    def bars_held(self, entry_date: str, session: np.datetime64) -> int:
        """Sessions after `entry_date` up to and including `session` (entry session = 0; §6.2)."""
        lo = int(self.sessions.searchsorted(np.datetime64(entry_date), side="right"))
        hi = int(self.sessions.searchsorted(session, side="right"))
        return max(0, hi - lo)

    def in_buy_window(self, session: np.datetime64) -> bool:
        """With the data's clock a run happens at the bar close, inside the buy window; a live
        run checks the time of day (spec §7)."""
        return self.buy_window_open

    # -- prices and signals -----------------------------------------------------------------

    def _row(self, symbol: str, day: np.datetime64) -> int:
        col = self.col.get(symbol)
        return -1 if col is None else self.ev.panel.row_at(col, day)

    def close(self, symbol: str, session: np.datetime64) -> float | None:
        """Close (USD) of the bar dated exactly `session`; None when there is no such bar."""
        row = self._row(symbol, session)
        if row < 0:
            return None
        col = self.col[symbol]
        return (
            float(self.ev.panel.close[row, col])
            if self.ev.panel.dates[row, col] == session
            else None
        )

    def last_close(self, symbol: str, session: np.datetime64) -> float | None:
        """Close (USD) of the last bar on or before `session` (for marking to market)."""
        row = self._row(symbol, session)
        return None if row < 0 else float(self.ev.panel.close[row, self.col[symbol]])

    def bars_between(
        self, symbol: str, after: str, through: str
    ) -> list[tuple[str, float, float, float, float]]:
        """Daily bars of `symbol` dated after session `after` up to and including `through`
        (YYYY-MM-DD), oldest first, as (session, open, high, low, close) in USD. The paper
        broker fills resting STOP/LIMIT orders against them (every session a run may skip)."""
        col = self.col.get(symbol)
        if col is None:
            return []
        p = self.ev.panel
        first = int(p.first_row[col])
        dates = p.dates[first:, col]
        lo = int(np.searchsorted(dates, np.datetime64(after), side="right"))
        hi = int(np.searchsorted(dates, np.datetime64(through), side="right"))
        return [
            (
                str(dates[i]),
                float(p.open[first + i, col]),
                float(p.high[first + i, col]),
                float(p.low[first + i, col]),
                float(p.close[first + i, col]),
            )
            for i in range(lo, hi)
        ]

    def last_closes(self, symbols: Sequence[str], days: Sequence[np.datetime64]) -> np.ndarray:
        """`last_close` of every symbol at every day as a (days, symbols) array, NaN where
        there is none: one search per symbol instead of one per (symbol, day)."""
        panel = self.ev.panel
        when = np.asarray(days, dtype="datetime64[D]")
        out = np.full((len(when), len(symbols)), np.nan)
        for j, symbol in enumerate(symbols):
            col = self.col.get(symbol)
            if col is None:
                continue
            start = int(panel.first_row[col])
            rows = np.searchsorted(panel.dates[start:, col], when, side="right") - 1
            found = rows >= 0
            out[found, j] = panel.close[start + rows[found], col]
        return out

    def signals(self, session: np.datetime64) -> list[Signal]:
        """Signals of tradable symbols dated exactly `session`."""
        if self._by_date is None:
            self._by_date = self.ev.signals_by_date()
        out = [self.ev.signal(c, r) for c, r in self._by_date.get(session, [])]
        return [s for s in out if s.symbol in self.tradable]

    def verdict(self, symbol: str, session: np.datetime64) -> Signal | None:
        """The strategy's verdict for `symbol` at `session` (None without a bar that day)."""
        if symbol not in self.col:
            return None
        sig = self.ev.at(symbol, session)
        return sig if sig is not None and sig.date == session else None
