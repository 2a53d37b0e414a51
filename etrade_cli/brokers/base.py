"""The `Broker` protocol and the plain values that cross it.

Vocabulary follows E*TRADE's wire names where one exists (`clientOrderId`, `priceType`,
`orderTerm`, `marketSession`, order actions BUY/SELL). Prices USD, quantities whole shares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

#: broker-side order states, normalized (E*TRADE: OPEN, EXECUTED, PARTIAL, CANCELLED, REJECTED,
#: EXPIRED, CANCEL_REQUESTED)
OPEN, EXECUTED, PARTIAL, CANCELLED, REJECTED, EXPIRED = (
    "OPEN",
    "EXECUTED",
    "PARTIAL",
    "CANCELLED",
    "REJECTED",
    "EXPIRED",
)


@dataclass(frozen=True)
class OrderRequest:
    """An equity order as sent to a broker.

    Attributes:
        client_order_id: 1-20 alphanumerics, unique per account; the idempotency key.
        side: "BUY" | "SELL" (E*TRADE `orderAction`; also BUY_TO_COVER, SELL_SHORT).
        price_type: "MARKET" | "LIMIT" | "STOP" | "STOP_LIMIT" (E*TRADE `priceType`).
        order_term: "GOOD_FOR_DAY" | "GOOD_UNTIL_CANCEL" | "IMMEDIATE_OR_CANCEL" | "FILL_OR_KILL".
        market_session: "REGULAR" | "EXTENDED".
    """

    client_order_id: str
    symbol: str
    side: str
    quantity: int
    price_type: str = "MARKET"
    limit_price: float | None = None
    stop_price: float | None = None
    order_term: str = "GOOD_FOR_DAY"
    market_session: str = "REGULAR"


@dataclass(frozen=True)
class Preview:
    """A broker's preview: `preview_id` (E*TRADE `previewId`), estimates in USD, messages."""

    preview_id: str
    estimated_total: float
    commission: float
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fill:
    """One execution: `key` is unique per execution (broker id, or order id + cumulative qty)."""

    key: str
    quantity: int
    price: float
    commission: float = 0.0


@dataclass(frozen=True)
class OrderState:
    """An order as the broker knows it. `filled_qty` is cumulative; `fills` each execution."""

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: str
    quantity: int
    status: str
    filled_qty: int = 0
    avg_fill_price: float | None = None
    fills: tuple[Fill, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class AccountValues:
    """Account money in USD: `cash` available for investment, `equity` total account value."""

    cash: float
    equity: float
    buying_power: float | None = None


@dataclass(frozen=True)
class BrokerPosition:
    """A holding at the broker: shares (negative = short) and average cost (USD/share)."""

    symbol: str
    quantity: int
    avg_price: float | None = None


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


@dataclass
class Quote:
    """A last price (USD) with its source time (UTC ISO-8601) when known."""

    symbol: str
    last: float
    time: str | None = None
    extra: dict[str, float] = field(default_factory=dict)


class Broker(Protocol):
    """What the engine and the order commands need from a broker.

    Implementations raise `errors.ApiError` (or `TemporaryApiError`) for broker failures and
    `errors.OrderRejectedError` when an order is refused.
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
