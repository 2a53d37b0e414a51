"""The `Broker` protocol. The plain values that cross it (`OrderRequest`, `OrderState`, ...)
live in `etrade_cli.values` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..values import (
    CANCELLED,
    EXECUTED,
    EXPIRED,
    OPEN,
    PARTIAL,
    REJECTED,
    AccountValues,
    BrokerPosition,
    Fill,
    OrderRequest,
    OrderState,
    Preview,
    Quote,
    session_of,
)

__all__ = [
    "CANCELLED",
    "EXECUTED",
    "EXPIRED",
    "OPEN",
    "PARTIAL",
    "REJECTED",
    "AccountValues",
    "Broker",
    "BrokerAccount",
    "BrokerPosition",
    "Fill",
    "OrderRequest",
    "OrderState",
    "Preview",
    "Quote",
    "session_of",
]


@dataclass(frozen=True)
class BrokerAccount:
    """An account a broker login can trade: `account_id` as the user knows it (and the book keys
    it), `key` the broker's handle for API calls (Schwab's hash; IB's account id again),
    `broker` its broker name, `paper` True/False when the broker says, else None."""

    account_id: str
    key: str
    broker: str
    description: str = ""
    paper: bool | None = None


class Broker(Protocol):
    """What the engine and the order commands need from a broker.

    Implementations raise `errors.ApiError` (or `TemporaryApiError`) for broker failures and
    `errors.OrderRejectedError` when an order is refused.

    Optional capability: `change(broker_order_id, req) -> OrderState` changes an open order to
    `req` (quantity, prices, term; `req.client_order_id` is the new order's) and returns the
    order the broker now has (E*TRADE: change preview + change place, a new `orderId`; Alpaca:
    replace). The engine's resting protective stops use it and fall back to cancel + new for a
    broker without it (`engine.protect`).
    """

    name: str
    account: str

    def account_values(self) -> AccountValues:
        """Cash and equity of the account."""
        ...

    def positions(self) -> list[BrokerPosition]:
        """Current holdings."""
        ...

    def quotes(self, symbols: list[str]) -> dict[str, Quote]:
        """Last prices of `symbols`; unknown symbols are absent from the result."""
        ...

    def preview(self, req: OrderRequest) -> Preview:
        """Preview an order (no side effect at the broker)."""
        ...

    def place(self, req: OrderRequest, preview: Preview) -> OrderState:
        """Place a previewed order. Placing a `clientOrderId` the broker already has must not
        create a second order (the paper broker returns the existing one; E*TRADE is looked up
        first by the caller)."""
        ...

    def cancel(self, broker_order_id: str) -> None:
        """Request cancellation of an open order."""
        ...

    def order_status(self, client_order_id: str) -> OrderState | None:
        """Look an order up by `clientOrderId`; None when the broker has never seen it."""
        ...

    def open_orders(self) -> list[OrderState]:
        """Orders still working at the broker."""
        ...


class ListsAccounts(Protocol):
    """Optional: a broker whose login can list its accounts (`etrade accounts list`)."""

    def accounts(self) -> list[BrokerAccount]:
        """The accounts of this login."""
        ...


def pick_account(accounts: list[BrokerAccount], want: str, where: str) -> BrokerAccount:
    """The account `want` (id or key), or the only one.

    Raises:
        errors.InputError: no match, or several accounts and none chosen.
    """
    from ..errors import InputError

    if want:
        for a in accounts:
            if want in (a.account_id, a.key):
                return a
        raise InputError(f"no account {want!r} ({where}); see `etrade accounts list`")
    if len(accounts) == 1:
        return accounts[0]
    ids = ", ".join(a.account_id for a in accounts) or "none"
    raise InputError(f"choose an account with {where} (accounts: {ids})")


def estimate_preview(
    broker: Broker, req: OrderRequest, preview_id: str, source: str, note: str
) -> Preview:
    """A preview estimated from the broker's last price, for brokers with no preview call
    (Schwab, IBKR): `quantity x (limit or last)` USD, no commission, `note` as its message.

    Raises:
        OrderRejectedError: `source` has no price for the symbol.
    """
    from ..errors import OrderRejectedError

    q = broker.quotes([req.symbol]).get(req.symbol)
    if q is None:
        raise OrderRejectedError(f"no {source} price for {req.symbol}")
    price = req.limit_price or q.last
    return Preview(preview_id, req.quantity * price, 0.0, (note,))
