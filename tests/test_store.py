"""The SQLite store: migrations, clientOrderId, WAL, and the paper broker's idempotency."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from etrade_cli import store as store_mod
from etrade_cli.brokers.base import OrderRequest
from etrade_cli.brokers.paper import PaperBroker
from etrade_cli.errors import CorruptError, DataError, InputError, OrderRejectedError
from etrade_cli.store import Store


def test_new_database_applies_every_migration_once(tmp_path):
    s = Store(tmp_path / "b.db")
    assert s.applied_migrations() == [name for name, _ in store_mod.MIGRATIONS]
    assert s._query("PRAGMA journal_mode")[0][0] == "wal"
    s.close()
    s2 = Store(tmp_path / "b.db")
    assert s2.migrate() == []


def _schema(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
        ).fetchall()


def test_a_fresh_book_from_the_template_is_the_migrated_book(tmp_path):
    """`Store.fresh` (backtests) copies a migrated template: the same schema, every migration
    recorded, WAL, and the copies are independent books."""
    Store(tmp_path / "migrated.db").close()
    a, b = Store.fresh(tmp_path / "a.db"), Store.fresh(tmp_path / "sub" / "b.db")
    assert a.applied_migrations() == [name for name, _ in store_mod.MIGRATIONS]
    assert a.migrate() == [] and a._query("PRAGMA journal_mode")[0][0] == "wal"
    a.set_meta("kind", "backtest")
    assert b.meta("kind") is None  # nothing shared between copies
    a.close(), b.close()
    assert _schema(tmp_path / "a.db") == _schema(tmp_path / "migrated.db")
    with pytest.raises(FileExistsError):
        Store.fresh(tmp_path / "a.db")


def test_migrations_on_an_existing_database_keep_the_data(tmp_path, monkeypatch):
    s = Store(tmp_path / "b.db")
    with s.tx() as db:
        db.execute("INSERT INTO runs (started_at, mode, broker, account) VALUES ('t','m','b','a')")
    s.close()

    def m002_note(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE runs ADD COLUMN note TEXT")

    monkeypatch.setattr(store_mod, "MIGRATIONS", [*store_mod.MIGRATIONS, ("m002_note", m002_note)])
    s = Store(tmp_path / "b.db")
    assert s.applied_migrations()[-1] == "m002_note"
    assert s._query("SELECT mode, note FROM runs")[0][:] == ("m", None)
    s.close()
    assert Store(tmp_path / "b.db").migrate() == []


def test_a_failing_migration_rolls_back_and_is_not_recorded(tmp_path, monkeypatch):
    def m002_bad(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half (x)")
        db.execute("THIS IS NOT SQL")

    Store(tmp_path / "b.db").close()
    monkeypatch.setattr(store_mod, "MIGRATIONS", [*store_mod.MIGRATIONS, ("m002_bad", m002_bad)])
    with pytest.raises(DataError):
        Store(tmp_path / "b.db")
    monkeypatch.undo()
    s = Store(tmp_path / "b.db")
    assert "m002_bad" not in s.applied_migrations()
    assert not s._query("SELECT name FROM sqlite_master WHERE name = 'half'")


def test_not_a_database(tmp_path):
    f = tmp_path / "x.db"
    f.write_text("hello, this is not sqlite" * 100)
    with pytest.raises(CorruptError, match="not a usable SQLite database"):
        Store(f)


def test_client_order_ids_are_short_alphanumeric_and_unique(tmp_path):
    s = Store(tmp_path / "b.db")
    ids = []
    for i in range(3):
        with s.tx() as db:
            o = s.new_order(
                db,
                broker="paper",
                account="paper",
                symbol="A",
                side="BUY",
                quantity=1,
                purpose="ENTRY_B1",
                session_date=f"2024-01-0{i + 1}",
            )
        ids.append(o.client_order_id)
    assert len(set(ids)) == 3
    assert all(c.isalnum() and 1 <= len(c) <= 20 for c in ids)
    other = Store(tmp_path / "c.db")
    with other.tx() as db:
        o = other.new_order(
            db,
            broker="paper",
            account="paper",
            symbol="A",
            side="BUY",
            quantity=1,
            purpose="ENTRY_B1",
            session_date="2024-01-01",
        )
    assert o.client_order_id != ids[0]  # each database has its own random tag


def test_zero_quantity_never_reaches_the_journal(tmp_path):
    s = Store(tmp_path / "b.db")
    with pytest.raises(sqlite3.IntegrityError), s.tx() as db:
        s.new_order(
            db,
            broker="paper",
            account="paper",
            symbol="A",
            side="BUY",
            quantity=0,
            purpose="ENTRY_B1",
            session_date="2024-01-01",
        )
    assert s.orders() == []


def paper(tmp_path, price=10.0, cash=1_000.0, commission=0.0):
    s = Store(tmp_path / "b.db")
    return PaperBroker(s, "paper", cash, commission, prices=lambda _s: price, session_date="d")


def test_paper_place_is_idempotent_per_client_order_id(tmp_path):
    b = paper(tmp_path)
    req = OrderRequest("X1", "AAA", "BUY", 10)
    first = b.place(req, b.preview(req))
    second = b.place(req, b.preview(req))
    assert first == second and first.status == "EXECUTED" and first.avg_fill_price == 10.0
    assert b.positions()[0].quantity == 10
    assert b.account_values().cash == pytest.approx(900.0)


def test_paper_rejects_oversell_and_overspend(tmp_path):
    b = paper(tmp_path, commission=1.0)
    assert b.place(OrderRequest("S1", "AAA", "SELL", 1), None).status == "REJECTED"
    assert b.place(OrderRequest("B1", "AAA", "BUY", 100), None).status == "REJECTED"
    ok = b.place(OrderRequest("B2", "AAA", "BUY", 99), None)
    assert ok.status == "EXECUTED" and b.account_values().cash == pytest.approx(9.0)


def test_paper_preview_checks_quantity_and_price(tmp_path):
    b = paper(tmp_path)
    with pytest.raises(InputError, match="positive"):
        b.preview(OrderRequest("Z", "AAA", "BUY", 0))
    b.set_market(lambda _s: None, "d")
    with pytest.raises(OrderRejectedError, match="no price"):
        b.preview(OrderRequest("Z", "AAA", "BUY", 1))


def test_paper_limit_orders_rest_until_cancelled(tmp_path):
    b = paper(tmp_path)
    st = b.place(OrderRequest("L1", "AAA", "BUY", 1, "LIMIT", limit_price=9.0), None)
    assert st.status == "OPEN" and [o.client_order_id for o in b.open_orders()] == ["L1"]
    b.cancel(st.broker_order_id)
    assert b.order_status("L1").status == "CANCELLED"
    with pytest.raises(OrderRejectedError):
        b.cancel(st.broker_order_id)
    assert (
        b.place(OrderRequest("L2", "AAA", "BUY", 1, "LIMIT", limit_price=10.0), None).status
        == "EXECUTED"
    )


def test_paper_account_keeps_its_terms_across_restarts(tmp_path):
    b = paper(tmp_path, cash=5_000.0)
    again = PaperBroker(b.store, "paper", 999.0, 3.0)
    assert (again.starting_cash, again.commission) == (5_000.0, 0.0)


def test_rows_read_as_positions_and_orders_equal_their_dataclasses_init(tmp_path):
    from etrade_cli.store import OrderRow, Position, _row_as

    s = Store(tmp_path / "r.db")
    with s.tx() as db:
        pid = s.new_position(
            db, symbol="AAA", tag="B1", broker="paper", account="paper", strategy="t", score=4.0
        )
        s.new_order(
            db, broker="paper", account="paper", symbol="AAA", side="BUY", quantity=5,
            purpose="ENTRY_B1", position_id=pid, session_date="2024-01-03",
        )  # fmt: skip
    for cls, table in ((Position, "positions"), (OrderRow, "orders")):
        for row in s._query(f"SELECT * FROM {table}"):
            fast = _row_as(cls, row)
            assert type(fast) is cls and fast == cls(**dict(row)) and hash(fast) == hash(fast)
            with pytest.raises(dataclasses.FrozenInstanceError):
                fast.id = 9  # type: ignore[misc]
    # columns that are not exactly the fields go through __init__: defaults, unknown refused
    row = s._query("SELECT id, client_order_id, broker, account, symbol, side, quantity, "
                   "price_type, limit_price, stop_price, order_term, market_session, purpose, "
                   "position_id, session_date, status, broker_order_id, preview_id, filled_qty, "
                   "avg_fill_price, message, run_id, created_at, updated_at FROM orders")[0]  # fmt: skip
    assert _row_as(OrderRow, row).replaces is None
    with pytest.raises(TypeError):
        _row_as(Position, s._query("SELECT *, 1 AS extra FROM positions")[0])
