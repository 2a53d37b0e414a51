"""The paper broker: simulated fills at the market-data price of the engine's clock.

Its account (cash, orders, holdings) lives in the same SQLite file as the position book, in its
own tables and its own transactions, so it behaves like a separate broker: a crash between its
write and the journal's is exactly the case the engine's reconciliation must handle.

Fills: MARKET orders fill at once, in full, at the current price (the bar close for CSV data);
a LIMIT order fills at once at the current price when that price is at or better than the limit,
else it stays OPEN until cancelled (no intraday simulation). Commission `commission_usd` per order.
Placing a `clientOrderId` it already knows returns the existing order: never a second fill.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import InputError, OrderRejectedError
from ..store import Store
from .base import (
    CANCELLED,
    EXECUTED,
    OPEN,
    REJECTED,
    AccountValues,
    BrokerPosition,
    Fill,
    OrderRequest,
    OrderState,
    Preview,
    Quote,
)

PriceSource = Callable[[str], "float | None"]


class PaperBroker:
    """A simulated broker account stored in `store` (see the module doc).

    Args:
        store: the position book's `Store`. account: account name ("paper").
        starting_cash: USD, used when the account is first created.
        commission: USD per filled order, used when the account is first created.
        prices: symbol -> current price (USD) or None; set later with `set_market`.
    """

    name = "paper"

    def __init__(
        self,
        store: Store,
        account: str = "paper",
        starting_cash: float = 100_000.0,
        commission: float = 0.0,
        prices: PriceSource | None = None,
        session_date: str | None = None,
    ):
        self.store = store
        self.account = account
        self._prices: PriceSource = prices or (lambda _s: None)
        self.session_date = session_date
        self.starting_cash, self.commission = store.paper_account(
            account, starting_cash, commission
        )
        self._totals: _Totals | None = None

    def set_market(self, prices: PriceSource, session_date: str | None) -> None:
        """Point the broker at the engine's clock: current prices and the session date."""
        self._prices = prices
        self.session_date = session_date

    # -- account ----------------------------------------------------------------------------

    def _sums(self) -> _Totals:
        """Running totals of the filled orders, read from the store once and then kept up to
        date by `place`; re-read when another writer added paper orders (newest id changed)."""
        version = self.store.version()
        if self._totals is not None and self._totals.version == version:
            return self._totals  # nothing written since the last check
        stamp = self.store.paper_last_order_id()
        if self._totals is None or self._totals.stamp != stamp:
            self._totals = _Totals(stamp)
            for r in self.store.paper_fills(self.account, EXECUTED):
                self._totals.add(r[0], r[1], int(r[2]), float(r[3]), float(r[4]))
        self._totals.version = version
        return self._totals

    def _cash(self) -> float:
        t = self._sums()
        return self.starting_cash + t.flow - t.commission

    def positions(self) -> list[BrokerPosition]:
        """Holdings from filled orders; average price of the buys."""
        return self._sums().positions()

    def account_values(self) -> AccountValues:
        """Cash, and equity = cash + holdings at current prices (last fill price if none)."""
        cash = self._cash()
        value = 0.0
        for p in self.positions():
            price = self._prices(p.symbol)
            value += p.quantity * (price if price is not None else (p.avg_price or 0.0))
        return AccountValues(cash=cash, equity=cash + value, buying_power=cash)

    def quotes(self, symbols: list[str]) -> dict[str, Quote]:
        """Current prices of the symbols that have one."""
        out = {}
        for s in symbols:
            price = self._prices(s)
            if price is not None:
                out[s] = Quote(s, price)
        return out

    # -- orders -----------------------------------------------------------------------------

    def preview(self, req: OrderRequest) -> Preview:
        """Estimate the order at the current price.

        Raises:
            InputError: quantity not positive, or an unsupported price type.
            OrderRejectedError: no current price for the symbol.
        """
        if req.quantity <= 0:
            raise InputError(
                f"quantity must be a positive whole number of shares, got {req.quantity}"
            )
        if req.price_type not in ("MARKET", "LIMIT"):
            raise InputError(
                f"the paper broker supports MARKET and LIMIT orders, not {req.price_type}"
            )
        price = self._prices(req.symbol)
        if price is None:
            raise OrderRejectedError(f"no price for {req.symbol} at the current session")
        return Preview(
            f"P{req.client_order_id}", req.quantity * price + self.commission, self.commission
        )

    def place(self, req: OrderRequest, preview: Preview) -> OrderState:
        """Fill or reject the order (see the module doc); idempotent per `clientOrderId`."""
        existing = self.order_status(req.client_order_id)
        if existing is not None:
            return existing
        status, fill_price, message = self._decide(req)
        commission = self.commission if status == EXECUTED else 0.0
        totals = self._sums()
        row = self.store.add_paper_order(
            account=self.account,
            client_order_id=req.client_order_id,
            symbol=req.symbol,
            side=req.side,
            quantity=req.quantity,
            price_type=req.price_type,
            limit_price=req.limit_price,
            status=status,
            fill_price=fill_price,
            commission=commission,
            message=message,
            session_date=self.session_date,
        )
        if row["id"] == totals.stamp + 1:  # no other writer in between: keep the totals running
            totals.stamp = int(row["id"])
            if status == EXECUTED and fill_price is not None:
                totals.add(req.symbol, req.side, req.quantity, fill_price, commission)
        else:
            self._totals = None
        return _state(row)

    def _decide(self, req: OrderRequest) -> tuple[str, float | None, str]:
        price = self._prices(req.symbol)
        if price is None:
            return REJECTED, None, f"no price for {req.symbol}"
        if req.price_type == "LIMIT" and req.limit_price is not None:
            marketable = price <= req.limit_price if req.side == "BUY" else price >= req.limit_price
            if not marketable:
                return OPEN, None, "limit not marketable at the current price"
        if req.side == "SELL":
            held = self._sums().held(req.symbol)
            if req.quantity > held:
                return REJECTED, None, f"cannot sell {req.quantity} {req.symbol}: holding {held}"
        elif req.side == "BUY":
            cost = req.quantity * price + self.commission
            if cost > self._cash() + 1e-9:
                return REJECTED, None, f"insufficient funds: need {cost:,.2f} USD"
        else:
            return REJECTED, None, f"the paper broker does not support {req.side}"
        return EXECUTED, price, ""

    def cancel(self, broker_order_id: str) -> None:
        """Cancel an OPEN paper order.

        Raises:
            OrderRejectedError: unknown order, or not open.
        """
        row = self.store.paper_order(self.account, order_id=int(broker_order_id))
        if row is None or row["status"] != OPEN:
            raise OrderRejectedError(f"paper order {broker_order_id} is not open")
        self.store.set_paper_status(int(broker_order_id), CANCELLED)

    def order_status(self, client_order_id: str) -> OrderState | None:
        """The paper order with this `clientOrderId`, or None."""
        row = self.store.paper_order(self.account, client_order_id=client_order_id)
        return _state(row) if row is not None else None

    def open_orders(self) -> list[OrderState]:
        """Paper orders still OPEN."""
        return [_state(r) for r in self.store.paper_orders_in(self.account, OPEN)]


class _Totals:
    """Cash flow, commission and holdings of filled paper orders, summed in order id order
    (the order SQLite's `sum` used when these were GROUP BY queries, so the floats agree).

    `stamp` is the newest paper order id these totals include. Money USD, quantities shares.
    """

    def __init__(self, stamp: int):
        self.stamp = stamp
        self.version: tuple[int, int] = (-1, -1)  # `Store.version()` when last checked
        self.flow = 0.0
        self.commission = 0.0
        #: symbol -> [net shares, shares bought, USD paid for the shares bought]
        self.book: dict[str, list[float]] = {}

    def add(self, symbol: str, side: str, qty: int, price: float, commission: float) -> None:
        """Count one filled order."""
        self.flow += -qty * price if side == "BUY" else qty * price
        self.commission += commission
        held = self.book.setdefault(symbol, [0, 0, 0.0])
        if side == "BUY":
            held[0] += qty
            held[1] += qty
            held[2] += qty * price
        else:
            held[0] -= qty

    def held(self, symbol: str) -> int:
        """Net shares of `symbol`."""
        return int(self.book.get(symbol, (0,))[0])

    def positions(self) -> list[BrokerPosition]:
        """Non-zero holdings by symbol; average price of the buys (None without buys)."""
        return [
            BrokerPosition(s, int(q), cost / bought if bought else None)
            for s, (q, bought, cost) in sorted(self.book.items())
            if q != 0
        ]


def _state(r: object) -> OrderState:
    row = dict(r)  # type: ignore[call-overload]
    filled = row["quantity"] if row["status"] == EXECUTED else 0
    fills = (
        (
            Fill(
                f"paper-{row['id']}",
                filled,
                row["fill_price"],
                row["commission"],
                row["placed_at"],
                row["session_date"],
            ),
        )
        if filled
        else ()
    )
    return OrderState(
        client_order_id=row["client_order_id"],
        broker_order_id=str(row["id"]),
        symbol=row["symbol"],
        side=row["side"],
        quantity=row["quantity"],
        status=row["status"],
        filled_qty=filled,
        avg_fill_price=row["fill_price"],
        fills=fills,
        message=row["message"] or "",
        executed_at=row["placed_at"] if filled else None,
        session_date=row["session_date"] if filled else None,
    )
