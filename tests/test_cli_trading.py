"""run-once, positions, report, backtest and run-loop as a user runs them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest

from etrade_cli.errors import ExitStatus


def test_run_once_trades_the_latest_session_into_the_paper_book(cli, hermetic: Path):
    r = cli("run-once", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["session"] == "2010-08-20" and doc["market_open"]
    entries = [(e["symbol"], e["kind"], e["status"]) for e in doc["entries"]]
    assert entries == [("ED", "B1", "filled"), ("AEP", "B1", "filled")]
    assert doc["equity"] == pytest.approx(100_000.0)
    db = Path(hermetic.parent / "home" / "etrade.db")
    assert db.exists()
    r = cli("positions", "--json")
    rows = json.loads(r.stdout)["positions"]
    assert {p["symbol"] for p in rows} == {"ED", "AEP"}
    ed = next(p for p in rows if p["symbol"] == "ED")
    assert ed["entry_price"] == pytest.approx(46.70) and ed["sessions_held"] == 0
    assert ed["stop_loss"] == pytest.approx(46.70 * 0.83)


def test_sequence_of_run_once_as_of_then_report(cli, hermetic: Path, tmp_path: Path):
    (hermetic / "watchlist.txt").write_text("AAPL\nIBM\nBA\n")
    for d in ("2010-07-21", "2010-07-22", "2010-08-09", "2010-08-20"):
        r = cli("run-once", "--as-of", d)
        assert r.exit_code == 0, r.output
    r = cli("report", "--json")
    doc = json.loads(r.stdout)
    assert doc["stats"]["sessions"] == 4
    assert doc["trades_stats"]["trades"] + doc["open_positions"] >= 1
    chart = tmp_path / "eq.png"
    r = cli("report", "--chart", str(chart))
    assert r.exit_code == 0 and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = cli("report", "--csv", "--table", "periods")
    assert r.stdout.splitlines()[0] == "period,realized_usd,equity_end,return_fraction"
    r = cli("positions", "--closed", "--csv")
    assert r.exit_code == 0 and r.stdout.startswith("id,symbol")


def test_run_once_dry_run_sends_nothing(cli):
    r = cli("run-once", "--dry-run", "--json")
    doc = json.loads(r.stdout)
    assert doc["dry_run"] and {e["status"] for e in doc["entries"]} == {"dry-run"}
    assert json.loads(cli("positions", "--json").stdout)["positions"] == []


def test_run_once_on_a_weekend_reports_the_market_closed(cli):
    r = cli("run-once", "--as-of", "2010-08-21")
    assert r.exit_code == 0 and "market closed" in r.stdout


def test_run_once_refuses_to_go_back_in_time(cli):
    assert cli("run-once").exit_code == 0
    r = cli("run-once", "--as-of", "2010-08-02")
    assert r.exit_code == ExitStatus.ERROR and "before the last traded session" in r.stderr


def test_run_once_unknown_broker_is_a_usage_error_listing_the_known_ones(cli, hermetic: Path):
    r = cli("run-once", "--broker", "robinhood")
    assert r.exit_code == ExitStatus.USAGE
    assert "unknown broker 'robinhood'" in r.stderr and "paper, etrade, alpaca" in r.stderr
    assert not list((hermetic.parent / "home").glob("*.db"))  # nothing opened or written


def test_run_once_busy_lock(cli, hermetic: Path):
    from filelock import FileLock

    lock = FileLock(str(hermetic.parent / "home" / "etrade.db.lock"))
    with lock:
        r = cli("run-once")
    assert r.exit_code == ExitStatus.BUSY and "another run" in r.stderr


def test_backtest_json_and_its_own_database(cli, hermetic: Path, tmp_path: Path):
    chart = tmp_path / "bt.png"
    r = cli("backtest", "--start", "2010-06-01", "--json", "--chart", str(chart))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["start"] == "2010-06-01" and doc["end"] == "2010-08-20"
    assert "close of the bar" in doc["note"]
    stats = doc["stats"]
    assert stats["equity_start"] == 100_000.0 and stats["sessions"] == doc["sessions"]
    assert stats["equity_final"] == pytest.approx(doc["curve"][-1]["equity"])
    realized = sum(t["realized"] for t in doc["trades"] if t["status"] == "closed")
    assert stats["realized_usd"] == pytest.approx(realized, abs=0.01)
    assert chart.exists()
    assert not (hermetic.parent / "home" / "etrade.db").exists()  # never the live book


def test_backtest_db_can_be_inspected_and_rerun(cli, hermetic: Path):
    r = cli("backtest", "--db", "demo.db", "--json")
    assert r.exit_code == 0
    sessions = json.loads(r.stdout)["sessions"]
    r = cli("--db", "demo.db", "report", "--json")
    doc = json.loads(r.stdout)
    assert doc["stats"]["sessions"] == sessions
    assert cli("backtest", "--db", "demo.db").exit_code == 0  # replaces its own earlier run
    assert cli("run-once").exit_code == 0
    live = hermetic.parent / "home" / "etrade.db"
    r = cli("backtest", "--db", str(live))
    assert r.exit_code == ExitStatus.ERROR and "live position book" in r.stderr
    other = hermetic / "other.db"
    other.write_text("precious")
    r = cli("backtest", "--db", str(other))
    assert r.exit_code == ExitStatus.ERROR and "not a backtest database" in r.stderr
    assert other.read_text() == "precious"


def test_backtest_bad_range_and_symbols(cli):
    r = cli("backtest", "--start", "2010-08-01", "--end", "2010-07-01")
    assert r.exit_code == ExitStatus.ERROR and "--start is after --end" in r.stderr
    r = cli("backtest", "--start", "2011-01-01")
    assert r.exit_code == ExitStatus.ERROR and "no sessions" in r.stderr
    r = cli("backtest", "--symbols", "NOPE")
    assert r.exit_code == ExitStatus.ERROR and "no data for symbol(s): NOPE" in r.stderr


def test_backtest_table_output(cli):
    r = cli("backtest", "--symbols", "AAPL,IBM", "--symbols", "BA")
    assert r.exit_code == 0
    assert "Total return" in r.stdout and "Trade list" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    assert "close of the bar" in r.stdout


class FakeCalendar:
    """Open 09:30-16:00 ET on weekdays."""

    def is_open(self, now):
        from etrade_cli.schedule import ET

        t = now.astimezone(ET)
        return t.weekday() < 5 and dt.time(9, 30) <= t.time() < dt.time(16)

    def next_open(self, now):
        from etrade_cli.schedule import ET

        t = now.astimezone(ET)
        d = t.date() + dt.timedelta(days=0 if t.time() < dt.time(9, 30) else 1)
        while d.weekday() >= 5:
            d += dt.timedelta(days=1)
        return dt.datetime.combine(d, dt.time(9, 30), ET).astimezone(dt.timezone.utc)


def test_run_loop_schedule_with_a_fake_clock():
    from etrade_cli.schedule import ET, StopFlag, run_loop

    clock = {"t": dt.datetime(2024, 1, 5, 14, 56, tzinfo=ET)}  # a Friday, before the window
    slept, lines, cycles = [], [], []

    def sleep(s):
        slept.append(round(s))
        clock["t"] += dt.timedelta(seconds=s)
        return False

    stats = run_loop(
        lambda now: cycles.append(now) or "ok",
        calendar=FakeCalendar(),
        window=(900, 960),
        now=lambda: clock["t"],
        sleep=sleep,
        heartbeat=lines.append,
        max_cycles=5,
        stop=StopFlag(),
    )
    assert stats.cycles == 5
    assert slept[:3] == [120, 120, 60]  # 14:56, 14:58 -> 120 s; 15:00 is in the buy window
    assert "cycle 1: ok; next in 120s" in lines[0]


def test_run_loop_sleeps_through_the_weekend_and_stops_on_signal():
    from etrade_cli.schedule import ET, StopFlag, run_loop

    clock = {"t": dt.datetime(2024, 1, 5, 16, 30, tzinfo=ET)}  # Friday after the close
    stop = StopFlag()
    slept = []

    def sleep(s):
        slept.append(s)
        clock["t"] += dt.timedelta(seconds=s)
        return False

    def cycle(now):
        stop.set(15)  # SIGTERM arrives during the first cycle
        return "ok"

    lines: list[str] = []
    stats = run_loop(
        cycle,
        calendar=FakeCalendar(),
        window=(900, 960),
        now=lambda: clock["t"],
        sleep=sleep,
        heartbeat=lines.append,
        stop=stop,
    )
    assert (
        slept[0]
        == (
            dt.datetime(2024, 1, 8, 9, 30, tzinfo=ET) - dt.datetime(2024, 1, 5, 16, 30, tzinfo=ET)
        ).total_seconds()
    )
    assert "market closed" in lines[0] and "2024-01-08 09:30:00 ET" in lines[0]
    assert stats.cycles == 1 and stats.stopped_by_signal  # the cycle finished, then it stopped


def test_nyse_calendar_knows_holidays_and_early_closes():
    from etrade_cli.schedule import ET, NyseCalendar

    cal = NyseCalendar()
    assert cal.is_open(dt.datetime(2024, 7, 3, 12, 0, tzinfo=ET))
    assert not cal.is_open(dt.datetime(2024, 7, 3, 13, 30, tzinfo=ET))  # early close 13:00
    assert not cal.is_open(dt.datetime(2024, 7, 4, 12, 0, tzinfo=ET))  # Independence Day
    nxt = cal.next_open(dt.datetime(2024, 7, 4, 12, 0, tzinfo=ET)).astimezone(ET)
    assert (nxt.date(), nxt.time()) == (dt.date(2024, 7, 5), dt.time(9, 30))


def test_run_loop_command_runs_bounded_cycles(cli, monkeypatch):
    from etrade_cli import schedule

    monkeypatch.setattr(schedule, "NyseCalendar", FakeCalendar)
    monkeypatch.setattr(schedule.StopFlag, "install", lambda self: None)
    monkeypatch.setattr(schedule.StopFlag, "wait", lambda self, s: False)
    import etrade_cli.cli.trading as trading

    fixed = dt.datetime(2024, 1, 5, 15, 30, tzinfo=schedule.ET)
    real = dt.datetime

    class FrozenDT(real):
        @classmethod
        def now(cls, tz=None):
            return fixed.astimezone(tz)

    monkeypatch.setattr(dt, "datetime", FrozenDT)
    r = cli("run-loop", "--max-cycles", "2")
    monkeypatch.setattr(dt, "datetime", real)
    assert r.exit_code == 0, r.output
    assert r.stderr.count("cycle ") >= 2 and "stopped after 2 cycle(s)" in r.stderr
    assert trading  # the command module is the one under test


def test_positions_csv_header_even_when_empty(cli):
    r = cli("positions", "--csv")
    assert r.exit_code == 0
    from etrade_cli.cli.machine import machine_columns
    from etrade_cli.views import POSITION_COLUMNS

    assert list(csv.reader(io.StringIO(r.stdout))) == [machine_columns(POSITION_COLUMNS)]
    assert "unrealized_fraction" in r.stdout  # percentages are fractions in machine output


def test_benchmark_rs_mode_scores_the_same_in_scan_run_once_and_backtest(cli, hermetic):
    # spec §3 rs_mode = "benchmark": every command must load the benchmark's bars
    (hermetic / "config.toml").write_text(
        "[strategy]\nrs_mode = 'benchmark'\nrs_benchmark = 'XOM'\n"
    )
    scan = {
        s["symbol"]: s["parts"]["rs"] for s in json.loads(cli("scan", "--json").stdout)["signals"]
    }
    run = json.loads(cli("run-once", "--dry-run", "--json").stdout)
    assert {d["symbol"]: d["parts"]["rs"] for d in run["decisions"]} == scan
    assert any(scan.values())  # some signal beats XOM's 21-bar return: the part is live
    (hermetic / "config.toml").write_text("[strategy]\nrs_mode = 'benchmark'\n")  # QQQ: absent
    for args in (["run-once"], ["backtest"], ["scan"]):
        r = cli(*args)
        assert r.exit_code == ExitStatus.ERROR and "needs bars for QQQ" in r.stderr
