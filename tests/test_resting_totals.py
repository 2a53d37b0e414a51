"""Issue 16's resting orders on top of issue 13's running paper totals: a resting order that
fills, expires or is cancelled later (an UPDATE of an existing paper order, not an insert) keeps
the paper broker's cash and holdings exactly those of a fresh read of its orders; the stops
migration runs after perf's on every book."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from etrade_cli.brokers.paper import PaperBroker
from etrade_cli.store import MIGRATIONS, Store
from etrade_cli.values import OrderRequest

DATA = Path(__file__).parent / "data"
BARS = [
    ("2024-01-03", 10.2, 10.4, 9.9, 10.0),  # the stop at 9.50 is not reached
    ("2024-01-04", 9.8, 9.9, 9.1, 9.3),  # low through 9.50: fills at the stop
]


def lookup(symbol: str, after: str, through: str) -> list:
    return [b for b in BARS if after < b[0] <= through] if symbol == "AAA" else []


def broker(store: Store) -> PaperBroker:
    return PaperBroker(store, "paper", 10_000.0, 1.25, prices=lambda s: 10.25)


def fresh_read(store: Store) -> tuple[float, list]:
    """Cash and holdings summed from the paper orders in the store (a new broker object)."""
    b = broker(store)
    return b.account_values().cash, b.positions()


def with_resting_stop(tmp_path: Path) -> tuple[Store, PaperBroker]:
    store = Store(tmp_path / "book.db")
    b = broker(store)
    b.set_market(lambda s: 10.25, "2024-01-02", lookup)
    buy = OrderRequest("E1", "AAA", "BUY", 100)
    assert b.place(buy, b.preview(buy)).status == "EXECUTED"
    stop = OrderRequest(
        "S1", "AAA", "SELL", 100, "STOP", stop_price=9.5, order_term="GOOD_UNTIL_CANCEL"
    )
    assert b.place(stop, None).status == "OPEN"  # type: ignore[arg-type]
    return store, b


def test_a_resting_stop_fill_moves_cash_and_holdings_of_the_running_totals(tmp_path: Path):
    store, b = with_resting_stop(tmp_path)
    assert b.account_values().cash == 10_000.0 - 100 * 10.25 - 1.25
    assert [p.quantity for p in b.positions()] == [100]
    b.set_market(lambda s: 10.0, "2024-01-03", lookup)  # not reached
    assert [p.quantity for p in b.positions()] == [100]
    b.set_market(lambda s: 9.3, "2024-01-04", lookup)
    s = b.order_status("S1")
    assert s is not None and (s.status, s.avg_fill_price) == ("EXECUTED", 9.5)
    assert s.fills[0].session_date == "2024-01-04"
    assert b.positions() == []
    assert b.account_values().cash == 10_000.0 - 100 * 10.25 - 1.25 + 100 * 9.5 - 1.25
    assert (b.account_values().cash, b.positions()) == fresh_read(store)


def test_a_resting_stop_filled_by_another_broker_object_is_seen(tmp_path: Path):
    store, b = with_resting_stop(tmp_path)
    assert [p.quantity for p in b.positions()] == [100]  # totals read and kept
    other = broker(store)  # e.g. the next run on the same book
    other.set_market(lambda s: 9.3, "2024-01-04", lookup)
    assert b.positions() == [] and (b.account_values().cash, []) == fresh_read(store)


def test_a_resting_stop_filled_inside_a_backtest_batch_is_seen(tmp_path: Path):
    store, b = with_resting_stop(tmp_path)
    with store.batch():  # one transaction per backtest: writes are not committed yet
        b.set_market(lambda s: 9.3, "2024-01-04", lookup)
        assert b.positions() == []
        sell = OrderRequest("X1", "AAA", "SELL", 1)
        assert b.place(sell, b.preview(sell)).status == "REJECTED"  # nothing left to sell
    assert (b.account_values().cash, b.positions()) == fresh_read(store)


def test_cancel_and_expiry_keep_the_running_totals_without_a_re_read(tmp_path: Path):
    store, b = with_resting_stop(tmp_path)
    totals = b._sums()
    day = OrderRequest("D1", "AAA", "BUY", 10, "LIMIT", 9.0)
    b.place(day, None)  # type: ignore[arg-type]
    state = b.order_status("S1")
    assert state is not None
    b.cancel(state.broker_order_id)
    b.set_market(lambda s: 10.0, "2024-01-03", lookup)  # the day limit expires
    d = b.order_status("D1")
    assert d is not None and d.status == "EXPIRED"
    assert b._sums() is totals  # kept running: no re-read of every order
    assert (b.account_values().cash, b.positions()) == fresh_read(store)
    assert store.paper_stamp() == totals.stamp


def _csv_config(home: Path, extra: str = "") -> None:
    files = [DATA / f for f in ("AMZN_daily_1997-2020.csv", "MSFT_daily_2015-2021.csv",
                                "NFLX_daily_2018-2022.csv")]  # fmt: skip
    (home / "config.toml").write_text(
        "[data]\ncsv_paths = [" + ", ".join(f"'{f}'" for f in files) + "]\n" + extra
    )


def test_a_backtest_with_broker_stops_ends_with_the_cash_of_its_orders(cli, hermetic: Path):
    _csv_config(hermetic, '[risk]\nprotective_stop = "broker"\n')
    db = hermetic / "bt.db"
    r = cli("backtest", "--symbols", "AMZN,MSFT,NFLX", "--json", "--db", str(db))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["protective"]["fired"] > 0  # resting stops filled at later bars
    con = sqlite3.connect(db)
    start, _ = con.execute("SELECT starting_cash, commission FROM paper_accounts").fetchone()
    flow = commission = 0.0
    held: dict[str, int] = {}
    for sym, side, qty, price, comm in con.execute(
        "SELECT symbol, side, quantity, fill_price, commission FROM paper_orders "
        "WHERE status = 'EXECUTED' ORDER BY id"
    ):
        flow += -qty * price if side == "BUY" else qty * price
        commission += comm
        held[sym] = held.get(sym, 0) + (qty if side == "BUY" else -qty)
    cash = start + flow - commission
    (run_cash,) = con.execute(
        "SELECT cash FROM runs WHERE outcome = 'ok' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert run_cash == cash  # exactly: the same sums in the same order
    assert doc["curve"][-1]["cash"] == round(cash, 2)
    open_qty = "SELECT symbol, sum(remaining_qty) FROM positions WHERE status = 'open'"
    book = dict(con.execute(open_qty + " GROUP BY symbol").fetchall())
    assert {s: q for s, q in held.items() if q} == book


def test_a_book_migrated_by_a_stops_build_as_m005_gets_every_later_migration(tmp_path: Path):
    path = tmp_path / "dev.db"
    store = Store(path)
    with store.tx() as db:  # as a stops build left it: its migration named m005, no perf index
        db.execute("DELETE FROM migrations WHERE name IN (?, ?, ?)",
                   ("m005_runs_last_session", "m006_fill_keys_per_account",
                    "m007_resting_orders"))  # fmt: skip
        db.execute("INSERT INTO migrations VALUES ('m005_resting_orders', '2026-11-01')")
        db.execute("DROP INDEX runs_completed")
    store.close()
    again = Store(path)
    names = again.applied_migrations()
    assert names[-3:] == ["m005_runs_last_session", "m006_fill_keys_per_account",
                          "m007_resting_orders"]  # fmt: skip
    assert [n for n, _ in MIGRATIONS][-3:] == names[-3:]
    indexes = {r[0] for r in again._query("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"runs_completed", "orders_one_live_change", "paper_orders_open"} <= indexes
    cols = {r[1] for r in again._query("PRAGMA table_info(paper_orders)")}
    assert {"stop_price", "order_term", "filled_session"} <= cols


def test_a_book_migrated_by_a_stops_build_as_m006_gets_the_fill_keys_and_keeps_its_columns(
    tmp_path: Path,
):
    from etrade_cli import db as dbutil

    path = tmp_path / "dev.db"
    con = dbutil.connect(path)  # as a stops build left it: main's m001..m005, then its m006
    dbutil.migrate(con, [*MIGRATIONS[:5], ("m006_resting_orders", MIGRATIONS[6][1])])
    con.close()
    again = Store(path)
    names = again.applied_migrations()
    assert names[-2:] == ["m006_fill_keys_per_account", "m007_resting_orders"]
    assert "m006_resting_orders" in names
    indexes = {r[0] for r in again._query("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"orders_one_live_change", "orders_one_live_exit", "paper_orders_open"} <= indexes
    cols = {r[1] for r in again._query("PRAGMA table_info(fills)")}
    assert {"broker", "account"} <= cols
    cols = {r[1] for r in again._query("PRAGMA table_info(paper_orders)")}
    assert {"stop_price", "order_term", "filled_session"} <= cols
