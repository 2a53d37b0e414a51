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
from .engine import Deps, change_journaled, place_previewed, preview_journaled
from .errors import InputError, OrderRejectedError
from .etrade import orders as ob
from .etrade.auth import ET
from .services import make_strategy
from .store import OrderRow, Store
from .values import OrderRequest


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


@dataclass(frozen=True)
class ChangeRequest:
    """What a person changes in an open order; None keeps the order's current value.
    Prices USD (a trailing stop's trail in `stop`: USD, or a whole-number percent)."""

    limit: float | None = None
    stop: float | None = None
    quantity: int | None = None
    term: str | None = None


def changed_order(current: ob.EquityOrder, ch: ChangeRequest) -> ob.EquityOrder:
    """`current` with the changes applied and checked (`orders.validate`).

    Raises:
        InputError: nothing to change, or the result is not a valid order.
    """
    from dataclasses import replace

    if ch == ChangeRequest():
        raise InputError("nothing to change: give --limit, --stop, --quantity or --term")
    new = replace(
        current,
        limit_price=current.limit_price if ch.limit is None else ch.limit,
        stop_price=current.stop_price if ch.stop is None else ch.stop,
        quantity=current.quantity if ch.quantity is None else ch.quantity,
        order_term=current.order_term if ch.term is None else ch.term.upper(),
    )
    ob.validate(new)
    return new


def change_manual(
    cfg: Config,
    store: Store,
    broker: Broker,
    order_id: str,
    current: ob.EquityOrder,
    ch: ChangeRequest,
    confirm: Callable[[Preview], bool],
) -> PlaceOutcome:
    """Journal, preview, confirm and place a change of open order `order_id` (E*TRADE: change
    preview, then change place; the old `orderId` is cancelled and a new one created). The new
    journal row `replaces` the old one when the journal has it (keeping its purpose and
    position, so a resting stop stays the position's stop), else it is a MANUAL row.

    Raises:
        InputError: invalid change (nothing journaled). OrderRejectedError: refused.
        UsageError: the broker cannot change orders.
    """
    from .errors import UsageError

    if not hasattr(broker, "preview_change") or not hasattr(broker, "place_change"):
        raise UsageError(f"the {broker.name} broker cannot change orders; cancel and place anew")
    new = changed_order(current, ch)
    old = store.order_by_broker_id(broker.name, broker.account, order_id)
    day = session_date()
    with store.tx() as db:
        row = store.new_order(
            db,
            broker=broker.name,
            account=broker.account,
            symbol=new.symbol,
            side=new.action,
            quantity=new.quantity,
            price_type=new.price_type,
            limit_price=new.limit_price,
            stop_price=new.stop_price,
            order_term=new.order_term,
            market_session=new.market_session,
            purpose=old.purpose if old else "MANUAL",
            position_id=old.position_id if old else None,
            replaces=old.id if old else None,
            session_date=day,
            message=f"change of orderId {order_id}",
        )
    deps = Deps(make_strategy(cfg), cfg.risk, store, broker, None)  # type: ignore[arg-type]
    req = OrderRequest(
        row.client_order_id,
        new.symbol,
        new.action,
        new.quantity,
        new.price_type,
        new.limit_price,
        new.stop_price,
        new.order_term,
        new.market_session,
    )
    try:
        preview = broker.preview_change(order_id, req)  # type: ignore[attr-defined]
    except OrderRejectedError as exc:
        with store.tx() as db:
            store.set_order(db, row.id, status="rejected", message=str(exc))
        raise
    if not confirm(preview):
        with store.tx() as db:
            store.set_order(db, row.id, status="cancelled", message="not confirmed")
        return PlaceOutcome(store.order_by_id(row.id), preview, False)
    with store.tx() as db:
        store.set_order(db, row.id, status="previewed", preview_id=preview.preview_id)
    done = change_journaled(
        deps, store.order_by_id(row.id), day,
        lambda: broker.place_change(order_id, req, preview),  # type: ignore[attr-defined]
    )  # fmt: skip
    if done.status == "rejected":
        raise OrderRejectedError(done.message or "the broker refused the change")
    return PlaceOutcome(done, preview, True)
