"""The E*TRADE broker: the `Broker` protocol over `etrade.client.EtradeClient`.

Order identity: E*TRADE takes our `clientOrderId` on preview and place but documents that the
field "does not appear in any API responses" (`etrade_api.md` §5). So `order_status(coid)` finds
an order by the E*TRADE `orderId` the journal recorded; when the reply to a place was lost and no
`orderId` is known, it searches the account's recent orders for one carrying that
`clientOrderId` (if E*TRADE echoes it) or else for the journaled order's fingerprint (symbol,
action, quantity, price type and prices, placed no earlier than the intent was journaled) whose
`orderId` the journal does not already own. Only when nothing matches is the order "unknown to
the broker".

Fills: E*TRADE reports cumulative `filledQuantity` and `averageExecutionPrice`; the engine turns
increases of the cumulative quantity into fills (see `engine.apply_state`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ApiError, OrderRejectedError, TemporaryApiError
from ..etrade import orders as ob
from ..etrade.client import EtradeClient
from ..etrade.models import Order
from ..store import OrderRow, Store
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
    "OPEN": OPEN,
    "EXECUTED": EXECUTED,
    "PARTIAL": PARTIAL,
    "CANCELLED": CANCELLED,
    "CANCEL_REQUESTED": OPEN,
    "REJECTED": REJECTED,
    "EXPIRED": EXPIRED,
    "DONE_TRADE_EXECUTED": EXECUTED,
}


@contextmanager
def _refused_as_rejected(what: str) -> Iterator[None]:
    """A 400 with an E*TRADE error code means the preview, order or change was refused:
    raise `OrderRejectedError`; temporary errors and other API errors pass unchanged."""
    try:
        yield
    except TemporaryApiError:
        raise
    except ApiError as exc:
        if exc.status == 400 and exc.code is not None:
            raise OrderRejectedError(f"E*TRADE refused the {what}: {exc}") from None
        raise


def _preview(p: Any) -> Preview:
    """An E*TRADE `OrderPreview` (order or change) as a `Preview`: USD estimates, messages."""
    return Preview(
        p.preview_id,
        p.estimated_total or 0.0,
        p.estimated_commission or 0.0,
        tuple(f"{m.type} {m.code}: {m.description}" for m in p.messages),
    )


def to_equity_order(req: OrderRequest) -> ob.EquityOrder:
    """The E*TRADE payload parameters of an `OrderRequest`."""
    return ob.EquityOrder(
        req.symbol,
        req.side,
        req.quantity,
        req.price_type,
        req.order_term,
        req.market_session,
        req.limit_price,
        req.stop_price,
    )


def order_state(o: Order, client_order_id: str) -> OrderState:
    """An E*TRADE order as a broker-neutral `OrderState` (cumulative fill, no fill list).

    The execution time is `OrderDetail.executedTime` (epoch ms, as UTC ISO-8601) and its
    session the US/Eastern date of it: fills are booked there, not at the session of the run
    that finds them (`etrade_api.md` §5, list orders)."""
    status = _STATUS.get(o.status, OPEN)
    if status == OPEN and o.filled_qty > 0:
        status = PARTIAL
    executed = o.executed_time if o.filled_qty > 0 else None
    return OrderState(
        client_order_id,
        o.order_id,
        o.symbol,
        o.action,
        int(o.ordered_qty),
        status,
        int(o.filled_qty),
        o.avg_price,
        (),
        o.status,
        executed,
        session_of(executed),
    )


class EtradeBroker:
    """One E*TRADE account (`accountIdKey`) as a `Broker`.

    Args:
        client: the REST client. account_id_key: E*TRADE's opaque account key.
        store: the journal, used to map a `clientOrderId` to E*TRADE's `orderId`.
    """

    name = "etrade"

    def __init__(self, client: EtradeClient, account_id_key: str, store: Store):
        self.client, self.account, self.store = client, account_id_key, store

    def account_values(self) -> AccountValues:
        """Cash available for investment and total account value (USD)."""
        b = self.client.balance(self.account)
        cash = b.cash_for_investment or 0.0
        return AccountValues(
            cash=cash, equity=b.total_account_value or cash, buying_power=b.cash_buying_power
        )

    def positions(self) -> list[BrokerPosition]:
        """Holdings from the portfolio (short positions negative)."""
        out: dict[str, BrokerPosition] = {}
        for p in self.client.portfolio(self.account):
            qty = int(p.quantity) * (-1 if p.position_type == "SHORT" else 1)
            prev = out.get(p.symbol)
            out[p.symbol] = BrokerPosition(
                p.symbol, qty + (prev.quantity if prev else 0), p.price_paid
            )
        return list(out.values())

    def quotes(self, symbols: list[str]) -> dict[str, Quote]:
        """Last trade, and today's open/high/low/volume, of the symbols E*TRADE could quote."""
        res = self.client.quotes(symbols)
        out = {}
        for q in res.quotes:
            if q.last is None:
                continue
            day = {"open": q.open, "high": q.high, "low": q.low, "volume": q.volume}
            out[q.symbol] = Quote(
                q.symbol, q.last, q.time_utc, {k: v for k, v in day.items() if v}
            )  # E*TRADE sends 0 pre-open
        return out

    def preview(self, req: OrderRequest) -> Preview:
        """`POST .../orders/preview` with the request's `clientOrderId`.

        Raises:
            InputError: invalid parameters (checked before sending).
            OrderRejectedError: E*TRADE refused the preview (e.g. insufficient funds).
        """
        body = ob.preview_request(to_equity_order(req), req.client_order_id)
        with _refused_as_rejected("preview"):
            return _preview(self.client.preview_order(self.account, body))

    def place(self, req: OrderRequest, preview: Preview) -> OrderState:
        """`POST .../orders/place` with the same parameters, `clientOrderId` and `previewId`.

        A lost reply raises `TemporaryApiError` unchanged: the caller must look the order up
        (`order_status`) before anything is sent again.

        Raises:
            OrderRejectedError: E*TRADE refused the order. TemporaryApiError: lost reply.
        """
        body = ob.place_request(to_equity_order(req), req.client_order_id, preview.preview_id)
        with _refused_as_rejected("order"):
            placed = self.client.place_order(self.account, body)
        return self._placed_state(req, placed)

    def change(self, broker_order_id: str, req: OrderRequest) -> OrderState:
        """Change open order `broker_order_id` to `req` (its `clientOrderId` is the new
        order's): `preview_change`, then `place_change`. E*TRADE cancels the old `orderId` and
        creates a new one, returned here.

        Raises:
            OrderRejectedError: E*TRADE refused the change (e.g. the order is no longer open).
            TemporaryApiError: lost reply to the place (look the new order up first).
        """
        return self.place_change(broker_order_id, req, self.preview_change(broker_order_id, req))

    def preview_change(self, broker_order_id: str, req: OrderRequest) -> Preview:
        """`PUT .../orders/{orderId}/change/preview` with the new parameters (no side effect).

        Raises:
            InputError: invalid parameters. OrderRejectedError: E*TRADE refused the change.
        """
        body = ob.preview_request(to_equity_order(req), req.client_order_id)
        with _refused_as_rejected("change"):
            return _preview(self.client.preview_change(self.account, broker_order_id, body))

    def place_change(self, broker_order_id: str, req: OrderRequest, preview: Preview) -> OrderState:
        """`PUT .../orders/{orderId}/change/place` with the same parameters and the preview's
        `PreviewIds`; sent once. Returns the new order's state.

        Raises:
            OrderRejectedError: refused. TemporaryApiError: lost reply.
        """
        body = ob.place_request(to_equity_order(req), req.client_order_id, preview.preview_id)
        with _refused_as_rejected("change"):
            placed = self.client.place_change(self.account, broker_order_id, body)
        return self._placed_state(req, placed)

    def _placed_state(self, req: OrderRequest, placed: Any) -> OrderState:
        """The state of a just-placed order: its details, or OPEN with the place messages."""
        found = self.client.order_details(self.account, placed.order_id)
        if found is None:
            note = "; ".join(m.description for m in placed.messages)
            return OrderState(
                req.client_order_id,
                placed.order_id,
                req.symbol,
                req.side,
                req.quantity,
                OPEN,
                message=note,
            )
        return order_state(found, req.client_order_id)

    def cancel(self, broker_order_id: str) -> None:
        """`PUT .../orders/cancel` with E*TRADE's `orderId`."""
        self.client.cancel_order(self.account, ob.cancel_request(broker_order_id))

    def order_by_id(self, order_id: str) -> OrderState | None:
        """The order with E*TRADE `orderId` (`GET .../orders/{orderId}`), or None; its
        `client_order_id` is the journal's when the journal owns it, else empty."""
        found = self.client.order_details(self.account, order_id)
        if found is None:
            return None
        row = self.store.order_by_broker_id(self.name, self.account, order_id)
        return order_state(found, row.client_order_id if row else "")

    def order_status(self, client_order_id: str) -> OrderState | None:
        """The order with this `clientOrderId` (see the module doc), or None."""
        row = self.store.order_by_coid(client_order_id)
        if row is not None and row.broker_order_id:
            found = self.client.order_details(self.account, row.broker_order_id)
            return order_state(found, client_order_id) if found else None
        recent = self.client.list_orders(self.account)
        for o in recent:
            if o.client_order_id == client_order_id:
                return order_state(o, client_order_id)
        if row is None:
            return None
        match = self._by_fingerprint(row, recent)
        return order_state(match, client_order_id) if match else None

    def _by_fingerprint(self, row: OrderRow, recent: list[Order]) -> Order | None:
        owned = self.store.broker_order_ids(self.name, self.account)
        since = (dt.datetime.fromisoformat(row.created_at) - dt.timedelta(seconds=60)).isoformat()
        for o in recent:
            if (
                o.order_id not in owned
                and o.symbol == row.symbol
                and o.action == row.side
                and int(o.ordered_qty) == row.quantity
                and o.price_type == row.price_type
                and (o.limit_price or None) == (row.limit_price or None)
                and (o.stop_price or None) == (row.stop_price or None)
                and (o.placed_time or "") >= since
            ):
                return o
        return None

    def open_orders(self) -> list[OrderState]:
        """Orders with status OPEN at E*TRADE."""
        return [
            order_state(o, o.client_order_id or "")
            for o in self.client.list_orders(self.account, status="OPEN")
        ]
