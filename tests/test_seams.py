"""The seams: registries, the live guard by construction, the strategy protocol, honest exit
codes for cron, and a book migrated in place."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from etrade_cli import registry
from etrade_cli.brokers.paper import PaperBroker
from etrade_cli.config import Config, load_config
from etrade_cli.errors import ExitStatus, OrderRejectedError, UsageError
from etrade_cli.store import Store
from etrade_cli.strategy.base import Strategy
from etrade_cli.values import OrderRequest


def test_registries_hold_the_built_ins():
    assert registry.brokers.names()[:3] == ["paper", "etrade", "alpaca"]
    assert {"csv", "alpaca"} <= set(registry.bar_sources.names())
    assert "rajat_alpha" in registry.strategies.names()
    with pytest.raises(UsageError, match="unknown bar source 'nope'; choose one of: csv"):
        registry.bar_sources.get("nope")


def test_a_registered_name_cannot_be_shadowed_silently():
    spec = registry.brokers.get("paper")
    with pytest.raises(ValueError, match="already registered"):
        registry.brokers.register(spec)


def test_the_live_guard_applies_to_any_broker_that_can_trade_live():
    """A new broker that says nothing about live trading is treated as live: refused unless
    its section's allow_live_orders and --live are both given."""
    spec = registry.BrokerSpec(
        name="newbroker",
        factory=lambda cfg, st: None,
        account_key=lambda cfg: "x",  # type: ignore[arg-type,return-value]
    )
    with pytest.raises(
        OrderRejectedError, match=r"\[newbroker\] allow_live_orders = true and --live"
    ):
        registry.check_live_guard(Config(), spec, live=True)
    allowed = registry.BrokerSpec(
        name="newbroker",
        factory=spec.factory,
        account_key=spec.account_key,
        allow_live=lambda cfg: True,
    )
    with pytest.raises(OrderRejectedError):
        registry.check_live_guard(Config(), allowed, live=False)
    registry.check_live_guard(Config(), allowed, live=True)
    registry.check_live_guard(Config(), registry.brokers.get("paper"), live=False)


def test_rajat_alpha_satisfies_the_strategy_protocol():
    from etrade_cli.services import make_strategy

    strategy = make_strategy(Config())
    assert isinstance(strategy, Strategy) and strategy.name == "rajat_alpha"
    assert strategy.warmup_bars == 200


def test_unknown_strategy_in_config_is_a_config_error(cli, hermetic):
    (hermetic / "config.toml").write_text('[strategy]\nname = "nope"\n')
    r = cli("scan")
    assert r.exit_code == ExitStatus.CONFIG
    assert "[strategy] name: unknown strategy 'nope'; choose one of: rajat_alpha" in r.stderr


def _sell_by_hand(db: Path, symbol: str, qty: int) -> None:
    """Shares sold at the broker behind the tool's back (a person at the paper broker)."""
    store = Store(db)
    try:
        b = PaperBroker(store, "paper", 100_000.0)
        b.set_market(lambda s: 50.0, "2010-07-23")
        req = OrderRequest("byhand1", symbol, "SELL", qty)
        b.place(req, b.preview(req))
    finally:
        store.close()


def test_a_reconcile_mismatch_exits_8_naming_symbol_and_quantities_and_sends_nothing(cli):
    r = cli("run-once", "--as-of", "2010-07-22", "--json")
    assert r.exit_code == 0, r.output
    entered = json.loads(r.stdout)["entries"]
    assert entered, "the session must enter a position for this test"
    sym, qty = entered[0]["symbol"], entered[0]["quantity"]
    db = load_config().db_path
    _sell_by_hand(db, sym, qty)
    store = Store(db)
    orders_before = len(store.orders())
    store.close()
    r = cli("run-once", "--as-of", "2010-07-23")
    assert r.exit_code == ExitStatus.RECONCILE
    line = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(line) == 1
    assert f"{sym}: the book holds {qty} shares, the broker 0" in line[0]
    store = Store(db)
    assert len(store.orders()) == orders_before  # nothing sent
    store.close()


def test_shares_the_book_never_bought_are_information_not_a_mismatch(cli):
    db = load_config().db_path
    store = Store(db)
    b = PaperBroker(store, "paper", 100_000.0)
    b.set_market(lambda s: 50.0, "2010-07-21")
    req = OrderRequest("someoneelse1", "IBM", "BUY", 10)
    b.place(req, b.preview(req))
    store.close()
    r = cli("run-once", "--as-of", "2010-07-22", "--json")
    assert r.exit_code == 0, r.output
    findings = json.loads(r.stdout)["findings"]
    assert any("IBM: the broker holds 10 shares, the book 0" in f["message"] for f in findings)


def test_a_book_written_before_the_seams_migrates_in_place(tmp_path: Path):
    """m002 rebuilds `positions` without the B1/B2 check: every row and id is kept, and the
    orders and partial exits that reference positions still do."""
    from etrade_cli import db as dbmod
    from etrade_cli.store import MIGRATIONS

    path = tmp_path / "old.db"
    conn = dbmod.connect(path)
    dbmod.migrate(conn, MIGRATIONS[:1])  # the schema as today's released code writes it
    now = "2010-07-22T20:00:00+00:00"
    conn.execute(
        "INSERT INTO positions (id, symbol, kind, broker, account, status, entry_date, "
        "entry_price, original_qty, remaining_qty, opened_at) VALUES "
        "(7, 'ED', 'B1', 'paper', 'paper', 'open', '2010-07-22', 46.7, 107, 107, ?)",
        (now,),
    )
    conn.execute(
        "INSERT INTO orders (client_order_id, broker, account, symbol, side, quantity, "
        "price_type, order_term, market_session, purpose, position_id, session_date, status, "
        "filled_qty, created_at, updated_at) VALUES ('c1', 'paper', 'paper', 'ED', 'BUY', 107,"
        " 'MARKET', 'GOOD_FOR_DAY', 'REGULAR', 'ENTRY_B1', 7, '2010-07-22', 'filled', 107, ?, ?)",
        (now, now),
    )
    with pytest.raises(sqlite3.IntegrityError):  # the old check refuses a free-form tag
        conn.execute(
            "INSERT INTO positions (symbol, kind, broker, account, status, opened_at) "
            "VALUES ('X', 'momentum', 'paper', 'paper', 'pending', ?)",
            (now,),
        )
    conn.close()
    store = Store(path)
    assert "m002_strategy_tag" in store.applied_migrations()
    (pos,) = store.positions("paper", "paper")
    assert (pos.id, pos.symbol, pos.tag, pos.remaining_qty, pos.strategy) == (
        7,
        "ED",
        "B1",
        107,
        "rajat_alpha",
    )
    assert store.order_by_coid("c1").position_id == 7
    with store.tx() as db:
        pid = store.new_position(
            db, symbol="X", tag="momentum", broker="paper", account="paper", strategy="sma_cross"
        )
    assert store.position(pid).tag == "momentum"
    fk = store._query("PRAGMA foreign_key_check")
    assert list(fk) == []
    store.close()


def test_an_empty_watchlist_stops_entries_but_not_exits(cli, hermetic):
    r = cli("run-once", "--as-of", "2010-07-07", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["entries"]  # AAPL B1
    (hermetic / "watchlist.txt").write_text("# emptied on purpose\n")
    r = cli("run-once", "--as-of", "2010-08-09", "--json")  # 21 sessions: time exit
    assert r.exit_code == 0, r.output
    assert "the watchlist is empty" in r.stderr
    doc = json.loads(r.stdout)
    assert doc["entries"] == [] and doc["exits"]  # AAPL's exit still runs
