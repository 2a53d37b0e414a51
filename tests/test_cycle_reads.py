"""Issue 13, backtest speed: what a cycle reads again is cached by the book's version, and each
cache follows every write (its own, a rolled-back one, another connection's); a backtest session
costs a bounded number of SQL statements; Ctrl-C is held once around a backtest and still stops
it after the session it arrived in."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from etrade_cli.backtest import run_backtest
from etrade_cli.config import RiskConfig
from etrade_cli.interrupts import deferred_sigint
from etrade_cli.marketdata.csv import read_bars_csv
from etrade_cli.store import Store
from etrade_cli.strategy.rajat_alpha import RajatAlpha
from tests.fakes import sigint_main_thread

DATA = Path(__file__).parent / "data"


def _fresh_last_session(store: Store, broker: str = "paper", account: str = "paper") -> str | None:
    return store._query(
        "SELECT max(session_date) FROM runs WHERE broker = ? AND account = ? AND outcome = 'ok'"
        " AND mode != 'dry-run'",
        broker,
        account,
    )[0][0]


def _position(store: Store, symbol: str) -> int:
    with store.tx() as db:
        pid = store.new_position(
            db, symbol=symbol, tag="B1", broker="paper", account="paper", strategy="t"
        )
        store.update_position(db, pid, status="open", entry_date="2024-01-02", entry_price=10.0)
    return pid


def test_runs_rows_do_not_invalidate_the_cycle_reads_but_book_writes_do(tmp_path: Path):
    store = Store(tmp_path / "book.db")
    _position(store, "AAA")
    assert [p.symbol for p in store.positions("paper", "paper")] == ["AAA"]
    version = store.version()
    run = store.start_run("backtest", "paper", "paper", "2024-01-02")
    store.finish_run(run, "ok", session_date="2024-01-02", equity=1.0, cash=1.0)
    assert store.version() == version  # the cycle's own runs row: cached reads stay valid
    _position(store, "BBB")
    assert store.version() != version
    assert [p.symbol for p in store.positions("paper", "paper")] == ["AAA", "BBB"]


def test_a_rolled_back_write_invalidates_what_was_read_inside_it(tmp_path: Path):
    store = Store(tmp_path / "book.db")
    with pytest.raises(RuntimeError), store.batch():
        _position(store, "AAA")
        with pytest.raises(ValueError), store.tx() as db:  # a savepoint, rolled back
            store.new_position(
                db, symbol="BBB", tag="B1", broker="paper", account="paper", strategy="t"
            )
            db.execute("UPDATE positions SET status = 'open' WHERE symbol = 'BBB'")
            assert len(store.positions("paper", "paper")) == 2  # read inside the savepoint
            raise ValueError
        assert [p.symbol for p in store.positions("paper", "paper")] == ["AAA"]
        raise RuntimeError
    assert store.positions("paper", "paper") == []  # the whole batch rolled back


def test_cached_reads_see_another_connections_commit(tmp_path: Path):
    store = Store(tmp_path / "book.db")
    assert store.positions("paper", "paper") == [] and store.live_orders("paper", "paper") == []
    assert store.realized_on("paper", "paper", "2024-01-03") == 0.0
    other = Store(tmp_path / "book.db")
    pid = _position(other, "AAA")
    with other.tx() as db:
        order = other.new_order(
            db, broker="paper", account="paper", symbol="AAA", side="SELL", quantity=5,
            purpose="EXIT_PT1", position_id=pid, session_date="2024-01-03",
        )  # fmt: skip
        other.add_partial_exit(db, pid, order.id, "PT1", "2024-01-03", 5, 12.0, 10.0)
    assert [p.symbol for p in store.positions("paper", "paper")] == ["AAA"]
    assert [o.id for o in store.live_orders("paper", "paper")] == [order.id]
    assert store.pending_exit_qty(pid) == 5
    assert store.realized_on("paper", "paper", "2024-01-03") == 10.0
    assert store.realized_on("paper", "paper", "2024-01-04") == 0.0


@pytest.mark.parametrize(
    "mode, outcome, book, moves",
    [
        ("backtest", "ok", ("paper", "paper"), True),
        ("run-once", "error", ("paper", "paper"), False),
        ("dry-run", "ok", ("paper", "paper"), False),
        ("run-once", "ok", ("paper", "other"), False),
    ],
)
def test_last_session_kept_up_to_date_equals_the_query(tmp_path: Path, mode, outcome, book, moves):
    store = Store(tmp_path / "book.db")
    first = store.start_run("run-once", "paper", "paper", None)
    store.finish_run(first, "ok", session_date="2024-01-05")
    assert store.last_session("paper", "paper") == "2024-01-05"  # read once, then kept
    for day in ("2024-01-04", "2024-01-08"):  # an earlier session never moves it back
        run = store.start_run(mode, *book, None)
        store.finish_run(run, outcome, session_date=day)
        assert store.last_session("paper", "paper") == _fresh_last_session(store)
        assert store.last_session(*book) == _fresh_last_session(store, *book)
    assert (store.last_session("paper", "paper") == "2024-01-08") is moves


def test_last_session_re_read_after_another_connections_run(tmp_path: Path):
    store = Store(tmp_path / "book.db")
    assert store.last_session("paper", "paper") is None
    other = Store(tmp_path / "book.db")
    other.finish_run(
        other.start_run("run-once", "paper", "paper", None), "ok", session_date="2024-02-01"
    )
    assert store.last_session("paper", "paper") == "2024-02-01"
    raw = sqlite3.connect(tmp_path / "book.db")  # not through a Store at all
    raw.execute("UPDATE runs SET session_date = '2024-03-01'")
    raw.commit()
    raw.close()
    assert store.last_session("paper", "paper") == "2024-03-01"


def _msft() -> list:
    return list(read_bars_csv(DATA / "MSFT_daily_2015-2021.csv")[0].values())


def test_a_backtest_session_costs_a_bounded_number_of_sql_statements(monkeypatch):
    from etrade_cli import db as dbutil

    statements: list[str] = []
    real = dbutil.connect

    def traced(path, label="the database"):
        con = real(path, label)
        con.set_trace_callback(statements.append)
        return con

    monkeypatch.setattr(dbutil, "connect", traced)
    res = run_backtest(_msft(), RajatAlpha(), RiskConfig(), cash=100_000.0)
    assert res.stats["trades"] > 5  # it traded: the orders' statements are counted too
    per_session = len(statements) / res.sessions
    # the runs row (one, inserted with the others at the end), plus the orders, fills and
    # re-reads after a write (22 statements a session before issue 13's backtest work, 3.6
    # before the replay's: an idle session now writes its runs row and reads nothing)
    assert per_session < 3, per_session
    pragmas = sum(s.startswith("PRAGMA data_version") for s in statements)
    assert pragmas <= 2  # read once per batch, not at every cached read


def test_deferred_sigint_nests_and_check_raises_inside_the_block():
    reached = []
    with pytest.raises(KeyboardInterrupt), deferred_sigint() as outer:
        with deferred_sigint() as inner:  # nested: holds nothing of its own
            sigint_main_thread()
        reached.append(inner is not outer)  # the inner block's end raised nothing
        outer.check()  # the outer block's check delivers it
        reached.append("after check")  # pragma: no cover
    assert reached == [True]


def test_deferred_sigint_check_raises_keyboard_interrupt():
    with pytest.raises(KeyboardInterrupt), deferred_sigint() as held:
        held.check()  # nothing received: no-op
        sigint_main_thread()
        held.check()
        pytest.fail("check() did not raise")  # pragma: no cover


def test_a_held_sigint_is_dropped_when_the_process_ignores_sigint():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with deferred_sigint() as held:
            sigint_main_thread()
            held.check()  # ignored before the block: still ignored
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_a_backtest_after_the_session_and_leaves_no_book(tmp_path: Path):
    done: list[int] = []

    def progress(i: int, total: int) -> None:
        done.append(i)
        if i == 10:
            sigint_main_thread()  # arrives between two sessions

    db = tmp_path / "bt.db"
    with pytest.raises(KeyboardInterrupt):
        run_backtest(
            _msft(), RajatAlpha(), RiskConfig(), cash=100_000.0, db_path=db, on_progress=progress
        )
    assert done[-1] == 10  # the next session ran whole (its check raised before its progress)
    assert Store(db)._query("SELECT count(*) FROM runs")[0][0] == 0  # one batch: rolled back


class _Proposing:
    """Has every member of the `Proposer` protocol."""

    def propose(self, ctx):  # pragma: no cover - never called
        return []

    def review(self, proposal, sizing, ctx):  # pragma: no cover
        return True, ""

    def reward(self, key, body):  # pragma: no cover
        return None

    def supports_replay(self):  # pragma: no cover
        return False


def test_the_proposer_check_is_the_protocol_check():
    from etrade_cli.engine.cycle import _proposes
    from etrade_cli.strategy.base import Proposer

    for strategy in (RajatAlpha(), _Proposing(), RajatAlpha(), _Proposing()):  # cached: same
        assert _proposes(strategy) is isinstance(strategy, Proposer)
    assert _proposes(_Proposing()) and not _proposes(RajatAlpha())


def _runs(store: Store) -> list[tuple]:
    return [
        tuple(r)
        for r in store._query(
            "SELECT id, as_of, mode, broker, account, outcome, session_date, counts, error, "
            "equity, cash, started_at IS NOT NULL, ended_at IS NOT NULL FROM runs ORDER BY id"
        )
    ]


def _two_runs(store: Store, refuse: bool = False) -> None:
    first = store.start_run("backtest", "paper", "paper", "2024-01-02")
    if refuse:
        with store.tx() as db:  # a row referring to the run (foreign key) while it runs
            store.add_refusal(
                db, run_id=first, broker="paper", account="paper", session_date="2024-01-02",
                symbol="AAA", action="B1", reason="test",
            )  # fmt: skip
    store.finish_run(first, "ok", session_date="2024-01-02", counts={"exits": 1}, equity=2.0)
    store.finish_run(store.start_run("backtest", "paper", "other", None), "error", error="boom")
    store.start_run("backtest", "paper", "paper", "2024-01-03")  # never finished (a crash)


@pytest.mark.parametrize("refuse", [False, True])
def test_runs_rows_of_a_batch_are_the_rows_written_outside_one(tmp_path: Path, refuse: bool):
    plain, batched = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    for store in (plain, batched):  # an earlier run: the batch's ids follow it
        store.finish_run(store.start_run("run-once", "paper", "paper", None), "ok")
    _two_runs(plain, refuse)
    statements: list[str] = []
    batched.db.set_trace_callback(statements.append)
    with batched.batch():
        _two_runs(batched, refuse)
    batched.db.set_trace_callback(None)
    assert _runs(batched) == _runs(plain) and len(_runs(plain)) == 4
    writes = [s for s in statements if "runs" in s and not s.startswith("SELECT")]
    # one statement per run row, two for the run a refusal refers to while it runs
    assert len(writes) == 3 + refuse, writes
    assert batched.last_session("paper", "paper") == _fresh_last_session(batched)


def test_a_batched_run_is_seen_by_every_read_of_runs(tmp_path: Path):
    store = Store(tmp_path / "book.db")
    with store.batch():
        run = store.start_run("backtest", "paper", "paper", "2024-01-02")
        assert [r["id"] for r in store.history("runs")] == [run]  # written as started
        assert store.books() == [("paper", "paper", 0)]
        store.finish_run(run, "ok", session_date="2024-01-02", equity=1.0, cash=1.0)
        assert store.equity_curve("paper", "paper") == [("2024-01-02", 1.0, 1.0)]
    assert [r["outcome"] for r in store.history("runs")] == ["ok"]


def test_a_rolled_back_batch_leaves_no_unwritten_run_behind(tmp_path: Path):
    store = Store(tmp_path / "book.db")
    with pytest.raises(RuntimeError), store.batch():
        store.start_run("backtest", "paper", "paper", None)
        raise RuntimeError
    run = store.start_run("run-once", "paper", "paper", None)  # outside a batch: written now
    assert [r[0] for r in _runs(store)] == [run] == [1]


def test_last_session_inside_a_batch_counts_the_runs_not_written_yet(tmp_path: Path):
    plain, batched = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    steps = [
        ("backtest", "ok", ("paper", "paper"), "2024-01-05"),
        ("backtest", "ok", ("paper", "paper"), "2024-01-04"),  # never moves it back
        ("dry-run", "ok", ("paper", "paper"), "2024-01-09"),
        ("backtest", "error", ("paper", "paper"), "2024-01-10"),
        ("backtest", "ok", ("paper", "other"), "2024-01-11"),
        ("backtest", "ok", ("paper", "paper"), "2024-01-08"),
    ]
    seen: dict[str, list] = {"plain": [], "batched": []}
    for name, store in (("plain", plain), ("batched", batched)):
        with store.batch() if name == "batched" else deferred_sigint():
            assert store.last_session("paper", "paper") is None  # read (and kept) before
            for mode, outcome, book, day in steps:
                store.finish_run(store.start_run(mode, *book, None), outcome, session_date=day)
                seen[name].append((store.last_session(*book), store.last_session("paper", "paper")))
                if name == "batched" and day == "2024-01-04":  # kept, not written, yet known
                    assert len(store._finished_runs) == 2
    assert seen["batched"] == seen["plain"]
    assert seen["plain"][-1] == ("2024-01-08", "2024-01-08")
    assert _runs(batched) == _runs(plain)


def _replay(monkeypatch, risk: RiskConfig, whole: bool) -> tuple[list, dict, int]:
    """Every session's `RunResult`, the backtest's JSON and how many cycles were idle; with
    `whole`, no cycle is taken for idle."""
    from etrade_cli.engine import cycle

    real_cycle, real_idle = cycle._cycle, cycle._idle
    seen: list = []
    idle: list = []

    def spy_cycle(*args):
        seen.append(real_cycle(*args))
        return seen[-1]

    def spy_idle(deps):
        idle.append((None, None) if whole else real_idle(deps))
        return idle[-1]

    monkeypatch.setattr(cycle, "_cycle", spy_cycle)
    monkeypatch.setattr(cycle, "_idle", spy_idle)
    res = run_backtest(_msft(), RajatAlpha(), risk, cash=100_000.0)
    monkeypatch.undo()
    return seen, res.to_dict(), sum(v is not None for v, _ in idle)


@pytest.mark.parametrize("protective", ["off", "broker"])
def test_an_idle_cycle_gives_what_the_whole_cycle_gives(monkeypatch, protective: str):
    """A cycle with nothing held and no journal row live skips reconcile, the exits, the
    resting stops and the end's re-reads (`cycle._idle`): every session's result and the
    backtest's are those of the whole cycle."""
    from dataclasses import replace

    risk = replace(RiskConfig(), protective_stop=protective)
    seen, doc, idle = _replay(monkeypatch, risk, whole=False)
    assert 100 < idle < len(seen) - 20  # the idle path ran, and so did the whole one
    whole_seen, whole_doc, none = _replay(monkeypatch, risk, whole=True)
    assert none == 0 and len(seen) > 1000
    assert seen == whole_seen and doc == whole_doc


def test_a_backtest_into_a_db_file_holds_its_lock_and_a_private_one_needs_none(tmp_path: Path):
    """`--db FILE` books are guarded by the trading lock (another process may use the same
    file); the default book is in the backtest's own temporary folder and takes no lock."""
    from filelock import FileLock

    from etrade_cli.errors import BusyError

    db = tmp_path / "bt.db"
    held = FileLock(str(db) + ".lock", timeout=0)
    held.acquire()
    try:
        with pytest.raises(BusyError):
            run_backtest(_msft(), RajatAlpha(), RiskConfig(), cash=100_000.0, db_path=db)
        res = run_backtest(_msft(), RajatAlpha(), RiskConfig(), cash=100_000.0)  # no lock
        assert res.sessions > 0
    finally:
        held.release()
