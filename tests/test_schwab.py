"""Charles Schwab through schwab-py: token store, broker, bar source and `run-once` through
entry, partial and full exits, partial fills, a lost place reply, a reject and a reconcile
mismatch. HTTP is faked with respx (tests/schwab_fake.py); nothing reaches the network."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import time
from dataclasses import replace

import pytest
import respx

from etrade_cli.errors import ExitStatus, ReconcileError
from etrade_cli.strategy.rajat_alpha.params import StrategyParams
from tests import schwab_fake as S
from tests.fakes import day, fake_market, make_deps

PT = [100.0 * (1 + t) for t in StrategyParams().targets]


@pytest.fixture
def schwab_env(monkeypatch):
    monkeypatch.setenv("SCHWAB_APP_KEY", S.APP_KEY)
    monkeypatch.setenv("SCHWAB_APP_SECRET", S.APP_SECRET)


@pytest.fixture
def fake():
    f = S.FakeSchwab()
    with respx.mock(assert_all_called=False) as router:
        f.install(router)
        yield f


def _client(store=None):
    from etrade_cli.brokers.schwab_auth import SchwabTokenStore, make_client
    from etrade_cli.config import SchwabConfig

    cfg = SchwabConfig(app_key=S.APP_KEY, app_secret=S.APP_SECRET)
    store = store or SchwabTokenStore(S.APP_KEY)
    store.write(S.token())
    return make_client(cfg, store)


def _deps(tmp_path, fake, prices, signals):
    from etrade_cli.brokers.schwab import SchwabBroker

    deps = make_deps(tmp_path, fake_market(prices, signals))
    broker = SchwabBroker(_client(), S.NUMBER, S.HASH, deps.store, sleep=lambda s: None)
    return replace(deps, broker=broker)


def _run(deps, fake, i, prices):
    from etrade_cli.engine import run_once

    for sym, closes in prices.items():
        fake.prices[sym] = closes[i]
    return run_once(deps, day(i))


# --- token store and auth ----------------------------------------------------------------------


def test_token_store_is_atomic_private_per_app_key_and_reports_age(tmp_path):
    from etrade_cli.brokers.schwab_auth import SchwabTokenStore

    folder = tmp_path / "tokens"
    store = SchwabTokenStore(S.APP_KEY, folder)
    other = SchwabTokenStore("another-app-key", folder)
    assert store.path != other.path and S.APP_KEY not in store.path.name
    six_days_ago = time.time() - 6.2 * 86400
    store.write(S.token(created=six_days_ago))
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == [store.path.name]  # no temp file left
    info = store.info()
    assert info is not None and info.status == "expiring"
    assert info.dies_at - info.created_at == dt.timedelta(days=7)
    assert store.info(now=six_days_ago + 7 * 86400).status == "expired"
    assert other.info() is None


def test_refreshed_token_is_written_back_through_our_store(fake, tmp_path):
    from etrade_cli.brokers.schwab_auth import SchwabTokenStore

    store = SchwabTokenStore(S.APP_KEY, tmp_path)
    client = _client(store)
    created = store.info().created_at
    client.session.token["expires_at"] = int(time.time()) - 10  # the access token ran out
    fake_token = {"access_token": "new-acc3ss", "refresh_token": S.REFRESH, "expires_in": 1800}
    fake.router.post("https://api.schwabapi.com/v1/oauth/token").respond(200, json=fake_token)
    assert client.get_account_numbers().status_code == 200
    saved = json.loads(store.path.read_text())
    assert saved["token"]["access_token"] == "new-acc3ss"
    assert store.info().created_at == created  # the refresh token's age is kept
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_auth_status_without_a_token_exits_4_and_says_how_to_log_in(cli, schwab_env):
    r = cli("auth", "status", "--broker", "schwab")
    assert r.exit_code == ExitStatus.AUTH
    assert "run `etrade auth login --broker schwab`" in r.stdout


def test_auth_status_shows_age_and_death_day_and_warns_from_day_6(cli, schwab_env):
    from etrade_cli.brokers.schwab_auth import SchwabTokenStore

    SchwabTokenStore(S.APP_KEY).write(S.token(created=time.time() - 2 * 86400))
    r = cli("auth", "status", "--broker", "schwab", "--json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and doc["status"] == "valid" and 1.9 < doc["age_days"] < 2.1
    SchwabTokenStore(S.APP_KEY).write(S.token(created=time.time() - 6.5 * 86400))
    r = cli("--broker", "schwab", "auth", "status")
    assert r.exit_code == 0 and r.stdout.startswith("expiring") and "log in again" in r.stdout
    r = cli("auth", "check", "--broker", "schwab")  # the pre-open cron check warns from day 6
    assert r.exit_code == ExitStatus.AUTH and "log in again" in r.stdout
    SchwabTokenStore(S.APP_KEY).write(S.token(created=time.time() - 8 * 86400))
    assert cli("auth", "status", "--broker", "schwab").exit_code == ExitStatus.AUTH


# --- broker ------------------------------------------------------------------------------------


def test_accounts_balances_positions_and_quotes(fake, tmp_path):
    from etrade_cli.brokers.schwab import SchwabBroker, list_accounts
    from etrade_cli.store import Store

    client = _client()
    assert [(a.account_id, a.key) for a in list_accounts(client, lambda s: None)] == [
        (S.NUMBER, S.HASH)
    ]
    fake.held, fake.prices = {"ED": (10, 45.0)}, {"ED": 46.0}
    b = SchwabBroker(client, S.NUMBER, S.HASH, Store(tmp_path / "b.db"))
    v = b.account_values()
    assert (v.cash, v.equity) == (20_000.0, 20_460.0)
    assert [(p.symbol, p.quantity, p.avg_price) for p in b.positions()] == [("ED", 10, 45.0)]
    q = b.quotes(["ED", "NOPE"])
    assert list(q) == ["ED"] and q["ED"].last == 46.0 and q["ED"].extra["volume"] == 1e6


def test_order_specs_come_from_schwab_py_builders():
    from etrade_cli.brokers.base import OrderRequest
    from etrade_cli.brokers.schwab_orders import order_spec
    from etrade_cli.errors import InputError

    m = order_spec(OrderRequest("C1", "ED", "BUY", 5))
    assert (m["orderType"], m["duration"], m["session"]) == ("MARKET", "DAY", "NORMAL")
    assert m["orderLegCollection"][0]["instruction"] == "BUY"
    lim = order_spec(OrderRequest("C2", "ED", "SELL", 5, "LIMIT", 50.0, None, "GOOD_UNTIL_CANCEL"))
    assert (lim["orderType"], lim["price"], lim["duration"]) == (
        "LIMIT",
        "50.00",
        "GOOD_TILL_CANCEL",
    )
    stop = order_spec(OrderRequest("C3", "ED", "SELL", 5, "STOP", None, 40.0))
    assert (stop["orderType"], stop["stopPrice"]) == ("STOP", "40.00")
    with pytest.raises(InputError):
        order_spec(OrderRequest("C4", "ED", "BUY", 0))


def test_run_once_entry_partial_exit_and_full_exit(fake, tmp_path):
    prices = {"AAA": [100.0, 100.0, PT[0], PT[1], PT[2]]}
    deps = _deps(tmp_path, fake, prices, {("AAA", 0): 4})
    res = _run(deps, fake, 0, prices)
    assert [(a.symbol, a.quantity, a.status) for a in res.entries] == [("AAA", 10, "filled")]
    (order,) = deps.store.orders()
    assert order.broker_order_id == "1001"  # from the Location header
    sold = []
    for i in (1, 2, 3, 4):
        res = _run(deps, fake, i, prices)
        assert [f.severity for f in res.findings] == []
        sold += [(a.reason, a.quantity, a.status) for a in res.exits]
    assert sold == [("PT1", 3, "filled"), ("PT2", 3, "filled"), ("PT3", 4, "filled")]
    (pos,) = deps.store.positions("schwab", S.NUMBER, ("closed",))
    assert pos.realized_pnl == pytest.approx(3 * (PT[0] - 100) + 3 * (PT[1] - 100) + 4 * 20)
    assert fake.held == {} and fake.posts == 4


def test_partial_fill_then_the_rest_each_recorded_once(fake, tmp_path):
    prices = {"AAA": [100.0, 100.0, 100.0]}
    deps = _deps(tmp_path, fake, prices, {("AAA", 0): 4})
    fake.fill_ratio = 0.4
    res = _run(deps, fake, 0, prices)
    assert [(a.symbol, a.status) for a in res.entries] == [("AAA", "partially_filled")]
    assert deps.store.positions("schwab", S.NUMBER)[0].remaining_qty == 4
    _run(deps, fake, 1, prices)  # still 4 of 10: the same execution is not recorded twice
    assert deps.store._query("SELECT count(*) FROM fills")[0][0] == 1
    fake.fill_rest()
    _run(deps, fake, 2, prices)
    (pos,) = deps.store.positions("schwab", S.NUMBER)
    assert (pos.original_qty, pos.remaining_qty) == (10, 10)
    keys = [r[0] for r in deps.store._query("SELECT fill_key FROM fills ORDER BY id")]
    assert keys == ["schwab:5001:0", "schwab:5002:0"]
    assert deps.store.orders()[0].status == "filled"


def test_lost_place_reply_is_found_by_the_journaled_intent_not_resent(fake, tmp_path):
    prices = {"AAA": [100.0]}
    deps = _deps(tmp_path, fake, prices, {("AAA", 0): 4})
    fake.lose = "accepted"
    res = _run(deps, fake, 0, prices)
    assert fake.posts == 1
    assert [(a.symbol, a.status) for a in res.entries] == [("AAA", "filled")]
    (order,) = deps.store.orders()
    assert (order.broker_order_id, order.filled_qty) == ("1001", 10)


def test_lost_place_reply_without_a_match_stops_with_exit_8_and_never_resends(fake, tmp_path):
    prices = {"AAA": [100.0, 100.0]}
    deps = _deps(tmp_path, fake, prices, {("AAA", 0): 4})
    fake.lose = "refused"
    with pytest.raises(ReconcileError, match="no Schwab order match") as exc:
        _run(deps, fake, 0, prices)
    assert exc.value.exit_code == ExitStatus.RECONCILE
    assert deps.store.orders()[0].status == "unknown"
    with pytest.raises(ReconcileError):  # the next run stops again instead of resending
        _run(deps, fake, 0, prices)
    assert fake.posts == 1


def test_two_matching_orders_are_not_guessed_between(fake, tmp_path):
    from etrade_cli.brokers.base import OrderRequest

    prices = {"AAA": [100.0]}
    deps = _deps(tmp_path, fake, prices, {("AAA", 0): 4})
    fake.prices["AAA"] = 100.0
    deps.broker.place(OrderRequest("MANUAL1", "AAA", "BUY", 9), None)  # the entry will be 9
    fake.lose = "accepted"
    with pytest.raises(ReconcileError, match="2 Schwab orders"):
        _run(deps, fake, 0, prices)


def test_a_refused_order_is_journaled_rejected_and_the_entry_cancelled(fake, tmp_path):
    prices = {"AAA": [100.0]}
    deps = _deps(tmp_path, fake, prices, {("AAA", 0): 4})
    fake.reject = "Insufficient buying power"
    res = _run(deps, fake, 0, prices)
    assert [(a.symbol, a.status) for a in res.entries] == [("AAA", "rejected")]
    (order,) = deps.store.orders()
    assert order.status == "rejected" and "Insufficient buying power" in (order.message or "")
    assert deps.store.positions("schwab", S.NUMBER, ("cancelled",))
    assert fake.posts == 1


def test_reconcile_mismatch_is_reported_and_blocks_the_symbol(fake, tmp_path):
    prices = {"AAA": [100.0, 80.0]}
    deps = _deps(tmp_path, fake, prices, {("AAA", 0): 5})
    _run(deps, fake, 0, prices)
    del fake.held["AAA"]  # sold outside the tool
    res = _run(deps, fake, 1, prices)
    errors = [f.message for f in res.findings if f.severity == "error"]
    assert errors == ["AAA: the book holds 10 shares, the broker 0"]
    assert res.halted == errors[0]  # the CLI turns this into exit 8 (ReconcileError)
    assert res.exits == []  # the stop would sell, but the mismatch blocks it
    assert fake.posts == 1


# --- bar source --------------------------------------------------------------------------------


def test_bar_source_reads_candles_into_session_dates_through_the_cache(fake, tmp_path):
    from etrade_cli.config import SchwabConfig
    from etrade_cli.marketdata.cache import BarCache
    from etrade_cli.marketdata.provider import CachedBarProvider
    from etrade_cli.marketdata.schwab import SchwabBarSource

    source = SchwabBarSource(SchwabConfig(), client=_client(), sleep=lambda s: None)
    cache = BarCache(tmp_path / "bars.db")
    provider = CachedBarProvider(cache, source, 5, dt.date(2024, 1, 4))
    (bars,), missing = provider.get(["ED"])
    assert missing == [] and [str(d) for d in bars.dates] == [
        "2024-01-02",
        "2024-01-03",
        "2024-01-04",
    ]
    assert list(bars.close) == [10.5, 11.5, 12.5] and source.requests == 1
    CachedBarProvider(cache, source, 5, dt.date(2024, 1, 4)).get(["ED"])
    assert source.requests == 1  # a warm cache sends nothing


# --- CLI ---------------------------------------------------------------------------------------


def test_run_once_schwab_needs_live_and_config_but_dry_run_does_not(cli, schwab_env, fake):
    from etrade_cli.brokers.schwab_auth import SchwabTokenStore

    SchwabTokenStore(S.APP_KEY).write(S.token())
    r = cli("run-once", "--broker", "schwab")
    assert r.exit_code == ExitStatus.ORDER_REJECTED
    assert "[schwab] allow_live_orders = true and --live" in r.stderr
    r = cli("run-once", "--broker", "schwab", "--dry-run", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["dry_run"] is True and fake.posts == 0


def test_accounts_quote_and_order_place_through_the_global_broker(cli, schwab_env, fake, hermetic):
    from etrade_cli.brokers.schwab_auth import SchwabTokenStore

    SchwabTokenStore(S.APP_KEY).write(S.token())
    fake.prices = {"ED": 46.0}
    r = cli("--broker", "schwab", "accounts", "list", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["account_id"] == S.NUMBER
    r = cli("--broker", "schwab", "quote", "ED", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["last"] == 46.0
    r = cli("--broker", "schwab", "order", "place", "ED", "-q", "2", "--yes")
    assert r.exit_code == ExitStatus.ORDER_REJECTED and fake.posts == 0
    (hermetic / "config.toml").write_text("[schwab]\nallow_live_orders = true\n")
    r = cli("--broker", "schwab", "order", "place", "ED", "-q", "2", "--yes", "--live", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["orderId"], doc["status"], doc["filled_qty"]) == ("1001", "filled", 2)
    assert S.ACCESS not in r.stdout + r.stderr


def test_login_runs_schwab_py_flow_and_stores_the_token_through_our_store(
    cli, schwab_env, monkeypatch
):
    import schwab

    from etrade_cli.brokers.schwab_auth import SchwabTokenStore

    seen = {}

    def manual_flow(api_key, app_secret, callback_url, token_path, token_write_func=None):
        seen.update(key=api_key, url=callback_url)
        token_write_func(S.token())  # what schwab-py does once it has the token
        return object()

    monkeypatch.setattr(schwab.auth, "client_from_manual_flow", manual_flow)
    r = cli("auth", "login", "--broker", "schwab", "--manual")
    assert r.exit_code == 0, r.stderr
    assert seen == {"key": S.APP_KEY, "url": "https://127.0.0.1:8182"}
    store = SchwabTokenStore(S.APP_KEY)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert "refresh token dies on" in r.stderr and S.REFRESH not in r.stderr + r.stdout
    assert cli("auth", "status", "--broker", "schwab").exit_code == 0


def test_cli_run_once_live_buys_then_mismatch_and_lost_reply_exit_8(
    cli, schwab_env, fake, hermetic
):
    from etrade_cli.brokers.schwab_auth import SchwabTokenStore

    SchwabTokenStore(S.APP_KEY).write(S.token())
    (hermetic / "config.toml").write_text("[schwab]\nallow_live_orders = true\n")
    fake.prices = {"ED": 46.70}
    r = cli("run-once", "--broker", "schwab", "--live", "--json")
    assert r.exit_code == 0, r.stderr
    entries = {e["symbol"]: e["status"] for e in json.loads(r.stdout)["entries"]}
    assert entries["ED"] == "filled"  # (others have no price at the fake: rejected)
    del fake.held["ED"]  # sold outside the tool
    r = cli("run-once", "--broker", "schwab", "--live")
    assert r.exit_code == ExitStatus.RECONCILE and "ED: the book holds" in r.stderr
    assert fake.posts == 1


def test_cli_lost_reply_with_no_matching_order_exits_8(cli, schwab_env, fake, hermetic):
    from etrade_cli.brokers.schwab_auth import SchwabTokenStore

    SchwabTokenStore(S.APP_KEY).write(S.token())
    (hermetic / "config.toml").write_text("[schwab]\nallow_live_orders = true\n")
    fake.prices, fake.lose = {"ED": 46.70}, "refused"
    r = cli("run-once", "--broker", "schwab", "--live")
    assert r.exit_code == ExitStatus.RECONCILE
    assert "no Schwab order match" in r.stderr and "nothing was resent" in r.stderr
    assert fake.posts == 1


def test_a_partly_filled_order_cancelled_at_schwab_keeps_the_filled_shares(fake, tmp_path):
    prices = {"AAA": [100.0, 100.0]}
    deps = _deps(tmp_path, fake, prices, {("AAA", 0): 4})
    fake.fill_ratio = 0.4
    _run(deps, fake, 0, prices)
    (order,) = deps.store.orders()
    assert [o.broker_order_id for o in deps.broker.open_orders()] == [order.broker_order_id]
    deps.broker.cancel(order.broker_order_id)
    _run(deps, fake, 1, prices)
    (order,) = deps.store.orders()
    assert (order.status, order.filled_qty) == ("filled", 4)  # final: 4 of 10, rest cancelled
    (pos,) = deps.store.positions("schwab", S.NUMBER)
    assert (pos.status, pos.remaining_qty) == ("open", 4)
    assert deps.store.live_orders("schwab", S.NUMBER) == []


def test_fills_carry_their_execution_time_and_eastern_session():
    """`executionLegs[].time` becomes the fill's UTC time and session: an execution at
    01:30 UTC on 2010-06-24 is 21:30 ET on the 23rd, so it belongs to that session."""
    from etrade_cli.brokers.schwab_orders import order_state

    leg = {"instrument": {"symbol": "AAPL"}, "instruction": "BUY", "quantity": 10}
    activity = {
        "activityType": "EXECUTION",
        "activityId": 77,
        "executionLegs": [
            {"legId": 1, "quantity": 4, "price": 10.5, "time": "2010-06-24T01:30:00+0000"},
            {"legId": 1, "quantity": 6, "price": 10.6},  # no time: booked at the run's session
        ],
    }
    o = {"orderId": 5, "status": "FILLED", "quantity": 10, "orderLegCollection": [leg],
         "orderActivityCollection": [activity]}  # fmt: skip
    first, second = order_state(o, "c1").fills
    assert (first.executed_at, first.session_date) == ("2010-06-24T01:30:00+00:00", "2010-06-23")
    assert (second.executed_at, second.session_date) == (None, None)


def _stuck(cli, fake, hermetic):
    """A live run-once whose ED entry got no reply and matches no Schwab order: exit 8."""
    from etrade_cli.brokers.schwab_auth import SchwabTokenStore
    from etrade_cli.config import load_config
    from etrade_cli.store import Store

    SchwabTokenStore(S.APP_KEY).write(S.token())
    (hermetic / "config.toml").write_text("[schwab]\nallow_live_orders = true\n")
    fake.prices, fake.lose = {"ED": 46.70}, "refused"
    assert cli("run-once", "--broker", "schwab", "--live").exit_code == ExitStatus.RECONCILE
    book = Store(load_config().db_path)
    (row,) = [o for o in book.orders() if o.symbol == "ED"]
    assert (row.status, row.broker_order_id) == ("unknown", None)
    return book, row


def test_order_resolve_not_placed_unblocks_the_next_run(cli, schwab_env, fake, hermetic):
    book, row = _stuck(cli, fake, hermetic)
    assert cli("run-once", "--broker", "schwab", "--live").exit_code == ExitStatus.RECONCILE
    r = cli("order", "resolve", row.client_order_id, "--not-placed")
    assert r.exit_code == 1 and "pass --yes" in r.stderr  # no terminal: asks for --yes
    r = cli("order", "resolve", row.client_order_id, "--not-placed", "--yes", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert (doc["was"], doc["status"], doc["orderId"]) == ("unknown", "cancelled", None)
    assert book.position(row.position_id).status == "cancelled"  # the pending entry with it
    posts = fake.posts
    r = cli("run-once", "--broker", "schwab", "--live", "--json")
    assert r.exit_code == 0, r.stderr
    assert fake.posts >= posts and "no Schwab order match" not in r.stderr
    r = cli("order", "resolve", row.client_order_id, "--not-placed", "--yes")
    assert r.exit_code == 1 and "only an order whose fate is unknown" in r.stderr


def test_order_resolve_with_the_schwab_order_id_books_its_fill(cli, schwab_env, fake, hermetic):
    from etrade_cli.brokers.base import OrderRequest

    book, row = _stuck(cli, fake, hermetic)
    from etrade_cli.brokers.schwab import SchwabBroker

    broker = SchwabBroker(_client(), S.NUMBER, S.HASH, book, sleep=lambda s: None)
    other = broker.place(OrderRequest("ELSEWHERE", "ED", "BUY", row.quantity), None)
    r = cli("order", "resolve", row.client_order_id, "--order-id", other.broker_order_id, "--yes")
    assert r.exit_code == 0, r.output
    assert f"unknown -> placed as order {other.broker_order_id}" in " ".join(r.stdout.split())
    r = cli("run-once", "--broker", "schwab", "--live", "--json")
    assert r.exit_code == 0, r.stderr
    after = book.order_by_coid(row.client_order_id)
    assert (after.status, after.filled_qty) == ("filled", row.quantity)
    assert book.position(row.position_id).remaining_qty == row.quantity
    r = cli("order", "resolve", "nope", "--order-id", "1", "--yes")
    assert r.exit_code == 1 and "no journal row" in r.stderr
    r = cli("order", "resolve", row.client_order_id, "--yes")
    assert r.exit_code == 1 and "one of them" in r.stderr


def test_importing_schwab_py_prints_no_authlib_deprecation_line():
    """Cron mails anything on stderr: our import of schwab-py must not print authlib's notice."""
    import subprocess
    import sys

    code = (
        "from etrade_cli.brokers.schwab_auth import sdk; sdk()\n"
        "from etrade_cli.brokers.schwab_orders import order_spec\n"
        "from etrade_cli.brokers.base import OrderRequest\n"
        "order_spec(OrderRequest('c1', 'ED', 'BUY', 1))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stderr == ""
