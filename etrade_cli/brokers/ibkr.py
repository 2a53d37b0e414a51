"""The Interactive Brokers broker: the `Broker` protocol over ib_async's `IB`, connected per run to
a TWS or IB Gateway the user runs (`[ibkr] host`, `port`: 4002 paper gateway by default, 4001
live gateway, 7497/7496 TWS paper/live; `client_id`).

Order identity: our `clientOrderId` travels in `Order.orderRef`. After a lost reply or a
reconnect the order is looked up by `orderRef` in this session's trades, all open orders,
completed orders and executions before anything is sent again. `broker_order_id` is IB's
`permId` (stable across sessions), or the session's `orderId` until IB has assigned one.

Fills: one per IB execution, keyed by `execId` (commission from its commission report), so a
fill is recorded once. Paper or live follows the account: IB paper accounts start with "DU";
a live account needs `[ibkr] allow_live_orders = true` and `--live` (the registry's guard), and
a gateway that serves a live account while the config says paper is refused at connect time.
"""

from __future__ import annotations

import atexit
import logging
import time
from collections.abc import Callable
from typing import Any

from ..config import Config, IbkrConfig
from ..errors import ApiError, ConfigError, OrderRejectedError, TemporaryApiError
from . import base as b
from .ibkr_orders import ib_fills, ib_order, num, trade_state

NOT_INSTALLED = 'IBKR support is not installed: pip install -e ".[ibkr]" (or pip install ib_async)'
LIVE_PORTS = (4001, 7496)
_PENDING = ("", "PendingSubmit", "ApiPending")


def sdk() -> Any:
    """The `ib_async` package.

    Raises:
        ConfigError: ib_async is not installed.
    """
    try:
        import ib_async
    except ImportError:
        raise ConfigError(NOT_INSTALLED) from None
    return ib_async


def unreachable(cfg: IbkrConfig) -> ApiError:
    """The one-line error for a gateway that does not answer (exit 5)."""
    return ApiError(
        f"cannot reach IB Gateway at {cfg.host}:{cfg.port}: is it running and logged in?"
    )


_OPEN: dict[tuple[str, int, int], Any] = {}  # one connection per gateway and client id


def connect(cfg: IbkrConfig, ib: Any = None) -> Any:
    """A connected `IB` (or `ib`, connected if it is not); disconnected at process exit.

    One connection per (host, port, client_id) per process is reused, so `run-loop` cycles and
    the bar source share it (IB refuses a second connection with the same client id). Fails
    within `[ibkr] timeout_s` (4 s by default) when nothing listens or the API handshake does
    not complete.

    Raises:
        ConfigError: ib_async missing. ApiError: the gateway cannot be reached (exit 5).
    """
    key = (cfg.host, cfg.port, cfg.client_id)
    if ib is None:
        ib = _OPEN.get(key)
    if ib is None:
        ib = sdk().IB()
        logging.getLogger("ib_async").addHandler(logging.NullHandler())  # no stray stderr lines
        atexit.register(ib.disconnect)
    if ib.isConnected():
        return ib
    try:
        ib.connect(cfg.host, cfg.port, clientId=cfg.client_id, timeout=cfg.timeout_s)
    except (OSError, TimeoutError, ConnectionError):
        raise unreachable(cfg) from None
    if not ib.isConnected():
        raise unreachable(cfg)
    _OPEN[key] = ib
    return ib


def is_live(cfg: Config) -> bool:
    """The configured account trades real money: a non-"DU" `[ibkr] account`, or with no account
    configured a live port (4001 gateway, 7496 TWS)."""
    acct = cfg.ibkr.account
    return not acct.upper().startswith("DU") if acct else cfg.ibkr.port in LIVE_PORTS


class IbkrBroker:
    """One IB account as a `Broker`.

    Args:
        ib: a connected `IB` (tests pass a fake). account: the IB account id (e.g. DU1234567).
        cfg: `[ibkr]`, used to reconnect. wait_s: how long `place` waits for IB to acknowledge.
        sleep: waits between acknowledgement polls (ib.sleep by default keeps events flowing).
    """

    name = "ibkr"

    def __init__(
        self,
        ib: Any,
        account: str,
        cfg: IbkrConfig,
        wait_s: float = 5.0,
        sleep: Callable[[float], Any] | None = None,
    ):
        self.ib, self.account, self.cfg, self.wait_s = ib, account, cfg, wait_s
        self.sleep = sleep or ib.sleep

    def _ib(self) -> Any:
        """The connection, reconnected when it dropped (`ApiError` when that fails)."""
        return connect(self.cfg, self.ib)

    def accounts(self) -> list[b.BrokerAccount]:
        """The accounts this login manages ("DU..." are paper)."""
        return managed_accounts(self._ib())

    def account_values(self) -> b.AccountValues:
        """`accountSummary`: TotalCashValue, NetLiquidation, BuyingPower (USD)."""
        tags = {
            v.tag: num(v.value)
            for v in self._ib().accountSummary(self.account)
            if v.currency in ("USD", "BASE", "")
        }
        cash = tags.get("TotalCashValue") or 0.0
        return b.AccountValues(cash, tags.get("NetLiquidation") or cash, tags.get("BuyingPower"))

    def positions(self) -> list[b.BrokerPosition]:
        """Stock positions of the account (short ones negative), average cost per share."""
        return [
            b.BrokerPosition(p.contract.symbol, int(p.position), num(p.avgCost))
            for p in self._ib().positions(self.account)
            if p.contract.secType == "STK" and p.position
        ]

    def _contracts(self, symbols: list[str]) -> list[Any]:
        stocks = [sdk().Stock(s, "SMART", "USD") for s in symbols]
        return [c for c in self._ib().qualifyContracts(*stocks) if c and c.conId]

    def quotes(self, symbols: list[str]) -> dict[str, b.Quote]:
        """Snapshot quotes (`reqTickers`): last (or market) price and today's open/high/low/volume."""
        contracts = self._contracts(symbols)
        out = {}
        for t in self._ib().reqTickers(*contracts) if contracts else []:
            price = num(t.last) or num(t.marketPrice()) or num(t.close)
            if price is None:
                continue
            day = {"open": t.open, "high": t.high, "low": t.low, "volume": t.volume}
            extra = {k: float(v) for k, v in day.items() if num(v)}
            when = t.time.isoformat() if getattr(t, "time", None) else None
            out[t.contract.symbol] = b.Quote(t.contract.symbol, price, when, extra)
        return out

    def preview(self, req: b.OrderRequest) -> b.Preview:
        """Check the order and estimate its cost from the last price (no preview at IB).

        Raises:
            InputError: unsupported parameters. OrderRejectedError: no price for the symbol.
        """
        ib_order(req)
        note = "IB has no preview here: estimate from the last price"
        return b.estimate_preview(self, req, f"I{req.client_order_id}", "IB", note)

    def place(self, req: b.OrderRequest, preview: b.Preview) -> b.OrderState:
        """Place once with `orderRef = clientOrderId` and wait up to `wait_s` for IB's
        acknowledgement. A dropped connection raises `TemporaryApiError` (the caller looks the
        order up); an order IB cancels or deactivates unfilled raises `OrderRejectedError`."""
        ib = self._ib()
        contract = sdk().Stock(req.symbol, "SMART", "USD")
        try:
            trade = ib.placeOrder(contract, ib_order(req, self.account))
            deadline = time.monotonic() + self.wait_s
            while trade.orderStatus.status in _PENDING and time.monotonic() < deadline:
                if not ib.isConnected():
                    break
                self.sleep(0.1)
        except (OSError, ConnectionError) as exc:
            raise TemporaryApiError(f"IB order: {type(exc).__name__}") from None
        if not ib.isConnected():
            raise TemporaryApiError("IB order: the connection dropped before IB acknowledged")
        state = trade_state(trade, [])
        if state.status in (b.CANCELLED, b.REJECTED) and state.filled_qty == 0:
            raise OrderRejectedError(f"IB refused the order: {state.message or state.status}")
        return state

    def cancel(self, broker_order_id: str) -> None:
        """Cancel an open order by IB's permId (or this session's orderId).

        Raises:
            ApiError: no open order with that id.
        """
        ib = self._ib()
        for t in ib.reqAllOpenOrders():
            if broker_order_id in (str(t.order.permId), str(t.order.orderId)):
                ib.cancelOrder(t.order)
                return
        raise ApiError(f"no open IB order {broker_order_id}")

    def order_status(self, client_order_id: str) -> b.OrderState | None:
        """The order whose `orderRef` is `client_order_id`, from this session's trades, all open
        orders, completed orders, then executions; None when IB has never seen it."""
        ib = self._ib()
        execs = [f for f in ib.reqExecutions() if f.execution.orderRef == client_order_id]
        for source in (ib.trades, ib.reqAllOpenOrders, lambda: ib.reqCompletedOrders(True)):
            for t in source():
                if t.order.orderRef == client_order_id:
                    return trade_state(t, execs)
        if not execs:
            return None
        # executions only (e.g. the order aged out of the completed list): filled as executed
        e0 = execs[0]
        fills = ib_fills(execs)
        qty = sum(f.quantity for f in fills)
        avg = sum(f.quantity * f.price for f in fills) / qty
        side = "BUY" if e0.execution.side == "BOT" else "SELL"
        return b.OrderState(
            client_order_id,
            str(e0.execution.permId),
            e0.contract.symbol,
            side,
            qty,
            b.EXECUTED,
            qty,
            avg,
            tuple(fills),
        )

    def open_orders(self) -> list[b.OrderState]:
        """Orders still working at IB (every client's)."""
        states = [trade_state(t, []) for t in self._ib().reqAllOpenOrders()]
        return [s for s in states if s.status in (b.OPEN, b.PARTIAL)]


def managed_accounts(ib: Any) -> list[b.BrokerAccount]:
    """`managedAccounts`: the accounts of this login ("DU..." are paper)."""
    return [
        b.BrokerAccount(a, a, "ibkr", "paper" if a.startswith("DU") else "live", a.startswith("DU"))
        for a in ib.managedAccounts()
    ]


def open_broker(cfg: Config, ib: Any = None) -> IbkrBroker:
    """Connect to the gateway and pick `[ibkr] account` (or the only managed one).

    Raises:
        ApiError: the gateway cannot be reached. InputError: no such account, or several.
        ConfigError: the account is live while the config says paper (a paper port and no
            account configured): set `[ibkr] account` so the live guard applies.
    """
    ib = connect(cfg.ibkr, ib)
    chosen = b.pick_account(managed_accounts(ib), cfg.ibkr.account, "[ibkr] account")
    if not chosen.paper and not is_live(cfg):
        raise ConfigError(
            f"the IB gateway at {cfg.ibkr.host}:{cfg.ibkr.port} serves live account "
            f'{chosen.account_id}: set [ibkr] account = "{chosen.account_id}" (live orders then '
            "need [ibkr] allow_live_orders = true and --live)"
        )
    return IbkrBroker(ib, chosen.account_id, cfg.ibkr)
