"""Imported bars usable with no further setup, and gaps in the data told apart from holidays."""

from __future__ import annotations

import json

import pytest

from etrade_cli.errors import ExitStatus
from tests.conftest import DATA


def test_imported_bars_are_used_by_scan_backtest_and_run_once_without_keys(cli, monkeypatch):
    monkeypatch.delenv("ALPACA_API_KEY", raising=False)
    r = cli("scan", "NFLX", "--json")
    assert r.exit_code == ExitStatus.ERROR and "or the bar cache" in r.stderr
    r = cli("data", "import", str(DATA / "NFLX_daily_2018-2022.csv"))
    assert r.exit_code == 0, r.output
    r = cli("scan", "NFLX", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["session"] == "2022-02-04" and doc["universe"] == 1  # NFLX's last bar
    assert sum(doc["rejected"].values()) + len(doc["signals"]) == 1
    r = cli("backtest", "--symbols", "NFLX", "--start", "2021-06-01", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["end"] == "2022-02-04"
    # the bundled sample still serves every symbol the cache does not hold
    assert json.loads(cli("scan", "ED", "--json").stdout)["session"] == "2010-08-20"


def test_the_bar_cache_is_not_created_by_reading(cli, hermetic):
    assert cli("scan", "ED", "--json").exit_code == 0
    assert not list((hermetic.parent / "home").rglob("*bars*"))


@pytest.mark.parametrize(
    "day, used, note",
    [
        ("2010-08-18", "2010-08-17", "no bars on 2010-08-18 although NYSE was open"),
        ("2010-08-22", "2010-08-20", "2010-08-22 is not a NYSE session"),
        ("2010-08-20", "2010-08-20", None),
    ],
)
def test_scan_as_of_says_which_bar_it_used(cli, day, used, note):
    r = cli("scan", "ED", "--as-of", day, "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["session"] == used
    if note:
        assert note in r.stderr and f"used the last bar before it, {used}" in r.stderr
    else:
        assert r.stderr == ""


def test_run_once_on_a_data_gap_is_not_called_market_closed(cli):
    r = cli("--db", "gap.db", "run-once", "--as-of", "2010-08-18", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert not doc["market_open"]
    assert "gap in the data" in doc["message"] and "market closed" not in doc["message"]
    r = cli("--db", "gap.db", "run-once", "--as-of", "2010-08-21")  # a Saturday
    assert "market closed on 2010-08-21" in r.stdout


def test_run_once_header_says_no_orders_when_none_were_sent(cli):
    r = cli("--db", "quiet.db", "run-once", "--as-of", "2010-08-16")
    assert r.exit_code == 0, r.output
    assert "no orders" in r.stdout and "orders sent" not in r.stdout


def test_scan_of_named_symbols_shows_each_result(cli):
    assert cli("data", "import", str(DATA / "NFLX_daily_2018-2022.csv")).exit_code == 0
    doc = json.loads(cli("scan", "NFLX", "--json").stdout)
    (nflx,) = doc["symbols"]
    assert nflx["symbol"] == "NFLX" and nflx["date"] == "2022-02-04" and nflx["close"] == 410.17
    r = cli("scan", "NFLX")
    assert "NFLX" in r.stdout and "2022-02-04" in r.stdout
