"""Issue 14: every bad input a clear one-line error with its documented exit code, a one-line
warning where a value is dropped or fixed, no traceback, nothing half-written."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from etrade_cli import db as dbmod
from etrade_cli.errors import ExitStatus
from tests.conftest import DATA
from tests.fakes import sigint_main_thread

MSFT = DATA / "MSFT_daily_2015-2021.csv"


def one_line_error(r, code: int, text: str) -> None:
    """The result failed with `code`, one `error:` line naming `text`, no traceback."""
    assert r.exit_code == code, (r.exit_code, r.output)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert text in lines[0], lines[0]
    assert "Traceback" not in r.output and "internal error" not in r.output


def write_config(work: Path, text: str) -> None:
    (work / "config.toml").write_text(text)


def gz_bytes() -> bytes:
    return gzip.compress(MSFT.read_bytes())


def corrupt_gzip(work: Path) -> Path:
    raw = gz_bytes()
    f = work / "bars.csv.gz"
    f.write_bytes(raw[:20] + b"\x00garbage" * 50 + raw[200:])
    return f


def truncated_gzip(work: Path) -> Path:
    raw = gz_bytes()
    f = work / "MSFT.csv.gz"
    f.write_bytes(raw[: len(raw) // 2])
    return f


def ten_bars(work: Path, name: str = "ED.csv") -> Path:
    f = work / name
    f.write_text("".join(MSFT.read_text().splitlines(keepends=True)[:11]))
    return f


# -- table: command lines that must fail with one line and their exit code ---------------------

Setup = Callable[[Path], list[str]]


def _csv_paths_corrupt(w: Path) -> list[str]:
    corrupt_gzip(w)
    write_config(w, '[data]\ncsv_paths = ["bars.csv.gz"]\n')
    return ["scan"]


def _import_truncated(w: Path) -> list[str]:
    return ["data", "import", str(truncated_gzip(w))]


def _config(text: str, *args: str) -> Setup:
    def setup(w: Path) -> list[str]:
        write_config(w, text)
        return list(args)

    return setup


def _args(*args: str) -> Setup:
    return lambda _w: list(args)


def _import_bad_symbol(w: Path) -> list[str]:
    return ["data", "import", str(ten_bars(w)), "--symbol", "../A B$"]


def _chart(name: str) -> Setup:
    def setup(w: Path) -> list[str]:
        return ["report", "--chart", str(w / name) if "/" not in name else name]

    return setup


def _watchlist(text: str) -> Setup:
    def setup(w: Path) -> list[str]:
        (w / "watchlist.txt").write_text(text)
        return ["scan"]

    return setup


def _wide_header(w: Path) -> list[str]:
    f = w / "WIDE.csv"
    f.write_text(",".join(f"c{i}" for i in range(400_000)) + "\n")
    return ["data", "import", str(f)]


def _corrupt_book(w: Path) -> list[str]:
    (w / "junk.db").write_bytes(b"this is not an sqlite database" * 200)
    return ["--db", str(w / "junk.db"), "positions"]


CASES: list[tuple[str, Setup, int, str]] = [
    ("corrupt gzip in csv_paths", _csv_paths_corrupt, 1, "corrupt or truncated compressed"),
    ("truncated gzip to data import", _import_truncated, 1, "corrupt or truncated compressed"),
    ("backtest --cash inf", _args("backtest", "--cash", "inf"), 1, "--cash must be a finite"),
    ("backtest --cash nan", _args("backtest", "--cash", "nan"), 1, "--cash must be a finite"),
    ("backtest --cash 1e400", _args("backtest", "--cash", "1e400"), 1, "finite number"),
    (
        "paper_cash = inf",
        _config("[broker]\npaper_cash = inf\n", "config", "check"),
        3,
        "[broker] paper_cash: must be a finite number",
    ),
    (
        "paper_cash = inf at run-once",
        _config("[broker]\npaper_cash = inf\n", "run-once"),
        3,
        "must be a finite number",
    ),
    (
        "max_ticket_usd = nan",
        _config("[risk]\nmax_ticket_usd = nan\n", "config", "check"),
        3,
        "[risk] max_ticket_usd: must be a finite number",
    ),
    (
        "rs_benchmark garbage",
        _config('[strategy]\nrs_benchmark = "<script>"\n', "config", "check"),
        3,
        "rs_benchmark: not a valid symbol",
    ),
    ("report --chart eq.txt", _chart("eq.txt"), 1, "unknown format 'txt'"),
    ("backtest --chart eq.txt", _args("backtest", "--chart", "eq.txt"), 1, "unknown format"),
    ("data import --symbol ../A B$", _import_bad_symbol, 1, "not a valid symbol: '../A B$'"),
    (
        "order preview --limit nan",
        _args("order", "preview", "AAPL", "-q", "1", "--type", "LIMIT", "--limit", "nan"),
        1,
        "--limit must be a finite number",
    ),
    (
        "order preview --limit inf",
        _args("order", "preview", "AAPL", "-q", "1", "--type", "LIMIT", "--limit", "inf"),
        1,
        "--limit must be a finite number",
    ),
    (
        "order preview --stop -inf",
        _args("order", "preview", "AAPL", "-q", "1", "--type", "STOP", "--stop", "-inf"),
        1,
        "--stop must be a finite number",
    ),
    ("order preview bad symbol", _args("order", "preview", "A$B", "-q", "1"), 1, "'A$B'"),
    ("scan bad symbol", _args("scan", "<script>"), 1, "not a valid symbol: '<script>'"),
    ("empty watchlist", _watchlist(""), 3, "the watchlist is empty"),
    ("comments-only watchlist", _watchlist("# none yet\n\n  # still none\n"), 3, "is empty"),
    ("watchlist all excluded", _config("", "scan", "--exclude", "wl.txt"), 3, "exclusion"),
    ("run-once --broker robinhood", _args("run-once", "--broker", "robinhood"), 2, "robinhood"),
    ("header of 400,000 fields", _wide_header, 1, "header line is longer than 4096"),
    ("corrupt book", _corrupt_book, 10, "is not a usable SQLite database"),
]


@pytest.mark.parametrize(("name", "setup", "code", "text"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_with_its_exit_code(cli, hermetic, name, setup, code, text):
    if name == "watchlist all excluded":
        (hermetic / "watchlist.txt").write_text("AAPL\n")
        (hermetic / "wl.txt").write_text("aapl\n")
    home = hermetic.parent / "home"
    r = cli(*setup(hermetic))
    one_line_error(r, code, text)
    if name != "corrupt book":  # nothing written: no book, no bar cache
        assert not list(home.glob("*.db")), list(home.iterdir())


def test_report_chart_to_a_full_device_is_an_error_not_written(cli, hermetic):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    assert cli("run-once", "--as-of", "2010-07-22").exit_code == 0
    one_line_error(cli("report", "--chart", "/dev/full"), 1, "cannot write chart /dev/full")
    (hermetic / "full.png").symlink_to("/dev/full")  # a .png name, a device that is always full
    one_line_error(cli("report", "--chart", "full.png"), 1, "No space left on device")


def test_report_chart_into_a_missing_folder_leaves_nothing(cli, hermetic):
    assert cli("run-once", "--as-of", "2010-07-22").exit_code == 0
    one_line_error(cli("report", "--chart", "no/such/eq.png"), 1, "cannot write chart")
    r = cli("report", "--chart", "eq.svg")
    assert r.exit_code == 0 and (hermetic / "eq.svg").read_text().lstrip().startswith("<?xml")
    assert not [p for p in hermetic.iterdir() if p.name.endswith(".tmp")]


# -- garbage dropped with a warning, not kept --------------------------------------------------


def test_non_finite_csv_fields_are_dropped_with_a_warning(cli, hermetic):
    lines = MSFT.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    cols = header.split(",")
    hi, close = cols.index("High"), cols.index("Close")
    bad = []
    for i, (col, value) in enumerate([(hi, "inf"), (close, "1e400"), (close, "nan"), (hi, "-inf")]):
        cells = rows[300 + i].split(",")
        cells[col] = value
        bad.append(",".join(cells))
    rows[300:304] = bad
    (hermetic / "MSFT.csv").write_text("\n".join([header, *rows]) + "\n")
    from etrade_cli.marketdata.csv import read_bars_csv

    bars, report = read_bars_csv(hermetic / "MSFT.csv")
    assert len(bars["MSFT"]) == len(rows) - 4
    assert report.dropped == {"non-finite number": 3, "missing or non-numeric field": 1}
    write_config(hermetic, '[data]\ncsv_paths = ["MSFT.csv"]\n')
    r = cli("scan", "MSFT", "--json")
    assert r.exit_code == 0 and "dropped 4 of" in r.stderr and "non-finite number" in r.stderr


def test_invalid_symbols_in_a_long_file_are_dropped_and_named(cli, hermetic):
    f = hermetic / "long.csv"
    f.write_text(
        "Date,Symbol,Open,High,Low,Close,Volume\n"
        "2020-01-02,A$B,1,2,1,1.5,10\n2020-01-02,<script>,1,2,1,1.5,10\n"
        "2020-01-02,aapl,1,2,1,1.5,10\n2020-01-03,AAPL,1,2,1,1.6,10\n"
    )
    r = cli("data", "import", str(f), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"imported": {"AAPL": 2}}
    assert "2 invalid symbol" in r.stderr and "'A$B', '<script>'" in r.stderr


def test_a_pandas_written_csv_with_an_unnamed_date_index_loads(hermetic):
    from etrade_cli.marketdata.csv import read_bars_csv

    df = pd.read_csv(MSFT, index_col=0)
    df.index.name = None
    df.to_csv(hermetic / "MSFT.csv")
    assert (hermetic / "MSFT.csv").read_text().startswith(",Open,High")
    bars, report = read_bars_csv(hermetic / "MSFT.csv")
    assert len(bars["MSFT"]) == len(df) and report.warning() is None
    assert (
        str(bars["MSFT"].dates[0]) == "2015-04-01" == pd.Timestamp(df.index[0]).date().isoformat()
    )


def test_an_unnamed_first_column_that_is_not_dates_is_still_missing(hermetic):
    from etrade_cli.errors import DataError
    from etrade_cli.marketdata.csv import read_bars_csv

    f = hermetic / "X.csv"
    f.write_text(",Open,High,Low,Close,Volume\n0,1,2,1,1,1\n")
    with pytest.raises(DataError, match="missing column"):
        read_bars_csv(f)


def test_a_wide_header_is_refused_without_reading_the_file(hermetic):
    import tracemalloc

    from etrade_cli.errors import DataError
    from etrade_cli.marketdata.csv import read_bars_csv

    f = hermetic / "WIDE.csv"
    f.write_text(",".join(f"c{i}" for i in range(400_000)) + "\n")
    tracemalloc.start()
    with pytest.raises(DataError, match="header line is longer"):
        read_bars_csv(f)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5_000_000  # bounded: the header read stops at 4097 characters


def test_backtest_on_too_few_bars_says_the_strategy_needs_more(cli, hermetic):
    ten_bars(hermetic)
    write_config(hermetic, '[data]\ncsv_paths = ["ED.csv"]\n')
    r = cli("backtest", "--symbols", "ED", "--json")
    assert r.exit_code == 0, r.output
    assert "not \nwarmed up" in r.stderr or "not warmed up" in r.stderr
    assert "never within the data: ED" in r.stderr


# -- the book: read-only, busy, disk full ------------------------------------------------------


def _patch_connect(monkeypatch, after: Callable[[sqlite3.Connection], None]) -> None:
    real = dbmod.connect

    def connect(path, label="the database"):
        con = real(path, label)
        if label == "the position book":
            after(con)
        return con

    monkeypatch.setattr(dbmod, "connect", connect)


def test_read_only_book_run_once_is_exit_9_and_positions_still_show(cli, hermetic, monkeypatch):
    assert cli("run-once", "--as-of", "2010-07-22").exit_code == 0
    with monkeypatch.context() as m:  # only the patch is undone: the test stays hermetic
        _patch_connect(m, lambda con: con.execute("PRAGMA query_only=ON"))
        r = cli("positions", "--json")
        assert r.exit_code == 0 and json.loads(r.stdout)["positions"], r.output
        assert cli("report", "--json").exit_code == 0
        one_line_error(cli("run-once", "--as-of", "2010-07-23"), 9, "is read-only")
    con = sqlite3.connect(hermetic.parent / "home" / "etrade.db")
    outcomes = [r[0] for r in con.execute("SELECT outcome FROM runs ORDER BY id")]
    assert outcomes == ["ok"]  # the refused run left no row


def test_disk_full_is_exit_11_and_rolls_back(cli, hermetic, monkeypatch):
    book = hermetic.parent / "home" / "etrade.db"

    def full(con: sqlite3.Connection) -> None:  # SQLITE_FULL as soon as the file must grow
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        con.execute(f"PRAGMA max_page_count={max(pages, 1)}")

    with monkeypatch.context() as m:  # only the patch is undone: the test stays hermetic
        _patch_connect(m, full)
        one_line_error(cli("run-once", "--as-of", "2010-07-22"), 11, "the disk is full")
    con = sqlite3.connect(book)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "positions" not in tables  # the first migration was rolled back whole
    con.close()
    assert cli("run-once", "--as-of", "2010-07-22").exit_code == 0  # room again: it runs


def test_translate_maps_sqlite_conditions_to_exit_codes(tmp_path):
    from etrade_cli.errors import BusyError, CorruptError, DiskFullError, ReadOnlyError

    book = tmp_path / "b.db"
    con = dbmod.connect(book, "the position book")
    con.execute("CREATE TABLE t (x)")
    con.close()
    ro = sqlite3.connect(f"file:{book}?mode=ro", uri=True, factory=dbmod.Connection)
    ro.path, ro.label = str(book), "the position book"
    with pytest.raises(ReadOnlyError, match="the position book .* is read-only"):
        ro.execute("INSERT INTO t VALUES (1)")
    con = dbmod.connect(book, "the position book")
    con.execute(f"PRAGMA max_page_count={con.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(DiskFullError) as full:
        with dbmod.transaction(con):
            con.execute("INSERT INTO t VALUES (randomblob(100000))")
    assert full.value.exit_code == ExitStatus.DISK_FULL
    assert not con.in_transaction
    con.close()
    con = dbmod.connect(book)
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    (tmp_path / "junk.db").write_bytes(b"junk" * 1000)
    with pytest.raises(CorruptError):
        dbmod.connect(tmp_path / "junk.db")
    assert BusyError.exit_code == ExitStatus.BUSY
    with pytest.raises(sqlite3.IntegrityError):  # the journal's duplicate guard passes through
        con.execute("CREATE TABLE u (x UNIQUE)")
        con.execute("INSERT INTO u VALUES (1)")
        con.execute("INSERT INTO u VALUES (1)")


HOLDER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
time.sleep(60)
"""


def test_a_busy_book_is_exit_7_naming_the_holder_after_a_bounded_wait(cli, hermetic, monkeypatch):
    assert cli("run-once", "--as-of", "2010-07-22").exit_code == 0
    book = hermetic.parent / "home" / "etrade.db"
    monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_S", 0.3)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(book)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        r = cli("run-once", "--as-of", "2010-07-23")
        one_line_error(r, 7, "is busy")
        assert f"pid {holder.pid}" in r.stderr and "gave up after 0.3 s" in r.stderr
    finally:
        holder.kill()
        holder.wait()
    outcomes = [r[0] for r in sqlite3.connect(book).execute("SELECT outcome FROM runs")]
    assert outcomes == ["ok"]
    assert cli("run-once", "--as-of", "2010-07-23").exit_code == 0  # free again: it runs


# -- the token file ----------------------------------------------------------------------------


def test_a_token_file_open_to_others_is_set_to_0600_with_a_warning(cli, etrade_login, hermetic):
    (token,) = (hermetic.parent / "home" / "tokens").glob("*.json")
    os.chmod(token, 0o644)
    r = cli("auth", "status")
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "was open to other users (mode 0644); set to 0600" in lines[0]
    r = cli("auth", "status")  # fixed: no warning the second time
    assert r.exit_code == 0 and not r.stderr.strip()


# -- Ctrl-C: a run is recorded as interrupted, or not at all -----------------------------------


def test_interrupt_inside_a_cycle_records_the_run_as_interrupted(tmp_path):
    from dataclasses import replace

    from etrade_cli.engine import run_once
    from tests.fakes import day, fake_market, make_deps

    def ctrl_c(point: str) -> None:
        if point == "after_intent":
            raise KeyboardInterrupt

    deps = make_deps(tmp_path, fake_market({"AAA": [100.0]}, {("AAA", 0): 5}))
    with pytest.raises(KeyboardInterrupt):
        run_once(replace(deps, faults=ctrl_c), day(0))
    rows = deps.store._query("SELECT outcome, ended_at, error FROM runs")
    assert [(r[0], r[1] is not None, r[2]) for r in rows] == [
        ("interrupted", True, "KeyboardInterrupt: ")
    ]


@pytest.mark.parametrize("during", ["start_run", "finish_run"])
def test_a_signal_during_the_runs_bookkeeping_waits_for_it(tmp_path, monkeypatch, during):

    from etrade_cli.engine import run_once
    from tests.fakes import day, fake_market, make_deps

    deps = make_deps(tmp_path, fake_market({"AAA": [100.0]}, {("AAA", 0): 5}))
    real = getattr(deps.store, during)
    sent = []

    def with_sigint(*args, **kwargs):
        if not sent:
            sent.append(sigint_main_thread())  # arrives mid-bookkeeping
        return real(*args, **kwargs)

    monkeypatch.setattr(deps.store, during, with_sigint)
    with pytest.raises(KeyboardInterrupt):
        run_once(deps, day(0))
    rows = deps.store._query("SELECT outcome, ended_at FROM runs")
    assert len(rows) == 1 and rows[0][1] is not None
    assert rows[0][0] == ("interrupted" if during == "start_run" else "ok")


def test_deferred_sigint_calls_an_installed_handler_instead(monkeypatch):
    import signal

    from etrade_cli.interrupts import deferred_sigint

    seen = []
    previous = signal.signal(signal.SIGINT, lambda *a: seen.append("stop"))
    try:
        with deferred_sigint():
            sigint_main_thread()
            assert not seen  # held during the block
        assert seen == ["stop"]  # run-loop's stop flag: stop after the cycle, no exception
    finally:
        signal.signal(signal.SIGINT, previous)


# -- symbols -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("aapl", "AAPL"),
        (" BRK.B ", "BRK.B"),
        ("BF-B", "BF-B"),
        ("BRK/B", "BRK/B"),
        ("1211", "1211"),
        ("ABCDEFGHIJ", "ABCDEFGHIJ"),
        ("ABCDEFGHIJK", None),
        ("../A B$", None),
        ("A$B", None),
        ("<script>", None),
        ("", None),
        ("A..B", None),
        (".A", None),
        ("A-", None),
        ("AAPL\n", "AAPL"),
        ("ÄPPLE", None),
    ],
)
def test_validate_symbol(raw, ok):
    from etrade_cli.errors import InputError
    from etrade_cli.symbols import validate_symbol

    if ok is None:
        with pytest.raises(InputError, match="not a valid symbol"):
            validate_symbol(raw)
    else:
        assert validate_symbol(raw) == ok


def test_broker_payload_garbage_is_refused_or_dropped():
    from etrade_cli.errors import ApiError
    from etrade_cli.etrade.models import Quote, _num

    assert [_num(x) for x in ("NaN", "Infinity", "1e400", float("inf"), "12.5", True)] == [
        None,
        None,
        None,
        None,
        12.5,
        None,
    ]
    q = {"Product": {"symbol": "AAPL"}, "All": {"lastTrade": float("nan"), "bid": "1e999"}}
    parsed = Quote.parse(q)
    assert parsed.last is None and parsed.bid is None
    with pytest.raises(ApiError, match="invalid symbol"):
        Quote.parse({"Product": {"symbol": "<script>"}, "All": {}})


def test_alpaca_bars_with_non_finite_values_are_left_out():
    from etrade_cli.marketdata.alpaca import _bars

    def row(day: int, **kw):
        return {"t": f"2024-01-0{day}T05:00:00Z", "o": 1, "h": 2, "l": 1, "c": 1.5, "v": 10, **kw}

    rows = [row(2), row(3, h=float("inf")), row(4, c="NaN"), row(5, v=-1), row(8, l=3), row(9)]
    bars = _bars("AAPL", rows)
    assert [str(d) for d in bars.dates] == ["2024-01-02", "2024-01-09"]
