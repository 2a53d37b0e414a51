"""The Alpaca broker: the `Broker` protocol over alpaca-py's `TradingClient` (paper endpoint by
default; live only with `[alpaca] paper = false`, `allow_live_orders = true` and `--live`).

`client_order_id` is the idempotency key: Alpaca refuses a second order with the same id, and
after a lost reply the order is looked up with `GET /v2/orders:by_client_order_id` before
anything is sent again. Alpaca has no order preview; `preview` estimates the cost from the latest
trade. Fills are reported cumulatively (`filled_qty`, `filled_avg_price`); the engine turns
increases into fills. alpaca-py is used with `raw_data=True` (plain dicts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..alpaca_common import no_sdk_retry, require_keys, sdk, translate_error, with_retries
from ..config import AlpacaConfig
from ..errors import ApiError, InputError, OrderRejectedError, TemporaryApiError
from .base import (
    CANCELLED,
    EXECUTED,
    EXPIRED,
    OPEN,
    PARTIAL,
    REJECTED,
    AccountValues,
    BrokerPosition,
    OrderRequest,
    OrderState,
    Preview,
    Quote,
    session_of,
)

_STATUS = {
    "filled": EXECUTED,
    "partially_filled": PARTIAL,
    "canceled": CANCELLED,
    "expired": EXPIRED,
    "rejected": REJECTED,
    "done_for_day": CANCELLED,
}
_TIF = {
    "GOOD_FOR_DAY": "day",
    "GOOD_UNTIL_CANCEL": "gtc",
    "IMMEDIATE_OR_CANCEL": "ioc",
    "FILL_OR_KILL": "fok",
}
_SIDE = {"BUY": "buy", "SELL": "sell", "BUY_TO_COVER": "buy", "SELL_SHORT": "sell"}


def order_state(o: dict[str, Any]) -> OrderState:
    """An Alpaca order (raw JSON) as a broker-neutral `OrderState`."""
    filled = int(float(o.get("filled_qty") or 0))
    status = _STATUS.get(str(o.get("status")), OPEN)
    if status == OPEN and filled > 0:
        status = PARTIAL
    avg = o.get("filled_avg_price")
    filled_at = str(o["filled_at"]).replace("Z", "+00:00") if o.get("filled_at") else None
    return OrderState(
        str(o.get("client_order_id") or ""),
        str(o.get("id")),
        str(o.get("symbol")),
        str(o.get("side", "")).upper(),
        int(float(o.get("qty") or 0)),
        status,
        filled,
        float(avg) if avg not in (None, "") else None,
        (),
        str(o.get("status")),
        filled_at,
        session_of(filled_at),
    )


class AlpacaBroker:
    """One Alpaca account as a `Broker`.

    Args:
        cfg: `[alpaca]` config. sleep: waits seconds between retries of read calls.
    """

    name = "alpaca"

    def __init__(self, cfg: AlpacaConfig, sleep: Callable[[float], None] = time.sleep):
        key, secret = require_keys(cfg)
        sdk()
        from alpaca.data.historical import StockHistoricalDataClient
        from alpaca.trading.client import TradingClient

        self.cfg, self.sleep = cfg, sleep
        self.trading = no_sdk_retry(
            TradingClient(
                key, secret, paper=cfg.paper, raw_data=True, url_override=cfg.trading_url or None
            )
        )
        self.data = no_sdk_retry(
            StockHistoricalDataClient(key, secret, raw_data=True, url_override=cfg.data_url or None)
        )
        self.account = "paper" if cfg.paper else "live"

    def _read(self, call: Callable[[], Any], what: str) -> Any:
        return with_retries(call, what, self.sleep)

    def account_values(self) -> AccountValues:
        """Cash and equity of the account (USD)."""
        a = self._read(self.trading.get_account, "Alpaca account")
        return AccountValues(
            cash=float(a["cash"]),
            equity=float(a["equity"]),
            buying_power=float(a.get("buying_power") or 0),
        )

    def positions(self) -> list[BrokerPosition]:
        """Open positions (short ones negative)."""
        rows = self._read(self.trading.get_all_positions, "Alpaca positions")
        return [
            BrokerPosition(
                p["symbol"], int(float(p["qty"])), float(p.get("avg_entry_price") or 0) or None
            )
            for p in rows
        ]

    def quotes(self, symbols: list[str]) -> dict[str, Quote]:
        """Latest trade and today's daily bar from market-data snapshots."""
        from alpaca.data.enums import DataFeed
        from alpaca.data.requests import StockSnapshotRequest

        req = StockSnapshotRequest(symbol_or_symbols=symbols, feed=DataFeed(self.cfg.feed))
        snaps = self._read(lambda: self.data.get_stock_snapshot(req), "Alpaca snapshots")
        out = {}
        for sym, snap in (snaps or {}).items():
            trade = (snap or {}).get("latestTrade") or {}
            if trade.get("p") is None:
                continue
            day = (snap or {}).get("dailyBar") or {}
            out[sym] = Quote(
                sym,
                float(trade["p"]),
                trade.get("t"),
                {
                    k: float(day[s])
                    for k, s in (("open", "o"), ("high", "h"), ("low", "l"), ("volume", "v"))
                    if day.get(s) is not None
                },
            )
        return out

    def preview(self, req: OrderRequest) -> Preview:
        """Check the order and estimate its cost from the latest trade (no preview at Alpaca).

        Raises:
            InputError: unsupported parameters. OrderRejectedError: no price for the symbol.
        """
        if req.quantity <= 0:
            raise InputError(f"quantity must be a positive whole number, got {req.quantity}")
        if req.side not in _SIDE or req.order_term not in _TIF:
            raise InputError(f"unsupported order for Alpaca: {req.side} {req.order_term}")
        q = self.quotes([req.symbol]).get(req.symbol)
        if q is None:
            raise OrderRejectedError(f"no Alpaca price for {req.symbol}")
        price = req.limit_price or q.last
        return Preview(
            f"A{req.client_order_id}",
            req.quantity * price,
            0.0,
            ("Alpaca has no order preview: estimate from the latest trade",),
        )

    def place(self, req: OrderRequest, preview: Preview) -> OrderState:
        """Submit once with `client_order_id`; a lost reply raises `TemporaryApiError` (the
        caller looks the order up), a refusal `OrderRejectedError`."""
        body = self._order_request(req)
        try:
            o = self.trading.submit_order(body)
        except Exception as exc:
            err = translate_error(exc, "Alpaca order")
            if isinstance(err, TemporaryApiError):
                raise err from None
            if isinstance(err, ApiError) and err.status in (403, 422):
                raise OrderRejectedError(f"Alpaca refused the order: {err}") from None
            raise err from None
        return order_state(o)

    def _order_request(self, req: OrderRequest) -> Any:
        from alpaca.trading import requests as r

        common: dict[str, Any] = dict(
            symbol=req.symbol,
            qty=req.quantity,
            side=_SIDE[req.side],
            time_in_force=_TIF[req.order_term],
            client_order_id=req.client_order_id,
            extended_hours=req.market_session == "EXTENDED",
        )
        if req.price_type == "MARKET":
            return r.MarketOrderRequest(**common)
        if req.price_type == "LIMIT":
            return r.LimitOrderRequest(limit_price=req.limit_price, **common)
        if req.price_type == "STOP":
            return r.StopOrderRequest(stop_price=req.stop_price, **common)
        if req.price_type == "TRAILING_STOP_CNST":
            return r.TrailingStopOrderRequest(trail_price=req.stop_price, **common)
        if req.price_type == "TRAILING_STOP_PRCT":
            return r.TrailingStopOrderRequest(trail_percent=req.stop_price, **common)
        return r.StopLimitOrderRequest(
            limit_price=req.limit_price, stop_price=req.stop_price, **common
        )

    def change(self, broker_order_id: str, req: OrderRequest) -> OrderState:
        """Replace open order `broker_order_id` with `req`'s quantity, prices and term
        (`PATCH /v2/orders/{id}`, alpaca-py `replace_order_by_id`); Alpaca answers a new order
        (new id, `req.client_order_id`) and cancels the old one.

        Raises:
            OrderRejectedError: Alpaca refused (403/422). TemporaryApiError: lost reply.
        """
        from alpaca.trading.enums import TimeInForce
        from alpaca.trading.requests import ReplaceOrderRequest

        trail = req.stop_price if req.price_type.startswith("TRAILING") else None
        body = ReplaceOrderRequest(
            qty=req.quantity,
            time_in_force=TimeInForce(_TIF[req.order_term]),
            limit_price=req.limit_price,
            stop_price=None if trail is not None else req.stop_price,
            trail=trail,
            client_order_id=req.client_order_id,
        )
        try:
            o = self.trading.replace_order_by_id(broker_order_id, body)
        except Exception as exc:
            err = translate_error(exc, "Alpaca replace")
            if isinstance(err, TemporaryApiError):
                raise err from None
            if isinstance(err, ApiError) and err.status in (403, 422):
                raise OrderRejectedError(f"Alpaca refused the change: {err}") from None
            raise err from None
        return order_state(o)

    def cancel(self, broker_order_id: str) -> None:
        """Cancel an open order by Alpaca's order id."""
        self._read(lambda: self.trading.cancel_order_by_id(broker_order_id), "Alpaca cancel")

    def order_status(self, client_order_id: str) -> OrderState | None:
        """The order with this `client_order_id`, or None when Alpaca has never seen it."""
        try:
            o = self._read(
                lambda: self.trading.get_order_by_client_id(client_order_id), "Alpaca order lookup"
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return order_state(o)

    def open_orders(self) -> list[OrderState]:
        """Orders still open at Alpaca."""
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        query = GetOrdersRequest(status=QueryOrderStatus.OPEN)
        rows = self._read(lambda: self.trading.get_orders(query), "Alpaca orders")
        return [order_state(o) for o in rows]
