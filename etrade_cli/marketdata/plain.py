"""A pandas-free reader of plain, clean long or per-symbol CSV files (issue 13).

`etrade scan` of the bundled sample spent a third of its time importing pandas for one
`read_csv`. `read_plain` reads a file with numpy alone when, and only when, every cell is read
exactly as pandas' C parser reads it in `csv._read_columns`; for any other file it returns None
and the caller uses pandas (which also counts and drops every kind of bad row). Accepted:
- at most `MAX_BYTES` of text; after the header line (no quote or CR in it), printable ASCII
  only, no space, tab, CR, quote or `_`;
- every non-empty line with the same number of fields, none longer than `MAX_CELL` chars;
- prices and volume finite, not negative, 0 or within [1e-9, 1e15] (so both parsers round
  each decimal once, to the same double);
- dates all `YYYYMMDD` or all `YYYY-MM-DD` (the first date's layout), valid, years 1900-2199;
- symbols none of pandas' missing-value words (`NA`, `null`, ...) and no number.
Rows that are merely bad (high below low, a duplicate date, an invalid symbol) are accepted:
`csv.read_bars_csv` drops and counts them the same way whichever reader ran.
"""

from __future__ import annotations

import importlib
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: compressed files read through these modules' `open`, by suffix
OPENERS = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}
#: the largest text (decompressed, bytes) read without pandas; larger files stream through it
MAX_BYTES = 32 << 20
#: the longest cell: a decimal of 16 characters has at most 16 significant digits
MAX_CELL = 16
#: pandas' default missing-value words (`pandas._libs.parsers.STR_NA_VALUES`; a test pins it)
NA_WORDS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)  # fmt: skip
_BANNED = (b" ", b"\t", b"\r", b'"', b"_")


@dataclass
class PlainColumns:
    """What `read_plain` read: float64 columns by name, per-row dates (`datetime64[D]`), and
    the symbol column as (per-row code, distinct raw cells) or None when the file has none."""

    rows: int
    floats: dict[str, np.ndarray]
    dates: np.ndarray
    symbol: tuple[np.ndarray, np.ndarray] | None


def read_plain(path: Path, columns: dict[str, int]) -> PlainColumns | None:
    """The columns of `path` (positions from `csv.check_header`), or None when the file is not
    plain and clean as described in the module docstring. Never raises for a bad file: the
    pandas reader then reports it."""
    data = _data_bytes(path)
    if data is None:
        return None
    wanted = sorted(columns.values())
    text_cols = {columns[c] for c in ("date", "symbol") if c in columns}
    dtype = np.dtype([(str(i), "S16" if i in text_cols else "f8") for i in wanted])
    try:
        table = np.loadtxt(
            io.StringIO(data.decode("ascii")),
            delimiter=",",
            comments=None,
            quotechar=None,
            usecols=wanted,
            dtype=dtype,
            ndmin=1,
        )
    except (ValueError, IndexError):
        return None
    if not len(table):
        return None
    floats = {}
    for name in ("open", "high", "low", "close", "volume"):
        col = np.ascontiguousarray(table[str(columns[name])])
        if not _plain_numbers(col):
            return None
        floats[name] = col
    dates = _dates(np.ascontiguousarray(table[str(columns["date"])]))
    symbol = _symbols(table[str(columns["symbol"])]) if "symbol" in columns else None
    if dates is None or (symbol is None and "symbol" in columns):
        return None
    return PlainColumns(len(table), floats, dates, symbol)


def _data_bytes(path: Path) -> bytes | None:
    """The file's lines after the header, when small, printable ASCII and evenly split into
    fields of at most `MAX_CELL` chars; else None."""
    module = OPENERS.get(path.suffix.lower())
    try:
        if _too_big(path, module):
            return None
        opener = importlib.import_module(module).open if module else open
        with opener(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except (OSError, EOFError, zlib.error, ValueError):
        return None
    cut = raw.find(b"\n") + 1  # the header line: read by `check_header` only
    data = raw[cut:] if cut else b""
    if len(raw) > MAX_BYTES or b'"' in raw[:cut] or b"\r" in raw[:cut]:
        return None
    if not data.isascii() or any(b in data for b in _BANNED):
        return None
    if not data.endswith(b"\n"):
        data += b"\n"
    chars = np.frombuffer(data, dtype=np.uint8)
    if ((chars < 32) & (chars != 10)).any() or (chars > 126).any():
        return None
    ends = np.flatnonzero(chars == 10)
    seps = np.flatnonzero((chars == 44) | (chars == 10))
    if len(seps) and int(np.diff(seps, prepend=-1).max()) - 1 > MAX_CELL:
        return None
    line_len = np.diff(ends, prepend=-1) - 1
    fields = np.bincount(np.searchsorted(ends, np.flatnonzero(chars == 44)), minlength=len(ends))
    used = fields[line_len > 0]
    if not len(used) or (used != used[0]).any():
        return None
    return data


def _too_big(path: Path, module: str | None) -> bool:
    """More than `MAX_BYTES` of text: the size of a plain file, the size a gzip file records
    in its last 4 bytes (modulo 4 GiB); other compressed files are read up to the limit.

    Raises:
        OSError: the file cannot be read.
    """
    size = path.stat().st_size
    if module is None:
        return size > MAX_BYTES
    if module == "gzip" and size >= 4:
        with open(path, "rb") as fh:
            fh.seek(-4, 2)
            return int.from_bytes(fh.read(4), "little") > MAX_BYTES
    return False


def _plain_numbers(col: np.ndarray) -> bool:
    """Finite, not negative (no -0.0 either), 0 or within [1e-9, 1e15]."""
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(col) & ~np.signbit(col) & ((col == 0) | ((col >= 1e-9) & (col <= 1e15)))
    return bool(ok.all())


def _dates(cells: np.ndarray) -> np.ndarray | None:
    """Per-row `datetime64[D]` from `YYYYMMDD` or `YYYY-MM-DD` cells (all in the first cell's
    layout, each a real date in 1900-2199); None for anything else."""
    b = cells.view(np.uint8).reshape(len(cells), -1)
    dashed = b.shape[1] > 4 and b[0, 4] == ord("-")
    digits = [0, 1, 2, 3, 5, 6, 8, 9] if dashed else list(range(8))
    size = 10 if dashed else 8
    if b.shape[1] < size or b[:, size:].any():
        return None
    d = b[:, digits].astype(np.int64) - ord("0")
    if ((d < 0) | (d > 9)).any() or (dashed and (b[:, [4, 7]] != ord("-")).any()):
        return None
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 4] * 10 + d[:, 5]
    day = d[:, 6] * 10 + d[:, 7]
    if ((year < 1900) | (year > 2199) | (month < 1) | (month > 12) | (day < 1)).any():
        return None
    months = (year - 1970) * 12 + month - 1
    dates = months.astype("datetime64[M]").astype("datetime64[D]") + (day - 1)
    if (dates.astype("datetime64[M]").astype(np.int64) != months).any():  # 31 April
        return None
    return dates


def _symbols(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(per-row code, distinct cells as str) of the symbol column; None when a cell is one of
    pandas' missing-value words or reads as a number (pandas may then read a block of the
    column as numbers, and quote such a bad symbol in its own way)."""
    cells = np.ascontiguousarray(cells)
    starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])  # runs: files are grouped
    distinct, run_codes = np.unique(cells[starts], return_inverse=True)
    codes = np.repeat(run_codes.reshape(-1), np.diff(np.r_[starts, len(cells)]))
    text = [c.decode("ascii") for c in distinct.tolist()]
    if any(t in NA_WORDS or _is_number(t) for t in text):
        return None
    out = np.empty(len(text), dtype=object)
    out[:] = text
    return codes, out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
