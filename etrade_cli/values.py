"""Plain values that cross layers: daily `Bars`, quotes, orders, fills, account values.

A neutral module: it imports nothing of ours, so every layer (strategy, marketdata, brokers,
engine, views) may use it without an arrow pointing back. Vocabulary follows E*TRADE's wire
names where one exists (`clientOrderId`, `priceType`, `orderTerm`, `marketSession`, order
actions BUY/SELL). Prices USD, quantities whole shares, dates `datetime64[D]` session dates
(US/Eastern), times UTC ISO-8601.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where it is used: commands that load no bars skip it
    import numpy as np


@dataclass(frozen=True)
class Bars:
    """Daily OHLCV bars of one symbol, oldest first.

    Attributes:
        symbol: ticker, upper case.
        dates: `datetime64[D]` exchange session dates, strictly ascending.
        open, high, low, close: prices in USD (float64).
        volume: shares (float64).
    """

    symbol: str
    dates: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.dates.shape[0])

    def index_at(self, date: np.datetime64) -> int:
        """Index of the last bar dated on or before `date`; -1 when every bar is later."""
        import numpy as np

        return int(np.searchsorted(self.dates, date, side="right")) - 1


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
        price_type: "MARKET" | "LIMIT" | "STOP" | "STOP_LIMIT" | "TRAILING_STOP_CNST" |
            "TRAILING_STOP_PRCT" (E*TRADE `priceType`; a trailing stop's trail is in
            `stop_price`: USD, or a whole-number percent such as 5 for 5 %).
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


def session_of(utc_iso: str | None) -> str | None:
    """The exchange session date (US/Eastern, YYYY-MM-DD) of a UTC ISO-8601 time, or None
    (also for a time that does not parse).

    >>> session_of("2010-06-24T01:30:00+00:00")  # 21:30 ET on the 23rd
    '2010-06-23'
    """
    import datetime as dt
    from zoneinfo import ZoneInfo

    if not utc_iso:
        return None
    try:  # tolerate nanoseconds (Alpaca) by dropping fractions of a second
        t = dt.datetime.fromisoformat(utc_iso[:19] + utc_iso[19:].lstrip("0123456789."))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(ZoneInfo("America/New_York")).date().isoformat()


@dataclass(frozen=True)
class Fill:
    """One execution: `key` is unique per execution within a broker account (broker id, or
    order id + cumulative qty + execution time). `executed_at` is its UTC ISO-8601 time and
    `session_date` the exchange session (US/Eastern date, YYYY-MM-DD) it belongs to, when the
    broker says (a paper order resting across skipped sessions: the session of the bar that
    crossed it); the engine books the fill at that session, never at the run's."""

    key: str
    quantity: int
    price: float
    commission: float = 0.0
    executed_at: str | None = None
    session_date: str | None = None


@dataclass(frozen=True)
class OrderState:
    """An order as the broker knows it. `filled_qty` is cumulative; `fills` each execution.

    `executed_at` (UTC ISO-8601) and `session_date` (US/Eastern session date) are those of the
    latest execution for brokers that report only a cumulative fill (E*TRADE `executedTime`).
    """

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
    executed_at: str | None = None
    session_date: str | None = None


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


@dataclass
class Quote:
    """A last price (USD) with its source time (UTC ISO-8601) when known."""

    symbol: str
    last: float
    time: str | None = None
    extra: dict[str, float] = field(default_factory=dict)
