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
from .plain import OPENERS, PlainColumns, read_plain

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
    columns = check_header(path)
    # a plain, clean file is read without pandas (and its import); anything else with it
    frame: _Columns | PlainColumns = read_plain(path, columns) or _read_columns(path, columns)
    if not frame.rows:
        raise DataError(f"{path}: no rows")
    report = LoadReport(path, rows=frame.rows)
    if frame.symbol is not None:
        names, codes = _symbol_codes(*frame.symbol)
    else:
        names = np.array([fixed or symbol_from_filename(path)], dtype=object)
        codes = np.zeros(frame.rows, dtype=np.int64)
    if isinstance(frame, PlainColumns):
        dates = frame.dates
    else:
        dates = _map_unique(*frame.date, lambda u: _parse_dates(u, path))
    cols = frame.floats
    del frame
    invalid = _drop_invalid_values(names, codes, cols, report)
    keep = _drop_bad_rows(dates, names, codes, cols, report, invalid)
    return _split(names, codes, dates, cols, keep, report)


def _floats(col: pd.Series) -> np.ndarray:
    """A numeric column as float64, NaN where not a number; no copy when it already is."""
    import pandas as pd

    if col.dtype == np.float64:
        return col.to_numpy()
    return pd.to_numeric(col, errors="coerce").to_numpy(np.float64)


def _symbol_codes(raw_codes: np.ndarray, uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct symbols as `_clean_symbols` makes them, per-row index into them), from
    the column's distinct raw cells and per-row codes (`_read_columns`): each distinct cell is
    cleaned once, and rows are then grouped and sorted by the integer code instead of by
    comparing strings (issue 13)."""
    cleaned = _clean_symbols(uniques)
    names, remap = np.unique(cleaned.astype(str), return_inverse=True)
    return names.astype(object), remap.astype(np.int64).reshape(-1)[raw_codes]


#: rows parsed per block by `_read_columns`: a multiple of the C parser's own low-memory block
#: (a power of two, at most 2**18 rows for a file of 2 or more columns), so each row is typed
#: (int, float or text) exactly as in one whole-file `read_csv`
CHUNK_ROWS = 1 << 18


@dataclass
class _Columns:
    """A file's needed columns as read: `floats` maps open/high/low/close/volume to float64
    (NaN where not a number); `date` and `symbol` are (per-row code, distinct raw cells in
    order of first appearance, NaN for an empty cell), `symbol` None without that column."""

    rows: int
    floats: dict[str, np.ndarray]
    date: tuple[np.ndarray, np.ndarray]
    symbol: tuple[np.ndarray, np.ndarray] | None


class _Growing:
    """A 1-D array filled block by block: its buffer doubles when full, and the pages past
    the rows written are never touched (so they take no memory). No list of blocks to join at
    the end, hence no second copy of the column (issue 13)."""

    def __init__(self, dtype: type, capacity: int) -> None:
        self.buf: np.ndarray = np.empty(capacity, dtype=dtype)
        self.size = 0

    def append(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self.buf):
            grown = np.empty(max(end, 2 * len(self.buf)), dtype=self.buf.dtype)
            grown[: self.size] = self.buf[: self.size]
            self.buf = grown
        self.buf[self.size : end] = values
        self.size = end

    def array(self) -> np.ndarray:
        return self.buf[: self.size]


class _Distinct:
    """Distinct cells of a text column in order of first appearance, and the per-row code of
    each cell: what one `pd.factorize` of the whole column gives, built block by block."""

    def __init__(self, capacity: int) -> None:
        self.ids: dict[object, int] = {}
        self.cells: list[object] = []
        self.codes = _Growing(np.int32, capacity)

    def append(self, col: pd.Series) -> None:
        import pandas as pd

        codes, distinct = pd.factorize(col, use_na_sentinel=False)
        ids = np.fromiter(map(self._id, distinct), dtype=np.int32, count=len(distinct))
        self.codes.append(ids[codes])

    def _id(self, cell: object) -> int:
        key = None if cell is None or cell != cell else cell  # every empty cell (NaN) is one
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = len(self.cells)
            self.cells.append(cell)
        return found

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        cells = np.empty(len(self.cells), dtype=object)
        cells[:] = self.cells
        return self.codes.array(), cells


def _capacity(path: Path) -> int:
    """A first guess of the rows in `path` (a bar row is rarely under 32 bytes); a low guess
    only costs doublings of the column buffers."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    guess = size // 32 * (1 if path.suffix.lower() not in _OPENERS else 8)
    return min(max(CHUNK_ROWS, guess), 1 << 24)  # at most 128 MiB of address space a column


def _read_columns(path: Path, columns: dict[str, int]) -> _Columns:
    """Read the columns `check_header` found; Date and Symbol as text. Only those columns are
    parsed, in blocks of `CHUNK_ROWS` rows, each block stored at once as float64 columns and
    integer codes: peak memory stays near the size of the result (issue 13).

    Raises:
        DataError: unreadable file or CSV, rows that do not line up with the header.
    """
    import pandas as pd

    wanted = sorted(columns.values())
    names = {i: name for name, i in columns.items()}
    text = {columns[c] for c in ("date", "symbol") if c in columns}
    capacity = _capacity(path)
    coded = {names[i]: _Distinct(capacity) for i in text}
    floats = {names[i]: _Growing(np.float64, capacity) for i in wanted if i not in text}
    options = {
        "header": None,
        "skiprows": 1,
        "usecols": wanted,
        "index_col": False,  # never an implicit index column from short rows
        # categorical text: each distinct date and symbol is parsed and stored once
        "dtype": {i: "category" for i in text},
        "skipinitialspace": True,
        "chunksize": CHUNK_ROWS,
    }
    aligned = True
    # pandas' C parser turns a Ctrl-C inside its read callback into "Error tokenizing data":
    # hold SIGINT while it reads, then raise KeyboardInterrupt as usual
    try:
        with deferred_sigint(), pd.read_csv(path, **options) as reader:
            # the last block is not kept alive once read
            while aligned and (chunk := next(reader, None)) is not None:
                aligned = [int(c) for c in chunk.columns] == wanted
                for i, col in chunk.items() if aligned else ():
                    name = names[int(i)]
                    if name in coded:
                        coded[name].append(col)
                    else:
                        floats[name].append(_floats(col))
    except (
        OSError,
        EOFError,
        zlib.error,
        UnicodeDecodeError,
        ValueError,  # includes pandas' ParserError and EmptyDataError
    ) as exc:
        raise DataError(f"{path}: cannot read CSV: {_first_line(exc)}") from None
    if not aligned:
        raise DataError(f"{path}: cannot read CSV: its rows do not line up with the header")
    symbol = coded["symbol"].result() if "symbol" in coded else None
    cols = {name: floats[name].array() for name in REQUIRED[1:]}
    return _Columns(len(cols["close"]), cols, coded["date"].result(), symbol)


def _map_unique(
    codes: np.ndarray, uniques: np.ndarray, convert: Callable[[pd.Series], object]
) -> np.ndarray:
    """Apply `convert` to the distinct values of a column only (dates and symbols repeat a
    lot), then spread the results back to the rows by `codes`."""
    import pandas as pd

    converted = np.asarray(convert(pd.Series(uniques, dtype=object)))
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
    names: np.ndarray,
    codes: np.ndarray,
    cols: dict[str, np.ndarray],
    report: LoadReport,
    invalid: np.ndarray,
) -> np.ndarray:
    """Rows to keep (a mask); `invalid` rows (already counted by `_drop_invalid_values`) are
    dropped. Symbols are `names[codes]` (see `_symbol_codes`); no per-row string is built."""
    bad_field = np.isnat(dates) | (names == "")[codes]
    for v in cols.values():
        bad_field |= np.isnan(v)
    bad_field &= ~invalid
    with np.errstate(invalid="ignore"):
        nonpos = ~bad_field & ~invalid & np.any([cols[c] <= 0 for c in PRICES], axis=0)
        inverted = ~bad_field & ~invalid & ~nonpos & (cols["high"] < cols["low"])
        negvol = ~bad_field & ~invalid & ~nonpos & ~inverted & (cols["volume"] < 0)
    keep = ~(invalid | bad_field | nonpos | inverted | negvol)
    if keep.all() and _grouped_in_order(codes, dates):
        order = np.zeros(len(dates), dtype=bool)  # nothing can be out of order (issue 13)
    else:
        order = _not_after_previous(dates, codes, keep)
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
    keep &= ~order
    return keep


def _grouped_in_order(codes: np.ndarray, dates: np.ndarray) -> bool:
    """True when rows are grouped by symbol code (ascending) and dated strictly ascending
    within each symbol: the usual layout of a file, which then needs no sort at all. Only
    boolean temporaries (no differences of whole columns)."""
    after = codes[1:] > codes[:-1]
    after |= (codes[1:] == codes[:-1]) & (dates[1:] > dates[:-1])
    return bool(after.all())


def _not_after_previous(dates: np.ndarray, codes: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Rows (among `keep`) whose date is not after the latest earlier kept date of their symbol
    (`codes`: per-row symbol codes)."""
    out = np.zeros(len(dates), dtype=bool)
    idx = np.flatnonzero(keep)
    if not len(idx):
        return out
    order = idx[np.argsort(codes[idx], kind="stable")]
    s, d = codes[order], dates[order].astype(np.int64)
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
    keep: np.ndarray,
    report: LoadReport,
) -> tuple[dict[str, Bars], LoadReport]:
    """Group the `keep` rows by symbol code (codes index the sorted `names`), each group by
    date: one integer sort, and each column gathered once (no intermediate copies). A file
    already grouped and ordered, with every row kept, is used as it is (no sort, no copy)."""
    if not keep.any():
        raise DataError(f"{report.path}: no valid rows ({report.warning()})")
    if not keep.all() or not _grouped_in_order(codes, dates):
        rows = np.flatnonzero(keep)
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
_OPENERS = OPENERS


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


def _clean_symbols(raw: np.ndarray) -> np.ndarray:
    """Distinct raw symbol cells (str, a number pandas inferred, or NaN/None for an empty
    cell) -> upper-cased symbols, "" for an empty cell; invalid ones become "!" + the raw text
    (so that `_drop_invalid_values` can count and quote them). No pandas needed."""
    out = np.empty(len(raw), dtype=object)
    for i, cell in enumerate(raw.tolist()):
        s = "" if cell is None or cell != cell else str(cell).strip().upper()
        out[i] = s if (not s or is_symbol(s)) else "!" + str(cell)
    return out


def _drop_invalid_values(
    names: np.ndarray, codes: np.ndarray, cols: dict[str, np.ndarray], report: LoadReport
) -> np.ndarray:
    """Rows with an invalid symbol or a non-finite number (`inf`, `1e400`): counted in
    `report` (a few bad symbols quoted) and returned as a mask for `_drop_bad_rows`. Each
    distinct symbol (`names`, indexed by the per-row `codes`, see `_symbol_codes`) is checked
    once."""
    bad_sym = np.array([s.startswith("!") for s in names], dtype=bool)[codes]
    infinite = np.zeros(len(codes), dtype=bool)
    for v in cols.values():
        infinite |= np.isinf(v)
    infinite &= ~bad_sym
    report.dropped.update(
        {"invalid symbol": int(bad_sym.sum()), "non-finite number": int(infinite.sum())}
    )
    if bad_sym.any():
        bad = names[codes[bad_sym]].tolist()
        report.bad_symbols = [s[1:][:20] for s in dict.fromkeys(bad)][:3]
    return bad_sym | infinite
