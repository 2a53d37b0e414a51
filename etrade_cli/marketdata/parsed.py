"""A cache of parsed CSV files: what `read_bars_csv` returned for a file, kept as one
uncompressed `.npz` (numpy arrays, no pickle) per source file in the user cache folder, so the
next command reads the bars back in milliseconds instead of parsing the text again (the bundled
524-symbol sample: about 150 ms of parsing, about 5 ms from the cache).

An entry is used only when the source file is the same file, unchanged: its resolved path (and
the `symbol` it was read for) names the entry, and its size, modification and status-change
times (ns) and inode must equal those recorded, as must this module's `FORMAT`. Anything else
(a changed or replaced file, an entry written by another version, a damaged or unreadable
entry) reads the CSV again and rewrites the entry; a cache folder that cannot be written is
skipped without a word. Entries are written to a temporary file and renamed, so a concurrent
reader sees the old entry or the new one, never half of one. Delete the folder to clear it
(`etrade paths` shows it); `[data] csv_cache = false` turns it off.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..values import Bars
from .csv import LoadReport, read_bars_csv

#: bump when the entry layout or `read_bars_csv`'s rules change (old entries are then re-read)
FORMAT = 1
_COLUMNS = ("open", "high", "low", "close", "volume")


def read_bars_cached(
    path: Path, cache_dir: Path, symbol: str | None = None
) -> tuple[dict[str, Bars], LoadReport]:
    """`read_bars_csv(path, symbol)`, from the cache in `cache_dir` when it holds this file
    unchanged; otherwise parsed and stored there. Same values, bit for bit, either way.

    Raises:
        DataError: from `read_bars_csv` (a cached entry is never made for a file it refused).
    """
    stamp = _stamp(path)
    entry = cache_dir / f"{_name(path, symbol)}.npz"
    if stamp is not None:
        hit = _load(entry, stamp, path)
        if hit is not None:
            return hit
    bars, report = read_bars_csv(path, symbol)
    if stamp is not None and _stamp(path) == stamp:  # not rewritten while it was being read
        _save(entry, stamp, bars, report)
    return bars, report


def _name(path: Path, symbol: str | None) -> str:
    key = f"{path.resolve()}\0{symbol or ''}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _stamp(path: Path) -> list[int] | None:
    """What identifies the file's content without reading it; None when it cannot be stat'ed
    (the CSV reader then says why)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [FORMAT, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _load(entry: Path, stamp: list[int], path: Path) -> tuple[dict[str, Bars], LoadReport] | None:
    try:
        with np.load(entry, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            if meta["stamp"] != stamp:
                return None
            symbols = npz["symbols"].tolist()
            ends = np.cumsum(npz["counts"]).tolist()
            dates = npz["dates"]
            cols = [npz[c] for c in _COLUMNS]
    except Exception:  # missing, damaged or foreign entry: read the CSV instead
        return None
    if len(symbols) != len(ends) or (ends and ends[-1] != len(dates)):
        return None
    bars: dict[str, Bars] = {}
    start = 0
    for sym, end in zip(symbols, ends):
        bars[sym] = Bars(sym, dates[start:end], *(c[start:end] for c in cols))
        start = end
    report = LoadReport(path, rows=meta["rows"], dropped=Counter(meta["dropped"]))
    report.bad_symbols = list(meta["bad_symbols"])
    return bars, report


def _save(entry: Path, stamp: list[int], bars: dict[str, Bars], report: LoadReport) -> None:
    """Write the entry as an `.npz` (a zip of `.npy` arrays, stored uncompressed), one column
    at a time so that only one concatenated column exists at once (an 8,000-symbol file's
    columns are about 19 MB each)."""
    import zipfile

    meta = {
        "stamp": stamp,
        "rows": report.rows,
        "dropped": dict(report.dropped),
        "bad_symbols": report.bad_symbols,
    }
    series = list(bars.values())
    columns: dict[str, Callable[[], np.ndarray]] = {
        "meta": lambda: np.array(json.dumps(meta)),
        "symbols": lambda: np.array([b.symbol for b in series], dtype=str),
        "counts": lambda: np.array([len(b) for b in series], dtype=np.int64),
        "dates": lambda: _concat([b.dates for b in series], "datetime64[D]"),
        **{c: functools.partial(_column, series, c) for c in _COLUMNS},
    }
    tmp = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".parsed-", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            for name, make in columns.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, make(), allow_pickle=False)
        os.replace(tmp, entry)
        tmp = None
    except OSError:  # a read-only or full cache folder only costs the next command a parse
        pass
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _column(series: list[Bars], name: str) -> np.ndarray:
    return _concat([getattr(b, name) for b in series], "float64")


def _concat(parts: list[np.ndarray], dtype: str) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)
