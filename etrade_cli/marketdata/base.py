"""The bar-source seam: what the engine and the commands need from a source of daily bars.

- `BarProvider` answers `get(symbols)` with whole histories (`CsvBarProvider`, and
  `CachedBarProvider` over the local bar cache). A registered bar source's factory returns one.
- `BarSource` is a remote service the bar cache is filled from (Alpaca, a plug-in's): it
  fetches a date range for many symbols at once.

Bars are `values.Bars`: `datetime64[D]` session dates (US/Eastern), prices USD, volume shares.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Protocol

from ..values import Bars


class BarProvider(Protocol):
    """Daily bars for whole histories.

    Attributes:
        warnings: one line per problem met while loading (dropped rows, ...), for stderr.
    """

    warnings: list[str]

    def get(self, symbols: Iterable[str], *, strict: bool = False) -> tuple[list[Bars], list[str]]:
        """Bars for `symbols` in the given order, and the symbols that have none.

        Raises:
            DataError: with `strict`, when any symbol has no data; or unreadable data.
        """
        ...


class BarSource(Protocol):
    """A remote source of daily bars, used through the bar cache (`CachedBarProvider`).

    Attributes:
        name: stored with each cached bar ("alpaca", ...). requests: requests sent so far.
    """

    name: str

    @property
    def requests(self) -> int:
        """Requests sent so far (for benchmarks and `data fetch`)."""
        ...

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> dict[str, Bars]:
        """Daily bars of `symbols` dated in [start, end] (US/Eastern session dates); symbols
        without bars are absent.

        Raises:
            AuthError: missing or rejected keys. ApiError / TemporaryApiError: service errors.
        """
        ...
