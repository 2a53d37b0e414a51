"""IB orders both ways: pure functions from an `OrderRequest` to an ib_async order (`MarketOrder`,
`LimitOrder`, `StopOrder`, `StopLimitOrder`) carrying our `clientOrderId` in `orderRef`, and from
an ib_async `Trade` (plus executions found by `orderRef`) to an `OrderState` with one `Fill`
per IB execution id. Prices USD, quantities whole shares.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import InputError
from . import base as b

_STATUS = {
    "Filled": b.EXECUTED,
    "Cancelled": b.CANCELLED,
    "ApiCancelled": b.CANCELLED,
    "Inactive": b.REJECTED,
}
_TIF = {
    "GOOD_FOR_DAY": "DAY",
    "GOOD_UNTIL_CANCEL": "GTC",
    "IMMEDIATE_OR_CANCEL": "IOC",
    "FILL_OR_KILL": "FOK",
}
_ACTION = {"BUY": "BUY", "SELL": "SELL", "BUY_TO_COVER": "BUY", "SELL_SHORT": "SELL"}


def num(v: Any) -> float | None:
    """A positive finite number, else None (IB sends nan and 0 for unknown)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or f <= 0 else f


def ib_order(req: b.OrderRequest, account: str = "") -> Any:
    """The ib_async order of a request (`MarketOrder`, `LimitOrder`, `StopOrder`, ...).

    Raises:
        InputError: an unsupported side, type or term.
    """
    if req.side not in _ACTION or req.order_term not in _TIF or req.quantity <= 0:
        raise InputError(f"unsupported IB order: {req.side} {req.quantity} {req.order_term}")
    from .ibkr import sdk

    ib = sdk()
    kw: dict[str, Any] = dict(
        orderRef=req.client_order_id,
        tif=_TIF[req.order_term],
        outsideRth=req.market_session == "EXTENDED",
        account=account,
    )
    action, qty = _ACTION[req.side], req.quantity
    if req.price_type == "MARKET":
        return ib.MarketOrder(action, qty, **kw)
    if req.price_type == "LIMIT":
        return ib.LimitOrder(action, qty, req.limit_price, **kw)
    if req.price_type == "STOP":
        return ib.StopOrder(action, qty, req.stop_price, **kw)
    if req.price_type == "STOP_LIMIT":
        return ib.StopLimitOrder(action, qty, req.limit_price, req.stop_price, **kw)
    raise InputError(f"unsupported IB order type {req.price_type}")


def _utc(when: Any) -> str | None:
    """An `Execution.time` (a datetime, UTC when naive) as UTC ISO-8601, or None."""
    import datetime as dt

    if not isinstance(when, dt.datetime):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).isoformat()


def ib_fills(fills: list[Any]) -> list[b.Fill]:
    """ib_async `Fill`s as our fills, one per `execId` (commission from its report; execution
    time `Execution.time` as UTC ISO-8601 and its US/Eastern session, so the engine books the
    fill at the session it happened in)."""
    seen: dict[str, b.Fill] = {}
    for f in fills:
        e = f.execution
        report = getattr(f, "commissionReport", None)
        commission = float(report.commission) if report and num(report.commission) else 0.0
        when = _utc(getattr(e, "time", None))
        seen[e.execId] = b.Fill(
            f"ibkr:{e.execId}",
            int(e.shares),
            float(e.price),
            commission,
            executed_at=when,
            session_date=b.session_of(when),
        )
    return list(seen.values())


def trade_state(trade: Any, executions: list[Any]) -> b.OrderState:
    """An ib_async `Trade` (plus executions found for its `orderRef`) as an `OrderState`."""
    o, st = trade.order, trade.orderStatus
    fills = ib_fills([*trade.fills, *executions])
    filled = sum(f.quantity for f in fills)
    avg = sum(f.quantity * f.price for f in fills) / filled if filled else None
    status = _STATUS.get(st.status, b.OPEN)
    if status == b.OPEN and filled:
        status = b.PARTIAL
    message = next((e.message for e in reversed(trade.log) if e.message), st.status)
    return b.OrderState(
        o.orderRef,
        str(o.permId or st.permId or o.orderId),
        trade.contract.symbol,
        o.action,
        int(o.totalQuantity),
        status,
        filled,
        avg,
        tuple(fills),
        message,
    )
