"""Bar providers: `CsvBarProvider` (CSV files, the bundled S&P 500 sample by default) and
`CachedBarProvider` (the local bar cache, filled from Alpaca). Both answer `get(symbols)`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError
from ..values import Bars
from . import SAMPLE_SP500
from .base import BarSource
from .csv import LoadReport, read_bars_csv

if TYPE_CHECKING:  # the bar cache (and sqlite3) loads only when a cache file exists
    from .cache import BarCache


class CsvBarProvider:
    """Bars from one or more CSV files (later files win for a symbol present in several), and
    before them from the local bar cache for every symbol it holds (`etrade data import`,
    `etrade data fetch`), so imported bars need no further setup and no keys.

    Files are read once, on first use. `warnings` collects one line per file with dropped rows.

    Args:
        paths: CSV files (default: the bundled S&P 500 sample).
        cache_path: the bar cache (`[paths] bars_db`); ignored when the file does not exist
            (it is never created here).
        parsed_dir: where parsed files are kept until they change (`marketdata/parsed.py`);
            None parses every file each time.
    """

    def __init__(
        self,
        paths: Iterable[Path] | None = None,
        cache_path: Path | None = None,
        parsed_dir: Path | None = None,
    ):
        self.paths = list(paths) if paths else [SAMPLE_SP500]
        self.cache_path = cache_path
        self.parsed_dir = parsed_dir
        self._bars: dict[str, Bars] | None = None
        self.reports: list[LoadReport] = []

    def all(self) -> dict[str, Bars]:
        """Every symbol's bars.

        Raises:
            DataError: from `read_bars_csv`.
        """
        if self._bars is None:
            bars: dict[str, Bars] = {}
            for path in self.paths:
                if self.parsed_dir is None:
                    found, report = read_bars_csv(path)
                else:
                    from .parsed import read_bars_cached

                    found, report = read_bars_cached(path, self.parsed_dir)
                self.reports.append(report)
                bars.update(found)
            self._bars = bars
        return self._bars

    @property
    def warnings(self) -> list[str]:
        """One line per loaded file that had rows dropped."""
        return [w for w in (r.warning() for r in self.reports) if w]

    def get(self, symbols: Iterable[str], *, strict: bool = False) -> tuple[list[Bars], list[str]]:
        """Bars for `symbols` in the given order, and the symbols that have no data.

        Raises:
            DataError: with `strict`, when any symbol has no data (all of them named).
        """
        wanted = list(symbols)
        cached = self._cached(wanted)
        data = self.all() if len(cached) < len(set(wanted)) else {}
        found, missing = [], []
        for s in wanted:
            bars = cached.get(s) or data.get(s)
            (found.append(bars) if bars is not None else missing.append(s))
        if strict and missing:
            raise DataError(f"no data for symbol(s): {', '.join(missing)} in {self._where()}")
        return found, missing

    def _cached(self, symbols: list[str]) -> dict[str, Bars]:
        """Bars of `symbols` held by the bar cache (none without a cache file)."""
        if self.cache_path is None or not self.cache_path.exists():
            return {}
        from .cache import BarCache

        cache = BarCache(self.cache_path)
        try:
            return cache.load(symbols)
        finally:
            cache.close()

    def _where(self) -> str:
        files = ", ".join(p.name for p in self.paths)
        return files + (" or the bar cache" if self.cache_path is not None else "")


class CachedBarProvider:
    """Bars from the local bar cache, fetching from `source` only the days not covered yet.

    For each symbol the wanted range is [end - history_days, end]; symbols missing the same
    sub-range are fetched together, so a warm cache sends no request at all.

    Args:
        cache: the `BarCache`. source: a `BarSource` (Alpaca's, a plug-in's).
            history_days: lookback, calendar days.
        end: the last completed session date to cover (US/Eastern).
    """

    def __init__(self, cache: BarCache, source: BarSource, history_days: int, end: dt.date):
        self.cache, self.source = cache, source
        self.start = end - dt.timedelta(days=history_days)
        self.end = end
        self.warnings: list[str] = []

    @property
    def requests(self) -> int:
        """Bar requests sent so far."""
        return int(self.source.requests)

    def refresh(
        self, symbols: Iterable[str], on_progress: Callable[[int], None] | None = None
    ) -> int:
        """Fetch what the cache lacks for `symbols`; returns the number of bars stored."""
        plan: dict[tuple[str, str], list[str]] = {}
        for sym in symbols:
            for rng in self.cache.missing(sym, self.start.isoformat(), self.end.isoformat()):
                plan.setdefault(rng, []).append(sym)
        stored = 0
        for (lo, hi), syms in plan.items():
            fetched = self.source.fetch(syms, dt.date.fromisoformat(lo), dt.date.fromisoformat(hi))
            if notes := getattr(self.source, "warnings", None):  # dropped payload values
                self.warnings.extend(notes)
                notes.clear()
            for sym in syms:
                if sym in fetched:
                    stored += self.cache.store(fetched[sym], self.source.name, lo, hi)
                else:
                    self.cache.mark_covered(sym, lo, hi)
            if on_progress:
                on_progress(len(syms))
        return stored

    def get(self, symbols: Iterable[str], *, strict: bool = False) -> tuple[list[Bars], list[str]]:
        """Bars for `symbols` (refreshing the cache first), and the symbols with no data.

        Raises:
            DataError: with `strict`, when any symbol has no data.
        """
        wanted = list(symbols)
        self.refresh(wanted)
        data = self.cache.load(wanted)
        missing = [s for s in wanted if s not in data]
        if strict and missing:
            raise DataError(f"no data for symbol(s): {', '.join(missing)} from {self.source.name}")
        return [data[s] for s in wanted if s in data], missing
