"""Schwab order JSON, both ways: pure functions from an `OrderRequest` to the order schwab-py's
builders make (`equity_buy_market/limit`, `equity_sell_market/limit`, stop and stop-limit
through `OrderBuilder`), and from Schwab's order JSON (`orderLegCollection`,
`orderActivityCollection[].executionLegs`) to an `OrderState` with one `Fill` per execution
leg, keyed by Schwab's `activityId`. Prices USD, quantities whole shares.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..errors import InputError
from . import base as b

_STATUS = {
    "FILLED": b.EXECUTED,
    "CANCELED": b.CANCELLED,
    "REPLACED": b.CANCELLED,
    "REJECTED": b.REJECTED,
    "EXPIRED": b.EXPIRED,
}
_DURATION = {
    "GOOD_FOR_DAY": "DAY",
    "GOOD_UNTIL_CANCEL": "GOOD_TILL_CANCEL",
    "IMMEDIATE_OR_CANCEL": "IMMEDIATE_OR_CANCEL",
    "FILL_OR_KILL": "FILL_OR_KILL",
}
_SIDES = ("BUY", "SELL", "BUY_TO_COVER", "SELL_SHORT")


def parse_time(text: str | None) -> dt.datetime | None:
    """Schwab's `2024-01-02T15:04:05+0000` as an aware UTC datetime (None stays None)."""
    if not text:
        return None
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").astimezone(dt.timezone.utc)


def order_state(o: dict[str, Any], client_order_id: str) -> b.OrderState:
    """A Schwab order (JSON) as an `OrderState`, one `Fill` per execution leg, each with its
    execution time (`executionLegs[].time`, UTC) and session (US/Eastern date)."""
    leg = (o.get("orderLegCollection") or [{}])[0]
    fills = tuple(
        b.Fill(
            f"schwab:{act.get('activityId')}:{i}",
            int(float(x["quantity"])),
            float(x["price"]),
            executed_at=_utc(x.get("time")),
            session_date=b.session_of(_utc(x.get("time"))),
        )
        for act in o.get("orderActivityCollection") or []
        if act.get("activityType") == "EXECUTION"
        for i, x in enumerate(act.get("executionLegs") or [])
    )
    filled = sum(f.quantity for f in fills)  # no fill without its execution leg (and price)
    avg = sum(f.quantity * f.price for f in fills) / filled if filled else None
    status = _STATUS.get(str(o.get("status")), b.OPEN)
    if status == b.OPEN and filled:
        status = b.PARTIAL
    return b.OrderState(
        client_order_id,
        str(o.get("orderId")),
        str((leg.get("instrument") or {}).get("symbol", "")),
        str(leg.get("instruction", "")),
        int(float(o.get("quantity") or leg.get("quantity") or 0)),
        status,
        filled,
        avg,
        fills,
        str(o.get("statusDescription") or o.get("status") or ""),
    )


def _utc(time: Any) -> str | None:
    """An execution leg's `time` (ISO-8601 with offset, e.g. "2024-02-05T14:30:01+0000") as UTC
    ISO-8601, or None when absent or unparsable (the fill is then booked at the run's session)."""
    import datetime as dt

    if not isinstance(time, str) or not time:
        return None
    try:
        t = dt.datetime.fromisoformat(time.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc).isoformat()


def _price(p: float | None) -> str | None:
    """A price as schwab-py wants it: a string, 2 decimals (4 below 1 USD)."""
    if p is None:
        return None
    return f"{p:.2f}" if p >= 1 else f"{p:.4f}"


def order_spec(req: b.OrderRequest) -> dict[str, Any]:
    """The JSON order of an `OrderRequest`, built with schwab-py's builders.

    Raises:
        InputError: a side, type or term Schwab equity orders do not take here.
    """
    from .schwab_auth import sdk

    sdk()
    from schwab.orders import equities as eq
    from schwab.orders.common import (
        Duration,
        EquityInstruction,
        OrderStrategyType,
        OrderType,
        Session,
    )
    from schwab.orders.generic import OrderBuilder

    if req.side not in _SIDES or req.order_term not in _DURATION or req.quantity <= 0:
        raise InputError(f"unsupported Schwab order: {req.side} {req.quantity} {req.order_term}")
    side = req.side.lower()
    if req.price_type == "MARKET":
        builder = getattr(eq, f"equity_{side}_market")(req.symbol, req.quantity)
    elif req.price_type == "LIMIT":
        builder = getattr(eq, f"equity_{side}_limit")(
            req.symbol, req.quantity, _price(req.limit_price)
        )
    elif req.price_type in ("STOP", "STOP_LIMIT"):
        builder = (
            OrderBuilder()
            .set_order_type(OrderType[req.price_type])
            .set_stop_price(_price(req.stop_price))
            .set_order_strategy_type(OrderStrategyType.SINGLE)
            .add_equity_leg(EquityInstruction[req.side], req.symbol, req.quantity)
        )
        if req.price_type == "STOP_LIMIT":
            builder.set_price(_price(req.limit_price))
    else:
        raise InputError(f"unsupported Schwab order type {req.price_type}")
    builder.set_duration(Duration[_DURATION[req.order_term]])
    builder.set_session(Session.SEAMLESS if req.market_session == "EXTENDED" else Session.NORMAL)
    return dict(builder.build())


def fingerprint(o: dict[str, Any]) -> tuple[Any, ...]:
    """(symbol, instruction, quantity, orderType, price, stopPrice) of a Schwab order."""
    leg = (o.get("orderLegCollection") or [{}])[0]
    price, stop = o.get("price"), o.get("stopPrice")
    return (
        (leg.get("instrument") or {}).get("symbol"),
        leg.get("instruction"),
        int(float(o.get("quantity") or 0)),
        o.get("orderType"),
        float(price) if price is not None else None,
        float(stop) if stop is not None else None,
    )
