"""CSV bars: the real bundled and test files, their formats, and bad rows."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from etrade_cli.errors import DataError
from etrade_cli.marketdata import SAMPLE_SP500
from etrade_cli.marketdata.csv import read_bars_csv
from etrade_cli.marketdata.provider import CsvBarProvider
from tests.conftest import DATA


def test_bundled_long_format_sample():
    bars, report = read_bars_csv(SAMPLE_SP500)
    assert len(bars) == 524
    assert report.rows == 122_574 and report.warning() is None
    ed = bars["ED"]
    assert ed.dates[0] == np.datetime64("2009-08-21") and ed.dates[-1] == np.datetime64(
        "2010-08-20"
    )
    assert (np.diff(ed.dates.astype(int)) > 0).all()
    assert "BRK.B" in bars


@pytest.mark.parametrize(
    "name, symbol, first, last, n",
    [
        ("AMZN_daily_1997-2020.csv", "AMZN", "1997-05-15", "2020-07-31", 5842),
        ("MSFT_daily_2015-2021.csv", "MSFT", "2015-04-01", "2021-03-31", 1511),
        ("NFLX_daily_2018-2022.csv", "NFLX", "2018-02-05", "2022-02-04", 1009),
    ],
)
def test_per_symbol_files(name, symbol, first, last, n):
    bars, _ = read_bars_csv(DATA / name)
    b = bars[symbol]
    assert (str(b.dates[0]), str(b.dates[-1]), len(b)) == (first, last, n)


def test_column_order_case_and_explicit_symbol(tmp_path: Path):
    f = tmp_path / "whatever.csv"
    f.write_text(
        "volume,CLOSE,low,High,open,DATE\n100,10,9,11,9.5,2020-01-02\n"
        "200,11,10,12,10.5,2020-01-03\n"
    )
    bars, _ = read_bars_csv(f, symbol="xyz")
    b = bars["XYZ"]
    assert b.close.tolist() == [10.0, 11.0] and b.volume.tolist() == [100.0, 200.0]


def test_bad_rows_are_dropped_and_counted(tmp_path: Path):
    f = tmp_path / "ABC.csv"
    f.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2020-01-02,10,11,9,10,100\n"
        "2020-01-03,0,11,9,10,100\n"  # non-positive price
        "2020-01-06,10,9,11,10,100\n"  # high < low
        "2020-01-06,10,11,9,10.5,100\n"
        "2020-01-06,10,11,9,10.7,100\n"  # duplicate date
        "2020-01-03,10,11,9,10,100\n"  # unsorted
        "2020-01-07,10,11,9,abc,100\n"  # non-numeric
        "2020-01-08,10,11,9,10,-5\n"  # negative volume
        "not-a-date,10,11,9,10,100\n"
        "2020-01-09,10,11,9,10.9,100\n"
    )
    bars, report = read_bars_csv(f)
    assert [str(d) for d in bars["ABC"].dates] == ["2020-01-02", "2020-01-06", "2020-01-09"]
    assert bars["ABC"].close.tolist() == [10.0, 10.5, 10.9]
    assert report.dropped == {
        "non-positive price": 1,
        "high below low": 1,
        "duplicate or unsorted date": 2,
        "missing or non-numeric field": 2,
        "negative volume": 1,
    }
    assert report.warning().startswith("ABC.csv: dropped 7 of 10 rows")


def test_long_format_orders_each_symbol_and_drops_duplicates_per_symbol(tmp_path: Path):
    f = tmp_path / "long.csv.gz"
    with gzip.open(f, "wt") as fh:
        fh.write(
            "Date,Symbol,Open,High,Low,Close,Volume\n"
            "20200102,aaa,1,2,1,1.5,10\n20200102,BBB,1,2,1,1.5,10\n"
            "20200103,AAA,1,2,1,1.6,10\n20200102,AAA,1,2,1,9,10\n"
        )
    bars, report = read_bars_csv(f)
    assert bars["AAA"].close.tolist() == [1.5, 1.6] and len(bars["BBB"]) == 1
    assert report.dropped == {"duplicate or unsorted date": 1}


@pytest.mark.parametrize(
    "content, message",
    [
        ("Date,Open,High,Low,Close\n2020-01-02,1,2,1,1\n", "missing column(s) volume"),
        ("", "cannot read CSV"),
        ("Date,Open,High,Low,Close,Volume\n", "no rows"),
        ("Date,Open,High,Low,Close,Volume\n02.01.2020,1,2,1,1,1\n", "unrecognized date"),
        ("Date,Open,High,Low,Close,Volume\n2020-01-02,0,2,1,1,1\n", "no valid rows"),
    ],
)
def test_unreadable_files_are_rejected_with_a_clear_message(tmp_path: Path, content, message):
    f = tmp_path / "BAD.csv"
    f.write_text(content)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_bars_csv(f)


def test_missing_file(tmp_path: Path):
    with pytest.raises(DataError, match="data file not found"):
        read_bars_csv(tmp_path / "nope.csv")


def test_symbol_from_filename_must_be_a_ticker(tmp_path: Path):
    f = tmp_path / "123 prices.csv"
    f.write_text("Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,1,1,1\n")
    with pytest.raises(DataError, match="cannot tell the symbol"):
        read_bars_csv(f)


def test_provider_reports_missing_symbols():
    p = CsvBarProvider()
    found, missing = p.get(["ED", "NOPE"])
    assert [b.symbol for b in found] == ["ED"] and missing == ["NOPE"]
    with pytest.raises(DataError, match="NOPE"):
        p.get(["ED", "NOPE"], strict=True)
