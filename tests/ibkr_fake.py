"""A fake ib_async `IB` that plays back a gateway: managed accounts, account summary,
positions, snapshot tickers, historical bars and orders, using ib_async's own `Trade`, `Order`,
`OrderStatus`, `Fill`, `Execution` and `CommissionReport` objects. It can fill part of an order,
refuse one (Inactive with an error in the log) and drop the connection between place and reply
(after which a reconnect sees a new session: no trades of its own, only what the gateway
reports through open orders, completed orders and executions)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ib_async as ia

ACCOUNT = "DU1234567"


class FakeIB:
    def __init__(self, account: str = ACCOUNT, cash: float = 20_000.0):
        self.accounts = [account]
        self.cash = cash
        self.prices: dict[str, float] = {}
        self.held: dict[str, tuple[int, float]] = {}
        self.server: list[ia.Trade] = []  # every order the gateway knows
        self.session: list[ia.Trade] = []  # this connection's trades (ib.trades())
        self.executions: list[ia.Fill] = []
        self.connected = True
        self.connects = 0
        self.placed = 0
        self.fill_ratio = 1.0
        self.reject: str | None = None
        self.drop_on_place = False
        self.next_id, self.next_perm, self.next_exec = 1, 900001, 1

    # -- connection ----------------------------------------------------------------------------

    def isConnected(self) -> bool:
        return self.connected

    def connect(self, host: str, port: int, clientId: int, timeout: float) -> None:
        self.connected, self.session = True, []
        self.connects += 1

    def disconnect(self) -> None:
        self.connected = False

    def sleep(self, _s: float) -> None:
        return None

    def _check(self) -> None:
        if not self.connected:
            raise ConnectionError("Not connected")

    # -- account -------------------------------------------------------------------------------

    def managedAccounts(self) -> list[str]:
        return list(self.accounts)

    def accountSummary(self, account: str = "") -> list[ia.AccountValue]:
        self._check()
        value = self.cash + sum(q * self.prices.get(s, a) for s, (q, a) in self.held.items())
        return [
            ia.AccountValue(account, "TotalCashValue", str(self.cash), "USD", ""),
            ia.AccountValue(account, "NetLiquidation", str(value), "USD", ""),
            ia.AccountValue(account, "BuyingPower", str(self.cash * 4), "USD", ""),
            ia.AccountValue(account, "AccountType", "INDIVIDUAL", "", ""),
        ]

    def positions(self, account: str = "") -> list[ia.Position]:
        self._check()
        return [
            ia.Position(account, ia.Stock(s, "SMART", "USD", conId=1), float(q), a)
            for s, (q, a) in self.held.items()
        ]

    def qualifyContracts(self, *contracts: Any) -> list[Any]:
        self._check()
        out = []
        for c in contracts:
            if c.symbol in self.prices:
                c.conId = 1000 + sorted(self.prices).index(c.symbol)
                out.append(c)
        return out

    def reqTickers(self, *contracts: Any) -> list[ia.Ticker]:
        self._check()
        out = []
        for c in contracts:
            t = ia.Ticker(contract=c)  # its __post_init__ clears the prices: set them after
            t.last, t.volume, t.open = self.prices[c.symbol], 5e5, self.prices[c.symbol]
            out.append(t)
        return out

    def reqHistoricalData(
        self, contract, endDateTime, durationStr, barSizeSetting, whatToShow, useRTH
    ):
        self._check()
        assert (endDateTime, barSizeSetting, whatToShow, useRTH) == (
            "",
            "1 day",
            "ADJUSTED_LAST",
            True,
        )
        self.last_duration = durationStr
        days = [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)]
        return [
            ia.BarData(
                date=d, open=10.0 + i, high=11.0 + i, low=9.0 + i, close=10.5 + i, volume=100.0
            )
            for i, d in enumerate(days)
        ]

    # -- orders --------------------------------------------------------------------------------

    def placeOrder(self, contract: Any, order: Any) -> ia.Trade:
        self._check()
        self.placed += 1
        order.orderId, order.permId = self.next_id, self.next_perm
        self.next_id += 1
        self.next_perm += 1
        contract.conId = contract.conId or 1
        status = ia.OrderStatus(orderId=order.orderId, status="PendingSubmit", permId=order.permId)
        trade = ia.Trade(contract, order, status, [], [])
        self.server.append(trade)
        self.session.append(trade)
        if self.reject:
            trade.orderStatus.status = "Inactive"
            trade.log.append(ia.TradeLogEntry(dt.datetime.now(), "Inactive", self.reject, 201))
            self.reject = None
            return trade
        qty = int(order.totalQuantity * self.fill_ratio)
        trade.orderStatus.status = "Submitted"
        if qty:
            self._execute(trade, qty)
        if self.drop_on_place:
            self.drop_on_place = False
            self.connected = False
            trade_seen = ia.Trade(contract, order, ia.OrderStatus(status="PendingSubmit"), [], [])
            self.session[-1] = trade_seen  # the reply never arrived
            return trade_seen
        return trade

    def _execute(self, trade: ia.Trade, qty: int) -> None:
        o, sym = trade.order, trade.contract.symbol
        price = self.prices[sym]
        exec_id = f"0000e0d5.{self.next_exec:08d}.01.01"
        self.next_exec += 1
        side = "BOT" if o.action == "BUY" else "SLD"
        e = ia.Execution(
            execId=exec_id,
            time=dt.datetime.now(dt.timezone.utc),
            acctNumber=self.accounts[0],
            side=side,
            shares=float(qty),
            price=price,
            permId=o.permId,
            orderId=o.orderId,
            orderRef=o.orderRef,
        )
        fill = ia.Fill(trade.contract, e, ia.CommissionReport(exec_id, 1.0, "USD"), e.time)
        trade.fills.append(fill)
        self.executions.append(fill)
        sign = 1 if o.action == "BUY" else -1
        have, avg = self.held.get(sym, (0, 0.0))
        new = have + sign * qty
        if sign > 0:
            avg = (have * avg + qty * price) / new
        self.held[sym] = (new, avg)
        if not new:
            del self.held[sym]
        self.cash -= sign * qty * price + 1.0
        st = trade.orderStatus
        st.filled += qty
        st.remaining = o.totalQuantity - st.filled
        st.avgFillPrice = price
        st.status = "Filled" if st.remaining == 0 else "Submitted"

    def fill_rest(self) -> None:
        for t in self.server:
            if t.orderStatus.status == "Submitted" and t.orderStatus.remaining:
                self._execute(t, int(t.orderStatus.remaining))

    def trades(self) -> list[ia.Trade]:
        return list(self.session)

    def reqAllOpenOrders(self) -> list[ia.Trade]:
        self._check()
        return [t for t in self.server if not t.isDone()]

    def reqCompletedOrders(self, apiOnly: bool) -> list[ia.Trade]:
        self._check()
        return [t for t in self.server if t.isDone()]

    def reqExecutions(self, execFilter: Any = None) -> list[ia.Fill]:
        self._check()
        return list(self.executions)

    def cancelOrder(self, order: Any) -> None:
        for t in self.server:
            if t.order is order:
                t.orderStatus.status = "Cancelled"
