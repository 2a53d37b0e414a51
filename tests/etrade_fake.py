"""A stateful fake E*TRADE account for engine and CLI tests, served through `responses`.

Payloads are shaped as in `etrade_api.md` (via `tests.etrade_payloads`). Market orders execute
at once at `prices[symbol]`, stamped `executedTime` = 15:30 US/Eastern of `session` (the
emulated exchange day), `placedTime` = the real clock (the journal's fingerprint lookup
compares it with the intent's creation time). The portfolio is derived from executed orders.

Faults, consumed one per place call (`place_faults`), model what a real E*TRADE front end does:
- "500", "503": an HTML error page, nothing processed;
- "429": HTTP 429 with `Retry-After: 1`, nothing processed;
- "ratelimit": HTTP 400 with the documented "Number of requests exceeded..." page, nothing
  processed;
- "timeout": the order IS processed, then the reply is lost (read timeout);
- "drop": the connection fails before anything is processed (connection error).
`reuse_order_id` makes every place answer the same `orderId` (the sandbox returns canned ids;
ids are per account).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from typing import Any

import requests
import responses

from tests import etrade_payloads as P

BASE = f"{P.SANDBOX}/v1/accounts/{P.KEY}"


def session_ms(session: str, hour: int = 15, minute: int = 30) -> int:
    """Epoch ms of `hour:minute` US/Eastern on `session` (YYYY-MM-DD)."""
    from zoneinfo import ZoneInfo

    t = dt.datetime.fromisoformat(session).replace(
        hour=hour, minute=minute, tzinfo=ZoneInfo("America/New_York")
    )
    return int(t.timestamp() * 1000)


class FakeEtrade:
    """One E*TRADE account (`P.KEY`) with orders, fills, holdings and injected faults."""

    def __init__(self, rs: responses.RequestsMock, prices: dict[str, float], cash: float = 1e6):
        self.rs, self.prices, self.cash = rs, dict(prices), cash
        self.session = "2024-01-02"
        self.next_id = 1100
        self.reuse_order_id: int | None = None
        self.place_faults: list[str] = []
        self.preview_faults: list[str] = []  # "500" answers per preview call, first ones first
        self.fill_now = True  # market orders execute at once (else they stay OPEN)
        self.before_cancel: Any = None  # called with the orderId before a cancel is handled
        self.orders: dict[int, dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []  # every order ever placed, in order
        self.calls: list[tuple[str, str]] = []
        self.previews = 0
        self._routes()

    # -- wiring -------------------------------------------------------------------------------

    def _routes(self) -> None:
        rs, any_q = self.rs, r"(\?.*)?$"
        rs.get(f"{P.SANDBOX}/v1/accounts/list.json", json=P.ACCOUNTS)
        rs.add_callback(responses.GET, re.compile(re.escape(f"{BASE}/balance.json") + any_q),
                        callback=self._balance)  # fmt: skip
        rs.add_callback(responses.GET, re.compile(re.escape(f"{BASE}/portfolio.json") + any_q),
                        callback=self._portfolio)  # fmt: skip
        rs.add_callback(responses.GET, re.compile(re.escape(f"{BASE}/orders.json") + any_q),
                        callback=self._list)  # fmt: skip
        rs.add_callback(responses.GET, re.compile(re.escape(BASE) + r"/orders/(\d+)\.json$"),
                        callback=self._details)  # fmt: skip
        rs.add_callback(responses.POST, f"{BASE}/orders/preview.json", callback=self._preview)
        rs.add_callback(responses.POST, f"{BASE}/orders/place.json", callback=self._place)
        rs.add_callback(responses.PUT, f"{BASE}/orders/cancel.json", callback=self._cancel)

    # -- helpers ------------------------------------------------------------------------------

    def order_doc(self, o: dict[str, Any]) -> dict[str, Any]:
        d = P.order(o["id"], o["symbol"], o["action"], o["qty"], o["filled"], o["status"],
                    avg=o["avg"], placed_ms=o["placed_ms"])  # fmt: skip
        detail = d["OrderDetail"][0]
        if o["executed_ms"]:
            detail["executedTime"] = o["executed_ms"]
        else:
            detail.pop("executedTime")
        return d

    def holdings(self) -> dict[str, int]:
        held: dict[str, int] = {}
        for o in self.history:
            sign = 1 if o["action"] == "BUY" else -1
            held[o["symbol"]] = held.get(o["symbol"], 0) + sign * o["filled"]
        return {s: q for s, q in held.items() if q}

    def execute(self, o: dict[str, Any], qty: int | None = None) -> None:
        """Fill `qty` more shares (default: the rest) of an open order at today's price."""
        add = o["qty"] - o["filled"] if qty is None else qty
        o["filled"] += add
        o["avg"] = self.prices.get(o["symbol"], 50.0)
        o["executed_ms"] = session_ms(self.session)
        o["status"] = "EXECUTED" if o["filled"] >= o["qty"] else "PARTIAL"

    def placed(self) -> list[dict[str, Any]]:
        return list(self.history)

    # -- endpoints ----------------------------------------------------------------------------

    def _balance(self, request: Any) -> tuple[int, dict, str]:
        spent = sum(
            (1 if o["action"] == "BUY" else -1) * o["filled"] * o["avg"] for o in self.history
        )
        doc = json.loads(json.dumps(P.BALANCE))
        computed = doc["BalanceResponse"]["Computed"]
        computed["cashAvailableForInvestment"] = self.cash - spent
        computed["RealTimeValues"]["totalAccountValue"] = self.cash
        return 200, {}, json.dumps(doc)

    def _portfolio(self, request: Any) -> tuple[int, dict, str]:
        held = self.holdings()
        if not held:
            return 204, {}, ""
        rows = [(s, q, self.prices.get(s, 50.0)) for s, q in held.items()]
        return 200, {}, json.dumps(P.portfolio(*rows))

    def _list(self, request: Any) -> tuple[int, dict, str]:
        self.calls.append(("list", ""))
        if not self.orders:
            return 204, {}, ""
        docs = [self.order_doc(o) for o in self.orders.values()]
        return 200, {}, json.dumps(P.orders(*reversed(docs)))

    def _details(self, request: Any) -> tuple[int, dict, str]:
        oid = int(re.search(r"/orders/(\d+)\.json", request.url).group(1))
        if oid not in self.orders:
            return 400, {}, json.dumps(P.error(100, "Account key does not belong to user."))
        return 200, {}, json.dumps(P.orders(self.order_doc(self.orders[oid])))

    def _preview(self, request: Any) -> tuple[int, dict, str]:
        if self.preview_faults:
            return int(self.preview_faults.pop(0)), {"Content-Type": "text/html"}, P.TOMCAT_500
        self.previews += 1
        body = json.loads(request.body)["PreviewOrderRequest"]
        inst = body["Order"][0]["Instrument"][0]
        self.calls.append(("preview", body["clientOrderId"]))
        doc = P.preview_response(inst["Product"]["symbol"], int(inst["quantity"]),
                                 preview_id=3429395279 + self.previews)  # fmt: skip
        return 200, {}, json.dumps(doc)

    def _place(self, request: Any) -> tuple[int, dict, str]:
        body = json.loads(request.body)["PlaceOrderRequest"]
        self.calls.append(("place", body["clientOrderId"]))
        fault = self.place_faults.pop(0) if self.place_faults else None
        if fault in ("500", "503"):
            return int(fault), {"Content-Type": "text/html"}, P.TOMCAT_500
        if fault == "429":
            return 429, {"Retry-After": "1"}, "Too Many Requests"
        if fault == "ratelimit":
            return 400, {"Content-Type": "text/html"}, P.RATE_LIMIT_PAGE
        if fault == "drop":
            raise requests.ConnectionError("connection reset before the request was read")
        inst = body["Order"][0]["Instrument"][0]
        oid = self.reuse_order_id or self.next_id
        self.next_id += 1
        o = {
            "id": oid,
            "coid": body["clientOrderId"],
            "preview_id": body["PreviewIds"][0]["previewId"],
            "symbol": inst["Product"]["symbol"],
            "action": inst["orderAction"],
            "qty": int(inst["quantity"]),
            "filled": 0,
            "avg": 0.0,
            "status": "OPEN",
            "placed_ms": int(time.time() * 1000),
            "executed_ms": None,
        }
        self.orders[oid] = o
        self.history.append(o)
        if self.fill_now:
            self.execute(o)
        if fault == "timeout":
            raise requests.ReadTimeout("read timed out")
        return 200, {}, json.dumps(P.place_response(oid))

    def _cancel(self, request: Any) -> tuple[int, dict, str]:
        oid = int(json.loads(request.body)["CancelOrderRequest"]["orderId"])
        if self.before_cancel:
            self.before_cancel(oid)
        o = self.orders.get(oid)
        if o is None or o["status"] not in ("OPEN", "PARTIAL"):
            # the code and text of this refusal are not documented (etrade_api.md §5): made up
            text = "This order is currently being executed or rejected. It cannot be cancelled."
            return 400, {}, json.dumps(P.error(5001, text))
        o["status"] = "CANCELLED"
        doc = json.loads(json.dumps(P.CANCEL))
        doc["CancelOrderResponse"]["orderId"] = oid
        return 200, {}, json.dumps(doc)
