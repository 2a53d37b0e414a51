"""Pure builders of E*TRADE equity order payloads (`etrade_api.md` §5), with the checks E*TRADE
would otherwise answer with an opaque 400: LIMIT needs limitPrice, STOP needs stopPrice,
STOP_LIMIT both, MARKET neither; IMMEDIATE_OR_CANCEL and FILL_OR_KILL only for limit orders;
EXTENDED hours only for limit orders. Trailing stops put the trail in `stopPrice`: USD for
TRAILING_STOP_CNST, a whole-number percent for TRAILING_STOP_PRCT (5 = 5 %; `etrade_api.md` §5,
pyetrade issue 57). Values are sent as strings, as in the documented samples. An order change
(`.../orders/{orderId}/change/preview|place`) sends the same bodies as preview and place.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

ACTIONS = ("BUY", "SELL", "BUY_TO_COVER", "SELL_SHORT")
PRICE_TYPES = (
    "MARKET",
    "LIMIT",
    "STOP",
    "STOP_LIMIT",
    "TRAILING_STOP_CNST",
    "TRAILING_STOP_PRCT",
)
TRAILING = ("TRAILING_STOP_CNST", "TRAILING_STOP_PRCT")
ORDER_TERMS = ("GOOD_FOR_DAY", "GOOD_UNTIL_CANCEL", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL")
MARKET_SESSIONS = ("REGULAR", "EXTENDED")
_CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9]{1,20}$")


@dataclass(frozen=True)
class EquityOrder:
    """An equity order's parameters (E*TRADE names in the payload). Prices USD, shares whole."""

    symbol: str
    action: str
    quantity: int
    price_type: str = "MARKET"
    order_term: str = "GOOD_FOR_DAY"
    market_session: str = "REGULAR"
    limit_price: float | None = None
    stop_price: float | None = None
    all_or_none: bool = False


def _price(value: float | None, name: str) -> str:
    if value is None or not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive price in USD, got {value!r}")
    return f"{value:.4f}".rstrip("0").rstrip(".")


#: the most shares one order may ask for: far above any retail order, and a typo's guard (a
#: larger number would not even fit the journal's 64-bit INTEGER)
MAX_QUANTITY = 1_000_000_000


def validate(o: EquityOrder) -> None:
    """Check an order before it is sent.

    Raises:
        InputError: naming the first problem (quantity, action, price fields, term, session).
    """
    if not isinstance(o.quantity, int) or isinstance(o.quantity, bool) or o.quantity <= 0:
        raise InputError(f"quantity must be a positive whole number of shares, got {o.quantity!r}")
    if o.quantity > MAX_QUANTITY:
        raise InputError(f"quantity {o.quantity:,} is more than {MAX_QUANTITY:,} shares")
    for value, allowed, name in (
        (o.action, ACTIONS, "orderAction"),
        (o.price_type, PRICE_TYPES, "priceType"),
        (o.order_term, ORDER_TERMS, "orderTerm"),
        (o.market_session, MARKET_SESSIONS, "marketSession"),
    ):
        if value not in allowed:
            raise InputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    needs_limit = o.price_type in ("LIMIT", "STOP_LIMIT")
    needs_stop = o.price_type in ("STOP", "STOP_LIMIT", *TRAILING)
    if needs_limit:
        _price(o.limit_price, "limit price (--limit)")
    elif o.limit_price is not None:
        raise InputError(f"a {o.price_type} order takes no limit price")
    if o.price_type == "TRAILING_STOP_PRCT":
        trail = o.stop_price
        if trail is None or not float(trail).is_integer() or not 0 < trail < 100:
            raise InputError(
                "TRAILING_STOP_PRCT takes the trail as a whole-number percent in --stop "
                f"(5 for 5 %), got {trail!r}"
            )
    elif needs_stop:
        what = "trail amount in USD (--stop)" if o.price_type in TRAILING else "stop price (--stop)"
        _price(o.stop_price, what)
    elif o.stop_price is not None:
        raise InputError(f"a {o.price_type} order takes no stop price")
    if o.order_term in ("IMMEDIATE_OR_CANCEL", "FILL_OR_KILL") and o.price_type != "LIMIT":
        raise InputError(f"{o.order_term} is only for LIMIT orders")
    if o.market_session == "EXTENDED" and o.price_type != "LIMIT":
        raise InputError("EXTENDED-hours orders must be LIMIT orders")


def order_element(o: EquityOrder) -> dict[str, Any]:
    """The `Order` element shared by preview and place (validated first)."""
    validate(o)
    return {
        "allOrNone": "true" if o.all_or_none else "false",
        "priceType": o.price_type,
        "orderTerm": o.order_term,
        "marketSession": o.market_session,
        "stopPrice": _price(o.stop_price, "stop price") if o.stop_price is not None else "",
        "limitPrice": _price(o.limit_price, "limit price") if o.limit_price is not None else "",
        "Instrument": [
            {
                "Product": {"securityType": "EQ", "symbol": o.symbol.upper()},
                "orderAction": o.action,
                "quantityType": "QUANTITY",
                "quantity": str(o.quantity),
            }
        ],
    }


def check_client_order_id(client_order_id: str) -> str:
    """Return the id if it is 1-20 alphanumerics (E*TRADE's rule), else raise `InputError`."""
    if not _CLIENT_ORDER_ID.match(client_order_id):
        raise InputError(f"clientOrderId must be 1-20 letters or digits, got {client_order_id!r}")
    return client_order_id


def preview_request(o: EquityOrder, client_order_id: str) -> dict[str, Any]:
    """Body of `POST .../orders/preview`."""
    return {
        "PreviewOrderRequest": {
            "orderType": "EQ",
            "clientOrderId": check_client_order_id(client_order_id),
            "Order": [order_element(o)],
        }
    }


def place_request(o: EquityOrder, client_order_id: str, preview_id: str) -> dict[str, Any]:
    """Body of `POST .../orders/place`: the previewed order, same `clientOrderId`, `PreviewIds`."""
    body = preview_request(o, client_order_id)["PreviewOrderRequest"]
    return {"PlaceOrderRequest": {**body, "PreviewIds": [{"previewId": int(preview_id)}]}}


def cancel_request(order_id: str) -> dict[str, Any]:
    """Body of `PUT .../orders/cancel` (the E*TRADE `orderId`, not the clientOrderId)."""
    return {"CancelOrderRequest": {"orderId": int(order_id)}}
