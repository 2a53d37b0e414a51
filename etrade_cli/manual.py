"""Orders a person sends with `etrade order place`: journaled like the engine's.

The intent is committed to the journal before anything is sent; the order is previewed, shown,
confirmed, then placed with the same `clientOrderId` and identical parameters (E*TRADE requires
both). A lost reply is resolved by looking the order up, never by sending it again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from .brokers.base import Broker, Preview
from .config import Config
from .engine import Deps, place_previewed, preview_journaled
from .errors import OrderRejectedError
from .etrade import orders as ob
from .etrade.auth import ET
from .services import make_strategy
from .store import OrderRow, Store


@dataclass
class PlaceOutcome:
    """The journal row after the attempt, the preview, and whether the user confirmed."""

    order: OrderRow
    preview: Preview | None
    confirmed: bool


def check_live_guard(cfg: Config, live: bool, broker: str = "etrade") -> None:
    """Real-money orders need the broker's `allow_live_orders = true` and `--live`; the rule
    lives in `registry.check_live_guard` and applies to every broker that can trade live.

    Raises:
        OrderRejectedError: a live account without both. UsageError: unknown broker.
    """
    from .registry import brokers
    from .registry import check_live_guard as guard

    guard(cfg, brokers.get(broker), live)


def session_date(now: dt.datetime | None = None) -> str:
    """Today's date in US/Eastern (the exchange's calendar day)."""
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(ET).date().isoformat()


def place_manual(
    cfg: Config,
    store: Store,
    broker: Broker,
    order: ob.EquityOrder,
    confirm: Callable[[Preview], bool],
) -> PlaceOutcome:
    """Journal, preview, confirm and place one equity order.

    Raises:
        InputError: invalid parameters (nothing journaled). OrderRejectedError: refused.
    """
    ob.validate(order)
    day = session_date()
    with store.tx() as db:
        row = store.new_order(
            db,
            broker=broker.name,
            account=broker.account,
            symbol=order.symbol,
            side=order.action,
            quantity=order.quantity,
            price_type=order.price_type,
            limit_price=order.limit_price,
            stop_price=order.stop_price,
            order_term=order.order_term,
            market_session=order.market_session,
            purpose="MANUAL",
            session_date=day,
        )
    deps = Deps(make_strategy(cfg), cfg.risk, store, broker, None)  # type: ignore[arg-type]
    preview = preview_journaled(deps, row)
    if preview is None:
        done = store.order_by_id(row.id)
        raise OrderRejectedError(done.message or "the broker refused the preview")
    if not confirm(preview):
        with store.tx() as db:
            store.set_order(db, row.id, status="cancelled", message="not confirmed")
        return PlaceOutcome(store.order_by_id(row.id), preview, False)
    done = place_previewed(deps, store.order_by_id(row.id), preview, day)
    if done.status == "rejected":
        raise OrderRejectedError(done.message or "the broker refused the order")
    return PlaceOutcome(done, preview, True)
