"""The local daily-bar cache (SQLite, WAL), so repeated scans and runs fetch only missing days.

Two tables: `bars` (one row per symbol and session date, prices USD, volume shares, its source)
and `coverage` (per symbol, the date range that has been fetched or imported, whether or not
every day in it has a bar: weekends and holidays have none). A range is "covered" when it lies
inside the recorded coverage, so a second request for the same days sends nothing.
Schema changes: append-only named migrations, as in `etrade_cli.store`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import db as dbutil
from ..errors import ConfigError
from ..values import Bars


def m001_bars(db: sqlite3.Connection) -> None:
    """Bars and coverage."""
    db.execute(
        "CREATE TABLE bars (symbol TEXT NOT NULL, date TEXT NOT NULL, open REAL NOT NULL,"
        " high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL, volume REAL NOT NULL,"
        " source TEXT NOT NULL, PRIMARY KEY (symbol, date)) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE coverage (symbol TEXT PRIMARY KEY, start TEXT NOT NULL, "
        "end TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )


MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [("m001_bars", m001_bars)]


@dataclass(frozen=True)
class Coverage:
    """What the cache holds for a symbol: the covered date range and the bars in it."""

    symbol: str
    start: str | None
    end: str | None
    first_bar: str | None
    last_bar: str | None
    bars: int


class BarCache:
    """Daily bars in SQLite at `path` (created and migrated on first use).

    Raises:
        ConfigError: the folder cannot be created. BusyError, ReadOnlyError, CorruptError,
            DiskFullError, StorageError: the file cannot be used (see `etrade_cli.db`).
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the bar cache folder {path.parent}: {exc}") from None
        self.db = dbutil.connect(path, "the bar cache")
        try:
            dbutil.migrate(self.db, MIGRATIONS)
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return dbutil.transaction(self.db)

    # -- writing ----------------------------------------------------------------------------

    def store(
        self, bars: Bars, source: str, start: str | None = None, end: str | None = None
    ) -> int:
        """Upsert `bars` and widen the symbol's coverage to [start, end] (default: the bars'
        own first and last dates), in one transaction. Returns the number of bars written."""
        with self._tx() as db:
            return self._upsert(db, bars, source, start, end)

    def store_all(self, items: Iterable[tuple[Bars, str]]) -> dict[str, int]:
        """Upsert several (bars, source) pairs in ONE transaction, all or nothing (a full disk
        or a busy cache midway leaves the cache as it was). Returns bars written per symbol."""
        counts: dict[str, int] = {}
        with self._tx() as db:
            for bars, source in items:
                n = self._upsert(db, bars, source, None, None)
                counts[bars.symbol] = counts.get(bars.symbol, 0) + n
        return counts

    def _upsert(
        self, db: sqlite3.Connection, bars: Bars, source: str, start: str | None, end: str | None
    ) -> int:
        rows = [
            (bars.symbol, str(d), float(o), float(h), float(lo), float(c), float(v), source)
            for d, o, h, lo, c, v in zip(
                bars.dates, bars.open, bars.high, bars.low, bars.close, bars.volume
            )
        ]
        start = start or (str(bars.dates[0]) if len(bars) else None)
        end = end or (str(bars.dates[-1]) if len(bars) else None)
        db.executemany("INSERT OR REPLACE INTO bars VALUES (?,?,?,?,?,?,?,?)", rows)
        if start and end:
            self._widen(db, bars.symbol, start, end)
        return len(rows)

    def _widen(self, db: sqlite3.Connection, symbol: str, start: str, end: str) -> None:
        row = db.execute("SELECT start, end FROM coverage WHERE symbol = ?", (symbol,)).fetchone()
        if row:
            start, end = min(start, row[0]), max(end, row[1])
        db.execute(
            "INSERT OR REPLACE INTO coverage VALUES (?,?,?,?)",
            (symbol, start, end, dt.datetime.now(dt.timezone.utc).isoformat()),
        )

    def mark_covered(self, symbol: str, start: str, end: str) -> None:
        """Record that [start, end] was fetched for `symbol` even if it had no bars."""
        with self._tx() as db:
            self._widen(db, symbol, start, end)

    # -- reading ----------------------------------------------------------------------------

    def coverage(self, symbol: str) -> tuple[str, str] | None:
        """The covered (start, end) of `symbol`, or None."""
        row = self.db.execute(
            "SELECT start, end FROM coverage WHERE symbol = ?", (symbol,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def missing(self, symbol: str, start: str, end: str) -> list[tuple[str, str]]:
        """Sub-ranges of [start, end] not covered yet for `symbol` (at most two: before and
        after the covered range)."""
        cov = self.coverage(symbol)
        if cov is None:
            return [(start, end)]
        day = dt.timedelta(days=1)
        out = []
        if start < cov[0]:
            out.append((start, (dt.date.fromisoformat(cov[0]) - day).isoformat()))
        if end > cov[1]:
            out.append(((dt.date.fromisoformat(cov[1]) + day).isoformat(), end))
        return out

    def load(self, symbols: Iterable[str], start: str | None = None) -> dict[str, Bars]:
        """Bars of `symbols` from `start` on (all if None); symbols without bars are absent."""
        out = {}
        for sym in symbols:
            rows = self.db.execute(
                "SELECT date, open, high, low, close, volume FROM bars WHERE symbol = ? AND "
                "date >= ? ORDER BY date",
                (sym, start or ""),
            ).fetchall()
            if rows:
                cols = list(zip(*rows))
                out[sym] = Bars(
                    sym,
                    np.array(cols[0], dtype="datetime64[D]"),
                    *(np.array(c, dtype=np.float64) for c in cols[1:]),
                )
        return out

    def status(self, symbols: Iterable[str] | None = None) -> list[Coverage]:
        """Coverage of the given symbols (all cached ones if None), sorted by symbol."""
        rows = self.db.execute(
            "SELECT c.symbol, c.start, c.end, min(b.date), max(b.date), count(b.date) "
            "FROM coverage c LEFT JOIN bars b ON b.symbol = c.symbol GROUP BY c.symbol "
            "UNION SELECT b.symbol, NULL, NULL, min(b.date), max(b.date), count(*) FROM bars b "
            "WHERE b.symbol NOT IN (SELECT symbol FROM coverage) GROUP BY b.symbol "
            "ORDER BY 1"
        ).fetchall()
        found = [Coverage(*r) for r in rows]
        if symbols is None:
            return found
        wanted = set(symbols)
        have = {c.symbol for c in found}
        return [c for c in found if c.symbol in wanted] + [
            Coverage(s, None, None, None, None, 0) for s in sorted(wanted - have)
        ]

    def dates(self, symbol: str) -> list[str]:
        """The session dates cached for `symbol`, ascending."""
        return [
            r[0]
            for r in self.db.execute(
                "SELECT date FROM bars WHERE symbol = ? ORDER BY date", (symbol,)
            )
        ]
