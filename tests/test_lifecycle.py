"""The order lifecycle under faults, with the E*TRADE broker over a stateful fake E*TRADE
(`tests.etrade_fake`, payloads as in `etrade_api.md`): crashes recovered in the next session
book fills at their execution's session, fill keys are per account and execution, a place
answered with a 5xx or a rate-limit page is looked up and re-sent or reported."""

from __future__ import annotations

from dataclasses import replace

import pytest
import responses

from etrade_cli.brokers.etrade import EtradeBroker
from etrade_cli.config import EtradeConfig, RiskConfig
from etrade_cli.engine import FAULT_POINTS, Deps, SimulatedCrash, run_once, session_count
from etrade_cli.etrade.auth import FileTokenStore
from etrade_cli.etrade.client import EtradeClient
from etrade_cli.store import Store
from etrade_cli.strategy.rajat_alpha import RajatAlpha
from etrade_cli.strategy.rajat_alpha.params import StrategyParams
from tests import etrade_payloads as P
from tests.conftest import CONSUMER_KEY, CONSUMER_SECRET
from tests.etrade_fake import FakeEtrade
from tests.fakes import day, fake_market
from tests.test_recovery import crash_at


def etrade_deps(tmp_path, market, faults=None, slept=None, params=None) -> Deps:
    """The engine over the E*TRADE broker in a fresh process (new client, store, broker)."""
    cfg = EtradeConfig(consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET)
    client = EtradeClient(cfg, FileTokenStore("sandbox", CONSUMER_KEY), sleep=lambda _s: None)
    store = Store(tmp_path / "book.db")
    return Deps(
        RajatAlpha(params or StrategyParams()),
        RiskConfig(),
        store,
        EtradeBroker(client, P.KEY, store),
        market,
        tmp_path / "book.db.lock",
        faults=faults or (lambda _p: None),
        sleep=(slept if slept is not None else []).append,
    )


def fills(store: Store) -> list[tuple]:
    return [
        tuple(r)
        for r in store._query(
            "SELECT o.symbol, o.side, f.quantity, f.session_date FROM fills f "
            "JOIN orders o ON o.id = f.order_id ORDER BY f.id"
        )
    ]


@pytest.fixture
def rs(etrade_login):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# -- 1. fills recovered in a later session are booked at their execution's session -----------


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_entry_crash_recovered_in_the_next_session_is_booked_at_its_execution(tmp_path, rs, point):
    market = fake_market({"AAA": [100.0, 101.0, 102.0]}, {("AAA", 0): 5})
    fake = FakeEtrade(rs, {"AAA": 100.0}, cash=20_000.0)
    fake.session = str(day(0))
    with pytest.raises(SimulatedCrash):
        run_once(etrade_deps(tmp_path, market, crash_at(point)), day(0))
    fake.session, fake.prices["AAA"] = str(day(1)), 101.0
    again = etrade_deps(tmp_path, market)
    res = run_once(again, day(1))
    if point in ("after_intent", "after_preview"):  # never reached the broker: stale, dropped
        assert fake.placed() == [] and fills(again.store) == []
        assert any(f.severity == "warning" and "dropped" in f.message for f in res.findings)
        return
    assert len(fake.placed()) == 1, res.findings
    assert fills(again.store) == [("AAA", "BUY", 10, str(day(0)))]
    (pos,) = again.store.positions("etrade", P.KEY)
    assert pos.entry_date == str(day(0)) and pos.entry_price == 100.0
    assert session_count(market, pos, day(1)) == 1
    assert res.unconfirmed == []


def test_time_exit_and_realized_pnl_land_on_the_right_sessions_after_a_late_recovery(tmp_path, rs):
    closes = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
    market = fake_market({"AAA": closes}, {("AAA", 0): 5})
    params = replace(StrategyParams(), tes_days_b1=2, tes_days_b2=2)
    fake = FakeEtrade(rs, {"AAA": 100.0}, cash=20_000.0)
    fake.session = str(day(0))
    with pytest.raises(SimulatedCrash):
        run_once(etrade_deps(tmp_path, market, crash_at("after_place"), params=params), day(0))
    for i in (1, 2):
        fake.session, fake.prices["AAA"] = str(day(i)), closes[i]
        run_once(etrade_deps(tmp_path, market, params=params), day(i))
    store = Store(tmp_path / "book.db")
    (pos,) = store.positions("etrade", P.KEY, ("closed",))
    assert (pos.entry_date, pos.exit_date, pos.exit_reason) == (str(day(0)), str(day(2)), "TES")
    exits = store._query("SELECT session_date, realized_pnl FROM partial_exits")
    assert [tuple(e) for e in exits] == [(str(day(2)), pytest.approx(20.0))]


# -- 2. fill keys are per broker account and execution; a refused fill is an error ---------


def test_a_sell_whose_order_id_repeats_an_earlier_buy_is_booked(tmp_path, rs):
    market = fake_market({"AAA": [100.0, 80.0]}, {("AAA", 0): 5})
    fake = FakeEtrade(rs, {"AAA": 100.0}, cash=20_000.0)
    fake.reuse_order_id = 1106  # the sandbox answers canned orderIds; ids are per account
    fake.session = str(day(0))
    run_once(etrade_deps(tmp_path, market), day(0))
    fake.session, fake.prices["AAA"] = str(day(1)), 80.0
    deps = etrade_deps(tmp_path, market)
    res = run_once(deps, day(1))
    assert [(a.side, a.status) for a in res.exits] == [("SELL", "filled")]
    assert fills(deps.store) == [("AAA", "BUY", 10, str(day(0))), ("AAA", "SELL", 10, str(day(1)))]
    assert deps.store.positions("etrade", P.KEY) == [] and fake.holdings() == {}
    (pos,) = deps.store.positions("etrade", P.KEY, ("closed",))
    assert pos.exit_reason == "SL" and pos.realized_pnl == pytest.approx(-200.0)


def _journal(store: Store, account: str, symbol: str, side: str = "BUY"):
    with store.tx() as db:
        return store.new_order(
            db,
            broker="etrade",
            account=account,
            symbol=symbol,
            side=side,
            quantity=5,
            purpose="MANUAL",
            session_date="2010-06-23",
        )


def test_equal_order_ids_in_two_accounts_are_two_fills_and_a_clash_in_one_is_an_error(tmp_path):
    from etrade_cli.brokers.base import EXECUTED, OrderState
    from etrade_cli.engine import apply_state
    from etrade_cli.errors import ReconcileError

    store = Store(tmp_path / "book.db")
    deps = Deps(RajatAlpha(StrategyParams()), RiskConfig(), store, None, None)  # type: ignore
    state = OrderState("x", "1106", "S", "BUY", 5, EXECUTED, 5, 10.0)
    a = _journal(store, "ACCT-A", "S")
    b = _journal(store, "ACCT-B", "S")
    assert len(apply_state(deps, a, replace(state, client_order_id=a.client_order_id), "d")) == 1
    assert len(apply_state(deps, b, replace(state, client_order_id=b.client_order_id), "d")) == 1
    assert len(apply_state(deps, store.order_by_id(a.id), state, "d")) == 0  # seen again: no-op
    clash = _journal(store, "ACCT-A", "S", side="SELL")
    with pytest.raises(ReconcileError, match="already booked for journal order"):
        apply_state(deps, clash, replace(state, side="SELL"), "d")
    assert store.order_by_id(clash.id).status == "intent"  # nothing of it was written
    assert store._query("SELECT count(*) FROM fills")[0][0] == 2


def test_a_book_written_before_the_fill_key_migration_is_migrated(tmp_path):
    from etrade_cli import db as dbutil
    from etrade_cli.store import MIGRATIONS

    path = tmp_path / "old.db"
    con = dbutil.connect(path)
    dbutil.migrate(con, MIGRATIONS[:5])  # the book as written before this change
    with dbutil.transaction(con):
        con.execute(
            "INSERT INTO orders (client_order_id, broker, account, symbol, side, quantity, "
            "purpose, session_date, status, created_at, updated_at) VALUES "
            "('T1', 'etrade', 'ACCT-A', 'S', 'BUY', 5, 'MANUAL', '2010-06-23', 'filled', 'x', 'x')"
        )
        con.execute(
            "INSERT INTO fills (order_id, fill_key, quantity, price, session_date, filled_at) "
            "VALUES (1, '1106:5', 5, 10.0, '2010-06-23', 'x')"
        )
        con.execute(  # a reward outbox row refers to the fill: the rebuild must keep it valid
            "INSERT INTO rewards (idempotency_key, broker, account, proposal_id, kind, fill_id,"
            " body, status, created_at) VALUES ('k1', 'etrade', 'ACCT-A', 'p1', 'fill', 1, '{}',"
            " 'pending', 'x')"
        )
    con.close()
    store = Store(path)
    assert "m006_fill_keys_per_account" in store.applied_migrations()
    row = store._query("SELECT broker, account, fill_key, order_id FROM fills")[0]
    assert tuple(row) == ("etrade", "ACCT-A", "1106:5", 1)
    assert store._query("SELECT fill_id FROM rewards")[0][0] == 1
    assert store._query("PRAGMA foreign_key_check") == []
    other = _journal(store, "ACCT-B", "S")
    with store.tx() as db:
        store.add_fill(db, other, "1106:5", 5, 10.0, 0.0, "2010-06-23", "x")  # other account
    assert store._query("SELECT count(*) FROM fills")[0][0] == 2


# -- 3. a place answered with a temporary error: looked up, re-sent, or reported -----------


@pytest.mark.parametrize("fault", ["500", "503", "429", "ratelimit"])
def test_a_place_answered_with_a_temporary_error_is_looked_up_then_resent(tmp_path, rs, fault):
    market = fake_market({"AAA": [100.0]}, {("AAA", 0): 5})
    fake = FakeEtrade(rs, {"AAA": 100.0}, cash=20_000.0)
    fake.place_faults = [fault]
    slept: list[float] = []
    deps = etrade_deps(tmp_path, market, slept=slept)
    res = run_once(deps, day(0))
    assert [(a.symbol, a.status) for a in res.entries] == [("AAA", "filled")]
    assert res.unconfirmed == []
    (order,) = deps.store.orders()
    places = [c for c in fake.calls if c[0] == "place"]
    previews = [c for c in fake.calls if c[0] == "preview"]
    assert places == [("place", order.client_order_id)] * 2  # the same clientOrderId
    assert len(previews) == 2 and len(fake.placed()) == 1
    assert fake.placed()[0]["preview_id"] == int(order.preview_id)  # the new preview
    assert ("list", "") in fake.calls[fake.calls.index(places[0]) :]  # looked up first
    assert slept and slept[0] >= 1.0  # waited before re-sending (Retry-After: 1 on the 429)


def test_a_place_that_keeps_failing_is_reported_and_sent_by_the_next_run(tmp_path, rs):
    market = fake_market({"AAA": [100.0]}, {("AAA", 0): 5})
    fake = FakeEtrade(rs, {"AAA": 100.0}, cash=20_000.0)
    fake.place_faults = ["503", "ratelimit", "500"]
    deps = etrade_deps(tmp_path, market)
    res = run_once(deps, day(0))
    assert fake.placed() == [] and len([c for c in fake.calls if c[0] == "place"]) == 3
    (u,) = res.unconfirmed
    assert u["symbol"] == "AAA" and u["status"] == "previewed"
    assert "not placed" in u["message"] and "does not have the order" in u["message"]
    assert "Tomcat" not in u["message"]
    res2 = run_once(etrade_deps(tmp_path, market), day(0))  # cron again, same session
    assert any("resuming order" in f.message for f in res2.findings)
    assert res2.unconfirmed == [] and len(fake.placed()) == 1
    assert fills(deps.store) == [("AAA", "BUY", 10, str(day(0)))]


def test_no_reply_and_not_found_is_never_resent_in_the_run_but_reported(tmp_path, rs):
    market = fake_market({"AAA": [100.0]}, {("AAA", 0): 5})
    fake = FakeEtrade(rs, {"AAA": 100.0}, cash=20_000.0)
    fake.place_faults = ["drop"]
    deps = etrade_deps(tmp_path, market)
    res = run_once(deps, day(0))
    assert len([c for c in fake.calls if c[0] == "place"]) == 1
    (u,) = res.unconfirmed
    assert u["status"] == "unknown" and "looks it up again" in u["message"]


def test_a_lost_reply_after_the_order_was_taken_is_found_not_resent(tmp_path, rs):
    market = fake_market({"AAA": [100.0]}, {("AAA", 0): 5})
    fake = FakeEtrade(rs, {"AAA": 100.0}, cash=20_000.0)
    fake.place_faults = ["timeout"]
    deps = etrade_deps(tmp_path, market)
    res = run_once(deps, day(0))
    assert [(a.symbol, a.status) for a in res.entries] == [("AAA", "filled")]
    assert len([c for c in fake.calls if c[0] == "place"]) == 1 and len(fake.placed()) == 1
    assert res.unconfirmed == [] and fills(deps.store) == [("AAA", "BUY", 10, str(day(0)))]


class PreviewsBreakAfterAPlace(FakeEtrade):
    def _place(self, request):
        self.preview_faults = ["500"] * 4  # the client tries a preview 4 times
        return super()._place(request)


def test_a_resend_whose_new_preview_fails_is_reported_not_crashed(tmp_path, rs):
    market = fake_market({"AAA": [100.0]}, {("AAA", 0): 5})
    fake = PreviewsBreakAfterAPlace(rs, {"AAA": 100.0}, cash=20_000.0)
    fake.place_faults = ["503"]
    res = run_once(etrade_deps(tmp_path, market), day(0))
    (u,) = res.unconfirmed
    assert u["status"] == "previewed" and "the new preview failed" in u["message"]
    assert fake.placed() == []
