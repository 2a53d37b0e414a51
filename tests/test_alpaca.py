"""Alpaca bars through the cache, errors and backoff, the Alpaca broker, and `etrade data`."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import requests
import responses

from etrade_cli.brokers.base import OrderRequest, Quote
from etrade_cli.config import AlpacaConfig
from etrade_cli.errors import (
    AuthError,
    ConfigError,
    ExitStatus,
    OrderRejectedError,
    TemporaryApiError,
)
from etrade_cli.marketdata.alpaca import AlpacaBarSource
from etrade_cli.marketdata.cache import BarCache
from etrade_cli.marketdata.live import with_forming_bar
from etrade_cli.marketdata.provider import CachedBarProvider
from etrade_cli.strategy.panel import Bars
from tests import alpaca_payloads as A

KEYS = dict(api_key="PKTESTKEY123456", secret_key="alpacaS3cretValue987")
END = dt.date(2024, 3, 28)


@pytest.fixture
def sleeps():
    return []


def source(sleeps):
    return AlpacaBarSource(AlpacaConfig(**KEYS), sleep=sleeps.append)


def provider(tmp_path, sleeps, end=END, days=60):
    return CachedBarProvider(BarCache(tmp_path / "bars.db"), source(sleeps), days, end)


def series(start, end, base=100.0):
    return [A.bar(d, base + i) for i, d in enumerate(A.weekdays(start, end))]


@responses.activate
def test_bars_are_fetched_adjusted_batched_and_paged(tmp_path, sleeps):
    start = END - dt.timedelta(days=60)
    aapl, msft = series(start, END), series(start, END, 300.0)
    responses.get(
        f"{A.DATA}/stocks/bars",
        json=A.bars_page({"AAPL": aapl[:20], "MSFT": msft}, next_token="QUFQTHxNfDIwMjQ="),
    )
    responses.get(f"{A.DATA}/stocks/bars", json=A.bars_page({"AAPL": aapl[20:]}))
    p = provider(tmp_path, sleeps)
    bars, missing = p.get(["AAPL", "MSFT", "NOPE"])
    assert [b.symbol for b in bars] == ["AAPL", "MSFT"] and missing == ["NOPE"]
    assert len(bars[0]) == len(aapl) and bars[0].close[-1] == aapl[-1]["c"]
    assert str(bars[0].dates[0]) == aapl[0]["t"][:10]
    q = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert q["symbols"] == ["AAPL,MSFT,NOPE"] and q["adjustment"] == ["all"]
    assert q["feed"] == ["iex"] and q["timeframe"] == ["1Day"]
    assert "page_token" in parse_qs(urlsplit(responses.calls[1].request.url).query)
    assert p.requests == 1 and len(responses.calls) == 2  # one request, two pages
    assert responses.calls[0].request.headers["APCA-API-KEY-ID"] == KEYS["api_key"]


@responses.activate
def test_a_warm_cache_sends_no_request_and_new_days_fetch_only_the_gap(tmp_path, sleeps):
    start = END - dt.timedelta(days=60)
    responses.get(f"{A.DATA}/stocks/bars", json=A.bars_page({"AAPL": series(start, END)}))
    provider(tmp_path, sleeps).get(["AAPL"])
    assert len(responses.calls) == 1
    again = provider(tmp_path, sleeps)
    bars, _ = again.get(["AAPL"])
    assert len(responses.calls) == 1 and again.requests == 0 and len(bars[0]) > 40
    later = END + dt.timedelta(days=4)
    responses.get(
        f"{A.DATA}/stocks/bars",
        json=A.bars_page(
            {"AAPL": [A.bar(d, 200.0) for d in A.weekdays(END + dt.timedelta(days=1), later)]}
        ),
    )
    bars, _ = provider(tmp_path, sleeps, end=later).get(["AAPL"])
    q = parse_qs(urlsplit(responses.calls[1].request.url).query)
    assert q["start"][0].startswith((END + dt.timedelta(days=1)).isoformat())
    assert q["end"][0].startswith(later.isoformat())
    assert bars[0].close[-1] == 200.0


@responses.activate
def test_symbols_missing_the_same_days_share_one_request(tmp_path, sleeps):
    start = END - dt.timedelta(days=60)
    responses.get(f"{A.DATA}/stocks/bars", json=A.bars_page({"AAPL": series(start, END)}))
    provider(tmp_path, sleeps).get(["AAPL"])
    responses.get(
        f"{A.DATA}/stocks/bars",
        json=A.bars_page({"MSFT": series(start, END), "IBM": series(start, END)}),
    )
    provider(tmp_path, sleeps).get(["AAPL", "MSFT", "IBM"])
    assert len(responses.calls) == 2
    q = parse_qs(urlsplit(responses.calls[1].request.url).query)
    assert q["symbols"] == ["MSFT,IBM"]


def test_missing_keys_and_missing_extra_say_what_to_do(monkeypatch, sleeps):
    with pytest.raises(AuthError, match="ALPACA_API_KEY and ALPACA_SECRET_KEY"):
        AlpacaBarSource(AlpacaConfig(), sleep=sleeps.append)
    import sys

    monkeypatch.setitem(sys.modules, "alpaca.data", None)
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[alpaca\]"'):
        AlpacaBarSource(AlpacaConfig(**KEYS), sleep=sleeps.append)


@responses.activate
def test_429_is_retried_with_backoff_honouring_retry_after(tmp_path, sleeps):
    start = END - dt.timedelta(days=60)
    responses.get(
        f"{A.DATA}/stocks/bars",
        status=429,
        headers={"Retry-After": "5"},
        json={"message": "too many requests."},
    )
    responses.get(f"{A.DATA}/stocks/bars", status=503, body="unavailable")
    responses.get(f"{A.DATA}/stocks/bars", json=A.bars_page({"AAPL": series(start, END)}))
    bars, _ = provider(tmp_path, sleeps).get(["AAPL"])
    assert len(bars) == 1 and len(responses.calls) == 3
    assert sleeps[0] >= 5.0 and 2.0 <= sleeps[1] <= 2.5


@responses.activate
def test_persistent_errors_give_up_and_auth_errors_do_not_retry(tmp_path, sleeps):
    for _ in range(4):
        responses.get(f"{A.DATA}/stocks/bars", status=500, body="boom")
    with pytest.raises(TemporaryApiError):
        provider(tmp_path, sleeps).get(["AAPL"])
    assert len(responses.calls) == 4
    responses.reset()
    responses.get(f"{A.DATA}/stocks/bars", status=403, json={"message": "forbidden."})
    with pytest.raises(AuthError, match="refused the API keys"):
        provider(tmp_path, sleeps).get(["AAPL"])
    assert len(responses.calls) == 1


@responses.activate
def test_connection_errors_are_temporary(tmp_path, sleeps):
    responses.get(f"{A.DATA}/stocks/bars", body=requests.ConnectionError("reset"))
    responses.get(f"{A.DATA}/stocks/bars", json=A.bars_page({"AAPL": []}))
    provider(tmp_path, sleeps).get(["AAPL"])
    assert len(sleeps) == 1


def test_forming_bar_from_a_quote_over_history():
    days = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]")
    b = Bars(
        "X",
        days,
        np.array([1.0, 2]),
        np.array([2.0, 3]),
        np.array([0.5, 1.5]),
        np.array([1.5, 2.5]),
        np.array([10.0, 20]),
    )
    q = Quote("X", 3.0, None, {"open": 2.6, "high": 3.2, "low": 2.4, "volume": 7.0})
    out = with_forming_bar(b, q, dt.date(2024, 1, 4))
    assert str(out.dates[-1]) == "2024-01-04" and len(out) == 3
    assert (out.open[-1], out.high[-1], out.low[-1], out.close[-1], out.volume[-1]) == (
        2.6,
        3.2,
        2.4,
        3.0,
        7.0,
    )
    bare = with_forming_bar(b, Quote("X", 3.5), dt.date(2024, 1, 4))
    assert (bare.open[-1], bare.high[-1], bare.low[-1]) == (3.5, 3.5, 3.5)
    same_day = with_forming_bar(out, Quote("X", 3.4), dt.date(2024, 1, 4))
    assert len(same_day) == 3 and same_day.close[-1] == 3.4 and same_day.high[-1] == 3.4


# --- the Alpaca broker ----------------------------------------------------------------------


@pytest.fixture
def broker(sleeps):
    from etrade_cli.brokers.alpaca import AlpacaBroker

    return AlpacaBroker(AlpacaConfig(**KEYS), sleep=sleeps.append)


@responses.activate
def test_broker_account_positions_and_quotes(broker):
    responses.get(f"{A.PAPER}/account", json=A.ACCOUNT)
    responses.get(f"{A.PAPER}/positions", json=[A.position("AAPL", 10, 190.0)])
    responses.get(f"{A.DATA}/stocks/snapshots", json=A.snapshot("AAPL", 191.5))
    v = broker.account_values()
    assert (v.cash, v.equity) == (100000.0, 100000.0)
    assert [(p.symbol, p.quantity) for p in broker.positions()] == [("AAPL", 10)]
    q = broker.quotes(["AAPL"])["AAPL"]
    assert q.last == 191.5 and q.extra["open"] == 190.5 and q.extra["volume"] == 123456


@responses.activate
def test_broker_place_sends_client_order_id_and_maps_the_fill(broker):
    responses.post(f"{A.PAPER}/orders", json=A.order("TAG00000001", "ED", 107))
    st = broker.place(OrderRequest("TAG00000001", "ED", "BUY", 107), None)
    body = json.loads(responses.calls[0].request.body)
    assert body["client_order_id"] == "TAG00000001" and body["side"] == "buy"
    assert body["type"] == "market" and body["time_in_force"] == "day" and body["qty"] == 107
    assert (st.status, st.filled_qty, st.avg_fill_price) == ("EXECUTED", 107, 46.7)


@responses.activate
def test_broker_lookup_by_client_order_id(broker):
    responses.get(
        f"{A.PAPER}/orders:by_client_order_id",
        json=A.order("TAG00000001", "ED", 107, status="partially_filled", filled=50),
    )
    st = broker.order_status("TAG00000001")
    assert (st.status, st.filled_qty) == ("PARTIAL", 50)
    assert parse_qs(urlsplit(responses.calls[0].request.url).query) == {
        "client_order_id": ["TAG00000001"]
    }
    responses.replace(
        responses.GET,
        f"{A.PAPER}/orders:by_client_order_id",
        status=404,
        json={"code": 40410000, "message": "order not found"},
    )
    assert broker.order_status("NEVERSEEN") is None


@responses.activate
def test_broker_refusals_and_lost_replies(broker):
    responses.post(
        f"{A.PAPER}/orders",
        status=422,
        json={"code": 42210000, "message": "client_order_id must be unique"},
    )
    with pytest.raises(OrderRejectedError, match="must be unique"):
        broker.place(OrderRequest("DUP1", "ED", "BUY", 1), None)
    responses.replace(responses.POST, f"{A.PAPER}/orders", body=requests.ReadTimeout("lost"))
    with pytest.raises(TemporaryApiError):
        broker.place(OrderRequest("LOST1", "ED", "BUY", 1), None)
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 2  # no retry


def test_engine_resolves_a_lost_alpaca_reply_by_client_order_id(tmp_path, broker):
    from dataclasses import replace

    from etrade_cli.engine import run_once
    from tests.fakes import day, fake_market, make_deps

    deps = make_deps(tmp_path, fake_market({"ED": [46.70]}, {("ED", 0): 5}))
    deps = replace(deps, broker=broker)
    placed = {}

    def on_post(request):
        placed["coid"] = json.loads(request.body)["client_order_id"]
        raise requests.ConnectionError("connection reset after the order was accepted")

    with responses.RequestsMock() as rs:
        rs.get(f"{A.PAPER}/account", json=A.ACCOUNT)
        rs.get(f"{A.PAPER}/positions", json=[])
        rs.get(f"{A.DATA}/stocks/snapshots", json=A.snapshot("ED", 46.70))
        rs.add_callback(responses.POST, f"{A.PAPER}/orders", callback=on_post)
        rs.add_callback(
            responses.GET,
            f"{A.PAPER}/orders:by_client_order_id",
            callback=lambda req: (200, {}, json.dumps(A.order(placed["coid"], "ED", 428))),
        )
        res = run_once(deps, day(0))
        posts = [c for c in rs.calls if c.request.method == "POST"]
    assert len(posts) == 1
    assert [(e.symbol, e.status) for e in res.entries] == [("ED", "filled")]
    (order,) = deps.store.orders()
    assert order.client_order_id == placed["coid"] and order.filled_qty == 428


def test_alpaca_live_orders_need_config_and_flag(cli, hermetic):
    (hermetic / "config.toml").write_text("[alpaca]\npaper = false\n")
    r = cli("run-once", "--broker", "alpaca")
    assert r.exit_code == ExitStatus.ORDER_REJECTED and "[alpaca] allow_live_orders" in r.stderr


# --- `etrade data` and `scan` on Alpaca data -------------------------------------------------


@pytest.fixture
def alpaca_env(monkeypatch, hermetic):
    monkeypatch.setenv("ALPACA_API_KEY", KEYS["api_key"])
    monkeypatch.setenv("ALPACA_SECRET_KEY", KEYS["secret_key"])
    (hermetic / "config.toml").write_text("[data]\nsource = 'alpaca'\nhistory_days = 400\n")
    (hermetic / "watchlist.txt").write_text("AAPL\nMSFT\n")


def long_series(symbols):
    from etrade_cli.services import last_completed_day

    end = last_completed_day()
    start = end - dt.timedelta(days=400)
    return {s: series(start, end, 100.0 + 50 * i) for i, s in enumerate(symbols)}


def test_scan_on_alpaca_data_fetches_once_then_uses_the_cache(cli, alpaca_env):
    with responses.RequestsMock() as rs:
        rs.get(f"{A.DATA}/stocks/bars", json=A.bars_page(long_series(["AAPL", "MSFT"])))
        r1 = cli("scan", "--json")
        assert r1.exit_code == 0, r1.output
        assert len(rs.calls) == 1
        r2 = cli("scan", "--json")
        assert r2.exit_code == 0 and len(rs.calls) == 1  # the second scan sent nothing
    assert json.loads(r1.stdout) == json.loads(r2.stdout)


def test_data_fetch_status_and_import(cli, alpaca_env, hermetic):
    from tests.conftest import DATA

    with responses.RequestsMock() as rs:
        rs.get(f"{A.DATA}/stocks/bars", json=A.bars_page(long_series(["AAPL"])))
        r = cli("data", "fetch", "--json")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert doc["requests"] == 1 and doc["no_data"] == ["MSFT"] and doc["bars_stored"] > 250
        r = cli("data", "fetch", "--json")
        assert json.loads(r.stdout)["requests"] == 0
    r = cli("data", "import", str(DATA / "NFLX_daily_2018-2022.csv"))
    assert r.exit_code == 0 and "Imported 1009 bars" in r.stderr
    rows = {d["symbol"]: d for d in json.loads(cli("data", "status", "--json").stdout)}
    assert rows["NFLX"]["bars"] == 1009 and rows["NFLX"]["gaps"] == 0
    assert rows["MSFT"]["bars"] == 0 and rows["AAPL"]["bars"] > 250
    bad = hermetic / "bad.csv"
    bad.write_text("Date,Open\n2020-01-01,1\n")
    r = cli("data", "import", str(DATA / "MSFT_daily_2015-2021.csv"), str(bad))
    assert r.exit_code == ExitStatus.ERROR and "missing column" in r.stderr
    rows = {d["symbol"]: d for d in json.loads(cli("data", "status", "--json").stdout)}
    assert rows["MSFT"]["bars"] == 0  # nothing imported when any file is bad


def test_data_fetch_without_keys(cli, hermetic):
    r = cli("data", "fetch", "AAPL")
    assert r.exit_code == ExitStatus.AUTH and "ALPACA_API_KEY" in r.stderr


def test_live_run_adds_todays_forming_bar_from_broker_quotes(alpaca_env, monkeypatch, tmp_path):
    """engine_deps with Alpaca data and a quoting broker while NYSE is open: bar t is today's
    forming bar from the quote; no bar request is sent because the cache is current."""
    from etrade_cli import schedule, services
    from etrade_cli.config import load_config
    from etrade_cli.store import Store

    cfg = load_config()
    cache = services.bar_cache(cfg)
    end = services.last_completed_day()
    start = end - dt.timedelta(days=400)
    for sym, rows in long_series(["AAPL", "MSFT"]).items():
        from etrade_cli.marketdata.alpaca import _bars

        cache.store(_bars(sym, rows), "test", start.isoformat(), end.isoformat())
    cache.close()

    class OpenCalendar:
        def is_open(self, now):
            return True

        def next_open(self, now):
            return now

    class QuotingBroker:
        name, account = "alpaca", "paper"

        def quotes(self, symbols):
            return {
                s: Quote(s, 123.0, None, {"open": 120.0, "high": 124.0, "low": 119.0})
                for s in symbols
            }

    monkeypatch.setattr(schedule, "NyseCalendar", OpenCalendar)
    with responses.RequestsMock():  # nothing may be fetched
        deps = services.engine_deps(
            cfg, Store(tmp_path / "b.db"), QuotingBroker(), ["AAPL", "MSFT"]
        )
    today = dt.datetime.now(dt.timezone.utc).astimezone(schedule.ET).date()
    session = deps.market.session_on_or_before(None)
    assert str(session) == today.isoformat()
    assert deps.market.close("AAPL", session) == 123.0 and deps.market.closed_reason is None


def test_live_run_outside_a_session_manages_nothing(alpaca_env, monkeypatch, tmp_path):
    from etrade_cli import schedule, services
    from etrade_cli.config import load_config
    from etrade_cli.engine import run_once
    from etrade_cli.store import Store

    class ClosedCalendar:
        def is_open(self, now):
            return False

        def next_open(self, now):
            return now + dt.timedelta(hours=12)

    class QuotingBroker:
        name, account = "alpaca", "paper"

        def quotes(self, symbols):
            raise AssertionError("no quotes while closed")

        def account_values(self):
            raise AssertionError("nothing managed while closed")

    monkeypatch.setattr(schedule, "NyseCalendar", ClosedCalendar)
    with responses.RequestsMock() as rs:
        rs.get(f"{A.DATA}/stocks/bars", json=A.bars_page(long_series(["AAPL", "MSFT"])))
        deps = services.engine_deps(
            load_config(), Store(tmp_path / "b.db"), QuotingBroker(), ["AAPL", "MSFT"]
        )
    res = run_once(deps)
    assert not res.market_open and "market closed (NYSE)" in res.message


@responses.activate
def test_broker_open_orders_and_cancel(broker):
    responses.get(f"{A.PAPER}/orders", json=[A.order("C1", "ED", 5, status="new")])
    responses.delete(f"{A.PAPER}/orders/61e69015-8549-4bfd-b9c3-01e75843f47d", status=204)
    (o,) = broker.open_orders()
    assert (o.client_order_id, o.status) == ("C1", "OPEN")
    assert parse_qs(urlsplit(responses.calls[0].request.url).query)["status"] == ["open"]
    broker.cancel(o.broker_order_id)
    assert responses.calls[1].request.method == "DELETE"


@responses.activate
def test_broker_change_replaces_the_order_with_the_new_client_order_id(broker):
    old = "61e69015-8549-4bfd-b9c3-01e75843f47d"
    new = A.order("NEW0001", "ED", 7, side="sell", status="new", order_id="7f00-new")
    responses.patch(f"{A.PAPER}/orders/{old}", json=new)
    req = OrderRequest("NEW0001", "ED", "SELL", 7, "STOP", None, 41.5, "GOOD_UNTIL_CANCEL")
    st = broker.change(old, req)
    body = json.loads(responses.calls[0].request.body)
    assert body == {"qty": 7, "time_in_force": "gtc", "stop_price": 41.5,
                    "client_order_id": "NEW0001"}  # fmt: skip
    assert (st.broker_order_id, st.status, st.quantity) == ("7f00-new", "OPEN", 7)
