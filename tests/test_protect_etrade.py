"""Resting protective stops at E*TRADE (issue 16), against a stateful fake served with
`responses` (payloads as in `etrade_api.md` via `tests.etrade_payloads`): placed after the entry
fill, changed with change preview/place on a tier rise (the journal links the old and new
orderId), reduced before a partial exit, cancelled before a full exit, and a stop found EXECUTED
at reconcile booked once with no second sell. Also `etrade order change` and trailing stops."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
import requests
import responses

from etrade_cli.brokers.etrade import EtradeBroker
from etrade_cli.config import RiskConfig
from etrade_cli.engine import Deps, run_once
from etrade_cli.etrade.auth import FileTokenStore
from etrade_cli.etrade.client import EtradeClient
from etrade_cli.store import BROKER_STOP, Store
from etrade_cli.strategy.rajat_alpha import RajatAlpha
from etrade_cli.strategy.rajat_alpha.params import StrategyParams
from tests import etrade_payloads as P
from tests.conftest import CONSUMER_KEY, FakeClock
from tests.fakes import day, fake_market

BASE = f"{P.SANDBOX}/v1/accounts/{P.KEY}"
NET = RiskConfig(protective_stop="broker", protective_stop_gap_pct=0.03)


class FakeEtrade:
    """Orders, fills and holdings of one account. MARKET orders execute at once at
    `prices[symbol]`; STOP orders rest OPEN until `trigger`. `calls` logs (method, path)."""

    def __init__(self, rs: responses.RequestsMock, prices: dict[str, float]):
        self.rs, self.prices = rs, prices
        self.next_id = 500
        self.orders: dict[int, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.before_cancel: Any = None  # called with the orderId before a cancel is handled
        self.lose: set[str] = set()  # change steps ("preview", "place") whose request is lost
        any_q = r"(\?.*)?$"
        rs.add_callback(
            responses.GET, re.compile(re.escape(f"{BASE}/balance.json") + any_q), self._balance
        )
        rs.add_callback(
            responses.GET, re.compile(re.escape(f"{BASE}/portfolio.json") + any_q), self._portfolio
        )
        rs.add_callback(
            responses.GET, re.compile(re.escape(f"{BASE}/orders.json") + any_q), self._list
        )
        rs.add_callback(
            responses.GET, re.compile(re.escape(BASE) + r"/orders/(\d+)\.json$"), self._details
        )
        rs.add_callback(responses.POST, f"{BASE}/orders/preview.json", callback=self._preview)
        rs.add_callback(responses.POST, f"{BASE}/orders/place.json", callback=self._place)
        rs.add_callback(responses.PUT, f"{BASE}/orders/cancel.json", callback=self._cancel)
        change = re.compile(re.escape(BASE) + r"/orders/(\d+)/change/(preview|place)\.json$")
        rs.add_callback(responses.PUT, change, callback=self._change)

    # -- state ------------------------------------------------------------------------------

    def _log(self, req) -> None:
        self.calls.append((req.method, req.url.split("/orders", 1)[-1].split("?")[0]))

    def _new(self, body: dict[str, Any]) -> int:
        order = body["Order"][0]
        inst = order["Instrument"][0]
        oid, self.next_id = self.next_id, self.next_id + 1
        sym = inst["Product"]["symbol"]
        o = {
            "symbol": sym,
            "action": inst["orderAction"],
            "qty": int(inst["quantity"]),
            "price_type": order["priceType"],
            "term": order["orderTerm"],
            "stop": float(order["stopPrice"] or 0),
            "status": "OPEN",
            "filled": 0,
            "avg": 0.0,
        }
        if o["price_type"] == "MARKET":
            o.update(status="EXECUTED", filled=o["qty"], avg=self.prices[sym])
        self.orders[oid] = o
        return oid

    def trigger(self, oid: int, price: float) -> None:
        """The resting stop `oid` executes at the broker (between runs)."""
        self.orders[oid].update(status="EXECUTED", filled=self.orders[oid]["qty"], avg=price)

    def payload(self, oid: int) -> dict[str, Any]:
        o = self.orders[oid]
        d = P.order(
            oid, o["symbol"], o["action"], o["qty"], o["filled"], o["status"], o["avg"],
            o["price_type"], placed_ms=int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000),
        )  # fmt: skip
        d["OrderDetail"][0].update(stopPrice=o["stop"], orderTerm=o["term"])
        return d

    def by(self, **kw: Any) -> list[int]:
        return [i for i, o in self.orders.items() if all(o[k] == v for k, v in kw.items())]

    # -- routes -----------------------------------------------------------------------------

    def _balance(self, req):
        b = json.loads(json.dumps(P.BALANCE))
        b["BalanceResponse"]["Computed"].update(cashAvailableForInvestment=20_000)
        b["BalanceResponse"]["Computed"]["RealTimeValues"]["totalAccountValue"] = 20_000
        return 200, {}, json.dumps(b)

    def _portfolio(self, req):
        held: dict[str, int] = {}
        for o in self.orders.values():
            sign = 1 if o["action"] == "BUY" else -1
            held[o["symbol"]] = held.get(o["symbol"], 0) + sign * o["filled"]
        rows = [(s, q, self.prices[s]) for s, q in held.items() if q]
        return (204, {}, "") if not rows else (200, {}, json.dumps(P.portfolio(*rows)))

    def _list(self, req):
        return 200, {}, json.dumps(P.orders(*[self.payload(i) for i in self.orders]))

    def _details(self, req):
        oid = int(req.url.rsplit("/", 1)[-1].split(".")[0])
        return 200, {}, json.dumps(P.orders(self.payload(oid)))

    def _preview(self, req):
        self._log(req)
        inst = json.loads(req.body)["PreviewOrderRequest"]["Order"][0]["Instrument"][0]
        doc = P.preview_response(inst["Product"]["symbol"], int(inst["quantity"]))
        return 200, {}, json.dumps(doc)

    def _place(self, req):
        self._log(req)
        return (
            200,
            {},
            json.dumps(P.place_response(self._new(json.loads(req.body)["PlaceOrderRequest"]))),
        )

    def _cancel(self, req):
        self._log(req)
        oid = json.loads(req.body)["CancelOrderRequest"]["orderId"]
        if self.before_cancel:
            self.before_cancel(oid)
        if self.orders[oid]["status"] != "OPEN":
            return 400, {}, json.dumps(P.error(5001, "This order cannot be cancelled."))
        self.orders[oid]["status"] = "CANCELLED"
        doc = json.loads(json.dumps(P.CANCEL))
        doc["CancelOrderResponse"]["orderId"] = oid
        return 200, {}, json.dumps(doc)

    def _change(self, req):
        self._log(req)
        m = re.search(r"/orders/(\d+)/change/(preview|place)", req.url)
        assert m is not None
        oid, step = int(m.group(1)), m.group(2)
        if step in self.lose:
            raise requests.ConnectionError("connection reset")
        if self.orders[oid]["status"] != "OPEN":
            return 400, {}, json.dumps(P.error(5002, "This order cannot be changed."))
        body = json.loads(req.body)
        if step == "preview":
            inst = body["PreviewOrderRequest"]["Order"][0]["Instrument"][0]
            doc = P.preview_response(inst["Product"]["symbol"], int(inst["quantity"]), 777)
            return 200, {}, json.dumps(doc)
        assert body["PlaceOrderRequest"]["PreviewIds"] == [{"previewId": 777}]
        self.orders[oid]["status"] = "CANCELLED"  # E*TRADE cancels the old orderId ...
        new = self._new(body["PlaceOrderRequest"])  # ... and creates a new one
        return 200, {}, json.dumps(P.place_response(new))


@pytest.fixture
def etrade(tmp_path, etrade_login, etrade_cfg):
    """(fake, deps factory): deps over the E*TRADE broker with a fake market of closes."""
    rs = responses.RequestsMock(assert_all_requests_are_fired=False)
    rs.start()
    fake = FakeEtrade(rs, {"AAA": 100.0})
    clock = FakeClock(dt.datetime.now(dt.timezone.utc))
    client = EtradeClient(
        etrade_cfg,
        FileTokenStore("sandbox", CONSUMER_KEY),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    store = Store(tmp_path / "book.db")

    def deps(closes: list[float]) -> Deps:
        market = fake_market({"AAA": closes}, {("AAA", 0): 5})
        broker = EtradeBroker(client, P.KEY, store)
        return Deps(RajatAlpha(StrategyParams()), NET, store, broker, market)

    yield fake, deps
    rs.stop()
    rs.reset()


def run_day(fake, deps, closes, i):
    fake.prices["AAA"] = closes[i]
    return run_once(deps(closes), day(i))


def stops(store: Store):
    return [o for o in store.orders() if o.purpose == BROKER_STOP]


def sent_body(fake_calls_index: int) -> dict[str, Any]:
    return json.loads(responses.calls[fake_calls_index].request.body)


def test_entry_fill_places_a_resting_gtc_stop_at_etrade(etrade):
    fake, deps = etrade
    run_day(fake, deps, [100.0], 0)
    (stop_id,) = fake.by(price_type="STOP", status="OPEN")
    o = fake.orders[stop_id]
    assert (o["action"], o["qty"], o["stop"], o["term"]) == ("SELL", 10, 80.51, "GOOD_UNTIL_CANCEL")
    (row,) = stops(deps([100.0]).store)
    assert (row.status, row.broker_order_id, row.stop_price) == ("placed", str(stop_id), 80.51)


def test_a_tier_rise_changes_the_stop_with_change_preview_and_place_linking_the_ids(etrade):
    fake, deps = etrade
    closes = [100.0, 106.0]
    run_day(fake, deps, closes, 0)
    (old_id,) = fake.by(price_type="STOP", status="OPEN")
    fake.calls.clear()
    run_day(fake, deps, closes, 1)
    assert fake.calls == [
        ("PUT", f"/{old_id}/change/preview.json"),
        ("PUT", f"/{old_id}/change/place.json"),
    ]
    (new_id,) = fake.by(price_type="STOP", status="OPEN")
    assert (fake.orders[new_id]["stop"], fake.orders[new_id]["qty"]) == (88.27, 10)
    assert fake.orders[old_id]["status"] == "CANCELLED"
    old, new = stops(deps(closes).store)
    assert (old.broker_order_id, old.status) == (str(old_id), "cancelled")
    assert (new.broker_order_id, new.status, new.replaces) == (str(new_id), "placed", old.id)
    assert f"orderId {new_id}" in (old.message or "")


def test_a_partial_exit_changes_the_stop_quantity_before_the_sell(etrade):
    fake, deps = etrade
    closes = [100.0, 111.0]  # PT1 sells 3 of 10; the stop keeps 7 at 96.03
    run_day(fake, deps, closes, 0)
    (old_id,) = fake.by(price_type="STOP", status="OPEN")
    fake.calls.clear()
    res = run_day(fake, deps, closes, 1)
    assert [(a.reason, a.quantity, a.status) for a in res.exits] == [("PT1", 3, "filled")]
    assert fake.calls[:4] == [
        ("PUT", f"/{old_id}/change/preview.json"),
        ("PUT", f"/{old_id}/change/place.json"),
        ("POST", "/preview.json"),
        ("POST", "/place.json"),
    ]
    (new_id,) = fake.by(price_type="STOP", status="OPEN")
    assert (fake.orders[new_id]["qty"], fake.orders[new_id]["stop"]) == (7, 96.03)
    assert deps(closes).store.positions("etrade", P.KEY)[0].remaining_qty == 7


def test_a_full_exit_cancels_the_stop_before_the_sell(etrade):
    fake, deps = etrade
    closes = [100.0, 82.0]  # close below the strategy stop (83): SL sells all 10
    run_day(fake, deps, closes, 0)
    (stop_id,) = fake.by(price_type="STOP", status="OPEN")
    fake.calls.clear()
    res = run_day(fake, deps, closes, 1)
    assert [(a.reason, a.quantity) for a in res.exits] == [("SL", 10)]
    assert fake.calls == [
        ("PUT", "/cancel.json"),
        ("POST", "/preview.json"),
        ("POST", "/place.json"),
    ]
    assert fake.orders[stop_id]["status"] == "CANCELLED"
    assert fake.by(status="OPEN") == [] and deps(closes).store.resting_stops("etrade", P.KEY) == []


def test_a_stop_executed_between_runs_is_one_fill_closes_the_position_and_no_second_sell(etrade):
    fake, deps = etrade
    closes = [100.0, 75.0]  # the close is also below the strategy stop: SL must not sell again
    run_day(fake, deps, closes, 0)
    (stop_id,) = fake.by(price_type="STOP", status="OPEN")
    fake.trigger(stop_id, 80.45)
    fake.calls.clear()
    res = run_day(fake, deps, closes, 1)
    store = deps(closes).store
    (pos,) = store.positions("etrade", P.KEY, ("closed",))
    assert (pos.exit_reason, pos.exit_price, pos.remaining_qty) == ("BROKER_STOP", 80.45, 0)
    fills = store._query("SELECT f.quantity, f.price FROM fills f JOIN orders o ON o.id = f.order_id "
                        "WHERE o.purpose = ?", BROKER_STOP)  # fmt: skip
    assert [tuple(f) for f in fills] == [(10, 80.45)]
    assert [(a.reason, a.quantity, a.price) for a in res.exits] == [("BROKER_STOP", 10, 80.45)]
    assert fake.calls == []  # nothing sent: no second sell, nothing to protect
    assert len(fake.by(action="SELL")) == 1
    assert not [f for f in res.findings if f.severity == "error"] and res.halted is None


@pytest.mark.parametrize(
    "point", ["stop:after_intent", "stop:after_place", "stop:after_placed", "stop:after_fill"]
)
def test_a_crash_inside_a_change_ends_with_one_resting_stop(etrade, point):
    from dataclasses import replace

    from etrade_cli.engine import SimulatedCrash

    def crash(name: str) -> None:
        if name == point:
            raise SimulatedCrash(name)

    fake, deps = etrade
    closes = [100.0, 106.0, 106.0]
    run_day(fake, deps, closes, 0)
    fake.prices["AAA"] = closes[1]
    with pytest.raises(SimulatedCrash):
        run_once(replace(deps(closes), faults=crash), day(1))
    run_day(fake, deps, closes, 1)
    run_day(fake, deps, closes, 2)
    (open_id,) = fake.by(status="OPEN")
    assert fake.orders[open_id]["stop"] == 88.27
    (live,) = deps(closes).store.resting_stops("etrade", P.KEY)
    assert (live.broker_order_id, live.status) == (str(open_id), "placed")


# --- `etrade order change` and trailing stops ----------------------------------------------------


def _resting_stop_at(fake: FakeEtrade, qty: int = 10, stop: float = 80.0) -> int:
    o = P.preview_response("AAA", qty)["PreviewOrderResponse"]["Order"][0]
    body = {"Order": [{**o, "priceType": "STOP", "orderTerm": "GOOD_UNTIL_CANCEL",
                       "stopPrice": str(stop), "Instrument": [{**o["Instrument"][0],
                                                               "orderAction": "SELL"}]}]}  # fmt: skip
    return fake._new(body)


def test_order_change_previews_places_and_journals_the_new_order_id(cli, etrade):
    fake, _deps = etrade
    fake.rs.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
    old = _resting_stop_at(fake)
    r = cli("order", "change", str(old), "--stop", "85", "-q", "8", "--yes", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    (new,) = fake.by(status="OPEN")
    assert (doc["orderId"], doc["replaces_orderId"], doc["status"]) == (
        str(new),
        str(old),
        "placed",
    )
    assert (fake.orders[new]["stop"], fake.orders[new]["qty"]) == (85.0, 8)
    assert fake.orders[old]["status"] == "CANCELLED"
    assert fake.calls == [
        ("PUT", f"/{old}/change/preview.json"),
        ("PUT", f"/{old}/change/place.json"),
    ]
    from etrade_cli.config import load_config

    (row,) = Store(load_config().db_path).orders()
    assert (row.purpose, row.broker_order_id, row.status) == ("MANUAL_CHANGE", str(new), "placed")


@pytest.mark.parametrize(
    "args, code, text",
    [
        (["--yes"], 1, "nothing to change"),
        (["--stop", "-3", "--yes"], 1, "positive price"),
        (["--stop", "85"], 1, "pass --yes"),
    ],
)
def test_order_change_refuses_bad_input_in_one_line(cli, etrade, args, code, text):
    fake, _deps = etrade
    fake.rs.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
    old = _resting_stop_at(fake)
    r = cli("order", "change", str(old), *args)
    assert r.exit_code == code and text in r.stderr and "Traceback" not in r.output
    assert fake.calls == [] and fake.orders[old]["status"] == "OPEN"


def test_order_change_of_an_executed_order_exits_6(cli, etrade):
    fake, _deps = etrade
    fake.rs.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
    old = _resting_stop_at(fake)
    fake.trigger(old, 80.0)
    r = cli("order", "change", str(old), "--stop", "85", "--yes")
    assert r.exit_code == 6 and "EXECUTED" in r.stderr and fake.calls == []


def test_trailing_stop_percent_goes_in_stop_price_as_a_whole_number(cli, etrade):
    fake, _deps = etrade
    fake.rs.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
    args = ("order", "preview", "AAA", "-q", "5", "--action", "SELL", "--type")
    r = cli(*args, "TRAILING_STOP_PRCT", "--stop", "5", "--json")
    assert r.exit_code == 0, r.output
    sent = json.loads(fake.rs.calls[-1].request.body)["PreviewOrderRequest"]["Order"][0]
    assert (sent["priceType"], sent["stopPrice"], sent["limitPrice"]) == (
        "TRAILING_STOP_PRCT",
        "5",
        "",
    )
    r = cli(*args, "TRAILING_STOP_PRCT", "--stop", "5.5")
    assert r.exit_code == 1 and "whole-number percent" in r.stderr
    r = cli(*args, "TRAILING_STOP_CNST", "--stop", "1.25", "--json")
    sent = json.loads(fake.rs.calls[-1].request.body)["PreviewOrderRequest"]["Order"][0]
    assert r.exit_code == 0 and (sent["priceType"], sent["stopPrice"]) == (
        "TRAILING_STOP_CNST",
        "1.25",
    )


def test_a_stop_that_fills_while_the_exit_cancels_it_is_booked_and_no_sell_follows(etrade):
    fake, deps = etrade
    closes = [100.0, 82.0]  # SL wants to sell all 10: the stop must be cancelled first ...
    run_day(fake, deps, closes, 0)
    (stop_id,) = fake.by(price_type="STOP", status="OPEN")
    fake.before_cancel = lambda oid: fake.trigger(oid, 81.9)  # ... but it executes just then
    fake.calls.clear()
    res = run_day(fake, deps, closes, 1)
    (pos,) = deps(closes).store.positions("etrade", P.KEY, ("closed",))
    assert (pos.exit_reason, pos.exit_price) == ("BROKER_STOP", 81.9)
    assert fake.by(action="SELL") == [stop_id]
    assert [(a.reason, a.quantity, a.price) for a in res.exits] == [("BROKER_STOP", 10, 81.9)]
    assert fake.calls == [("PUT", "/cancel.json")]


def test_order_change_of_the_engines_resting_stop_keeps_it_the_positions_stop(
    cli, etrade, tmp_path
):
    fake, deps = etrade
    fake.rs.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
    run_day(fake, deps, [100.0], 0)
    (old_id,) = fake.by(price_type="STOP", status="OPEN")
    r = cli("--db", str(tmp_path / "book.db"), "order", "change", str(old_id), "--stop", "79",
            "--yes", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    old, new = stops(Store(tmp_path / "book.db"))
    assert (old.status, new.status, new.replaces, new.stop_price) == (
        "cancelled",
        "placed",
        old.id,
        79.0,
    )
    assert new.broker_order_id == json.loads(r.stdout)["orderId"] != str(old_id)


@pytest.mark.parametrize("step", ["preview", "place"])
def test_order_change_without_a_reply_exits_5_and_is_never_resent_as_a_new_order(cli, etrade, step):
    """A change of an order the journal lacks (placed elsewhere) whose request gets no reply:
    exit 5 with what is true, and the next run-once drops the journal row instead of sending
    it as a new order next to the old one, which still rests."""
    fake, deps = etrade
    fake.rs.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
    old = _resting_stop_at(fake)
    fake.lose = {step}
    r = cli("order", "change", str(old), "--stop", "85", "--yes")
    text = " ".join(r.stderr.split())
    assert r.exit_code == 5 and "Traceback" not in r.output, r.output
    from etrade_cli.config import load_config

    book = Store(load_config().db_path)
    (row,) = book.orders()
    if step == "place":
        assert "no reply from E*TRADE to the change of order" in text
        assert f"--client-order-id {row.client_order_id}" in text
        assert (row.purpose, row.status) == ("MANUAL_CHANGE", "unknown")
    else:
        assert (row.purpose, row.status) == ("MANUAL_CHANGE", "cancelled")
    assert fake.orders[old]["status"] == "OPEN" and len(fake.orders) == 1
    fake.lose = set()
    d = deps([100.0])
    d = Deps(d.strategy, d.risk, book, EtradeBroker(d.broker.client, P.KEY, book),
             fake_market({"AAA": [100.0]}, {}))  # fmt: skip
    fake.calls.clear()
    res = run_once(d, day(0))
    dropped = [f for f in res.findings if "dropped change" in f.message]
    assert len(dropped) == (step == "place"), res.findings
    assert [c for c in fake.calls if c[0] == "POST"] == []  # nothing placed or previewed
    assert book.order_by_id(row.id).status == "cancelled" and len(fake.orders) == 1
