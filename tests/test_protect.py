"""Resting protective stops on the paper broker (issue 16): placed after the entry fill, changed
with the strategy's tiers and partial exits, cancelled before a full exit, filled against later
bars (gaps at the open, skipped sessions), and crash-safe at every step."""

from __future__ import annotations

from dataclasses import replace

import pytest

from etrade_cli.brokers.paper import PaperBroker
from etrade_cli.config import RiskConfig
from etrade_cli.engine import run_once
from etrade_cli.store import BROKER_STOP, Store
from etrade_cli.values import OrderRequest
from tests.fakes import day, fake_market, make_deps

NET = RiskConfig(protective_stop="broker", protective_stop_gap_pct=0.03)
# entry 10 AAA at 100: strategy stop 83.00 (17 %), net 83 x 0.97 = 80.51


def deps_for(tmp_path, closes, ohlc=None, risk=NET, faults=None):
    market = fake_market({"AAA": closes}, {("AAA", 0): 5}, ohlc)
    return make_deps(tmp_path, market, risk=risk, faults=faults)


def paper(store: Store, status: str | None = None) -> list[dict]:
    rows = store._query("SELECT * FROM paper_orders ORDER BY id")
    return [dict(r) for r in rows if status is None or r["status"] == status]


def resting(store: Store) -> list[dict]:
    return [r for r in paper(store, "OPEN") if r["price_type"] == "STOP"]


def test_entry_fill_places_a_gtc_stop_below_the_strategy_stop(tmp_path):
    deps = deps_for(tmp_path, [100.0])
    res = run_once(deps, day(0))
    assert [(a.reason, a.quantity, a.price, a.status) for a in res.stops] == [
        ("STOP_PLACED", 10, 80.51, "placed")
    ]
    (stop,) = resting(deps.store)
    assert (stop["side"], stop["quantity"], stop["stop_price"], stop["order_term"]) == (
        "SELL",
        10,
        80.51,
        "GOOD_UNTIL_CANCEL",
    )
    (row,) = deps.store.resting_stops("paper", "paper")
    assert (row.purpose, row.status, row.client_order_id) == (
        BROKER_STOP,
        "placed",
        stop["client_order_id"],
    )
    assert row.position_id == deps.store.positions("paper", "paper")[0].id


def test_off_places_nothing_at_the_broker(tmp_path):
    deps = deps_for(
        tmp_path, [100.0, 90.0], ohlc={("AAA", 1): (99.0, 99.0, 50.0)}, risk=RiskConfig()
    )
    run_once(deps, day(0))
    run_once(deps, day(1))
    assert [r["price_type"] for r in paper(deps.store)] == ["MARKET"]
    assert deps.store.positions("paper", "paper")[0].remaining_qty == 10


def test_a_low_through_the_net_fills_at_the_stop_and_closes_the_position_once(tmp_path):
    deps = deps_for(tmp_path, [100.0, 95.0], ohlc={("AAA", 1): (99.0, 100.0, 80.0)})
    run_once(deps, day(0))
    res = run_once(deps, day(1))
    (pos,) = deps.store.positions("paper", "paper", ("closed",))
    assert (pos.exit_reason, pos.exit_price, pos.remaining_qty) == ("BROKER_STOP", 80.51, 0)
    assert pos.realized_pnl == pytest.approx((80.51 - 100.0) * 10)
    sells = [r for r in paper(deps.store, "EXECUTED") if r["side"] == "SELL"]
    assert [(r["quantity"], r["fill_price"], r["filled_session"]) for r in sells] == [
        (10, 80.51, "2024-01-03")
    ]
    assert [(a.reason, a.quantity, a.price) for a in res.exits] == [("BROKER_STOP", 10, 80.51)]
    assert not [f for f in res.findings if f.severity == "error"]
    assert deps.broker.positions() == [] and deps.store.resting_stops("paper", "paper") == []


def test_a_gap_below_the_net_fills_at_the_open_and_no_strategy_exit_follows(tmp_path):
    # the close (75) is also below the strategy stop (83): the SL exit must not sell again
    deps = deps_for(tmp_path, [100.0, 75.0], ohlc={("AAA", 1): (70.0, 76.0, 69.0)})
    run_once(deps, day(0))
    res = run_once(deps, day(1))
    (pos,) = deps.store.positions("paper", "paper", ("closed",))
    assert (pos.exit_reason, pos.exit_price) == ("BROKER_STOP", 70.0)
    assert [a.reason for a in res.exits] == ["BROKER_STOP"]
    assert len([r for r in paper(deps.store) if r["side"] == "SELL"]) == 1


def test_sessions_skipped_by_cron_are_swept_and_the_fill_keeps_its_session(tmp_path):
    closes = [100.0, 100.0, 96.0, 97.0]
    deps = deps_for(tmp_path, closes, ohlc={("AAA", 2): (97.0, 98.0, 79.0)})
    run_once(deps, day(0))
    run_once(deps, day(3))  # days 1 and 2 were never run
    (stop,) = [r for r in paper(deps.store) if r["side"] == "SELL"]
    assert (stop["status"], stop["fill_price"], stop["filled_session"]) == (
        "EXECUTED",
        80.51,
        "2024-01-04",
    )
    (pos,) = deps.store.positions("paper", "paper", ("closed",))
    assert (pos.exit_reason, pos.exit_date) == ("BROKER_STOP", "2024-01-04")  # not the run's
    assert deps.store._query("SELECT session_date FROM fills ORDER BY id")[-1][0] == "2024-01-04"


def test_a_tier_rise_changes_the_net_by_cancel_and_new_linked_in_the_journal(tmp_path):
    deps = deps_for(tmp_path, [100.0, 106.0])  # +6 %: strategy stop 91, net 88.27
    run_once(deps, day(0))
    res = run_once(deps, day(1))
    assert [(a.reason, a.quantity, a.price) for a in res.stops] == [("STOP_CHANGED", 10, 88.27)]
    (stop,) = resting(deps.store)
    assert (stop["quantity"], stop["stop_price"]) == (10, 88.27)
    old, new = [o for o in deps.store.orders() if o.purpose == BROKER_STOP]
    assert (old.status, new.status, new.replaces) == ("cancelled", "placed", old.id)
    assert "cancel + new" in (new.message or "") or new.message
    assert [r["status"] for r in paper(deps.store) if r["price_type"] == "STOP"] == [
        "CANCELLED",
        "OPEN",
    ]


def test_a_partial_exit_reduces_the_net_before_the_sell(tmp_path):
    deps = deps_for(tmp_path, [100.0, 111.0])  # PT1 sells 3 of 10; stop 99, net 96.03
    run_once(deps, day(0))
    res = run_once(deps, day(1))
    assert [(a.reason, a.quantity) for a in res.exits] == [("PT1", 3)]
    rows = paper(deps.store)
    (new_stop,) = resting(deps.store)
    sell = next(r for r in rows if r["side"] == "SELL" and r["price_type"] == "MARKET")
    assert new_stop["id"] < sell["id"]  # reduced first
    assert (new_stop["quantity"], new_stop["stop_price"]) == (7, 96.03)
    assert deps.store.positions("paper", "paper")[0].remaining_qty == 7


def test_a_full_exit_cancels_the_net_before_the_sell_and_leaves_nothing_resting(tmp_path):
    deps = deps_for(tmp_path, [100.0, 82.0], ohlc={("AAA", 1): (90.0, 90.0, 81.0)})
    run_once(deps, day(0))
    res = run_once(deps, day(1))
    assert [(a.reason, a.quantity) for a in res.exits] == [("SL", 10)]
    assert [(a.reason, a.status) for a in res.stops] == [("STOP_CANCELLED", "cancelled")]
    stop, sell = [r for r in paper(deps.store) if r["side"] == "SELL"]
    assert (stop["status"], sell["status"], sell["fill_price"]) == ("CANCELLED", "EXECUTED", 82.0)
    assert resting(deps.store) == [] and deps.store.resting_stops("paper", "paper") == []
    (row,) = [o for o in deps.store.orders() if o.purpose == BROKER_STOP]
    assert row.status == "cancelled" and "whole position" in (row.message or "")


def test_turning_the_net_off_cancels_the_resting_stops(tmp_path):
    deps = deps_for(tmp_path, [100.0, 100.0])
    run_once(deps, day(0))
    run_once(replace(deps, risk=RiskConfig()), day(1))
    assert resting(deps.store) == [] and deps.store.resting_stops("paper", "paper") == []
    assert deps.store.positions("paper", "paper")[0].remaining_qty == 10


def test_resting_stops_do_not_count_as_the_days_orders(tmp_path):
    deps = deps_for(tmp_path, [100.0], risk=replace(NET, max_orders_per_day=1))
    market = fake_market({"AAA": [100.0], "BBB": [50.0]}, {("AAA", 0): 5, ("BBB", 0): 4})
    deps = replace(deps, market=market)
    res = run_once(deps, day(0))
    assert [a.symbol for a in res.entries] == ["AAA"]  # BBB refused by max_orders_per_day=1 ...
    assert [r["reason"] for r in res.refusals] == ["max_orders_per_day (1) reached"]
    assert len(resting(deps.store)) == 1  # ... whether or not AAA's net was counted (it is not)


# --- the paper broker on its own -------------------------------------------------------------


def broker_at(tmp_path, bars):
    store = Store(tmp_path / "p.db")
    b = PaperBroker(store, "paper", 10_000.0)
    lookup = lambda s, a, t: [x for x in bars if a < x[0] <= t]  # noqa: E731
    b.set_market(lambda s: 50.0, "2024-01-02", lookup)
    return b, lookup


def test_day_limit_expires_at_its_close_and_gtc_limit_fills_when_the_bar_trades_through(tmp_path):
    bars = [("2024-01-03", 49.0, 50.0, 48.5, 49.5), ("2024-01-04", 49.5, 49.9, 47.0, 48.0)]
    b, lookup = broker_at(tmp_path, bars)
    day_o = b.place(OrderRequest("D1", "XYZ", "BUY", 10, "LIMIT", 48.0), None)  # type: ignore[arg-type]
    gtc = OrderRequest("G1", "XYZ", "BUY", 10, "LIMIT", 48.0, order_term="GOOD_UNTIL_CANCEL")
    b.place(gtc, None)  # type: ignore[arg-type]
    assert day_o.status == "OPEN"
    b.set_market(lambda s: 49.5, "2024-01-03", lookup)
    assert b.order_status("D1").status == "EXPIRED"
    assert b.order_status("G1").status == "OPEN"  # 48.5 low: not through 48.0
    b.set_market(lambda s: 48.0, "2024-01-04", lookup)
    g = b.order_status("G1")
    assert (g.status, g.avg_fill_price) == ("EXECUTED", 48.0)
    assert b.positions()[0].quantity == 10


# --- backtests on the bundled sample -------------------------------------------------------------


def test_backtest_with_the_net_off_is_todays_backtest(cli, hermetic):
    today = cli("backtest", "--json")
    (hermetic / "config.toml").write_text('[risk]\nprotective_stop = "off"\n')
    off = cli("backtest", "--json")
    import json

    assert today.exit_code == off.exit_code == 0
    a, b = json.loads(today.stdout), json.loads(off.stdout)
    a.pop("id", None), b.pop("id", None)  # the stored backtest's number
    assert a == b and "protective" not in b


def test_backtest_with_the_net_on_lists_broker_stop_exits_where_a_low_crossed_it(cli, hermetic):
    import json

    (hermetic / "config.toml").write_text(
        "[strategy]\ninitial_stop_loss_pct = 0.05\n"
        '[risk]\nprotective_stop = "broker"\nprotective_stop_gap_pct = 0.01\n'
    )
    r = cli("backtest", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    fired = [t for t in doc["trades"] if t["exit_reason"] == "BROKER_STOP"]
    assert fired and doc["protective"]["fired"] == len(fired)
    for t in fired:  # the net: 5 % strategy stop, 1 % below it, in cents (no gap on these bars)
        assert t["exit_price"] == round(t["entry_price"] * 0.95 * 0.99, 2)
    assert doc["protective"]["gap_fraction"] == 0.01
    for e in doc["protective"]["exits"]:
        assert e["vs_close_usd"] == pytest.approx((e["fill"] - e["close"]) * e["shares"])
    text = cli("backtest")
    assert "Resting stop (1.0% below the strategy stop): fired" in text.stdout


def test_a_broker_stop_fill_is_notified_with_its_exit_reason(tmp_path):
    from etrade_cli.events import OrderFilled

    seen: list = []
    deps = deps_for(tmp_path, [100.0, 95.0], ohlc={("AAA", 1): (99.0, 100.0, 80.0)})
    run_once(deps, day(0))
    run_once(replace(deps, subscribers=[seen.append]), day(1))
    (fill,) = [e for e in seen if isinstance(e, OrderFilled)]
    assert (fill.side, fill.quantity, fill.price, fill.tag) == ("SELL", 10, 80.51, "B1 BROKER_STOP")
    assert fill.pnl == pytest.approx((80.51 - 100.0) * 10)
    assert "BROKER_STOP" in fill.title


def test_the_resting_orders_migration_keeps_columns_a_development_build_added(tmp_path):
    store = Store(tmp_path / "dev.db")
    with store.tx() as db:  # as if the migration had run under an earlier name
        db.execute("DELETE FROM migrations WHERE name = 'm007_resting_orders'")
    assert Store(tmp_path / "dev.db").applied_migrations()[-1] == "m007_resting_orders"
    cols = {r[1] for r in store._query("PRAGMA table_info(orders)")}
    assert "replaces" in cols
