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
        self.sessions = _distinct(dates)
        self._by_date: dict[np.datetime64, list[tuple[int, int]]] | None = None
        #: the same by session text (YYYY-MM-DD): a dict lookup by a numpy date compares
        #: numpy scalars (slow); one by its text compares strings (see `_text`)
        self._by_text: dict[str, list[tuple[int, int]]] | None = None
        #: session text -> index in `sessions`; per column, bar date text -> panel row (built
        #: when first asked: a backtest prices the few columns it holds, every session)
        self._session_index: dict[str, int] | None = None
        self._rows: dict[int, dict[str, int]] = {}
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

    def locate(self, day: np.datetime64) -> tuple[np.datetime64 | None, bool]:
        """(`session_on_or_before(day)`, whether `day` is that very session): the cycle's
        question, answered by one dict lookup when `day` is a session."""
        i = self._session_at(day)
        if i is not None:
            return self.sessions[i], True
        session = self.session_on_or_before(day)
        return session, session is not None and bool(session == day)

    def _session_at(self, day: np.datetime64 | str) -> int | None:
        """Index of session `day` in `sessions`, None when it is not one (or not a D date)."""
        text = _text(day)
        if text is None:
            return None
        if self._session_index is None:
            days = np.datetime_as_string(self.sessions.astype("datetime64[D]")).tolist()
            self._session_index = {d: i for i, d in enumerate(days)}
        return self._session_index.get(text)

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
        # a session's own index + 1 is what the search "right of it" gives
        lo = self._session_at(entry_date)
        lo = (
            int(self.sessions.searchsorted(np.datetime64(entry_date), side="right"))
            if lo is None
            else lo + 1
        )
        hi = self._session_at(session)
        hi = int(self.sessions.searchsorted(session, side="right")) if hi is None else hi + 1
        return max(0, hi - lo)

    def in_buy_window(self, session: np.datetime64) -> bool:
        """With the data's clock a run happens at the bar close, inside the buy window; a live
        run checks the time of day (spec §7)."""
        return self.buy_window_open

    # -- prices and signals -----------------------------------------------------------------

    def _row(self, symbol: str, day: np.datetime64) -> int:
        col = self.col.get(symbol)
        return -1 if col is None else self.ev.panel.row_at(col, day)

    def _exact_row(self, symbol: str, day: np.datetime64) -> int | None:
        """Panel row of `symbol`'s bar dated exactly `day`, by the date's text (see `_rows`);
        None when there is none or `day` is not a D date (the callers then search)."""
        col = self.col.get(symbol)
        text = _text(day)
        if col is None or text is None:
            return None
        rows = self._rows.get(col)
        if rows is None:
            p = self.ev.panel
            first = int(p.first_row[col])
            days = np.datetime_as_string(p.dates[first:, col]).tolist()
            rows = self._rows[col] = {d: first + i for i, d in enumerate(days)}
        return rows.get(text)

    def close(self, symbol: str, session: np.datetime64) -> float | None:
        """Close (USD) of the bar dated exactly `session`; None when there is no such bar."""
        exact = self._exact_row(symbol, session)
        if exact is not None:
            return float(self.ev.panel.close[exact, self.col[symbol]])
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
        row = self._exact_row(symbol, session)
        if row is None:
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
            texts = {t: cells for d, cells in self._by_date.items() if (t := _text(d))}
            self._by_text = texts if len(texts) == len(self._by_date) else None
        text = _text(session)
        cells = (
            self._by_date.get(session, [])
            if text is None or self._by_text is None
            else self._by_text.get(text, [])
        )
        if not cells:  # most sessions
            return []
        out = [self.ev.signal(c, r) for c, r in cells]
        return [s for s in out if s.symbol in self.tradable]

    def verdict(self, symbol: str, session: np.datetime64) -> Signal | None:
        """The strategy's verdict for `symbol` at `session` (None without a bar that day)."""
        if symbol not in self.col:
            return None
        sig = self.ev.at(symbol, session)
        return sig if sig is not None and sig.date == session else None


def _text(day: np.datetime64 | str) -> str | None:
    """`day` as YYYY-MM-DD, the text of a D date (and of a session of the data); None for any
    other text (another unit, a year beyond 9999), which callers compare as numpy dates."""
    text = day if isinstance(day, str) else str(day)
    return text if len(text) == 10 else None


def _distinct(dates: np.ndarray) -> np.ndarray:
    """The distinct dates, ascending: `np.unique` without its import of `numpy.ma` (about
    8 ms of every backtest's and scan's start-up, numpy 2)."""
    ordered = np.sort(dates, kind="stable")
    if len(ordered) < 2:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
