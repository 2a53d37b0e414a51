"""The paper broker outside the trading loop: `quote`, `order preview|place` and `accounts
balance` with `--broker paper` price at the last bar of the configured data (the bundled sample
by default), and say which session that bar is from."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from etrade_cli.marketdata import SAMPLE_SP500

DATA = Path(__file__).parent / "data"


def _last_bar(symbol: str) -> pd.Series:
    """The symbol's last row of the bundled sample, read with pandas."""
    df = pd.read_csv(SAMPLE_SP500)
    return df[df.Symbol == symbol].sort_values("Date").iloc[-1]


def test_paper_quotes_are_the_last_bars_of_the_bundled_data(cli, hermetic):
    r = cli("--broker", "paper", "quote", "AAPL", "MSFT", "--json")
    assert r.exit_code == 0, r.output
    rows = {q["symbol"]: q for q in json.loads(r.stdout)}
    for symbol in ("AAPL", "MSFT"):
        bar = _last_bar(symbol)
        day = str(bar.Date)
        assert rows[symbol] == {
            "symbol": symbol,
            "last": pytest.approx(bar.Close),
            "open": pytest.approx(bar.Open),
            "high": pytest.approx(bar.High),
            "low": pytest.approx(bar.Low),
            "volume": pytest.approx(bar.Volume),
            "session": f"{day[:4]}-{day[4:6]}-{day[6:]}",
        }
    assert not (hermetic.parent / "home" / "etrade.db").exists()  # a price needs no book


def test_a_symbol_without_bars_is_reported_and_the_others_print(cli):
    r = cli("--broker", "paper", "quote", "AAPL", "NOPE", "--fields", "symbol,last,session")
    assert r.exit_code == 1
    assert "NOPE: no bars in the data" in r.stderr and "AAPL" in r.stdout
    assert "no quote for 1 symbol(s): NOPE" in r.stderr


def test_paper_quotes_follow_the_configured_data(cli, hermetic):
    nflx = DATA / "NFLX_daily_2018-2022.csv"
    (hermetic / "config.toml").write_text(f"[data]\ncsv_paths = ['{nflx}']\n")
    r = cli("--broker", "paper", "quote", "NFLX", "--json", "symbol,last,session")
    assert r.exit_code == 0, r.output
    last = pd.read_csv(nflx).iloc[-1]
    assert json.loads(r.stdout) == [
        {"symbol": "NFLX", "last": round(last.Close, 4), "session": last.Date}
    ]


def test_paper_orders_price_at_the_last_close(cli):
    close = float(_last_bar("AAPL").Close)
    r = cli("--broker", "paper", "order", "preview", "AAPL", "-q", "10", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["estimated_total"] == pytest.approx(10 * close)
    r = cli("--broker", "paper", "order", "place", "AAPL", "-q", "10", "--yes")
    assert r.exit_code == 0, r.output
    fills = json.loads(cli("history", "fills", "--json").stdout)
    assert [(f["symbol"], f["quantity"], f["price"]) for f in fills] == [
        ("AAPL", 10, pytest.approx(close))
    ]
    day = str(_last_bar("AAPL").Date)
    day = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    (order,) = json.loads(cli("history", "orders", "--json").stdout)
    assert order["session_date"] == fills[0]["session_date"] == day  # the price's session
    balance = json.loads(cli("--broker", "paper", "accounts", "balance", "--json").stdout)
    assert balance["cash"] == pytest.approx(100_000 - 10 * close)
    assert balance["equity"] == pytest.approx(100_000)  # the holding valued at the same close


def test_an_unreachable_data_source_is_said_by_quote_and_leaves_orders_unpriced(cli, hermetic):
    """Remote bars without keys: `quote` names the problem (exit 4); the paper broker has no
    price (exit 6, as before it had a source) rather than failing on the data."""
    (hermetic / "config.toml").write_text('[data]\nsource = "alpaca"\n')
    r = cli("--broker", "paper", "quote", "AAPL")
    assert r.exit_code == 4 and "no Alpaca API keys" in r.stderr
    r = cli("--broker", "paper", "order", "preview", "AAPL", "-q", "1")
    assert r.exit_code == 6 and "no price for AAPL" in r.stderr


def test_the_quote_table_shows_prices_with_cents_and_volume_in_whole_shares(cli):
    r = cli("--broker", "paper", "quote", "AAPL")
    assert r.exit_code == 0, r.output
    bar = _last_bar("AAPL")
    assert f"{bar.Close:,.2f}" in r.stdout and f"{int(bar.Volume):,}" in r.stdout
    assert f"{bar.Volume:,.2f}" not in r.stdout
