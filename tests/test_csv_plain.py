"""The pandas-free reader of plain CSV files (`marketdata.plain`, issue 13) gives exactly what
the pandas reader gives, on every file it accepts; it declines everything else."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etrade_cli.errors import EtradeCliError
from etrade_cli.marketdata import SAMPLE_SP500
from etrade_cli.marketdata.csv import check_header, read_bars_csv
from etrade_cli.marketdata.plain import NA_WORDS, read_plain
from tests.conftest import DATA

COLUMNS = ("dates", "open", "high", "low", "close", "volume")


def _snapshot(path: Path, *, pandas_only: bool):
    """read_bars_csv as plain values (exact floats and dates), or the error's text."""
    patch = mock.patch("etrade_cli.marketdata.csv.read_plain", return_value=None)
    try:
        if pandas_only:
            with patch:
                bars, report = read_bars_csv(path)
        else:
            bars, report = read_bars_csv(path)
    except EtradeCliError as exc:
        return str(exc)
    return (
        {s: [getattr(b, c).tolist() for c in COLUMNS] for s, b in bars.items()},
        (report.rows, dict(report.dropped), report.bad_symbols),
    )


def _both(name: str, text: str):
    """(plain reader used?, snapshot with it, snapshot with pandas only)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8")
        try:
            used = read_plain(path, check_header(path)) is not None
        except EtradeCliError:
            used = False
        return (
            used,
            _snapshot(path, pandas_only=False),
            _snapshot(path, pandas_only=True),
        )


def test_na_words_are_pandas_own():
    from pandas._libs.parsers import STR_NA_VALUES

    assert NA_WORDS == STR_NA_VALUES


@pytest.mark.parametrize(
    "path, plain",
    [
        (SAMPLE_SP500, True),
        (DATA / "NFLX_daily_2018-2022.csv", True),
        (DATA / "AMZN_daily_1997-2020.csv", False),  # 18-character prices
        (DATA / "MSFT_daily_2015-2021.csv", False),  # M/D/YYYY HH:MM:SS dates
    ],
    ids=lambda v: Path(v).name if isinstance(v, Path) else str(v),
)
def test_real_files_are_read_identically_by_either_reader(path: Path, plain: bool):
    assert (read_plain(path, check_header(path)) is not None) is plain
    assert _snapshot(path, pandas_only=False) == _snapshot(path, pandas_only=True)


@pytest.mark.parametrize(
    "row, plain",
    [
        ("2020-01-03,ABC,10,11,9,10.5,100", True),
        ("2020-01-03,ABC,10,11,9,10.5,100\r", False),
        ("20200103,ABC,10,11,9,10.5,100", False),  # a second date layout
        ("2020-01-03,ABC,10,11,9,10.5,-1", False),  # negative
        ("2020-01-03,ABC,10,11,9,10.5,inf", False),
        ("2020-01-03,ABC,10,11,9,10.5,", False),  # empty cell
        ("2020-01-03,NA,10,11,9,10.5,100", False),  # pandas reads NA as missing
        ("2020-01-03,1.50,10,11,9,10.5,100", False),  # a number as symbol
        ('2020-01-03,"ABC",10,11,9,10.5,100', False),
        ("2020-01-03, ABC,10,11,9,10.5,100", False),
        ("2020-01-03,ABC,10,11,9,10.5,100,7", False),  # a longer row
        ("2020-02-30,ABC,10,11,9,10.5,100", False),
        ("2020-01-03,ABC,1e-300,11,9,10.5,100", False),
        ("2020-01-03,ABC,10,11,9,12345678.123456789,100", False),  # a long cell
        ("2020-01-03T10:00,ABC,10,11,9,10.5,100", False),
        ("2020-01-03,ABC,10,11,9,10.5,-0", False),
        ("2020-01-03,null,10,11,9,10.5,100", False),
        ("2020-01-03,INF,10,11,9,10.5,100", False),
        ("2020-01-03,ABC,10,11,9,10.5,100\n\n2020-01-06,ABC,10,11,9,10.5,100", True),
        ("2020-01-03,A$B,10,11,9,10.5,100", True),  # a bad symbol: dropped by both
        ("2020-01-03,ABC,10,9,11,10.5,100", True),  # high below low: dropped by both
    ],
)
def test_which_files_are_plain(row: str, plain: bool):
    text = "Date,Symbol,Open,High,Low,Close,Volume\n2020-01-02,ABC,10,11,9,10,100\n" + row + "\n"
    used, fast, slow = _both("x.csv", text)
    assert used is plain and fast == slow


NUMBER = st.one_of(
    st.floats(min_value=0.0001, max_value=99999, allow_nan=False).map(lambda x: f"{x:.{len(str(x)) % 7}f}"),
    st.integers(0, 10**12).map(str),
    st.floats(min_value=1e-12, max_value=1e18).map(repr),
    st.sampled_from(["+5", ".5", "5.", "1e5", "1E-5", "0", "-0", "-3", "007", "1e-300", "9e15",
                     "9999999999999999", "inf", "nan", "NA", "", "x", "True", "0x1A", "1_000"]),
)  # fmt: skip
DATE = st.one_of(
    st.dates(min_value=dt.date(1899, 12, 1), max_value=dt.date(2200, 1, 31)).map(str),
    st.dates(min_value=dt.date(2019, 1, 1), max_value=dt.date(2019, 3, 1)).map(
        lambda d: d.strftime("%Y%m%d")
    ),
    st.sampled_from(["2020-13-01", "20200230", "", "soon", "2020-1-5", "1/2/2020"]),
)
SYMBOL = st.sampled_from(
    ["AAPL", "msft", "BRK.B", "A$B", "", "NA", "nan", "123", "1.50", "INF", "TOOLONGSYMBOLXX"]
)


CLEAN = st.fixed_dictionaries(
    {
        "date": st.dates(min_value=dt.date(2019, 1, 1), max_value=dt.date(2019, 3, 1)).map(str),
        "symbol": st.sampled_from(["AAPL", "msft", "BRK.B", "X"]),
        "open": st.integers(1, 500).map(str),
        "high": st.integers(1, 500).map(lambda i: f"{i}.25"),
        "low": st.integers(1, 500).map(lambda i: f"{i}.5"),
        "close": st.floats(min_value=0.01, max_value=999, allow_nan=False).map(lambda x: f"{x:.2f}"),
        "volume": st.integers(0, 10**9).map(str),
    }
)  # fmt: skip
ODD = {
    "date": DATE,
    "symbol": SYMBOL,
    **{c: NUMBER for c in ("open", "high", "low", "close", "volume")},
}


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    order=st.permutations(["date", "symbol", "open", "high", "low", "close", "volume"]),
    rows=st.lists(CLEAN, min_size=1, max_size=30),
    odd=st.lists(
        st.sampled_from(sorted(ODD)).flatmap(
            lambda c: st.tuples(st.integers(0, 29), st.just(c), ODD[c])
        ),
        max_size=3,
    ),
    per_symbol=st.booleans(),
    extra=st.sampled_from(["", ",", "\n", "\n\n"]),
)
def test_plain_and_pandas_readers_agree(order, rows, odd, per_symbol, extra):
    """Clean files with at most three odd cells (an odd value, a missing-value word, another
    date layout, a number too long or too small): both readers agree, cell for cell."""
    for i, col, value in odd:
        rows[i % len(rows)] = {**rows[i % len(rows)], col: value}
    cols = [c for c in order if not (per_symbol and c == "symbol")]
    text = ",".join(c.title() for c in cols) + "\n"
    text += "\n".join(",".join(r[c] for c in cols) for r in rows) + extra
    _, fast, slow = _both("AAA.csv" if per_symbol else "all.csv", text)
    assert fast == slow


@pytest.mark.parametrize("name", ["big.csv", "big.csv.gz"])
def test_files_over_the_size_limit_go_to_pandas(tmp_path: Path, name: str):
    import gzip

    text = "Date,Symbol,Open,High,Low,Close,Volume\n" + "2020-01-02,ABC,10,11,9,10,100\n" * 20
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    assert read_plain(path, check_header(path)) is not None
    with mock.patch("etrade_cli.marketdata.plain.MAX_BYTES", len(text) - 1):
        assert read_plain(path, check_header(path)) is None
        assert _snapshot(path, pandas_only=False) == _snapshot(path, pandas_only=True)
