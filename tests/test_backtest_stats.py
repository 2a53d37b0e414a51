"""Backtests a trader can trust, run as a user runs them: warm-up outside the window, the
benchmark, every statistic and every fill in JSON/CSV, stored results, charts."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from etrade_cli.cli.machine import machine_columns
from etrade_cli.errors import ExitStatus
from etrade_cli.stats import STAT_LINES

DATA = Path(__file__).parent / "data"


def trade_key(t: dict) -> tuple:
    return (t["symbol"], t["type"], t["entry_date"], t["shares"], t["entry_price"],
            json.dumps(t["fills"]))  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The full-sample run and the Done-when window over every symbol of the sample."""
    from typer.testing import CliRunner

    from etrade_cli.cli import app

    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("ETRADE_CLI_HOME", str(home))
    mp.chdir(home)
    try:
        out = {}
        for name, args in {
            "full": ["--start", "2009-08-21"],
            "default": [],
            "window": ["--start", "2010-06-01", "--end", "2010-08-20"],
        }.items():
            r = CliRunner().invoke(app, ["backtest", "--watchlist", "ALL", "--json", *args])
            assert r.exit_code == 0, r.output
            out[name] = json.loads(r.stdout)
            out[name + "_stderr"] = r.stderr
        return out
    finally:
        mp.undo()


def test_window_trades_equal_the_full_sample_run_inside_it(runs):
    full, window = runs["full"], runs["window"]
    assert window["start"] == "2010-06-01" and window["end"] == "2010-08-20"
    assert window["symbols"] == 524
    inside = [trade_key(t) for t in full["trades"] if t["entry_date"] >= "2010-06-01"]
    assert inside and inside == [trade_key(t) for t in window["trades"]]
    # the warm-up bars came from before the window and the report says so
    w = window["warmup"]
    assert w["bars"] == 188 and w["first"] == "2009-08-21" and w["needed"] == 199
    assert "188 bars from 2009-08-21 before 2010-06-01" in w["summary"]
    assert "not warmed up at 2010-06-01" in w["summary"] and "never within the data" in w["summary"]
    assert "warm-up" in runs["window_stderr"]  # one summary line on stderr for scripts


def test_default_window_starts_after_the_warm_up(runs):
    d, full = runs["default"], runs["full"]
    assert d["start"] == "2010-06-16"  # the first session a symbol of the sample can signal
    assert d["warmup"]["bars"] == 199
    assert [trade_key(t) for t in d["trades"]] == [trade_key(t) for t in full["trades"]]
    assert (
        full["stats"]["exposure_fraction"] < d["stats"]["exposure_fraction"]
    )  # no flat warm-up months


def test_json_carries_every_statistic_fills_and_the_benchmark(runs):
    doc = runs["window"]
    assert list(doc["stats"]) == machine_columns([k for k, _, _ in STAT_LINES])
    assert doc["benchmark"] == "equal-weight universe"  # the sample has no SPY
    assert doc["stats"]["buy_hold_return_fraction"] is not None and doc["stats"]["beta"] is not None
    first, last = doc["curve"][0], doc["curve"][-1]
    assert first["benchmark"] is not None
    bh = doc["stats"]["buy_hold_return_fraction"]
    assert last["benchmark"] == pytest.approx(100_000 * (1 + bh), abs=0.1)
    assert set(doc["by_tag"]) <= {"B1", "B2"} and doc["by_exit_reason"] and doc["by_symbol"]
    for reason in doc["by_exit_reason"].values():
        assert {"win_rate_fraction", "avg_usd", "profit_factor"} <= set(reason)
    closed = [t for t in doc["trades"] if t["status"] == "closed"]
    for t in closed:
        assert t["fills"] and sum(f["shares"] for f in t["fills"]) == t["shares"]
        assert t["realized"] == pytest.approx(sum(f["pnl"] for f in t["fills"]), abs=0.02)
    text = json.dumps(doc)
    # money to cents, prices to 4 decimals, fractions (percentages) to 6: no float noise
    assert not re.search(r"\d\.\d{7,}", text)
    assert not re.search(r"\d\.\d{5,}", re.sub(r'"\w+_fraction": -?\d+\.\d+', "", text))
    assert doc["stats"]["trades"] == len(closed)


def test_every_partial_exit_is_its_own_row(runs):
    partial = [t for t in runs["full"]["trades"] if len(t["fills"]) > 1]
    assert partial, "the sample has a trade with a profit target and a later exit"
    t = partial[0]
    reasons = [f["reason"] for f in t["fills"]]
    assert reasons[0].startswith("PT") and len(set(f["date"] for f in t["fills"])) > 1


def test_table_fits_80_columns_and_csv_has_one_row_per_fill(cli):
    r = cli("backtest", "--symbols", "S,DTE,COF,SRCL", "--start", "2010-06-01")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert max(len(x) for x in lines) <= 80
    for label in ("Sortino", "Calmar", "Buy & hold return", "Max drawdown recovery", "SQN"):
        assert any(x.startswith(label) for x in lines), label
    assert "By exit reason" in r.stdout and "By symbol" in r.stdout and "total" in r.stdout
    r = cli("backtest", "--symbols", "S,DTE,COF,SRCL", "--start", "2010-06-01", "--csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    s_b2 = [x for x in rows if x["symbol"] == "S" and x["type"] == "B2"]
    assert [x["reason"] for x in s_b2] == ["PT1", "TES"]
    assert {x["trade_pnl_usd"] for x in s_b2} == {"503.72"}


def test_stored_results_are_listed_and_shown_without_rerunning(cli):
    r = cli("backtest", "--symbols", "S,DTE", "--start", "2010-06-01", "--json")
    doc = json.loads(r.stdout)
    r = cli("backtest", "list", "--json")
    rows = json.loads(r.stdout)
    assert rows[0]["id"] == doc["id"] and rows[0]["start_date"] == "2010-06-01"
    shown = json.loads(cli("backtest", "show", str(doc["id"]), "--json").stdout)
    assert shown == doc
    assert json.loads(cli("backtest", "show", "--json").stdout)["id"] == doc["id"]
    r = cli("backtest", "show")
    assert r.exit_code == 0 and "Statistics" in r.stdout and "Trade list" in r.stdout
    r = cli("backtest", "show", "999")
    assert r.exit_code == ExitStatus.ERROR and "no stored backtest 999" in r.stderr
    assert cli("backtest", "list").exit_code == 0


def test_benchmark_symbol_when_the_data_has_it(cli):
    r = cli("backtest", "--symbols", "S,DTE", "--benchmark", "AAPL", "--json")
    doc = json.loads(r.stdout)
    assert doc["benchmark"] == "AAPL"
    r = cli("backtest", "--symbols", "S", "--benchmark", "NOPE")
    assert r.exit_code == ExitStatus.ERROR and "no data for benchmark NOPE" in r.stderr


@pytest.mark.parametrize("ext,magic", [("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_backtest_chart_formats(cli, tmp_path: Path, ext: str, magic: bytes):
    path = tmp_path / f"bt.{ext}"
    r = cli("backtest", "--symbols", "S,DTE", "--chart", str(path))
    assert r.exit_code == 0, r.output
    assert path.read_bytes().startswith(magic)


def test_chart_errors_are_one_line(cli, tmp_path: Path):
    r = cli("backtest", "--symbols", "S", "--chart", str(tmp_path / "bt.gif"))
    assert r.exit_code == ExitStatus.ERROR and "unknown format 'gif'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    if Path("/dev/full").exists():  # a full disk: the write fails, nothing says "written"
        full = tmp_path / "full.png"
        full.symlink_to("/dev/full")
        r = cli("backtest", "--symbols", "S", "--chart", str(full))
        assert r.exit_code == ExitStatus.ERROR and "written" not in r.stdout
        assert f"cannot write chart {full}" in r.stderr and "No space" in r.stderr


def test_chart_command_on_a_user_csv(cli, hermetic: Path):
    shutil.copy(DATA / "NFLX_daily_2018-2022.csv", hermetic / "NVDA.csv")
    r = cli(
        "chart", "NVDA", "--data", "NVDA.csv", "--as-of", "2021-12-31", "--days", "250", "--json"
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["bars"] == 250 and doc["last"] == "2021-12-31"
    assert [s["date"] for s in doc["signals"]][-2:] == ["2021-11-08", "2021-11-24"]
    png = hermetic / "NVDA.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 20_000
    r = cli("chart", "NVDA", "--data", "NVDA.csv", "-o", "x.bmp")
    assert r.exit_code == ExitStatus.ERROR and "unknown format" in r.stderr
    r = cli("chart", "AAPL", "--data", "NVDA.csv")
    assert r.exit_code == ExitStatus.ERROR and "no data for symbol(s): AAPL" in r.stderr


def test_chart_shows_a_backtests_trades(cli, hermetic: Path):
    assert cli("backtest", "--symbols", "S", "--db", "bt.db").exit_code == 0
    r = cli("chart", "S", "--db", "bt.db", "--json", "-o", "s.svg")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["entries"] >= 1 and doc["exits"] >= 1
    assert (hermetic / "s.svg").read_bytes().startswith(b"<?xml")
