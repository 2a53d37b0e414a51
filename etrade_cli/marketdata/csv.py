"""Daily bars from CSV files: the long format and per-symbol Yahoo-style files.

Formats (column names case-insensitive, any order, extra columns ignored):
- long: `Date,Symbol,Open,High,Low,Close,Volume` (the bundled S&P 500 sample);
- per symbol: `Date,Open,High,Low,Close[,Adj Close],Volume`; the symbol comes from the caller or
  from the file name up to its first `_` or `.` (`AMZN_daily_1997-2020.csv` -> AMZN).
  `Close` is used as is (`Adj Close` is ignored: the strategy trades the quoted price).
Dates: `YYYYMMDD`, `YYYY-MM-DD`, or `M/D/YYYY HH:MM:SS` (time dropped), as session dates.

Bad rows are dropped and counted in `LoadReport.dropped`: a missing or non-numeric field, a
non-finite number (`inf`, `nan`, `1e400`), an invalid symbol (`etrade_cli.symbols`), a
non-positive price, high < low, negative volume, and a date not after the previous kept date of
the same symbol (duplicate or unsorted). A file that cannot be read at all raises `DataError`:
a missing file, a corrupt or truncated gzip, a header line over `MAX_HEADER_CHARS` (checked
before anything else is read), missing columns. A first header cell left empty (what pandas'
`DataFrame.to_csv()` writes for a date index) is read as the date column when it holds dates.
"""

from __future__ import annotations

import csv
import re
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataError
from ..interrupts import deferred_sigint
from ..symbols import is_symbol, validate_symbol
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
    bad_symbols: list[str] = field(default_factory=list)  # a few of the refused values

    def warning(self) -> str | None:
        """A one-line summary of dropped rows, or None when nothing was dropped."""
        total = sum(self.dropped.values())
        if not total:
            return None
        why = ", ".join(f"{n} {reason}" for reason, n in self.dropped.most_common())
        bad = f"; invalid symbols: {', '.join(map(repr, self.bad_symbols))}" * bool(
            self.bad_symbols
        )
        return f"{self.path.name}: dropped {total} of {self.rows} rows ({why}){bad}"


def symbol_from_filename(path: Path) -> str:
    """Ticker from a per-symbol file name: the part before the first `_` or `.`, upper-cased.

    Raises:
        DataError: the result is not a plausible ticker.
    """
    token = re.split(r"[_.]", path.name, maxsplit=1)[0].upper()
    if not is_symbol(token):
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

    fixed = validate_symbol(symbol, "--symbol") if symbol is not None else None
    df = _read_frame(path)
    if df.empty:
        raise DataError(f"{path}: no rows")
    report = LoadReport(path, rows=len(df))
    if "symbol" in df.columns:
        names, codes = _symbol_codes(df["symbol"])
    else:
        names = np.array([fixed or symbol_from_filename(path)], dtype=object)
        codes = np.zeros(len(df), dtype=np.int64)
    syms = names[codes]
    dates = _map_unique(df["date"], lambda u: _parse_dates(u, path))
    cols = {c: _floats(df[c]) for c in REQUIRED[1:]}
    del df
    invalid = _drop_invalid_values(syms, cols, report, names, codes)
    keep = _drop_bad_rows(dates, syms, cols, report, invalid, codes)
    del syms
    return _split(names, codes, dates, cols, np.flatnonzero(keep), report)


def _floats(col: pd.Series) -> np.ndarray:
    """A numeric column as float64, NaN where not a number; no copy when it already is."""
    import pandas as pd

    if col.dtype == np.float64:
        return col.to_numpy()
    return pd.to_numeric(col, errors="coerce").to_numpy(np.float64)


def _symbol_codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct symbols as `_clean_symbols` makes them, per-row index into them): each
    distinct cell is cleaned once, and rows are then grouped and sorted by the integer code
    instead of by comparing strings (issue 13)."""
    import pandas as pd

    raw_codes, uniques = pd.factorize(col, use_na_sentinel=False)
    cleaned = _clean_symbols(pd.Series(np.asarray(uniques, dtype=object)))
    names, remap = np.unique(cleaned.astype(str), return_inverse=True)
    return names.astype(object), remap.astype(np.int64).reshape(-1)[raw_codes]


def _read_frame(path: Path) -> pd.DataFrame:
    """Read the columns `check_header` found, named date/symbol/open/...; Date and Symbol as
    text. Only those columns are parsed."""
    import pandas as pd

    columns = check_header(path)
    wanted = sorted(columns.values())
    names = {i: name for name, i in columns.items()}
    # pandas' C parser turns a Ctrl-C inside its read callback into "Error tokenizing data":
    # hold SIGINT while it reads, then raise KeyboardInterrupt as usual
    try:
        with deferred_sigint():
            df = pd.read_csv(
                path,
                header=None,
                skiprows=1,
                usecols=wanted,
                index_col=False,  # never an implicit index column from short rows
                # categorical text: each distinct date and symbol is parsed and stored once
                dtype={columns[c]: "category" for c in ("date", "symbol") if c in columns},
                skipinitialspace=True,
            )
    except (
        OSError,
        EOFError,
        zlib.error,
        UnicodeDecodeError,
        ValueError,  # includes pandas' ParserError and EmptyDataError
    ) as exc:
        raise DataError(f"{path}: cannot read CSV: {_first_line(exc)}") from None
    if [int(c) for c in df.columns] != wanted:
        raise DataError(f"{path}: cannot read CSV: its rows do not line up with the header")
    df.columns = [names[int(c)] for c in df.columns]
    return df


def _map_unique(col: pd.Series, convert: Callable[[pd.Series], object]) -> np.ndarray:
    """Apply `convert` to the distinct values of `col` only (dates and symbols repeat a lot)."""
    import pandas as pd

    codes, uniques = pd.factorize(col, use_na_sentinel=False)
    converted = np.asarray(convert(pd.Series(np.asarray(uniques, dtype=object))))
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
    invalid: np.ndarray | None = None,
    codes: np.ndarray | None = None,
) -> np.ndarray:
    """Rows to keep; `invalid` rows (already counted by `_drop_invalid_values`) are dropped.
    `codes` (symbol codes, see `_symbol_codes`) replace the symbol strings in the order check."""
    invalid = np.zeros(len(dates), dtype=bool) if invalid is None else invalid
    bad_field = np.isnat(dates) | (syms == "")
    for v in cols.values():
        bad_field |= np.isnan(v)
    bad_field &= ~invalid
    with np.errstate(invalid="ignore"):
        nonpos = ~bad_field & ~invalid & np.any([cols[c] <= 0 for c in PRICES], axis=0)
        inverted = ~bad_field & ~invalid & ~nonpos & (cols["high"] < cols["low"])
        negvol = ~bad_field & ~invalid & ~nonpos & ~inverted & (cols["volume"] < 0)
    keep = ~(invalid | bad_field | nonpos | inverted | negvol)
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


# --- input checks: bounded header, invalid symbols, non-finite numbers ----------------------

#: the longest header line read; a longer one is refused before the file is parsed
MAX_HEADER_CHARS = 4096
_OPENERS = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, (EOFError, zlib.error)) or "decompress" in text:
        return f"corrupt or truncated compressed file ({text or type(exc).__name__})"
    return text.splitlines()[0] if text else type(exc).__name__


def _head_lines(path: Path) -> list[str]:
    """The header line and the first data line (each at most `MAX_HEADER_CHARS + 1` chars).

    Raises:
        DataError: missing file, a folder, unreadable or corrupt file, a header line too long.
    """
    import importlib

    module = _OPENERS.get(path.suffix.lower())
    try:
        opener = importlib.import_module(module).open if module else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            lines = [fh.readline(MAX_HEADER_CHARS + 1) for _ in range(2)]
    except FileNotFoundError:
        raise DataError(f"data file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a CSV file") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: cannot read CSV: not UTF-8 text") from None
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise DataError(f"{path}: cannot read CSV: {_first_line(exc)}") from None
    if len(lines[0]) > MAX_HEADER_CHARS:
        raise DataError(
            f"{path}: the header line is longer than {MAX_HEADER_CHARS} characters; "
            "need Date,Open,High,Low,Close,Volume (and Symbol for the long format)"
        )
    return [line for line in lines if line.strip()]


def _cells(line: str) -> list[str]:
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return [line]


def _norm(cell: str) -> str:
    return re.sub(r"[\s_]", "", cell).lower()


def check_header(path: Path) -> dict[str, int]:
    """Column positions of date, open, high, low, close, volume (and symbol when present),
    from the header line alone: cheap and bounded however wide or long the file is.

    Raises:
        DataError: unreadable file, header too long, no rows, missing columns.
    """
    lines = _head_lines(path)
    if not lines:
        raise DataError(f"{path}: cannot read CSV: the file is empty")
    header = _cells(lines[0])
    columns: dict[str, int] = {}
    for i, cell in enumerate(header):
        columns.setdefault(_norm(cell), i)
    if "date" not in columns and header and not header[0].strip() and len(lines) > 1:
        first = _cells(lines[1])[:1]
        if first and any(p.match(first[0].strip()) for p, _ in _DATE_FORMATS):
            columns["date"] = 0  # DataFrame.to_csv() with a date index
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"need Date,Open,High,Low,Close,Volume (and Symbol for the long format)"
        )
    if len(lines) < 2:
        raise DataError(f"{path}: no rows")
    return {c: columns[c] for c in (*REQUIRED, "symbol") if c in columns}


def _clean_symbols(raw: pd.Series) -> np.ndarray:
    """Distinct raw symbol cells -> upper-cased symbols; invalid ones become "!" + the raw text
    (so that `_drop_invalid_values` can count and quote them)."""
    text = raw.fillna("").astype(str).str.strip().str.upper()
    return np.array(
        [s if (not s or is_symbol(s)) else "!" + r for s, r in zip(text, raw.astype(str))],
        dtype=object,
    )


def _drop_invalid_values(
    syms: np.ndarray,
    cols: dict[str, np.ndarray],
    report: LoadReport,
    names: np.ndarray | None = None,
    codes: np.ndarray | None = None,
) -> np.ndarray:
    """Rows with an invalid symbol or a non-finite number (`inf`, `1e400`): counted in
    `report` (a few bad symbols quoted) and returned as a mask for `_drop_bad_rows`. With
    `names` and `codes` (`_symbol_codes`), each distinct symbol is checked once."""
    if names is not None and codes is not None and len(syms):
        bad_sym = np.array([s.startswith("!") for s in names], dtype=bool)[codes]
    else:
        bad_sym = (
            np.array([s.startswith("!") for s in syms], dtype=bool) if len(syms) else syms == ""
        )
    infinite = np.zeros(len(syms), dtype=bool)
    for v in cols.values():
        infinite |= np.isinf(v)
    infinite &= ~bad_sym
    report.dropped.update(
        {"invalid symbol": int(bad_sym.sum()), "non-finite number": int(infinite.sum())}
    )
    if bad_sym.any():
        report.bad_symbols = [s[1:][:20] for s in dict.fromkeys(syms[bad_sym].tolist())][:3]
    return bad_sym | infinite
