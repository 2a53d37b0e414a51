"""A fake Schwab Trader API behind respx (schwab-py's httpx session is the real one): accounts,
balances and positions, quotes, price history and orders, with JSON shaped as Schwab documents
it (`securitiesAccount.positions[].longQuantity/averagePrice`,
`currentBalances.cashBalance/buyingPower/liquidationValue`, `orderLegCollection`,
`orderActivityCollection[].executionLegs`, `candles[{datetime ms, ...}]`)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from typing import Any

import httpx

API = "https://api.schwabapi.com"
NUMBER, HASH = "12345678", "A1B2C3D4E5F6HASH"
APP_KEY, APP_SECRET = "sch-app-key-0123456789", "sch-app-s3cret-abcdef"
ACCESS, REFRESH = "sch-access-t0ken-XYZ", "sch-refresh-t0ken-QRS"


def token(created: float | None = None) -> dict[str, Any]:
    """A stored token object in schwab-py's format (access token valid 30 min)."""
    now = time.time()
    return {
        "creation_timestamp": int(created if created is not None else now),
        "token": {
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "token_type": "Bearer",
            "expires_in": 1800,
            "expires_at": int(now) + 1800,
            "scope": "api",
        },
    }


def _stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S+0000")


class FakeSchwab:
    """The account and order book of one Schwab account.

    `fill_ratio` fills that share of each new order at once (the rest stays WORKING until
    `fill_rest`); `reject` answers the next place with a 400; `lose` accepts the next order and
    then drops the reply (`accepted`) or drops it before it arrives (`refused`).
    """

    def __init__(self, cash: float = 20_000.0):
        self.cash = cash
        self.prices: dict[str, float] = {}
        self.held: dict[str, tuple[int, float]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.next_id, self.next_act = 1001, 5001
        self.fill_ratio = 1.0
        self.reject: str | None = None
        self.lose: str | None = None
        self.posts = 0

    # -- state changes -------------------------------------------------------------------------

    def _execute(self, o: dict[str, Any], qty: int) -> None:
        leg = o["orderLegCollection"][0]
        sym, price = leg["instrument"]["symbol"], self.prices[leg["instrument"]["symbol"]]
        sign = 1 if leg["instruction"] in ("BUY", "BUY_TO_COVER") else -1
        have, avg = self.held.get(sym, (0, 0.0))
        new = have + sign * qty
        if sign > 0:
            avg = (have * avg + qty * price) / new
        self.held[sym] = (new, avg)
        if new == 0:
            del self.held[sym]
        self.cash -= sign * qty * price
        o["orderActivityCollection"].append(
            {
                "activityType": "EXECUTION",
                "activityId": self.next_act,
                "executionType": "FILL",
                "quantity": qty,
                "orderRemainingQuantity": o["remainingQuantity"] - qty,
                "executionLegs": [
                    {
                        "legId": 1,
                        "quantity": qty,
                        "mismarkedQuantity": 0,
                        "price": price,
                        "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                    }
                ],
            }
        )
        self.next_act += 1
        o["filledQuantity"] += qty
        o["remainingQuantity"] -= qty
        o["status"] = "FILLED" if o["remainingQuantity"] == 0 else "WORKING"

    def fill_rest(self) -> None:
        """Fill what is still working of every order."""
        for o in self.orders.values():
            if o["status"] == "WORKING" and o["remainingQuantity"]:
                self._execute(o, o["remainingQuantity"])

    # -- HTTP ----------------------------------------------------------------------------------

    def install(self, router: Any) -> None:
        """Add the routes to a `respx` router."""
        self.router = router
        acct = f"{API}/trader/v1/accounts"
        router.get(f"{acct}/accountNumbers").mock(
            return_value=httpx.Response(200, json=[{"accountNumber": NUMBER, "hashValue": HASH}])
        )
        router.get(f"{acct}/{HASH}").mock(side_effect=self._account)
        router.get(f"{API}/marketdata/v1/quotes").mock(side_effect=self._quotes)
        router.get(f"{API}/marketdata/v1/pricehistory").mock(side_effect=self._history)
        router.post(f"{acct}/{HASH}/orders").mock(side_effect=self._place)
        router.get(f"{acct}/{HASH}/orders").mock(side_effect=self._list)
        router.route(method="GET", url__regex=rf"{acct}/{HASH}/orders/\d+").mock(
            side_effect=self._get
        )
        router.route(method="DELETE", url__regex=rf"{acct}/{HASH}/orders/\d+").mock(
            side_effect=self._cancel
        )

    def _account(self, request: httpx.Request) -> httpx.Response:
        assert request.url.params.get("fields") == "positions"
        positions = [
            {
                "shortQuantity": 0.0,
                "averagePrice": avg,
                "longQuantity": float(qty),
                "instrument": {"assetType": "EQUITY", "symbol": sym},
                "marketValue": qty * self.prices.get(sym, avg),
            }
            for sym, (qty, avg) in self.held.items()
        ]
        value = self.cash + sum(p["marketValue"] for p in positions)
        return httpx.Response(
            200,
            json={
                "securitiesAccount": {
                    "type": "CASH",
                    "accountNumber": NUMBER,
                    "positions": positions,
                    "currentBalances": {
                        "cashBalance": self.cash,
                        "buyingPower": self.cash,
                        "liquidationValue": value,
                    },
                }
            },
        )

    def _quotes(self, request: httpx.Request) -> httpx.Response:
        syms = request.url.params["symbols"].split(",")
        body: dict[str, Any] = {
            s: {
                "assetMainType": "EQUITY",
                "symbol": s,
                "quote": {"lastPrice": self.prices[s], "totalVolume": 1_000_000, "tradeTime": 1},
            }
            for s in syms
            if s in self.prices
        }
        if bad := [s for s in syms if s not in self.prices]:
            body["errors"] = {"invalidSymbols": bad}
        return httpx.Response(200, json=body)

    def _history(self, request: httpx.Request) -> httpx.Response:
        sym = request.url.params["symbol"]
        assert request.url.params["frequencyType"] == "daily"
        days = [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)]
        # Schwab stamps a daily candle at midnight US Central (06:00 UTC in winter)
        candles = [
            {
                "open": 10.0 + i,
                "high": 11.0 + i,
                "low": 9.0 + i,
                "close": 10.5 + i,
                "volume": 1000 * (i + 1),
                "datetime": int(
                    dt.datetime.combine(d, dt.time(6), dt.timezone.utc).timestamp() * 1000
                ),
            }
            for i, d in enumerate(days)
        ]
        return httpx.Response(200, json={"symbol": sym, "empty": False, "candles": candles})

    def _place(self, request: httpx.Request) -> httpx.Response:
        self.posts += 1
        spec = json.loads(request.content)
        if self.reject:
            message, self.reject = self.reject, None
            return httpx.Response(400, json={"message": message})
        if self.lose == "refused":
            self.lose = None
            raise httpx.ConnectError("connection reset", request=request)
        oid, self.next_id = self.next_id, self.next_id + 1
        qty = int(spec["orderLegCollection"][0]["quantity"])
        o = {
            **spec,
            "orderId": oid,
            "quantity": qty,
            "filledQuantity": 0,
            "remainingQuantity": qty,
            "status": "WORKING",
            "enteredTime": _stamp(dt.datetime.now(dt.timezone.utc)),
            "accountNumber": int(NUMBER),
            "orderActivityCollection": [],
        }
        for key in ("price", "stopPrice"):
            if key in o:
                o[key] = float(o[key])
        self.orders[oid] = o
        first = int(qty * self.fill_ratio)
        if first:
            self._execute(o, first)
        if self.lose == "accepted":
            self.lose = None
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(
            201, headers={"Location": f"{API}/trader/v1/accounts/{HASH}/orders/{oid}"}
        )

    def _get(self, request: httpx.Request) -> httpx.Response:
        oid = int(str(request.url).rsplit("/", 1)[1])
        if oid not in self.orders:
            return httpx.Response(404, json={"message": "Order not found"})
        return httpx.Response(200, json=self.orders[oid])

    def _list(self, request: httpx.Request) -> httpx.Response:
        since = request.url.params["fromEnteredTime"]
        assert re.match(r"\d{4}-\d\d-\d\dT", since) and request.url.params["toEnteredTime"]
        return httpx.Response(200, json=list(self.orders.values()))

    def _cancel(self, request: httpx.Request) -> httpx.Response:
        oid = int(str(request.url).rsplit("/", 1)[1])
        self.orders[oid]["status"] = "CANCELED"
        return httpx.Response(200)
