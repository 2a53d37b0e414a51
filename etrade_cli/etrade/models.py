"""E*TRADE JSON responses -> typed dataclasses, at the edge of the client.

Shapes follow the project's E*TRADE reference (`etrade_api.md` §2-§5): containers are Capitalized
on the wire (`QuoteResponse.QuoteData[]`, `OrderDetail[]`, `Messages.Message[]`) while some doc
samples use lowerCamel, and a single repeated element may come as an object instead of an array.
The helpers here tolerate both. Times: order and portfolio times are epoch milliseconds, quote
times epoch seconds (`dateTimeUTC`); all are converted to UTC ISO-8601 strings.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from . import QUOTE_FIELDS


def get(d: Any, *names: str, default: Any = None) -> Any:
    """The first present key among `names` (each also tried with its first letter's case
    swapped), or `default`."""
    if not isinstance(d, dict):
        return default
    for name in names:
        for key in (name, name[:1].swapcase() + name[1:]):
            if key in d:
                return d[key]
    return default


def as_list(x: Any) -> list[Any]:
    """A JSON value as a list: None -> [], a single object -> [object]."""
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def _num(x: Any) -> float | None:
    """A payload number as float; None when absent, malformed or not finite (`NaN`,
    `Infinity`, `1e400`: Python's JSON parser accepts them), so garbage never becomes a price."""
    try:
        v = None if x is None or x == "" or isinstance(x, bool) else float(x)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if v is not None and math.isfinite(v) else None


def _symbol(x: Any) -> str:
    """A payload symbol, upper-cased; "" when absent.

    Raises:
        ApiError: the broker sent something that is not a symbol (`etrade_cli.symbols`).
    """
    if x is None or x == "":
        return ""
    from ..errors import ApiError, InputError
    from ..symbols import validate_symbol

    try:
        return validate_symbol(str(x))
    except InputError as exc:
        raise ApiError(f"E*TRADE sent an invalid symbol: {exc}") from None


def _ms(x: Any) -> str | None:
    v = _num(x)
    if not v:
        return None
    return dt.datetime.fromtimestamp(v / 1000, dt.timezone.utc).isoformat()


def _s(x: Any) -> str | None:
    v = _num(x)
    if not v:
        return None
    return dt.datetime.fromtimestamp(v, dt.timezone.utc).isoformat()


@dataclass(frozen=True)
class Message:
    """An E*TRADE message: `code`, `description`, `type` (ERROR, INFO, INFO_HOLD, WARNING)."""

    code: int | None
    description: str
    type: str = ""

    @classmethod
    def parse_all(cls, container: Any) -> list[Message]:
        """Messages from a `Messages`/`messages` container (`{"Message": [...]}`)."""
        return [
            cls(
                int(m["code"]) if _num(get(m, "code")) is not None else None,
                str(get(m, "description", default="")),
                str(get(m, "type", default="")),
            )
            for m in as_list(get(container, "Message"))
        ]


@dataclass(frozen=True)
class Account:
    """An account of `GET /v1/accounts/list` (accountIdKey is what other endpoints take)."""

    account_id: str
    account_id_key: str
    mode: str
    description: str
    name: str
    type: str
    institution_type: str
    status: str

    @classmethod
    def parse(cls, a: dict[str, Any]) -> Account:
        """From one `Account` object."""
        return cls(
            str(get(a, "accountId", default="")),
            str(get(a, "accountIdKey", default="")),
            str(get(a, "accountMode", default="")),
            str(get(a, "accountDesc", default="")),
            str(get(a, "accountName", default="")),
            str(get(a, "accountType", default="")),
            str(get(a, "institutionType", default="")),
            str(get(a, "accountStatus", default="")),
        )


def parse_accounts(doc: Any) -> list[Account]:
    """`AccountListResponse.Accounts.Account[]`; an empty body gives []."""
    accounts = get(get(doc, "AccountListResponse"), "Accounts")
    return [Account.parse(a) for a in as_list(get(accounts, "Account"))]


@dataclass(frozen=True)
class Balance:
    """`GET .../balance`, in USD. `cash_for_investment` falls back to cash buying power when the
    field is absent (reported missing in the sandbox)."""

    account_id: str
    account_type: str
    description: str
    total_account_value: float | None
    net_cash: float | None
    cash_buying_power: float | None
    margin_buying_power: float | None
    cash_for_investment: float | None

    @classmethod
    def parse(cls, doc: Any) -> Balance:
        """From a `BalanceResponse` document."""
        b = get(doc, "BalanceResponse", default={})
        c = get(b, "Computed", default={})
        rt = get(c, "RealTimeValues", default={})
        cash_inv = _num(get(c, "cashAvailableForInvestment"))
        return cls(
            str(get(b, "accountId", default="")),
            str(get(b, "accountType", default="")),
            str(get(b, "accountDescription", default="")),
            _num(get(rt, "totalAccountValue")),
            _num(get(c, "netCash")),
            _num(get(c, "cashBuyingPower")),
            _num(get(c, "marginBuyingPower")),
            cash_inv if cash_inv else _num(get(c, "cashBuyingPower")),
        )


@dataclass(frozen=True)
class PortfolioPosition:
    """A `Position` of `GET .../portfolio`: shares, prices USD, gain percent as 5.0 for 5 %."""

    symbol: str
    quantity: float
    position_type: str
    price_paid: float | None
    last_trade: float | None
    market_value: float | None
    total_gain: float | None
    total_gain_pct: float | None
    date_acquired: str | None

    @classmethod
    def parse(cls, p: dict[str, Any]) -> PortfolioPosition:
        """From one `Position` object."""
        product = get(p, "Product", default={})
        quick = get(p, "Quick", default={})
        return cls(
            _symbol(get(product, "symbol") or get(p, "symbolDescription", default="")),
            _num(get(p, "quantity")) or 0.0,
            str(get(p, "positionType", default="")),
            _num(get(p, "pricePaid")),
            _num(get(quick, "lastTrade")),
            _num(get(p, "marketValue")),
            _num(get(p, "totalGain")),
            _num(get(p, "totalGainPct")),
            _ms(get(p, "dateAcquired")),
        )


def parse_portfolio(doc: Any) -> list[PortfolioPosition]:
    """Every `PortfolioResponse.AccountPortfolio[].Position[]`; an empty body (204) gives []."""
    out = []
    for ap in as_list(get(get(doc, "PortfolioResponse"), "AccountPortfolio")):
        out += [PortfolioPosition.parse(p) for p in as_list(get(ap, "Position"))]
    return out


@dataclass(frozen=True)
class Quote:
    """A quote of `GET /v1/market/quote` (detailFlag ALL). Prices USD; `change_pct` as 5.0."""

    symbol: str
    description: str
    last: float | None
    bid: float | None
    ask: float | None
    open: float | None
    high: float | None
    low: float | None
    previous_close: float | None
    change: float | None
    change_pct: float | None
    volume: float | None
    time_utc: str | None
    quote_status: str

    FIELDS = QUOTE_FIELDS

    @classmethod
    def parse(cls, q: dict[str, Any]) -> Quote:
        """From one `QuoteData` object."""
        a = get(q, "All", default={})
        return cls(
            _symbol(get(get(q, "Product"), "symbol", default="")),
            str(get(a, "symbolDescription", "companyName", default="")),
            _num(get(a, "lastTrade")),
            _num(get(a, "bid")),
            _num(get(a, "ask")),
            _num(get(a, "open")),
            _num(get(a, "high")),
            _num(get(a, "low")),
            _num(get(a, "previousClose")),
            _num(get(a, "changeClose")),
            _num(get(a, "changeClosePercentage")),
            _num(get(a, "totalVolume")),
            _s(get(q, "dateTimeUTC")),
            str(get(q, "quoteStatus", default="")),
        )


@dataclass
class QuoteResult:
    """Quotes and the messages E*TRADE sent for symbols it could not quote."""

    quotes: list[Quote] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


def parse_quotes(doc: Any) -> QuoteResult:
    """`QuoteResponse.QuoteData[]` and `QuoteResponse.Messages.Message[]`."""
    qr = get(doc, "QuoteResponse", default={})
    return QuoteResult(
        [Quote.parse(q) for q in as_list(get(qr, "QuoteData"))],
        Message.parse_all(get(qr, "Messages")),
    )


@dataclass(frozen=True)
class OrderPreview:
    """`PreviewOrderResponse`: `preview_id`, USD estimates, messages (warnings)."""

    preview_id: str
    total_order_value: float | None
    estimated_commission: float | None
    estimated_total: float | None
    messages: list[Message]

    @classmethod
    def parse(cls, doc: Any) -> OrderPreview:
        """From a preview response document."""
        r = get(doc, "PreviewOrderResponse", default={})
        ids = as_list(get(r, "PreviewIds"))
        orders = as_list(get(r, "Order"))
        first = orders[0] if orders else {}
        msgs = [m for o in orders for m in Message.parse_all(get(o, "messages", "Messages"))]
        return cls(
            str(get(ids[0], "previewId", default="")) if ids else "",
            _num(get(r, "totalOrderValue")),
            _num(get(first, "estimatedCommission")),
            _num(get(first, "estimatedTotalAmount")),
            msgs,
        )


@dataclass(frozen=True)
class OrderPlaced:
    """`PlaceOrderResponse`: the E*TRADE `orderId` and messages (1026 placed, 1027 queued)."""

    order_id: str
    placed_time: str | None
    messages: list[Message]

    @classmethod
    def parse(cls, doc: Any) -> OrderPlaced:
        """From a place response document."""
        r = get(doc, "PlaceOrderResponse", default={})
        ids = as_list(get(r, "OrderIds"))
        msgs = [
            m
            for o in as_list(get(r, "Order"))
            for m in Message.parse_all(get(o, "messages", "Messages"))
        ]
        return cls(
            str(get(ids[0], "orderId", default="")) if ids else "", _ms(get(r, "placedTime")), msgs
        )


@dataclass(frozen=True)
class Order:
    """One order of `GET .../orders` (first leg of its first `OrderDetail`).

    Quantities are shares; `avg_price` is `averageExecutionPrice` (USD). `client_order_id` is
    filled only when the response carries it (E*TRADE documents that it does not).
    """

    order_id: str
    status: str
    symbol: str
    action: str
    ordered_qty: float
    filled_qty: float
    avg_price: float | None
    price_type: str
    limit_price: float | None
    stop_price: float | None
    order_term: str
    market_session: str
    placed_time: str | None
    executed_time: str | None
    client_order_id: str | None = None

    @classmethod
    def parse(cls, o: dict[str, Any]) -> Order:
        """From one `Order` object of an `OrdersResponse`."""
        details = as_list(get(o, "OrderDetail"))
        d = details[0] if details else {}
        inst = as_list(get(d, "Instrument"))
        i = inst[0] if inst else {}
        return cls(
            order_id=str(get(o, "orderId", default="")),
            status=str(get(d, "status", default="")),
            symbol=_symbol(get(get(i, "Product"), "symbol", default="")),
            action=str(get(i, "orderAction", default="")),
            ordered_qty=_num(get(i, "orderedQuantity", "quantity")) or 0.0,
            filled_qty=_num(get(i, "filledQuantity")) or 0.0,
            avg_price=_num(get(i, "averageExecutionPrice")),
            price_type=str(get(d, "priceType", default="")),
            limit_price=_num(get(d, "limitPrice")),
            stop_price=_num(get(d, "stopPrice")),
            order_term=str(get(d, "orderTerm", default="")),
            market_session=str(get(d, "marketSession", default="")),
            placed_time=_ms(get(d, "placedTime")),
            executed_time=_ms(get(d, "executedTime")),
            client_order_id=get(o, "clientOrderId") or get(d, "clientOrderId"),
        )


@dataclass
class OrderList:
    """A page of orders and the `marker` of the next page (None when last)."""

    orders: list[Order]
    marker: str | None


def parse_orders(doc: Any) -> OrderList:
    """`OrdersResponse.Order[]` with its paging marker; an empty body (204) gives no orders."""
    r = get(doc, "OrdersResponse", default={})
    marker = get(r, "marker")
    return OrderList(
        [Order.parse(o) for o in as_list(get(r, "Order"))],
        str(marker) if marker and get(r, "next") else None,
    )


@dataclass(frozen=True)
class CancelResult:
    """`CancelOrderResponse`: the cancelled `orderId` and messages (5011 being processed)."""

    order_id: str
    messages: list[Message]

    @classmethod
    def parse(cls, doc: Any) -> CancelResult:
        """From a cancel response document."""
        r = get(doc, "CancelOrderResponse", default={})
        return cls(str(get(r, "orderId", default="")), Message.parse_all(get(r, "Messages")))
