"""`etrade report` that is right: the window's own return and drawdown, breakdowns, the exit
reason table the help promises, CSV tables, sessions held stopping at the exit."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from etrade_cli.errors import ExitStatus


@pytest.fixture
def book(cli, hermetic: Path) -> Path:
    """A backtest's book over the default watchlist, used as the report's --db."""
    r = cli("backtest", "--db", "bt.db", "--start", "2009-08-21")
    assert r.exit_code == 0, r.output
    return hermetic / "bt.db"


def report(cli, *args: str) -> dict:
    r = cli("--db", "bt.db", "report", "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_closed_position_stops_counting_sessions_at_its_exit(cli, book):
    r = cli("--db", "bt.db", "positions", "--closed", "--json")
    rows = json.loads(r.stdout)["positions"]
    aapl = next(p for p in rows if p["symbol"] == "AAPL" and p["type"] == "B1")
    assert aapl["exit_reason"] == "TES" and aapl["sessions_held"] == 21  # tes_days_b1


def test_since_measures_the_window_only(cli, book):
    whole = report(cli)
    win = report(cli, "--since", "2010-08-01")
    curve = {c["session"]: c["equity"] for c in whole["equity_curve"]}
    before = max(d for d in curve if d < "2010-08-01")
    s = win["stats"]
    assert s["start"] == "2010-08-02" and s["equity_start"] == curve[before]
    expected = curve["2010-08-20"] / curve[before] - 1  # JSON percentages are fractions
    assert s["return_fraction"] == pytest.approx(expected, abs=1e-6)
    assert s["return_fraction"] != pytest.approx(whole["stats"]["return_fraction"], abs=1e-6)
    values = [curve[before]] + [c["equity"] for c in win["equity_curve"]]
    peak, dd = values[0], 0.0
    for v in values:
        peak = max(peak, v)
        dd = min(dd, v / peak - 1)
    assert s["max_drawdown_fraction"] == pytest.approx(dd, abs=1e-6)
    assert sum(p["realized_usd"] for p in win["periods"]) == pytest.approx(
        win["realized"], abs=0.02
    )


@pytest.mark.parametrize(
    "breakdown,first",
    [
        ("day", "2009-08-21"),
        ("week", "2009-W34"),
        ("month", "2009-08"),
        ("year", "2009"),
    ],  # fmt: skip
)
def test_breakdowns(cli, book, breakdown: str, first: str):
    doc = report(cli, "--breakdown", breakdown)
    periods = doc["periods"]
    assert periods[0]["period"] == first
    assert sum(p["realized_usd"] for p in periods) == pytest.approx(doc["realized"], abs=0.02)
    last_eq = doc["equity_curve"][-1]["equity"]
    assert periods[-1]["equity_end"] == pytest.approx(last_eq, abs=0.01)
    growth = 1.0
    for p in periods:
        growth *= 1 + (p["return_fraction"] or 0)
    assert growth - 1 == pytest.approx(doc["stats"]["return_fraction"], abs=1e-5)


def test_exit_reason_table_has_win_rate_average_and_profit_factor(cli, book):
    doc = report(cli)
    tes = doc["by_exit_reason"]["TES"]
    fills = [f for t in doc["trades"] for f in t["fills"] if f["reason"] == "TES"]
    assert tes["exits"] == len(fills)
    assert tes["avg_usd"] == pytest.approx(sum(f["pnl"] for f in fills) / len(fills), abs=0.01)
    wins = sum(f["pnl"] > 0 for f in fills)
    assert tes["win_rate_fraction"] == pytest.approx(wins / len(fills), abs=1e-6)
    r = cli("--db", "bt.db", "report")
    assert "Win rate" in r.stdout and "PF" in r.stdout and "By exit reason" in r.stdout
    assert max(len(x) for x in r.stdout.splitlines()) <= 80


def test_csv_tables(cli, book, hermetic: Path):
    r = cli("--db", "bt.db", "report", "--csv")
    names = [x.split()[-1] for x in r.stdout.splitlines() if x.startswith("# table ")]
    assert names == ["stats", "by_type", "by_exit_reason", "by_symbol", "periods", "trades",
                     "equity"]  # fmt: skip
    r = cli("--db", "bt.db", "report", "--csv", "--table", "by_exit_reason")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {"reason", "win_rate_fraction", "profit_factor"} <= set(rows[0])
    r = cli("--db", "bt.db", "report", "--csv", "--output-dir", "out")
    assert r.exit_code == 0
    assert sorted(p.name for p in (hermetic / "out").iterdir())[0] == "by_exit_reason.csv"
    assert len(list((hermetic / "out").iterdir())) == 7
    r = cli("--db", "bt.db", "report", "--csv", "--table", "nope")
    assert r.exit_code == ExitStatus.ERROR and "no report table 'nope'" in r.stderr
    r = cli("--db", "bt.db", "report", "--table", "stats")
    assert r.exit_code == ExitStatus.ERROR and "go with --csv" in r.stderr
    r = cli("--db", "bt.db", "report", "--breakdown", "hour")
    assert r.exit_code == ExitStatus.ERROR and "bad --breakdown" in r.stderr


def test_report_chart(cli, book, hermetic: Path):
    r = cli("--db", "bt.db", "report", "--chart", "eq.svg", "--since", "2010-08-01")
    assert r.exit_code == 0, r.output
    assert (hermetic / "eq.svg").read_bytes().startswith(b"<?xml")
    r = cli("--db", "bt.db", "report", "--chart", "eq.jpeg")
    assert r.exit_code == ExitStatus.ERROR and "unknown format" in r.stderr


def test_report_benchmark_from_config(cli, book, hermetic: Path):
    (hermetic / "config.toml").write_text('[report]\nbenchmark = "AAPL"\n')
    doc = report(cli, "--since", "2010-07-01")
    assert doc["benchmark"] == "AAPL"
    curve = doc["equity_curve"]
    bh = doc["stats"]["buy_hold_return_fraction"]
    start = doc["stats"]["equity_start"]
    assert curve[-1]["benchmark"] == pytest.approx(start * (1 + bh), abs=0.1)
    assert doc["stats"]["beta"] is not None and doc["stats"]["alpha_fraction"] is not None
    (hermetic / "config.toml").write_text('[report]\nbenchmark = "SPY"\n')  # not in the sample
    doc = report(cli)
    assert doc["benchmark"] is None and doc["stats"]["buy_hold_return_fraction"] is None
