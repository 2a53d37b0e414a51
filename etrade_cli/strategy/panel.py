"""Daily bars as values: one symbol's `Bars`, and a `Panel` of many symbols for vectorized maths.

A `Panel` stores each symbol as a column of a (rows, symbols) array, front-padded with NaN so that
every column holds only that symbol's own consecutive bars and the last row is its last bar. Any
rolling window along axis 0 therefore sees exactly the symbol's previous bars (spec §1: "the last n
closes"), whatever dates other symbols trade on, and one pass computes every bar t of every symbol.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..values import Bars

__all__ = ["FIELDS", "Bars", "Panel"]


FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Panel:
    """Many symbols' bars as front-padded (rows, symbols) arrays; see the module doc.

    Attributes:
        symbols: column names.
        dates: (rows, symbols) `datetime64[D]`, NaT in the padding.
        open, high, low, close, volume: (rows, symbols) float64, NaN in the padding.
        n_bars: (symbols,) number of real bars per column.
    """

    symbols: tuple[str, ...]
    dates: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    n_bars: np.ndarray

    @classmethod
    def from_bars(cls, bars: list[Bars]) -> Panel:
        """Stack symbols into a panel; column order follows `bars`."""
        rows = max((len(b) for b in bars), default=0)
        cols = len(bars)
        dates = np.full((rows, cols), np.datetime64("NaT"), dtype="datetime64[D]")
        arrays = {f: np.full((rows, cols), np.nan) for f in FIELDS}
        for j, b in enumerate(bars):
            start = rows - len(b)
            dates[start:, j] = b.dates
            for f in FIELDS:
                arrays[f][start:, j] = getattr(b, f)
        n_bars = np.array([len(b) for b in bars], dtype=np.int64)
        return cls(tuple(b.symbol for b in bars), dates, n_bars=n_bars, **arrays)

    @property
    def first_row(self) -> np.ndarray:
        """(symbols,) row index of each column's first real bar."""
        return self.dates.shape[0] - self.n_bars

    def row_at(self, col: int, date: np.datetime64) -> int:
        """Row of the last bar of column `col` dated on or before `date`; -1 if none."""
        start = int(self.first_row[col])
        i = int(np.searchsorted(self.dates[start:, col], date, side="right")) - 1
        return -1 if i < 0 else start + i
