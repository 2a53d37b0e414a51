"""The paper broker: simulated fills at the market-data price of the engine's clock.

Its account (cash, orders, holdings) lives in the same SQLite file as the position book, in its
own tables and its own transactions, so it behaves like a separate broker: a crash between its
write and the journal's is exactly the case the engine's reconciliation must handle.

Fills: MARKET orders fill at once, in full, at the current price (the bar close for CSV data);
a LIMIT order fills at once at the current price when that price is at or better than the limit,
a STOP order when the current price is at or through the stop. Otherwise the order rests OPEN
and is checked against every later session's bar (`set_market` with a bar lookup; sessions a run
skipped included), oldest first:
- STOP SELL fills when the bar's low reaches the stop, at the stop, or at the open when the bar
  opens below it (a gap); STOP BUY mirrors it with the high;
- LIMIT BUY fills when the bar trades through the limit (low below it), at the limit or at a
  better open; LIMIT SELL mirrors it with the high;
- GOOD_UNTIL_CANCEL orders rest until filled or cancelled; GOOD_FOR_DAY orders expire at the
  close of the session they were placed in (a run at a later session marks them EXPIRED).
Commission `commission_usd` per filled order. Placing a `clientOrderId` it already knows returns
the existing order: never a second fill. The paper broker has no order change: the engine falls
back to cancel + new.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ..errors import EtradeCliError, InputError, OrderRejectedError
from ..store import Store
from .base import (
    CANCELLED,
    EXECUTED,
    EXPIRED,
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
#: (symbol, after session, through session) -> [(session, open, high, low, close)], oldest first
BarSource = Callable[[str, str, str], "list[tuple[str, float, float, float, float]]"]


def resting_fill(
    side: str,
    price_type: str,
    limit: float | None,
    stop: float | None,
    bar: tuple[float, float, float],
) -> float | None:
    """The fill price (USD) of a resting order in a bar (open, high, low), or None.

    >>> resting_fill("SELL", "STOP", None, 95.0, (100.0, 101.0, 94.0))  # low reaches the stop
    95.0
    >>> resting_fill("SELL", "STOP", None, 95.0, (90.0, 96.0, 89.0))  # gap below: the open
    90.0
    >>> resting_fill("BUY", "LIMIT", 50.0, None, (52.0, 53.0, 50.0)) is None  # touched only
    True
    """
    o, h, low = bar
    sell = side in ("SELL", "SELL_SHORT")
    if price_type == "STOP" and stop is not None:
        if sell and low <= stop:
            return min(o, stop)
        if not sell and h >= stop:
            return max(o, stop)
    elif price_type == "LIMIT" and limit is not None:
        if sell and (h > limit or o >= limit):
            return max(o, limit)
        if not sell and (low < limit or o <= limit):
            return min(o, limit)
    return None


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
        self._bars: BarSource | None = None
        self.starting_cash, self.commission = store.paper_account(
            account, starting_cash, commission
        )
        self._totals: _Totals | None = None

    def market_session(self, symbol: str) -> str | None:
        """The session (YYYY-MM-DD, US/Eastern) an order in `symbol` placed now belongs to: the
        engine's session inside the trading loop, else the session of the bar the symbol is
        priced at (`services.LastBarPrices`: the paper market's clock is its data, not the
        wall clock), else None."""
        if self.session_date is not None:
            return self.session_date
        session = getattr(self._prices, "session", None)
        try:
            return session(symbol) if callable(session) else None
        except EtradeCliError:  # an unreadable source: no price either, the preview says so
            return None

    def set_market(
        self, prices: PriceSource, session_date: str | None, bars: BarSource | None = None
    ) -> None:
        """Point the broker at the engine's clock: current prices and the session date. With
        `bars`, resting orders are then checked against every session after theirs up to
        `session_date` (see the module doc)."""
        self._prices = prices
        self.session_date = session_date
        self._bars = bars
        if bars is not None and session_date is not None:
            self._sweep(bars, session_date)

    def _sweep(self, bars: BarSource, through: str) -> None:
        """Fill or expire OPEN orders placed before session `through`."""
        for row in self.store.paper_resting(self.account):
            placed = row["session_date"]
            if not placed or placed >= through:
                continue
            if row["order_term"] != "GOOD_UNTIL_CANCEL":
                self._close(row["id"], EXPIRED, f"day order expired at the close of {placed}")
                continue
            for day, o, h, low, _c in bars(row["symbol"], placed, through):
                price = resting_fill(
                    row["side"],
                    row["price_type"],
                    row["limit_price"],
                    row["stop_price"],
                    (o, h, low),
                )
                if price is not None:
                    self._settle_fill(row, price, day)
                    break

    def _settle_fill(self, row: sqlite3.Row, price: float, day: str) -> None:
        r = dict(zip(row.keys(), row))  # (`dict(row)` looks each column up by name: slower)
        if r["side"] == "SELL":
            held = self._sums().held(r["symbol"])
            if r["quantity"] > held:
                msg = f"cannot sell {r['quantity']} {r['symbol']} at {day}: holding {held}"
                self._close(r["id"], CANCELLED, msg)
                return
        filled = self.store.paper_settle(
            r["id"],
            EXECUTED,
            fill_price=round(price, 4),
            commission=self.commission,
            message=f"{r['price_type']} filled at {day}",
            filled_session=day,
        )
        if filled:
            # an older order filled: its cash and shares are summed again in order id order at
            # the next read, so the totals stay exactly those of a fresh read of the orders
            self._totals = None

    def _close(self, order_id: int, status: str, message: str = "") -> None:
        """End an OPEN order without a fill (EXPIRED, CANCELLED): cash and holdings do not
        change, so the running totals only count one resting order less."""
        totals = self._sums()
        current = totals.stamp
        if status == CANCELLED and not message:
            closed = self.store.set_paper_status(order_id, status)
        else:
            closed = self.store.paper_settle(order_id, status, message=message)
        if closed and totals is self._totals and totals.stamp == current:
            totals.stamp = (current[0], current[1] - 1)

    # -- account ----------------------------------------------------------------------------

    def _sums(self) -> _Totals:
        """Running totals of the filled orders, read from the store once and then kept up to
        date by `place` and `_close`; re-read when another writer added paper orders or ended a
        resting one (`Store.paper_stamp` changed), and after a resting order filled."""
        version = self.store.version()
        if self._totals is not None and self._totals.version == version:
            return self._totals  # nothing written since the last check
        stamp = self.store.paper_stamp()
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
        if req.price_type not in ("MARKET", "LIMIT", "STOP"):
            raise InputError(
                f"the paper broker supports MARKET, LIMIT and STOP orders, not {req.price_type}"
            )
        if req.order_term not in ("GOOD_FOR_DAY", "GOOD_UNTIL_CANCEL"):
            raise InputError(
                f"the paper broker supports GOOD_FOR_DAY and GOOD_UNTIL_CANCEL, not {req.order_term}"
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
            stop_price=req.stop_price,
            order_term=req.order_term,
        )
        last, resting = totals.stamp
        if row["id"] == last + 1:  # no other writer in between: keep the totals running
            totals.stamp = (int(row["id"]), resting + (status == OPEN))
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
        if req.price_type == "STOP" and req.stop_price is not None:
            sell = req.side in ("SELL", "SELL_SHORT")
            triggered = price <= req.stop_price if sell else price >= req.stop_price
            if not triggered:
                if sell:  # a resting sell still needs the shares it may sell
                    held = self._sums().held(req.symbol)
                    if req.quantity > held:
                        return (
                            REJECTED,
                            None,
                            f"cannot sell {req.quantity} {req.symbol}: holding {held}",
                        )
                return OPEN, None, f"stop {req.stop_price:,.2f} resting"
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
        self._close(int(broker_order_id), CANCELLED)

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

    `stamp` is `Store.paper_stamp()` as these totals know it: (newest paper order id, paper
    orders still OPEN). Any insert changes the first, any fill, cancel or expiry of a resting
    order lowers the second (nothing re-opens an order). Money USD, quantities shares.
    """

    def __init__(self, stamp: tuple[int, int]):
        self.stamp = stamp
        self.version: tuple[int, int] = (-1, -1)  # `Store.version()` when last checked
        self.flow = 0.0
        self.commission = 0.0
        #: symbol -> [net shares, shares bought, USD paid for the shares bought]
        self.book: dict[str, list[float]] = {}
        self._positions: list[BrokerPosition] | None = None  # `positions()` until `add`

    def add(self, symbol: str, side: str, qty: int, price: float, commission: float) -> None:
        """Count one filled order."""
        self._positions = None
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
        """Non-zero holdings by symbol; average price of the buys (None without buys). Built
        once per change of the totals (a cycle asks twice; most sessions fill nothing)."""
        if self._positions is None:
            self._positions = [
                BrokerPosition(s, int(q), cost / bought if bought else None)
                for s, (q, bought, cost) in sorted(self.book.items())
                if q != 0
            ]
        return list(self._positions)


def _state(r: sqlite3.Row) -> OrderState:
    row = dict(zip(r.keys(), r))  # (`dict(r)` looks each column up by name: slower)
    filled = row["quantity"] if row["status"] == EXECUTED else 0
    # a resting order filled at a later session's bar: booked at that session (its time of
    # day is not simulated); an order filled when placed: at its placing
    session = row["filled_session"] or row["session_date"]
    executed_at = None if row["filled_session"] else row["placed_at"]
    fills = (
        (
            Fill(
                f"paper-{row['id']}",
                filled,
                row["fill_price"],
                row["commission"],
                executed_at,
                session,
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
        executed_at=executed_at if filled else None,
        session_date=session if filled else None,
    )
