"""Interactive Brokers through ib_async: connection errors, the live guard, broker, bar source and
`run-once` through entry, partial and full exits, partial fills, a lost reply over a dropped
connection (found by orderRef, not resent), a reject and a reconcile mismatch. An injected
`FakeIB` (tests/ibkr_fake.py) plays the gateway; nothing is contacted."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from dataclasses import replace

import pytest

from etrade_cli.config import Config, IbkrConfig
from etrade_cli.errors import ConfigError, ExitStatus
from etrade_cli.strategy.rajat_alpha.params import StrategyParams
from tests.fakes import day, fake_market, make_deps
from tests.ibkr_fake import ACCOUNT, FakeIB

PT = [100.0 * (1 + t) for t in StrategyParams().targets]


@pytest.fixture(autouse=True)
def no_shared_connection():
    import etrade_cli.brokers.ibkr as mod

    mod._OPEN.clear()
    yield
    mod._OPEN.clear()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


def _deps(tmp_path, ib, prices, signals):
    from etrade_cli.brokers.ibkr import open_broker

    deps = make_deps(tmp_path, fake_market(prices, signals))
    return replace(deps, broker=open_broker(Config(), ib))


def _run(deps, ib, i, prices):
    from etrade_cli.engine import run_once

    for sym, closes in prices.items():
        ib.prices[sym] = closes[i]
    return run_once(deps, day(i))


# --- connection and live guard -----------------------------------------------------------------


def test_accounts_list_with_nothing_listening_exits_5_fast_with_one_line(cli, hermetic):
    port = _closed_port()
    (hermetic / "config.toml").write_text(f"[ibkr]\nport = {port}\n")
    start = time.monotonic()
    r = cli("--broker", "ibkr", "accounts", "list")
    assert time.monotonic() - start < 10
    assert r.exit_code == ExitStatus.API
    assert r.stderr.strip().splitlines() == [
        f"error: cannot reach IB Gateway at 127.0.0.1:{port}: is it running and logged in?"
    ]


def test_paper_and_live_follow_the_port_and_the_account():
    from etrade_cli.brokers.ibkr import is_live

    assert not is_live(Config())  # 4002, the paper gateway
    assert is_live(Config(ibkr=IbkrConfig(port=4001)))
    assert is_live(Config(ibkr=IbkrConfig(port=7497, account="U7654321")))
    assert not is_live(Config(ibkr=IbkrConfig(port=4001, account="DU7654321")))


def test_a_live_account_behind_a_paper_config_is_refused_at_connect():
    from etrade_cli.brokers.ibkr import open_broker

    with pytest.raises(ConfigError, match='set \\[ibkr\\] account = "U7654321"'):
        open_broker(Config(), FakeIB(account="U7654321"))


def test_live_orders_need_config_and_flag(cli, hermetic):
    (hermetic / "config.toml").write_text('[ibkr]\naccount = "U7654321"\n')
    r = cli("run-once", "--broker", "ibkr")
    assert r.exit_code == ExitStatus.ORDER_REJECTED
    assert "[ibkr] allow_live_orders = true and --live" in r.stderr


# --- broker ------------------------------------------------------------------------------------


def test_accounts_summary_positions_and_snapshot_quotes():
    from etrade_cli.brokers.ibkr import open_broker

    ib = FakeIB()
    ib.prices, ib.held = {"ED": 46.0}, {"ED": (10, 45.0)}
    b = open_broker(Config(), ib)
    assert b.account == ACCOUNT and [a.paper for a in b.accounts()] == [True]
    v = b.account_values()
    assert (v.cash, v.equity, v.buying_power) == (20_000.0, 20_460.0, 80_000.0)
    assert [(p.symbol, p.quantity, p.avg_price) for p in b.positions()] == [("ED", 10, 45.0)]
    q = b.quotes(["ED", "NOPE"])
    assert list(q) == ["ED"] and q["ED"].last == 46.0 and q["ED"].extra["volume"] == 5e5


def test_orders_carry_the_client_order_id_in_order_ref():
    from etrade_cli.brokers.base import OrderRequest
    from etrade_cli.brokers.ibkr_orders import ib_order as _order

    m = _order(OrderRequest("COID1", "ED", "BUY", 5), ACCOUNT)
    assert (type(m).__name__, m.orderRef, m.tif, m.account) == (
        "MarketOrder",
        "COID1",
        "DAY",
        ACCOUNT,
    )
    lim = _order(OrderRequest("C2", "ED", "SELL", 5, "LIMIT", 50.0, None, "GOOD_UNTIL_CANCEL"))
    assert (type(lim).__name__, lim.lmtPrice, lim.tif) == ("LimitOrder", 50.0, "GTC")
    stp = _order(OrderRequest("C3", "ED", "SELL", 5, "STOP", None, 40.0))
    assert (type(stp).__name__, stp.auxPrice) == ("StopOrder", 40.0)


def test_run_once_entry_partial_exit_and_full_exit(tmp_path):
    ib = FakeIB()
    prices = {"AAA": [100.0, 100.0, PT[0], PT[1], PT[2]]}
    deps = _deps(tmp_path, ib, prices, {("AAA", 0): 4})
    res = _run(deps, ib, 0, prices)
    assert [(a.symbol, a.quantity, a.status) for a in res.entries] == [("AAA", 10, "filled")]
    assert ib.server[0].order.orderRef == res.entries[0].client_order_id
    assert deps.store.orders()[0].broker_order_id == "900001"  # IB's permId
    sold = []
    for i in (1, 2, 3, 4):
        res = _run(deps, ib, i, prices)
        assert [f.severity for f in res.findings] == []
        sold += [(a.reason, a.quantity, a.status) for a in res.exits]
    assert sold == [("PT1", 3, "filled"), ("PT2", 3, "filled"), ("PT3", 4, "filled")]
    (pos,) = deps.store.positions("ibkr", ACCOUNT, ("closed",))
    pnl = 3 * (PT[0] - 100) + 3 * (PT[1] - 100) + 4 * 20 - 4 * 1.0  # 1 USD per execution
    assert pos.realized_pnl == pytest.approx(pnl)
    assert ib.held == {} and ib.placed == 4


def test_partial_fill_then_the_rest_each_execution_recorded_once(tmp_path):
    ib = FakeIB()
    prices = {"AAA": [100.0, 100.0, 100.0]}
    deps = _deps(tmp_path, ib, prices, {("AAA", 0): 4})
    ib.fill_ratio = 0.4
    res = _run(deps, ib, 0, prices)
    assert [(a.symbol, a.status) for a in res.entries] == [("AAA", "partially_filled")]
    _run(deps, ib, 1, prices)
    assert deps.store._query("SELECT count(*) FROM fills")[0][0] == 1
    ib.fill_rest()
    _run(deps, ib, 2, prices)
    (pos,) = deps.store.positions("ibkr", ACCOUNT)
    assert (pos.original_qty, pos.remaining_qty) == (10, 10)
    keys = [r[0] for r in deps.store._query("SELECT fill_key FROM fills ORDER BY id")]
    assert keys == ["ibkr:0000e0d5.00000001.01.01", "ibkr:0000e0d5.00000002.01.01"]
    assert deps.store.orders()[0].status == "filled"


def test_disconnect_between_place_and_reply_is_found_by_order_ref_not_resent(tmp_path):
    ib = FakeIB()
    prices = {"AAA": [100.0]}
    deps = _deps(tmp_path, ib, prices, {("AAA", 0): 4})
    ib.drop_on_place = True
    res = _run(deps, ib, 0, prices)
    assert ib.placed == 1 and ib.connects == 1  # reconnected once, looked up, nothing resent
    assert [(a.symbol, a.status) for a in res.entries] == [("AAA", "filled")]
    (order,) = deps.store.orders()
    assert (order.broker_order_id, order.filled_qty) == ("900001", 10)
    assert deps.store._query("SELECT count(*) FROM fills")[0][0] == 1


def test_an_order_only_in_the_executions_is_still_found(tmp_path):
    from etrade_cli.brokers.base import OrderRequest
    from etrade_cli.brokers.ibkr import IbkrBroker

    ib = FakeIB()
    ib.prices = {"AAA": 100.0}
    b = IbkrBroker(ib, ACCOUNT, IbkrConfig())
    b.place(OrderRequest("COIDX", "AAA", "BUY", 7), None)
    ib.server, ib.session = [], []  # aged out of the order lists
    st = b.order_status("COIDX")
    assert st is not None and (st.status, st.filled_qty, st.fills[0].key) == (
        "EXECUTED",
        7,
        "ibkr:0000e0d5.00000001.01.01",
    )
    assert b.order_status("NEVERSENT") is None


def test_a_refused_order_is_journaled_rejected(tmp_path):
    ib = FakeIB()
    prices = {"AAA": [100.0]}
    deps = _deps(tmp_path, ib, prices, {("AAA", 0): 4})
    ib.reject = "Order rejected - reason: insufficient margin"
    res = _run(deps, ib, 0, prices)
    assert [(a.symbol, a.status) for a in res.entries] == [("AAA", "rejected")]
    (order,) = deps.store.orders()
    assert order.status == "rejected" and "insufficient margin" in (order.message or "")
    assert deps.store.positions("ibkr", ACCOUNT, ("cancelled",))


def test_reconcile_mismatch_is_reported_and_blocks_the_symbol(tmp_path):
    ib = FakeIB()
    prices = {"AAA": [100.0, 80.0]}
    deps = _deps(tmp_path, ib, prices, {("AAA", 0): 5})
    _run(deps, ib, 0, prices)
    del ib.held["AAA"]
    res = _run(deps, ib, 1, prices)
    errors = [f.message for f in res.findings if f.severity == "error"]
    assert errors == ["AAA: the book holds 10 shares, the broker 0"]
    assert res.halted == errors[0]  # the CLI turns this into exit 8 (ReconcileError)
    assert res.exits == [] and ib.placed == 1


def test_cancel_by_perm_id_and_open_orders():
    from etrade_cli.brokers.base import OrderRequest
    from etrade_cli.brokers.ibkr import IbkrBroker

    ib = FakeIB()
    ib.prices, ib.fill_ratio = {"AAA": 100.0}, 0.0
    b = IbkrBroker(ib, ACCOUNT, IbkrConfig())
    st = b.place(OrderRequest("COIDC", "AAA", "BUY", 3, "LIMIT", 90.0), None)
    assert [o.broker_order_id for o in b.open_orders()] == [st.broker_order_id]
    b.cancel(st.broker_order_id)
    assert b.open_orders() == []


# --- bar source --------------------------------------------------------------------------------


def test_bar_source_requests_adjusted_daily_bars_through_the_cache(tmp_path):
    from etrade_cli.marketdata.cache import BarCache
    from etrade_cli.marketdata.ibkr import IbkrBarSource, duration
    from etrade_cli.marketdata.provider import CachedBarProvider

    ib = FakeIB()
    source = IbkrBarSource(IbkrConfig(), ib, today=dt.date(2024, 1, 5))
    cache = BarCache(tmp_path / "bars.db")
    (bars,), missing = CachedBarProvider(cache, source, 5, dt.date(2024, 1, 4)).get(["ED"])
    assert [str(d) for d in bars.dates] == ["2024-01-02", "2024-01-03", "2024-01-04"]
    assert list(bars.close) == [10.5, 11.5, 12.5] and ib.last_duration == "7 D"
    CachedBarProvider(cache, source, 5, dt.date(2024, 1, 4)).get(["ED"])
    assert source.requests == 1
    assert duration(dt.date(2023, 1, 1), dt.date(2024, 6, 1)) == "2 Y"


def test_plugins_lists_both_brokers_and_bar_sources(cli):
    r = cli("plugins", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    for kind in ("brokers", "bar_sources"):
        assert {"schwab", "ibkr"} <= {p["name"] for p in doc[kind]}
    assert {p["name"]: p["can_trade_live"] for p in doc["brokers"]}["schwab"] is True


def test_cli_run_once_buys_then_a_reconcile_mismatch_exits_8(cli, monkeypatch):
    import etrade_cli.brokers.ibkr as mod

    ib = FakeIB()
    ib.prices = {"ED": 46.70}
    monkeypatch.setattr(mod, "connect", lambda cfg, conn=None: ib)
    r = cli("run-once", "--broker", "ibkr", "--json")  # the sample's last session: ED is a B1
    assert r.exit_code == 0, r.stderr
    entries = {e["symbol"]: e["status"] for e in json.loads(r.stdout)["entries"]}
    assert entries["ED"] == "filled"  # (others have no price at the fake: rejected)
    assert ib.server[0].order.orderRef and ib.held["ED"][0] > 0
    del ib.held["ED"]  # sold outside the tool
    r = cli("--broker", "ibkr", "run-once")
    assert r.exit_code == ExitStatus.RECONCILE
    assert "ED: the book holds" in r.stderr and ib.placed == 1


def test_a_partly_filled_order_cancelled_at_ib_keeps_the_filled_shares(tmp_path):
    ib = FakeIB()
    prices = {"AAA": [100.0, 100.0]}
    deps = _deps(tmp_path, ib, prices, {("AAA", 0): 4})
    ib.fill_ratio = 0.4
    _run(deps, ib, 0, prices)
    (order,) = deps.store.orders()
    deps.broker.cancel(order.broker_order_id)
    _run(deps, ib, 1, prices)
    (order,) = deps.store.orders()
    assert (order.status, order.filled_qty) == ("filled", 4)
    (pos,) = deps.store.positions("ibkr", ACCOUNT)
    assert (pos.status, pos.remaining_qty) == ("open", 4)


def test_one_connection_per_gateway_and_client_id_is_reused(monkeypatch):
    import types

    import etrade_cli.brokers.ibkr as mod

    made: list[FakeIB] = []

    def new_ib():
        ib = FakeIB()
        ib.connected = False
        made.append(ib)
        return ib

    monkeypatch.setattr(mod, "sdk", lambda: types.SimpleNamespace(IB=new_ib))
    cfg = IbkrConfig()
    first = mod.connect(cfg)
    assert mod.connect(cfg) is first and len(made) == 1 and first.connects == 1
    first.disconnect()  # the gateway restarted: the same object reconnects
    assert mod.connect(cfg) is first and first.connects == 2
    assert mod.connect(IbkrConfig(client_id=99)) is not first


def test_fills_carry_their_execution_time_and_eastern_session():
    """`Execution.time` becomes the fill's UTC time and US/Eastern session (01:30 UTC on the
    24th is 21:30 ET on the 23rd); one fill per execId even when reported twice."""
    import ib_async as ia

    from etrade_cli.brokers.ibkr_orders import ib_fills

    when = dt.datetime(2010, 6, 24, 1, 30, tzinfo=dt.timezone.utc)
    e = ia.Execution(execId="e1", time=when, shares=5.0, price=20.25)
    fills = [ia.Fill(ia.Stock("AAA"), e, ia.CommissionReport("e1", 1.0, "USD"), when)] * 2
    (f,) = ib_fills(fills)
    assert (f.key, f.quantity, f.price, f.commission) == ("ibkr:e1", 5, 20.25, 1.0)
    assert (f.executed_at, f.session_date) == ("2010-06-24T01:30:00+00:00", "2010-06-23")
