"""The Charles Schwab broker: the `Broker` protocol over schwab-py's `Client` (Trader API).

Schwab has no paper environment: every order is live (`[schwab] allow_live_orders = true` and
`--live`, checked by the registry's live guard). Accounts are addressed by their hash
(`get_account_numbers`); the book keeps rows under the account number.

Order identity: Schwab has no client order id. The order id comes from the `Location` header of
the place reply (`Utils.extract_order_id`) and is journaled at once. A place is never retried;
after a lost reply (timeout, connection error, 5xx, no `Location`) the order is looked for in
`get_orders_for_account` by the journaled intent: symbol, instruction, quantity, order type,
limit and stop price, entered no earlier than 60 s before the intent was journaled, and not an
order the journal already owns. Exactly one match is that order; zero or several stop the run
with `ReconcileError` (exit 8): a person must decide, nothing is sent again.

Fills: each execution leg of `orderActivityCollection` is one fill keyed by Schwab's
`activityId`, so a fill is recorded once however often the order is read. Prices USD.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from ..alpaca_common import with_retries
from ..errors import ApiError, AuthError, OrderRejectedError, ReconcileError
from ..errors import TemporaryApiError as Temporary
from ..store import OrderRow, Store
from . import base as b
from .schwab_auth import LOGIN_HINT
from .schwab_orders import fingerprint, order_spec, order_state, parse_time

SKEW = dt.timedelta(seconds=60)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def check(resp: Any, what: str) -> Any:
    """`resp`'s JSON (None when empty) or our error: 401 auth, 429/5xx temporary, else API."""
    code = resp.status_code
    if code < 400:
        return resp.json() if resp.content else None
    try:
        body = resp.json()
        detail = body.get("message") or body.get("error") or body.get("errors") or resp.text
    except ValueError:
        detail = resp.text[:200]
    if code == 401:
        raise AuthError(f"Schwab refused the token ({what}); {LOGIN_HINT}")
    cls = Temporary if code == 429 or code >= 500 else ApiError
    raise cls(f"{what}: HTTP {code} ({detail})", status=code)


def call(fn: Callable[[], Any], what: str) -> Any:
    """Send one request: transport failures become `TemporaryApiError`, OAuth refresh failures
    `AuthError`."""
    import httpx

    try:
        return fn()
    except httpx.TransportError as exc:
        raise Temporary(f"{what}: {type(exc).__name__}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("authlib"):
            raise AuthError(f"Schwab token refresh failed ({exc}); {LOGIN_HINT}") from None
        raise


class SchwabBroker:
    """One Schwab account as a `Broker`.

    Args:
        client: a schwab-py `Client`. account_number: the book's account key.
        account_hash: Schwab's hash of it (every call uses the hash). store: the journal.
        sleep, now: injectable for tests (retry waits, lost-reply look-ups).
    """

    name = "schwab"

    def __init__(
        self,
        client: Any,
        account_number: str,
        account_hash: str,
        store: Store,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], dt.datetime] = _utcnow,
    ):
        self.client, self.account, self.hash, self.store = (
            client,
            account_number,
            account_hash,
            store,
        )
        self.sleep, self.now = sleep, now

    def _read(self, fn: Callable[[], Any], what: str) -> Any:
        return with_retries(lambda: check(call(fn, what), what), what, self.sleep)

    def accounts(self) -> list[b.BrokerAccount]:
        """The linked accounts (number and hash)."""
        return list_accounts(self.client, self.sleep)

    def _account(self) -> dict[str, Any]:
        fields = [self.client.Account.Fields.POSITIONS]
        doc = self._read(
            lambda: self.client.get_account(self.hash, fields=fields), "Schwab account"
        )
        return dict((doc or {}).get("securitiesAccount") or {})

    def account_values(self) -> b.AccountValues:
        """`currentBalances`: cashBalance, liquidationValue, buyingPower (USD)."""
        bal = self._account().get("currentBalances") or {}
        cash = float(bal.get("cashBalance") or 0.0)
        buying = bal.get("buyingPower")
        return b.AccountValues(
            cash, float(bal.get("liquidationValue") or cash), float(buying) if buying else None
        )

    def positions(self) -> list[b.BrokerPosition]:
        """Equity holdings: longQuantity - shortQuantity, averagePrice."""
        out: dict[str, b.BrokerPosition] = {}
        for p in self._account().get("positions") or []:
            sym = str((p.get("instrument") or {}).get("symbol", ""))
            qty = int(float(p.get("longQuantity") or 0) - float(p.get("shortQuantity") or 0))
            prev = out.get(sym)
            out[sym] = b.BrokerPosition(
                sym, qty + (prev.quantity if prev else 0), p.get("averagePrice")
            )
        return [p for p in out.values() if p.quantity]

    def quotes(self, symbols: list[str]) -> dict[str, b.Quote]:
        """Last price and today's open/high/low/volume (`get_quotes`); unknown symbols absent."""
        doc = self._read(lambda: self.client.get_quotes(symbols), "Schwab quotes") or {}
        out = {}
        for sym, item in doc.items():
            q = (item or {}).get("quote") if isinstance(item, dict) else None
            if not q or q.get("lastPrice") is None:
                continue
            ms = q.get("tradeTime") or q.get("quoteTime")
            when = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat() if ms else None
            day = {"open": "openPrice", "high": "highPrice", "low": "lowPrice"}
            extra = {k: float(q[s]) for k, s in day.items() if q.get(s)}
            if q.get("totalVolume"):
                extra["volume"] = float(q["totalVolume"])
            out[sym] = b.Quote(sym, float(q["lastPrice"]), when, extra)
        return out

    def preview(self, req: b.OrderRequest) -> b.Preview:
        """Build the order (checks it) and estimate its cost from the last price.

        Raises:
            InputError: unsupported parameters. OrderRejectedError: no price for the symbol.
        """
        order_spec(req)
        note = "Schwab orders are live; estimate from the last price"
        return b.estimate_preview(self, req, f"S{req.client_order_id}", "Schwab", note)

    def place(self, req: b.OrderRequest, preview: b.Preview) -> b.OrderState:
        """POST the order once. A lost reply raises `TemporaryApiError` (the caller looks the
        order up with `order_status`); a refusal raises `OrderRejectedError`."""
        from schwab.utils import Utils

        spec = order_spec(req)
        resp = call(lambda: self.client.place_order(self.hash, spec), "Schwab order")
        if resp.status_code in (400, 403, 422, 429):
            try:
                check(resp, "Schwab refused the order")
            except ApiError as exc:
                raise OrderRejectedError(str(exc)) from None
        check(resp, "Schwab order (reply lost)")
        order_id = Utils(self.client, self.hash).extract_order_id(resp)
        if order_id is None:
            raise Temporary("Schwab order: no order id in the reply")
        try:
            o = self._read(lambda: self.client.get_order(order_id, self.hash), "Schwab order")
        except ApiError:  # placed, id known: the next look-up reads its state
            return b.OrderState(
                req.client_order_id, str(order_id), req.symbol, req.side, req.quantity, b.OPEN
            )
        return order_state(o, req.client_order_id)

    def cancel(self, broker_order_id: str) -> None:
        """Cancel an open order by Schwab's order id."""
        check(
            call(lambda: self.client.cancel_order(broker_order_id, self.hash), "Schwab cancel"),
            "Schwab cancel",
        )

    def order_status(self, client_order_id: str) -> b.OrderState | None:
        """The journaled order: by its order id, else by its fingerprint (module doc).

        Returns None when the journal has no such order or it is an unsent intent.

        Raises:
            ReconcileError: a sent order without an order id that zero or several Schwab orders
                match (exit 8: a person must decide; nothing is resent).
        """
        row = self.store.order_by_coid(client_order_id)
        if row is None or row.status == "intent":
            return None
        if row.broker_order_id:
            oid = row.broker_order_id
            o = self._read(lambda: self.client.get_order(oid, self.hash), "Schwab order")
            return order_state(o, client_order_id)
        matches: list[dict[str, Any]] = []
        for attempt in range(3):  # a just-placed order can take a moment to be listed
            if attempt:
                self.sleep(2.0 * attempt)
            matches = self._fingerprint(row)
            if matches:
                break
        if len(matches) == 1:
            return order_state(matches[0], client_order_id)
        found = "no Schwab order" if not matches else f"{len(matches)} Schwab orders"
        raise ReconcileError(
            f"{found} match(es) journaled order {client_order_id} ({row.side} {row.quantity} "
            f"{row.symbol} {row.price_type}) whose reply was lost; nothing was resent. Check the "
            "account's orders at Schwab and settle the journal by hand"
        )

    def _fingerprint(self, row: OrderRow) -> list[dict[str, Any]]:
        since = dt.datetime.fromisoformat(row.created_at) - SKEW
        orders = self._read(
            lambda: self.client.get_orders_for_account(
                self.hash, from_entered_datetime=since, to_entered_datetime=self.now() + SKEW
            ),
            "Schwab orders",
        )
        owned = self.store.broker_order_ids(self.name, self.account)
        want = (row.symbol, row.side, row.quantity, row.price_type, row.limit_price, row.stop_price)
        return [
            o
            for o in orders or []
            if str(o.get("orderId")) not in owned
            and (parse_time(o.get("enteredTime")) or since) >= since
            and fingerprint(o) == want
        ]

    def open_orders(self) -> list[b.OrderState]:
        """Orders of the last 7 days still working at Schwab."""
        since = self.now() - dt.timedelta(days=7)
        orders = self._read(
            lambda: self.client.get_orders_for_account(
                self.hash, from_entered_datetime=since, to_entered_datetime=self.now() + SKEW
            ),
            "Schwab orders",
        )
        states = [order_state(o, "") for o in orders or []]
        return [s for s in states if s.status in (b.OPEN, b.PARTIAL)]


def list_accounts(client: Any, sleep: Callable[[float], None]) -> list[b.BrokerAccount]:
    """`get_account_numbers`: the linked accounts with their hashes."""
    what = "Schwab accounts"
    rows = with_retries(lambda: check(call(client.get_account_numbers, what), what), what, sleep)
    return [
        b.BrokerAccount(str(r["accountNumber"]), str(r["hashValue"]), "schwab") for r in rows or []
    ]


def open_broker(cfg: Any, store: Store, client: Any = None) -> SchwabBroker:
    """The Schwab broker for `[schwab]`: the logged-in client and the configured account (or the
    only linked one).

    Raises:
        ConfigError: schwab-py missing. AuthError: not logged in. InputError: no such account,
        or several and none chosen.
    """
    from .schwab_auth import make_client

    client = client or make_client(cfg.schwab)
    accounts = list_accounts(client, time.sleep)
    chosen = b.pick_account(accounts, cfg.schwab.account, "[schwab] account")
    return SchwabBroker(client, chosen.account_id, chosen.key, store)
