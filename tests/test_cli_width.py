"""Tables at 80 and 120 columns (a pipe or cron mail, a wide terminal): every number whole."""

from __future__ import annotations

import json
import re

import pytest

from etrade_cli.cli import common

CUT_NUMBER = re.compile(r"[\d.,+\-%]…|…[\d.,%]")


@pytest.fixture(params=[80, 120])
def width(request, monkeypatch) -> int:
    monkeypatch.setattr(common.out, "_width", request.param)
    return int(request.param)


@pytest.fixture
def book(cli, hermetic):
    """A backtest book with open and closed positions (demo.db)."""
    r = cli("backtest", "--db", "demo.db", "--start", "2010-06-01", "--json")
    assert r.exit_code == 0, r.output
    return "demo.db"


def _lines_fit(text: str, width: int) -> None:
    assert not CUT_NUMBER.search(text), text
    assert "…" not in text, text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width, text


@pytest.mark.parametrize(
    "args",
    [
        ["scan", "--all"],
        ["scan", "--as-of", "2010-06-15"],
        ["backtest", "--start", "2010-06-01"],
        ["positions", "--db", "demo.db"],
        ["positions", "--closed", "--db", "demo.db"],
        ["report", "--db", "demo.db"],
        ["history", "orders", "--db", "demo.db"],
    ],
)
def test_tables_keep_every_number_whole(cli, book, width, args):
    r = cli(*args)
    assert r.exit_code == 0, r.output
    _lines_fit(r.stdout, width)


def test_positions_show_each_unrealized_amount_and_percent_whole(cli, book, width):
    rows = json.loads(cli("positions", "--db", book, "--json").stdout)["positions"]
    assert rows
    text = cli("positions", "--db", book).stdout
    for row in rows:
        assert (
            f"{row['unrealized_usd']:+,.2f}" in text
            and f"{row['unrealized_fraction'] * 100:+.1f}%" in text
        )


def test_scan_explains_its_abbreviations_and_folds_long_reasons(cli, width):
    text = cli("scan").stdout
    words = " ".join(text.split())
    assert "DZ demand zone" in words and "E21 EMA21 touch" in words
    assert "max_positions_b1" in text.replace("\n", "")  # folded, not cut


def test_low_value_columns_go_first_at_80(cli, book, width):
    text = cli("positions", "--db", book).stdout
    header = next(line for line in text.splitlines() if line.startswith("Symbol"))
    assert ("PT" in header.split()) == (width == 120)
    assert "Unrealized" in header and "Last" in header
