"""Fuzzing the two loaders every user feeds by hand: the CSV bar loader and the config loader.
Whatever the input (random bytes, random rows, random TOML values), the result is a clean
value or one of our one-line errors, never a traceback and never garbage kept."""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etrade_cli.config import _SECTIONS, load_config
from etrade_cli.errors import ConfigError, EtradeCliError
from etrade_cli.marketdata.csv import read_bars_csv
from etrade_cli.strategy.rajat_alpha.params import StrategyParams
from etrade_cli.symbols import is_symbol

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _read_fresh(name: str, data: bytes):
    """read_bars_csv of `data` written to a fresh file `name`: (bars, report), or the text of
    one of our errors (one line, the temporary folder shown as TMP)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            return read_bars_csv(path)
        except EtradeCliError as exc:
            assert "\n" not in str(exc) and str(exc), repr(exc)
            return str(exc).replace(tmp, "TMP")


def _load_csv(name: str, data: bytes):
    """read_bars_csv on a fresh file; returns the bars or None after one of our errors."""
    got = _read_fresh(name, data)
    return None if isinstance(got, str) else got


def _assert_clean(bars) -> None:
    """Every kept bar is usable: valid symbol, finite positive prices, high >= low, volume >= 0,
    strictly increasing dates."""
    for sym, b in bars.items():
        assert is_symbol(sym) and b.symbol == sym
        prices = np.vstack([b.open, b.high, b.low, b.close])
        assert np.isfinite(prices).all() and (prices > 0).all()
        assert np.isfinite(b.volume).all() and (b.volume >= 0).all()
        assert (b.high >= b.low).all()
        assert (np.diff(b.dates.astype(np.int64)) > 0).all()


@FUZZ
@given(data=st.binary(max_size=3000), name=st.sampled_from(["AAA.csv", "AAA.csv.gz", "X_1.csv"]))
def test_csv_loader_on_random_bytes(data: bytes, name: str):
    got = _load_csv(name, data)
    if got is not None:
        _assert_clean(got[0])


CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "1e400",
            "-1",
            "0",
            "1",
            "2.5",
            "10",
            "abc",
            '"1,5"',
            "2020-01-02",
            "2020-02-30",
            "20200103",
            "1/6/2020 16:00:00",
            "A$B",
            "<script>",
            "AAPL",
            "brk.b",
            "../A B$",
            " ",
            "9" * 30,
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)
HEADERS = st.lists(
    st.sampled_from(["Date", "Symbol", "Open", "High", "Low", "Close", "Volume", "Adj Close", ""]),
    min_size=1,
    max_size=9,
)


@FUZZ
@given(
    header=st.one_of(
        HEADERS, st.just(["Date", "Symbol", "Open", "High", "Low", "Close", "Volume"])
    ),
    rows=st.lists(st.lists(CELLS, min_size=0, max_size=9), max_size=25),
)
def test_csv_loader_on_random_rows(header: list[str], rows: list[list[str]]):
    text = "\n".join([",".join(header), *(",".join(r) for r in rows)]) + "\n"
    got = _load_csv("AAA.csv", text.encode("utf-8", "surrogatepass"))
    if got is not None:
        bars, report = got
        _assert_clean(bars)
        kept = sum(len(b) for b in bars.values())
        assert kept + sum(report.dropped.values()) == report.rows


def _mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """`good` about seven times in eight, else `bad`."""
    return st.integers(0, 7).flatmap(lambda i: bad if i == 7 else good)


PRICE = _mostly(
    st.floats(min_value=0.5, max_value=500, allow_nan=False).map(lambda x: f"{x:.2f}"),
    st.sampled_from(["inf", "1e400", "nan", "-3", "0", "", "x", "-inf"]),
)
ROW = st.fixed_dictionaries(
    {
        "date": _mostly(
            st.dates(min_value=dt.date(2019, 1, 1), max_value=dt.date(2019, 3, 1)).map(str),
            st.sampled_from(["2020-13-01", "", "soon"]),
        ),
        "symbol": _mostly(
            st.sampled_from(["AAPL", "msft", "BRK.B"]), st.sampled_from(["A$B", "<x>", ""])
        ),
        "open": PRICE,
        "high": PRICE,
        "low": PRICE,
        "close": PRICE,
        "volume": _mostly(st.integers(0, 10**9).map(str), st.sampled_from(["-1", "inf", ""])),
    }
)


@FUZZ
@given(
    order=st.permutations(["date", "symbol", "open", "high", "low", "close", "volume"]),
    rows=st.lists(ROW, min_size=1, max_size=40),
)
def test_csv_loader_on_mostly_plausible_rows(order: list[str], rows: list[dict[str, str]]):
    text = ",".join(c.title() for c in order) + "\n"
    text += "".join(",".join(r[c] for c in order) + "\n" for r in rows)
    got = _load_csv("AAA.csv", text.encode())
    if got is not None:
        bars, report = got
        _assert_clean(bars)
        kept = sum(len(b) for b in bars.values())
        assert kept + sum(report.dropped.values()) == report.rows == len(rows)


def _load_snapshot(name: str, data: bytes):
    """What read_bars_csv gives for `data`, as plain values (or the error's text)."""
    got = _read_fresh(name, data)
    if isinstance(got, str):
        return got
    bars, report = got
    columns = ("dates", "open", "high", "low", "close", "volume")
    return (
        {s: [getattr(b, c).tolist() for c in columns] for s, b in bars.items()},
        (report.rows, dict(report.dropped), report.bad_symbols),
    )


@FUZZ
@given(
    order=st.permutations(["date", "symbol", "open", "high", "low", "close", "volume"]),
    rows=st.lists(ROW, min_size=1, max_size=40),
    block=st.integers(1, 7),
)
def test_csv_loader_reads_a_file_in_blocks_as_in_one_piece(
    order: list[str], rows: list[dict[str, str]], block: int
):
    """Blocks of rows (issue 13: peak memory) change nothing: the same bars, bad-row counts,
    quoted bad symbols, date format (from the file's first date) and errors."""
    from unittest import mock

    text = ",".join(c.title() for c in order) + "\n"
    text += "".join(",".join(r[c] for c in order) + "\n" for r in rows)
    with mock.patch("etrade_cli.marketdata.csv.read_plain", return_value=None):  # pandas' path
        whole = _load_snapshot("AAA.csv", text.encode())
        with (
            mock.patch("etrade_cli.marketdata.csv.CHUNK_ROWS", block),
            mock.patch("etrade_cli.marketdata.csv._capacity", return_value=1),  # buffers grow
        ):
            assert _load_snapshot("AAA.csv", text.encode()) == whole


# -- config ------------------------------------------------------------------------------------

CLASSES = {**_SECTIONS, "strategy": StrategyParams}
SCALARS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -0.0]),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["<script>", "", "15:00-16:00", "QQQ"]),
)
GARBAGE = st.one_of(SCALARS, st.lists(SCALARS, max_size=4))


def _plausible(f) -> st.SearchStrategy:
    """Values of the field's own type within its rules (most examples must load), or any
    value at all one time in four."""
    rules, default = dict(f.metadata), f.default
    lo, hi = rules.get("min"), rules.get("max")
    if isinstance(default, bool):
        good: st.SearchStrategy = st.booleans()
    elif isinstance(default, int):
        good = st.integers(min_value=lo if lo is not None else -5, max_value=hi or 10_000)
    elif isinstance(default, float) or f.type in ("float | None", "float"):
        good = _mostly(
            st.floats(min_value=lo if lo is not None else -1e6, max_value=hi or 1e6),
            st.sampled_from([math.nan, math.inf, -math.inf]),  # TOML's nan, inf, -inf
        )
    elif "choices" in rules:
        good = st.sampled_from(rules["choices"])
    elif isinstance(default, str):
        good = st.text(max_size=10)
    else:  # tuples
        good = st.lists(st.floats(min_value=0.01, max_value=1.0), min_size=1, max_size=3)
    return st.integers(0, 3).flatmap(lambda i: GARBAGE if i == 3 else good)


ENTRIES = st.sampled_from(
    [(name, f) for name, cls in CLASSES.items() for f in fields(cls)]
).flatmap(lambda nf: st.tuples(st.just((nf[0], nf[1].name)), _plausible(nf[1])))


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(_toml(v) for v in value) + "]"


def _load_toml(text: str):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            return load_config(path)
        except ConfigError as exc:
            assert "\n" not in str(exc).strip() and str(exc), repr(exc)
            return None


@FUZZ
@given(entries=st.lists(ENTRIES, max_size=4))
def test_config_loader_on_random_values(entries):
    by_section: dict[str, dict[str, str]] = {}
    for (section, key), value in entries:
        by_section.setdefault(section, {})[key] = _toml(value)
    text = "\n".join(
        f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in body.items())
        for section, body in by_section.items()
    )
    cfg = _load_toml(text)
    if cfg is None:
        return
    for name in [*_SECTIONS, "strategy"]:
        section = getattr(cfg, name)
        for f in fields(section):
            v = getattr(section, f.name)
            for x in v if isinstance(v, tuple) else (v,):
                if isinstance(x, float):
                    assert math.isfinite(x), (name, f.name, x)  # nan/inf never accepted


@FUZZ
@given(data=st.binary(max_size=400))
def test_config_loader_on_random_bytes(data: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(exc).strip()
