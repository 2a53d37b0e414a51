"""`CsvBarProvider`: daily bars read from CSV files, the bundled S&P 500 sample by default."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..errors import DataError
from ..strategy.panel import Bars
from . import SAMPLE_SP500
from .csv import LoadReport, read_bars_csv


class CsvBarProvider:
    """Bars from one or more CSV files (later files win for a symbol present in several).

    Files are read once, on first use. `warnings` collects one line per file with dropped rows.
    """

    def __init__(self, paths: Iterable[Path] | None = None):
        self.paths = list(paths) if paths else [SAMPLE_SP500]
        self._bars: dict[str, Bars] | None = None
        self.reports: list[LoadReport] = []

    @property
    def is_sample(self) -> bool:
        """True when reading only the bundled sample."""
        return self.paths == [SAMPLE_SP500]

    def all(self) -> dict[str, Bars]:
        """Every symbol's bars.

        Raises:
            DataError: from `read_bars_csv`.
        """
        if self._bars is None:
            bars: dict[str, Bars] = {}
            for path in self.paths:
                found, report = read_bars_csv(path)
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
        data = self.all()
        found, missing = [], []
        for s in symbols:
            (found.append(data[s]) if s in data else missing.append(s))
        if strict and missing:
            raise DataError(f"no data for symbol(s): {', '.join(missing)} in {self._where()}")
        return found, missing

    def _where(self) -> str:
        return ", ".join(p.name for p in self.paths)
