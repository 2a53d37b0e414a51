"""Daily bars from CSV files: the long format and per-symbol Yahoo-style files.

Formats (column names case-insensitive, any order, extra columns ignored):
- long: `Date,Symbol,Open,High,Low,Close,Volume` (the bundled S&P 500 sample);
- per symbol: `Date,Open,High,Low,Close[,Adj Close],Volume`; the symbol comes from the caller or
  from the file name up to its first `_` or `.` (`AMZN_daily_1997-2020.csv` -> AMZN).
  `Close` is used as is (`Adj Close` is ignored: the strategy trades the quoted price).
Dates: `YYYYMMDD`, `YYYY-MM-DD`, or `M/D/YYYY HH:MM:SS` (time dropped), as session dates.

Bad rows are dropped and counted in `LoadReport.dropped`: a missing or non-numeric field, a
non-positive price, high < low, negative volume, and a date not after the previous kept date of
the same symbol (duplicate or unsorted). A file that cannot be read at all raises `DataError`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError
from ..values import Bars

if TYPE_CHECKING:
    import pandas as pd

REQUIRED = ("date", "open", "high", "low", "close", "volume")
PRICES = ("open", "high", "low", "close")
_DATE_FORMATS = (
    (re.compile(r"^\d{8}$"), "%Y%m%d"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(:\d{2})?$"), "ISO8601"),
    (re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$"), "%m/%d/%Y"),
    (re.compile(r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}$"), "%m/%d/%Y %H:%M:%S"),
)


@dataclass
class LoadReport:
    """What a load kept and dropped: `dropped` maps a reason to a row count."""

    path: Path
    rows: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def warning(self) -> str | None:
        """A one-line summary of dropped rows, or None when nothing was dropped."""
        total = sum(self.dropped.values())
        if not total:
            return None
        why = ", ".join(f"{n} {reason}" for reason, n in self.dropped.most_common())
        return f"{self.path.name}: dropped {total} of {self.rows} rows ({why})"


def symbol_from_filename(path: Path) -> str:
    """Ticker from a per-symbol file name: the part before the first `_` or `.`, upper-cased.

    Raises:
        DataError: the result is not a plausible ticker.
    """
    token = re.split(r"[_.]", path.name, maxsplit=1)[0].upper()
    if not re.fullmatch(r"[A-Z][A-Z0-9\-]{0,9}", token):
        raise DataError(f"{path}: cannot tell the symbol from the file name; name it like AMZN.csv")
    return token


def _date_format(sample: str, path: Path) -> str:
    for pattern, fmt in _DATE_FORMATS:
        if pattern.match(sample):
            return fmt
    raise DataError(
        f"{path}: unrecognized date {sample!r} (expected YYYYMMDD, YYYY-MM-DD or M/D/YYYY HH:MM:SS)"
    )


def read_bars_csv(path: Path, symbol: str | None = None) -> tuple[dict[str, Bars], LoadReport]:
    """Read one CSV file (gzip allowed) into per-symbol `Bars`.

    Args:
        path: the file. symbol: the ticker of a per-symbol file (default: from the file name).

    Returns:
        ({symbol: Bars}, LoadReport).

    Raises:
        DataError: missing file, unreadable or empty CSV, missing columns, unknown date format.
    """

    df = _read_frame(path)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"need Date,Open,High,Low,Close,Volume (and Symbol for the long format)"
        )
    if df.empty:
        raise DataError(f"{path}: no rows")
    report = LoadReport(path, rows=len(df))
    if "symbol" in df.columns:
        names, codes = _symbol_codes(df["symbol"])
    else:
        names = np.array([symbol.upper() if symbol else symbol_from_filename(path)], dtype=object)
        codes = np.zeros(len(df), dtype=np.int64)
    syms = names[codes]
    dates = _map_unique(df["date"], lambda u: _parse_dates(u, path))
    cols = {c: _floats(df[c]) for c in REQUIRED[1:]}
    del df
    keep = _drop_bad_rows(dates, syms, cols, report, codes)
    del syms
    return _split(names, codes, dates, cols, np.flatnonzero(keep), report)


def _floats(col: pd.Series) -> np.ndarray:
    """A numeric column as float64, NaN where not a number; no copy when it already is."""
    import pandas as pd

    if col.dtype == np.float64:
        return col.to_numpy()
    return pd.to_numeric(col, errors="coerce").to_numpy(np.float64)


def _symbol_codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct symbols, per-row index into them): symbols are normalized (trimmed,
    upper case) once per distinct value, and rows are then grouped and sorted by the integer
    code instead of by comparing strings (issue 13)."""
    import pandas as pd

    raw_codes, uniques = pd.factorize(col, use_na_sentinel=False)
    normal = pd.Series(uniques).fillna("").astype(str).str.strip().str.upper().to_numpy(object)
    names, remap = np.unique(normal, return_inverse=True)
    return names.astype(object), remap.astype(np.int64)[raw_codes]


def _read_frame(path: Path) -> pd.DataFrame:
    """Read the CSV with normalized column names; Date and Symbol kept as text."""
    import pandas as pd

    def norm(c: object) -> str:
        return re.sub(r"[\s_]", "", str(c)).lower()

    try:
        header = pd.read_csv(path, nrows=0)
        # categorical text: each distinct date and symbol is parsed and stored once (issue 13)
        text_cols = {c: "category" for c in header.columns if norm(c) in ("date", "symbol")}
        df = pd.read_csv(path, dtype=text_cols, skipinitialspace=True)  # type: ignore[arg-type]
    except FileNotFoundError:
        raise DataError(f"data file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a CSV file") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot read CSV: {str(exc).splitlines()[0]}") from None
    df.columns = [norm(c) for c in df.columns]
    return df


def _map_unique(col: pd.Series, convert: Callable[[pd.Series], object]) -> np.ndarray:
    """Apply `convert` to the distinct values of `col` only (dates and symbols repeat a lot)."""
    import pandas as pd

    codes, uniques = pd.factorize(col, use_na_sentinel=False)
    converted = np.asarray(convert(pd.Series(uniques)))
    return converted[codes]


def _parse_dates(raw: pd.Series, path: Path) -> np.ndarray:
    import pandas as pd

    text = raw.fillna("").astype(str).str.strip()
    first = next((s for s in text if s), None)
    if first is None:
        raise DataError(f"{path}: no dates")
    fmt = _date_format(first, path)
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    return parsed.to_numpy().astype("datetime64[D]")


def _drop_bad_rows(
    dates: np.ndarray,
    syms: np.ndarray,
    cols: dict[str, np.ndarray],
    report: LoadReport,
    codes: np.ndarray | None = None,
) -> np.ndarray:
    bad_field = np.isnat(dates) | (syms == "")
    for v in cols.values():
        bad_field |= np.isnan(v)
    with np.errstate(invalid="ignore"):
        nonpos = ~bad_field & np.any([cols[c] <= 0 for c in PRICES], axis=0)
        inverted = ~bad_field & ~nonpos & (cols["high"] < cols["low"])
        negvol = ~bad_field & ~nonpos & ~inverted & (cols["volume"] < 0)
    keep = ~(bad_field | nonpos | inverted | negvol)
    if codes is not None and keep.all() and _grouped_in_order(codes, dates):
        order = np.zeros(len(dates), dtype=bool)  # nothing can be out of order (issue 13)
    else:
        order = _not_after_previous(dates, syms if codes is None else codes, keep)
    report.dropped.update(
        {
            "missing or non-numeric field": int(bad_field.sum()),
            "non-positive price": int(nonpos.sum()),
            "high below low": int(inverted.sum()),
            "negative volume": int(negvol.sum()),
            "duplicate or unsorted date": int(order.sum()),
        }
    )
    report.dropped = +report.dropped  # drop zero counts
    return keep & ~order


def _grouped_in_order(codes: np.ndarray, dates: np.ndarray) -> bool:
    """True when rows are grouped by symbol code (ascending) and dated strictly ascending
    within each symbol: the usual layout of a file, which then needs no sort at all."""
    dc = np.diff(codes)
    dd = np.diff(dates.astype(np.int64))
    return bool(((dc > 0) | ((dc == 0) & (dd > 0))).all())


def _not_after_previous(dates: np.ndarray, syms: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Rows (among `keep`) whose date is not after the latest earlier kept date of their symbol."""
    out = np.zeros(len(dates), dtype=bool)
    idx = np.flatnonzero(keep)
    if not len(idx):
        return out
    order = idx[np.argsort(syms[idx], kind="stable")]
    s, d = syms[order], dates[order].astype(np.int64)
    starts = np.r_[True, s[1:] != s[:-1]]
    # running max of earlier dates within each symbol: offset dates by symbol group so that a
    # single cumulative max does not cross groups
    group = np.cumsum(starts)
    shifted = d - d.min() + group * (d.max() - d.min() + 2)
    prev_max = np.r_[np.int64(-1), np.maximum.accumulate(shifted)[:-1]]
    prev_max = np.where(starts, np.int64(-1), prev_max)
    out[order] = shifted <= prev_max
    return out


def _split(
    names: np.ndarray,
    codes: np.ndarray,
    dates: np.ndarray,
    cols: dict[str, np.ndarray],
    rows: np.ndarray,
    report: LoadReport,
) -> tuple[dict[str, Bars], LoadReport]:
    """Group the kept `rows` by symbol code (codes index the sorted `names`), each group by
    date: one integer sort, and each column gathered once (no intermediate copies). A file
    already grouped and ordered, with every row kept, is used as it is (no sort, no copy)."""
    if not len(rows):
        raise DataError(f"{report.path}: no valid rows ({report.warning()})")
    if len(rows) < len(codes) or not _grouped_in_order(codes, dates):
        day = dates[rows].astype(np.int64)
        low = day.min()
        span = int(day.max() - low) + 1
        rows = rows[np.argsort(codes[rows] * span + (day - low), kind="stable")]
        del day
        codes, dates = codes[rows], dates[rows]
        cols = {k: v[rows] for k, v in cols.items()}
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    out = {}
    for a, b in zip(starts.tolist(), ends.tolist()):
        name = str(names[codes[a]])
        out[name] = Bars(
            name,
            dates[a:b],
            cols["open"][a:b],
            cols["high"][a:b],
            cols["low"][a:b],
            cols["close"][a:b],
            cols["volume"][a:b],
        )
    return out, report
